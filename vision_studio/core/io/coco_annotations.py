"""The annotations part of the COCO reader: each ``annotations`` entry checked and turned
into a store row (see ``ProjectStore.add_annotation_rows``), or reported.

Rules (each problem is reported naming the JSON file and the annotation id):

* ``id``: kept as ``extra["coco_id"]`` (so export writes it again); an id seen before in
  the same file is reported and the later entry skipped; an ``id`` that is neither an
  integer nor a string is reported and the entry skipped; no ``id`` at all is allowed.
* ``image_id`` / ``category_id`` must be ids listed in the file (``int`` or ``str``;
  ``true`` or ``1.0`` are not the id ``1``).
* ``iscrowd`` must be 0 or 1 (``false`` / ``true`` and ``0.0`` / ``1.0`` accepted); any
  other value (``"abc"``, ``NaN``, ``-1``, ``[1]``, ``"0"``) is reported and the entry
  skipped; missing means 0.
* ``segmentation``: a list of polygons, an RLE object, ``[]`` or missing. Anything else
  (``"poly"``, ``5``) is reported and dropped, the box kept. A polygon that is not a flat
  list of finite x, y numbers, has fewer than 3 points, has zero area (all points on one
  line), lies wholly outside the image, or reaches further than one image size beyond
  its border is reported and dropped. RLE ``counts`` are checked completely
  (:mod:`vision_studio.core.io.coco_rle`) before pycocotools sees them; an RLE whose
  ``size`` is not the image's ``[h, w]`` or whose counts are malformed is reported and
  the entry skipped. Uncompressed (list) counts are stored compressed and marked
  ``extra["rle_uncompressed"]``, so export writes them as a list again.
* ``bbox``: four finite numbers, ``w`` and ``h`` at least :data:`MIN_SIZE` pixels; made
  from the mask when missing; clipped to the image when partly outside (noted), skipped
  when wholly outside.
* ``area``: a finite number >= 0 is stored as given and also kept as ``extra["area"]``
  (export writes it again while the stored area still equals it, i.e. while the
  geometry was not edited: an edit makes the store recompute the area); else it is
  computed by :func:`vision_studio.core.geometry.annotation_area` (COCO's convention:
  the pycocotools pixel count of the mask, ``w * h`` for a box).
* ``attributes``: a JSON object nested at most :data:`~coco_values.MAX_DEPTH` deep is
  kept; anything else is reported and dropped.
"""
from __future__ import annotations

import math
from typing import Any, Callable

from vision_studio.core.geometry import annotation_area, clip_box, mask_bbox
from vision_studio.core.io.coco_rle import RleError, check_list_counts, compress, string_counts
from vision_studio.core.io.coco_values import dumps, finite, key, number, shallow

MIN_SIZE = 1e-3
"""Smallest box width/height accepted, in pixels (a 1e-300 box is reported)."""

_EPS = 1e-6  # pixels a box may overhang the image before clipping is reported
_CROWD = {0: 0, 1: 1}  # accepted iscrowd values (False/True and 0.0/1.0 compare equal)

Report = Callable[..., None]  # skip(reason, kind, image_id=None)


def crowd_flag(value: Any) -> int | None:
    """0 or 1 for an accepted ``iscrowd`` value, else None."""
    if type(value) not in (int, bool, float):
        return None
    try:
        return _CROWD.get(value)
    except TypeError:
        return None


def shoelace2(p: list[float]) -> float:
    """Twice the signed shoelace area of a flat polygon (0 when its points are on a line)."""
    xs, ys = p[0::2], p[1::2]
    return sum(xs[i - 1] * ys[i] - xs[i] * ys[i - 1] for i in range(len(xs)))


def polygon_problem(p: list[float], w_img: int, h_img: int) -> str | None:
    """Why a finite flat polygon of >= 3 points cannot be kept, or None."""
    xs, ys = p[0::2], p[1::2]
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    if x0 < -w_img or y0 < -h_img or x1 > 2 * w_img or y1 > 2 * h_img:
        return f"reaches further than the image size beyond the {w_img}x{h_img} image"
    if x1 <= 0 or y1 <= 0 or x0 >= w_img or y0 >= h_img:
        return f"lies wholly outside the {w_img}x{h_img} image"
    if shoelace2(p) == 0:
        return "has zero area (its points lie on one line)"
    return None


class AnnotationChecker:
    """Checks one annotation in detail (the slow path of the reader, which names each
    problem); see the module docstring for the rules.

    Args:
        skip: ``skip(reason, kind, image_id)`` — record an item left out (raises in
            strict mode).
        note: ``note(reason, kind, image_id)`` — record an item kept after a fix.
    """

    def __init__(self, skip: Report, note: Report) -> None:
        self.skip, self.note = skip, note

    def polygons(self, seg: list, aid: Any, w_img: int, h_img: int,
                 sid: int) -> list[list[float]]:
        out = []
        for k, p in enumerate(seg):
            vals = finite(p)
            if vals is None or len(vals) % 2:
                why = "is not a flat list of x, y numbers"
            elif len(vals) < 6:
                why = f"has {len(vals) // 2} point(s), fewer than 3"
            else:
                why = polygon_problem(vals, w_img, h_img)
            if why is None:
                out.append(vals)
            else:
                self.skip(f"annotation {aid}: polygon {k} {why}; polygon dropped",
                          "bad_polygon", sid)
        return out

    def rle(self, seg: dict, aid: Any, h: int, w: int, sid: int) -> tuple[dict, bool] | None:
        """``(compressed RLE, was uncompressed)``, or None (reported)."""
        size, counts = seg.get("size"), seg.get("counts")
        if finite(size, 2) != [float(h), float(w)]:
            self.skip(f"annotation {aid}: RLE size {size!r:.40} differs from the image size "
                      f"[h, w] = [{h}, {w}]; skipped", "bad_rle", sid)
            return None
        try:
            if isinstance(counts, list):
                check_list_counts(counts, h, w)
                return {"size": [h, w], "counts": compress(counts, h, w)}, True
            if isinstance(counts, str):
                string_counts(counts, h, w)
                return {"size": [h, w], "counts": counts}, False
            raise RleError("'counts' is neither a list nor a string")
        except RleError as exc:
            self.skip(f"annotation {aid}: malformed RLE ({exc}); skipped", "bad_rle", sid)
            return None

    def segmentation(self, seg: Any, aid: Any, w_img: int, h_img: int, sid: int
                     ) -> tuple[list[list[float]], dict | None, bool] | None:
        """``(polygons, rle, rle was uncompressed)``; None when the entry is skipped."""
        if isinstance(seg, dict):
            got = self.rle(seg, aid, h_img, w_img, sid)
            return None if got is None else ([], got[0], got[1])
        if isinstance(seg, list):
            return self.polygons(seg, aid, w_img, h_img, sid), None, False
        if seg is not None:
            self.skip(f"annotation {aid}: segmentation {seg!r:.40} is neither a list of "
                      "polygons nor an RLE; segmentation dropped, box kept",
                      "bad_segmentation", sid)
        return [], None, False

    def box(self, a: dict, aid: Any, polys: list, rle: dict | None, w_img: int, h_img: int,
            sid: int) -> tuple[float, float, float, float] | None:
        """The checked, clipped bbox, or None (reported)."""
        bbox = finite(a.get("bbox"), 4)
        if bbox is None and (polys or rle):
            bbox = list(mask_bbox(polys, rle, h_img, w_img))
        if bbox is None or not (bbox[2] >= MIN_SIZE and bbox[3] >= MIN_SIZE):
            what = "no valid bbox" if bbox is None else (
                f"box of zero or negative size, or under {MIN_SIZE:g} px (w={bbox[2]:g}, "
                f"h={bbox[3]:g})")
            self.skip(f"annotation {aid}: {what}; skipped", "bad_bbox", sid)
            return None
        x, y, w, h = bbox
        box = clip_box(bbox, w_img, h_img)
        if box is None:
            self.skip(f"annotation {aid}: box [{x:g}, {y:g}, {w:g}, {h:g}] lies wholly outside "
                      f"the {w_img}x{h_img} image; skipped", "bbox_outside", sid)
            return None
        if max(abs(u - v) for u, v in zip(box, bbox)) > _EPS:
            self.note(f"annotation {aid}: box [{x:g}, {y:g}, {w:g}, {h:g}] extends outside the "
                      f"{w_img}x{h_img} image; clipped", "bbox_clipped", sid)
            return box
        return x, y, w, h

    def attributes(self, a: dict, aid: Any, sid: int) -> str:
        attrs = a.get("attributes")
        if attrs is None or attrs == {}:
            return ""
        if isinstance(attrs, dict) and shallow(attrs):
            return dumps(attrs)
        self.skip(f"annotation {aid}: 'attributes' is not a JSON object nested at most "
                  "32 deep; attributes dropped", "bad_attributes", sid)
        return ""

    def row(self, a: dict, aid: Any, coco_id: Any, sid: int, cid: int, w_img: int,
            h_img: int) -> tuple | None:
        """The store row of an annotation whose ids are known, or None (reported)."""
        crowd = crowd_flag(a.get("iscrowd", 0))
        if crowd is None:
            self.skip(f"annotation {aid}: iscrowd {a.get('iscrowd')!r:.40} is not 0 or 1; "
                      "skipped", "bad_iscrowd", sid)
            return None
        seg = self.segmentation(a.get("segmentation"), aid, w_img, h_img, sid)
        if seg is None:
            return None
        polys, rle, uncompressed = seg
        box = self.box(a, aid, polys, rle, w_img, h_img, sid)
        if box is None:
            return None
        extra: dict[str, Any] = {} if coco_id is None else {"coco_id": coco_id}
        area = number(a.get("area"))
        if area is not None and area >= 0:
            extra["area"] = area  # the imported area, kept while the geometry is unchanged
        else:
            area = annotation_area(box, polys, rle)
        if uncompressed:
            extra["rle_uncompressed"] = True
        return (sid, cid, *box, dumps(polys) if polys else "", dumps(rle) if rle else "",
                crowd, area, self.attributes(a, aid, sid), dumps(extra) if extra else "", "")


def entry_ids(a: Any, index: int, seen: set) -> tuple[Any, Any, str, str]:
    """``(label for messages, coco id to keep or None, problem or "", its kind)`` of an
    entry; ``seen`` collects the ids met so far."""
    if not isinstance(a, dict):
        return f"#{index}", None, "not a JSON object; skipped", "bad_annotation"
    if "id" not in a:
        return f"#{index}", None, "", ""
    aid = key(a["id"])
    if aid is None:
        return (f"#{index}", None, f"id {a['id']!r:.40} is neither an integer nor a string; "
                "skipped", "bad_annotation")
    if aid in seen:
        return aid, None, "id listed before in this file; later entry skipped", \
            "duplicate_annotation"
    seen.add(aid)
    return aid, aid, "", ""


_NUMBER = (int, float)
_NONE = (None, {})  # attributes the fast path accepts (absent or empty)


def _simple_polygon(seg: list, w_img: int, h_img: int) -> bool:
    """True for ``[[x1, y1, ...]]``: one polygon of >= 3 points of finite numbers that
    :func:`polygon_problem` accepts (the common case the fast path handles; anything
    else is checked in detail).

    Raises:
        TypeError: on non-numeric coordinates (the caller falls back to the slow path).
    """
    if len(seg) != 1 or type(seg[0]) is not list:
        return False
    p = seg[0]
    total = sum(p)  # NaN or an infinity anywhere makes the sum non-finite
    return (len(p) >= 6 and not len(p) % 2 and total - total == 0
            and polygon_problem(p, w_img, h_img) is None)


def read_annotations(reader: Any, entries: list, progress: Callable | None) -> set:
    """Check and insert the annotations in batches (``reader`` is the COCO reader: its
    ``img_map``, ``cat_map``, ``store``, ``report`` and ``annotation()`` slow path).

    The common case (integer ids seen for the first time, a box inside its image with
    numeric fields, ``iscrowd`` 0/1, a given ``area``, no attributes, no or one simple
    polygon) takes an inline fast path; anything else goes through
    ``reader.annotation``, which names the problem. Both produce the same rows.
    """
    total = len(entries)
    img_get, cat_get, seen = reader.img_map.get, reader.cat_map.get, set()
    for start in range(0, total, 20_000):
        rows: list[tuple] = []
        for n, a in enumerate(entries[start:start + 20_000], start + 1):
            try:
                aid, ii, ci = a["id"], a["image_id"], a["category_id"]
                im = img_get(ii) if type(ii) is int else None
                cid = cat_get(ci) if type(ci) is int else None
                x, y, w, h = a["bbox"]
                seg, area, crowd = a.get("segmentation"), a.get("area"), a.get("iscrowd", 0)
                area = float(area) if type(area) in _NUMBER else -1.0  # int > 1e308 raises
                fast = (im is not None and cid is not None and type(aid) is int
                        and aid not in seen and type(crowd) is int and 0 <= crowd <= 1
                        and 0 <= area < math.inf
                        and w >= MIN_SIZE and h >= MIN_SIZE and x >= 0 and y >= 0
                        and x + w <= im[1] and y + h <= im[2] and a.get("attributes") in _NONE
                        and (seg is None or (type(seg) is list
                                             and (not seg or _simple_polygon(seg, im[1], im[2])))))
            except (KeyError, TypeError, ValueError, AttributeError, OverflowError):
                fast = False
            if not fast:
                row = reader.annotation(a, n, seen)
                if row is not None:
                    rows.append(row)
                continue
            seen.add(aid)
            if seg:
                text = repr(seg)  # is JSON text: the list holds only finite numbers,
                if "T" in text or "F" in text:  # unless JSON true/false were among them
                    text = dumps([[float(v) for v in seg[0]]])
                seg = text
            else:
                seg = ""
            rows.append((im[0], cid, x, y, w, h, seg, "", crowd, area, "",
                         f'{{"coco_id":{aid},"area":{area!r}}}', ""))
        reader.report.annotations += reader.store.add_annotation_rows(rows)
        if progress is not None:
            progress(min(start + 20_000, total), total)
    return seen
