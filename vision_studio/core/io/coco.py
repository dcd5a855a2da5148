"""COCO JSON import and export (https://cocodataset.org/#format-data).

Import (:func:`read_coco`) adds one COCO file (one split) to a project. Several files
(``train``/``valid``/``test``) go into one project, each with its split recorded.

* Category ids may start at 0 and have gaps; the store assigns its own ids and keeps the
  original COCO id of each category in the project setting :data:`CATEGORY_IDS_SETTING`
  (``{"<store id>": coco id}``) so that export restores it. Categories are kept even
  when no annotation uses them; two categories with the same name stay distinct.
  A later file of the same dataset reuses the categories matched by (coco id, name),
  then by name.
* ``bbox`` is COCO ``[x, y, w, h]`` in pixels; polygons are kept as given; RLE masks
  (``iscrowd`` regions) are stored with compressed string counts (uncompressed list
  counts are compressed with ``pycocotools.mask.frPyObjects``).
* ``area`` is recomputed as pycocotools defines it: the mask's pixel count
  (``pycocotools.mask.area`` of the merged polygons / RLE) for annotations with a mask,
  ``w * h`` for box-only annotations.
* Image files are resolved relative to ``image_dir`` (default: the JSON's folder); their
  size after EXIF orientation is read from the file header and checked against the
  JSON's ``width``/``height``.
* Problems (missing or unreadable images, unknown image/category ids, boxes of zero or
  negative size or wholly outside the image, polygons with fewer than 3 points,
  malformed RLE, images already in the project) are reported as
  :class:`~vision_studio.core.io.report.Skipped` items naming the JSON file and the
  annotation id, and recorded as project problems. A box partly outside the image is
  clipped to it and noted. In strict mode the first problem raises ``FormatError`` and
  the project is unchanged (the import runs in one transaction).

Export (:func:`write_coco`) streams annotations from the store, so a 1M-annotation
project is written without building the whole document in memory.
"""
from __future__ import annotations

import json
import logging
import math
import os
from collections import Counter
from pathlib import Path
from typing import Any

from vision_studio.core.errors import FormatError
from vision_studio.core.images import ImageDecodeError, image_size
from vision_studio.core.io.coco_ids import CATEGORY_IDS_SETTING
from vision_studio.core.io.common import (
    CHUNK,
    RelativePaths,
    gc_paused,
    load_json,
    match_categories,
    split_from_path,
)
from vision_studio.core.io.report import ImportReport, ProgressCallback
from vision_studio.core.store import ProjectStore
from vision_studio.core.types import ImageRecord, Problem

log = logging.getLogger(__name__)


_NEW = ImageRecord(path="", width=0, height=0)  # default checksum/status of a new image
_EPS = 1e-6  # pixels a box may overhang the image before clipping is reported


def _mask_utils():
    from pycocotools import mask as mask_utils  # C extension; imported when needed

    return mask_utils


def mask_area(polygons: Any, rle: dict | None, height: int, width: int) -> float:
    """Pixel area of a polygon list or an RLE, as ``pycocotools`` computes it.

    Args:
        polygons: Sequence of flat ``[x1, y1, x2, y2, ...]`` polygons (pixels).
        rle: COCO RLE ``{"size": [h, w], "counts": str | bytes}``; used when given.
        height: Image height in pixels (polygons are rasterised on this grid).
        width: Image width in pixels.

    Returns:
        Number of mask pixels (union of the pieces), as a float.
    """
    mu = _mask_utils()
    if rle is not None:
        counts = rle["counts"]
        enc = {"size": list(rle["size"]),
               "counts": counts.encode("ascii") if isinstance(counts, str) else counts}
        return float(mu.area(enc))
    rles = mu.frPyObjects([list(p) for p in polygons], height, width)
    return float(mu.area(mu.merge(rles)))


def _sections(data: Any, path: Path) -> tuple[list, list, list]:
    """The images, annotations and categories lists of a COCO document."""
    if not isinstance(data, dict):
        raise FormatError(f"{path}: not a COCO file (the top level is not an object)")
    parts = []
    for key in ("images", "annotations", "categories"):
        value = data.get(key, [])
        if not isinstance(value, list):
            raise FormatError(f"{path}: not a COCO file ('{key}' is not a list)")
        parts.append(value)
    if "images" not in data:
        raise FormatError(f"{path}: not a COCO file (no 'images' list)")
    return parts[0], parts[1], parts[2]


def _key(value: Any) -> int | str | None:
    """A COCO id usable as a dict key (int or str), else None."""
    return value if isinstance(value, (int, str)) and not isinstance(value, bool) else None


def _finite(values: Any, n: int | None = None) -> list[float] | None:
    """``values`` as floats when it is a list of finite numbers (of length ``n``)."""
    if not isinstance(values, (list, tuple)) or (n is not None and len(values) != n):
        return None
    try:
        out = [float(v) for v in values]
    except (TypeError, ValueError):
        return None
    return out if all(math.isfinite(v) for v in out) else None


class _LazyCounts:
    """Annotations per image id, counted on first use (only skip messages need them)."""

    def __init__(self, anns: list) -> None:
        self.anns = anns
        self.counts: Counter | None = None

    def of(self, image_id: Any) -> int:
        if self.counts is None:
            self.counts = Counter(_key(a.get("image_id")) for a in self.anns
                                  if isinstance(a, dict))
        return self.counts[image_id]


class _CocoReader:
    """State of one :func:`read_coco` call (kept small so each step is one method)."""

    def __init__(self, store: ProjectStore, json_path: Path, image_dir: Path | None,
                 split: str, report: ImportReport, check_images: bool) -> None:
        self.store, self.json_path, self.split = store, json_path, split
        self.src = str(json_path)
        self.folder = Path(image_dir) if image_dir is not None else json_path.parent
        self.report, self.check_images = report, check_images
        self.cat_map: dict[Any, int] = {}
        self.img_map: dict[Any, tuple[int, int, int]] = {}  # coco id -> (store id, w, h)
        self.dropped_images: set[Any] = set()
        self.problems: list[Problem] = []

    # -------------------------------------------------------------- reporting
    def skip(self, reason: str, kind: str, image_id: int | None = None,
             source: str | None = None) -> None:
        source = source or self.src
        self.report.skip(source, reason, kind)
        self.problems.append(Problem(source=source, message=reason, image_id=image_id, kind=kind))

    def note(self, reason: str, kind: str, image_id: int | None = None) -> None:
        self.report.note(self.src, reason, kind)
        self.problems.append(Problem(source=self.src, message=reason, image_id=image_id, kind=kind))

    # -------------------------------------------------------------- categories
    def categories(self, entries: list) -> None:
        """Match/create categories; fills ``cat_map`` (coco id -> store id)."""
        valid: list[tuple[Any, str, str]] = []
        for c in entries:
            cid = c.get("id") if isinstance(c, dict) else None
            if not isinstance(cid, (int, str)) or isinstance(cid, bool):
                self.skip(f"category {c!r:.60}: no valid 'id'; skipped", "bad_category")
                continue
            if any(cid == v[0] for v in valid):
                self.skip(f"category id {cid}: listed twice; second entry skipped", "bad_category")
                continue
            name = str(c.get("name") or "").strip() or f"category {cid}"
            valid.append((cid, name, str(c.get("supercategory") or "")))
        mapping: dict[str, Any] = dict(self.store.get_setting(CATEGORY_IDS_SETTING, {}))
        by_id = {c.id: c for c in self.store.categories()}
        pending, used = [], set()
        for cid, name, sc in valid:  # reuse a category imported from the same dataset
            hit = next((sid for sid, orig in mapping.items() if orig == cid and int(sid) in by_id
                        and by_id[int(sid)].name == name and int(sid) not in used), None)
            if hit is None:
                pending.append((cid, name, sc))
            else:
                used.add(int(hit))
                self.cat_map[cid] = int(hit)
        matched, created = match_categories(self.store, [(n, sc) for _, n, sc in pending], used)
        for (cid, _, _), cat in zip(pending, matched):
            self.cat_map[cid] = cat.id
            mapping.setdefault(str(cat.id), cid)
        self.report.categories += created
        self.store.set_setting(CATEGORY_IDS_SETTING, mapping)

    # -------------------------------------------------------------- images
    def _image_entry(self, entry: Any, seen_ids: set) -> tuple[Any, str, int, int] | None:
        """Validate one ``images`` entry; ``(coco id, file_name, width, height)``."""
        iid = entry.get("id") if isinstance(entry, dict) else None
        name = entry.get("file_name") if isinstance(entry, dict) else None
        if not isinstance(iid, (int, str)) or isinstance(iid, bool) or not isinstance(name, str) \
                or not name:
            self.skip(f"image entry {entry!r:.80}: needs an 'id' and a 'file_name'; skipped",
                      "bad_image")
            return None
        if iid in seen_ids:
            self.skip(f"image id {iid} ({name}): listed twice; second entry skipped", "bad_image")
            return None
        seen_ids.add(iid)
        w, h = entry.get("width"), entry.get("height")
        w = int(w) if isinstance(w, (int, float)) and 0 < w < math.inf else 0
        h = int(h) if isinstance(h, (int, float)) and 0 < h < math.inf else 0
        return iid, name, w, h

    def _checked_size(self, iid: Any, name: str, w: int, h: int, n_anns: _LazyCounts,
                      paths: RelativePaths) -> tuple[int, int] | None:
        """The image's size after EXIF orientation, or None (reported) when unusable."""
        if not self.check_images:
            if w and h:
                return w, h
            self.skip(f"image id {iid} ({name}): no valid width/height; image and its "
                      f"{n_anns.of(iid)} annotation(s) skipped", "bad_image")
            return None
        try:
            fw, fh = image_size(paths.absolute(name))
        except ImageDecodeError as exc:
            self.skip(f"{exc.reason} (image id {iid} in {self.json_path.name}); image and its "
                      f"{n_anns.of(iid)} annotation(s) skipped",
                      "missing_image" if "not found" in exc.reason else "unreadable_image",
                      source=exc.path)
            return None
        if (w or h) and (fw, fh) != (w, h):
            msg = (f"image id {iid} ({name}): the JSON says {w}x{h} but the file is {fw}x{fh}"
                   " after EXIF orientation; the file's size is used")
            if self.report.strict:
                self.skip(msg, "size_mismatch")
            self.note(msg, "size_mismatch")
        return fw, fh

    def images(self, entries: list, anns_per_image: _LazyCounts) -> None:
        """Add the images; fills ``img_map``."""
        paths = RelativePaths(self.store, self.folder)
        existing = {im.path: im.id for im in self.store.images()}
        seen_ids: set = set()
        batch: list[tuple[Any, tuple]] = []  # (coco id, store.add_image_rows row)
        for entry in entries:
            parsed = self._image_entry(entry, seen_ids)
            if parsed is None:
                continue
            iid, name, w, h = parsed
            rel = paths(name)
            if rel in existing:
                self.dropped_images.add(iid)
                self.skip(f"image id {iid} ({name}): already in the project; it and "
                          f"its {anns_per_image.of(iid)} annotation(s) were not imported again",
                          "duplicate_image", image_id=existing[rel] or None)
                continue
            size = self._checked_size(iid, name, w, h, anns_per_image, paths)
            if size is None:
                self.dropped_images.add(iid)
                continue
            existing[rel] = 0
            batch.append((iid, (rel, size[0], size[1], self.split, _NEW.checksum, _NEW.status)))
        for i in range(0, len(batch), CHUNK):  # store.add_image_rows: no record objects
            part = batch[i:i + CHUNK]
            first = self.store.add_image_rows([row for _, row in part])
            for k, (iid, row) in enumerate(part):
                self.img_map[iid] = (first + k, row[1], row[2])
        self.report.images += len(batch)

    # -------------------------------------------------------------- annotations
    def _polygons(self, seg: list, aid: Any, image_id: int) -> list[list[float]]:
        out = []
        for k, p in enumerate(seg):
            vals = _finite(p)
            if vals is None or len(vals) % 2:
                self.skip(f"annotation {aid}: polygon {k} is not a flat list of x, y numbers; "
                          "polygon dropped", "bad_polygon", image_id)
            elif len(vals) < 6:
                self.skip(f"annotation {aid}: polygon {k} has {len(vals) // 2} point(s), fewer "
                          "than 3; polygon dropped", "bad_polygon", image_id)
            else:
                out.append(vals)
        return out

    def _rle(self, seg: dict, aid: Any, h: int, w: int, image_id: int) -> dict | None:
        """A valid compressed RLE ``{"size": [h, w], "counts": str}``, or None (reported)."""
        size, counts = seg.get("size"), seg.get("counts")
        if _finite(size, 2) != [float(h), float(w)]:
            self.skip(f"annotation {aid}: RLE size {size!r:.40} differs from the image size "
                      f"[h, w] = [{h}, {w}]; skipped", "bad_rle", image_id)
            return None
        try:
            if isinstance(counts, list):
                if not all(isinstance(c, int) and c >= 0 for c in counts) or sum(counts) != h * w:
                    raise ValueError(f"uncompressed counts must be non-negative integers summing "
                                     f"to h*w = {h * w}")
                enc = _mask_utils().frPyObjects({"size": [h, w], "counts": counts}, h, w)
                return {"size": [h, w], "counts": enc["counts"].decode("ascii")}
            if isinstance(counts, str) and counts:
                _mask_utils().area({"size": [h, w], "counts": counts.encode("ascii")})
                return {"size": [h, w], "counts": counts}
            raise ValueError("'counts' is neither a list nor a string")
        except (ValueError, TypeError, UnicodeEncodeError) as exc:
            self.skip(f"annotation {aid}: malformed RLE ({exc}); skipped", "bad_rle", image_id)
            return None

    def _clip(self, box: list[float], aid: Any, w_img: int, h_img: int,
              image_id: int) -> tuple[float, float, float, float] | None:
        """The box clipped to the image (noted), or None when wholly outside (reported)."""
        x, y, w, h = box
        x1, y1, x2, y2 = max(x, 0.0), max(y, 0.0), min(x + w, w_img), min(y + h, h_img)
        if x2 <= x1 or y2 <= y1:
            self.skip(f"annotation {aid}: box [{x:g}, {y:g}, {w:g}, {h:g}] lies wholly outside "
                      f"the {w_img}x{h_img} image; skipped", "bbox_outside", image_id)
            return None
        if x1 - x > _EPS or y1 - y > _EPS or x + w - x2 > _EPS or y + h - y2 > _EPS:
            self.note(f"annotation {aid}: box [{x:g}, {y:g}, {w:g}, {h:g}] extends outside the "
                      f"{w_img}x{h_img} image; clipped", "bbox_clipped", image_id)
            return x1, y1, x2 - x1, y2 - y1
        return x, y, w, h

    def _annotation(self, a: Any, index: int) -> tuple | None:
        """Validate and convert one COCO annotation to a store row (see
        ``ProjectStore.add_annotation_rows``); None when skipped (reported)."""
        if not isinstance(a, dict):
            self.skip(f"annotation #{index}: not a JSON object; skipped", "bad_annotation")
            return None
        aid = a.get("id", f"#{index}")
        im = self.img_map.get(_key(a.get("image_id")))
        if im is None:
            if _key(a.get("image_id")) not in self.dropped_images:
                self.skip(f"annotation {aid}: unknown image id {a.get('image_id')!r}; skipped",
                          "unknown_image")
            return None
        sid, w_img, h_img = im
        cid = self.cat_map.get(_key(a.get("category_id")))
        if cid is None:
            self.skip(f"annotation {aid}: unknown category id {a.get('category_id')!r}; skipped",
                      "unknown_category", sid)
            return None
        seg = a.get("segmentation")
        polys: list[list[float]] = []
        rle = None
        if isinstance(seg, dict):
            rle = self._rle(seg, aid, h_img, w_img, sid)
            if rle is None:
                return None
        elif isinstance(seg, list) and seg:
            polys = self._polygons(seg, aid, sid)
        bbox = _finite(a.get("bbox"), 4)
        if bbox is None and (polys or rle):
            bbox = _mask_bbox(polys, rle, h_img, w_img)
        if bbox is None or not (bbox[2] > 0 and bbox[3] > 0):
            what = "no valid bbox" if bbox is None else \
                f"box of zero or negative size (w={bbox[2]:g}, h={bbox[3]:g})"
            self.skip(f"annotation {aid}: {what}; skipped", "bad_bbox", sid)
            return None
        box = self._clip(bbox, aid, w_img, h_img, sid)
        if box is None:
            return None
        area = mask_area(polys, rle, h_img, w_img) if (polys or rle) else box[2] * box[3]
        return (sid, cid, *box, _dumps(polys) if polys else None, _dumps(rle) if rle else None,
                1 if a.get("iscrowd") else 0, area, _attributes(a))

    def annotations(self, entries: list, progress: ProgressCallback | None) -> None:
        """Validate and insert the annotations in batches.

        The common case (a box-only annotation with numeric fields, inside its image,
        known ids) takes an inline fast path; anything else goes through
        :meth:`_annotation`, which names the problem. Both produce the same rows.
        """
        total = len(entries)
        img_get, cat_get = self.img_map.get, self.cat_map.get
        rows: list[tuple] = []
        for start in range(0, total, CHUNK):
            for n, a in enumerate(entries[start:start + CHUNK], start + 1):
                try:
                    im, cid = img_get(a["image_id"]), cat_get(a["category_id"])
                    x, y, w, h = a["bbox"]
                    seg = a.get("segmentation")
                    fast = (im is not None and cid is not None and w > 0 and h > 0 and x >= 0
                            and y >= 0 and x + w <= im[1] and y + h <= im[2]
                            and (not seg or _simple_polygon(seg)))
                except (KeyError, TypeError, ValueError, AttributeError):
                    fast = False
                if not fast:
                    row = self._annotation(a, n)
                    if row is not None:
                        rows.append(row)
                    continue
                if seg:
                    area = _polygon_area(seg[0], im[2], im[1])
                    text = repr(seg)  # is JSON text: the list holds only finite numbers,
                    if "T" in text or "F" in text:  # unless JSON true/false were among them
                        text = _dumps([[float(v) for v in seg[0]]])
                    seg = text
                else:
                    area, seg = w * h, ""
                attrs = a.get("attributes")  # "" is NULL (see ProjectStore.add_annotation_rows)
                rows.append((im[0], cid, x, y, w, h, seg, "", 1 if a.get("iscrowd") else 0, area,
                             _dumps(attrs) if attrs and isinstance(attrs, dict) else ""))
            self.report.annotations += self.store.add_annotation_rows(rows)
            rows = []
            if progress is not None:
                progress(min(start + CHUNK, total), total)


def _simple_polygon(seg: Any) -> bool:
    """True for ``[[x1, y1, ...]]``: one polygon of >= 3 points of finite numbers (the
    common case the fast path handles; anything else is checked in detail).

    Raises:
        TypeError: on non-numeric coordinates (the caller falls back to the slow path).
    """
    if type(seg) is not list or len(seg) != 1 or type(seg[0]) is not list:
        return False
    p = seg[0]
    total = sum(p)  # NaN or an infinity anywhere makes the sum non-finite
    return len(p) >= 6 and not len(p) % 2 and total - total == 0


def _polygon_area(polygon: list, height: int, width: int) -> float:
    """``pycocotools`` mask area of one polygon (no merge needed for a single piece)."""
    mu = _mask_utils()
    return float(mu.area(mu.frPyObjects([polygon], height, width))[0])


_ENCODER = json.JSONEncoder(separators=(",", ":"))


def _dumps(value: Any) -> str:
    """Compact JSON text, as the store keeps polygons, RLE and attributes."""
    return _ENCODER.encode(value)


def _attributes(a: dict) -> str | None:
    attrs = a.get("attributes")
    return _dumps(attrs) if attrs and isinstance(attrs, dict) else None


def _mask_bbox(polys: list, rle: dict | None, h: int, w: int) -> list[float]:
    """COCO bbox of a mask (``pycocotools.mask.toBbox``)."""
    mu = _mask_utils()
    if rle is not None:
        enc = {"size": [h, w], "counts": rle["counts"].encode("ascii")}
    else:
        enc = mu.merge(mu.frPyObjects(polys, h, w))
    return [float(v) for v in mu.toBbox(enc)]


def read_coco(store: ProjectStore, json_path: str | os.PathLike,
              image_dir: str | os.PathLike | None = None, *, split: str | None = None,
              strict: bool = False, check_images: bool = True,
              progress: ProgressCallback | None = None) -> ImportReport:
    """Import one COCO JSON file into a project (see the module docstring for the rules).

    Args:
        store: The project to add to.
        json_path: The COCO file.
        image_dir: Folder that ``file_name`` is relative to; default the JSON's folder.
        split: Split recorded on the images; default derived from the JSON's folder or
            file name (``train``; ``valid``/``val`` → ``val``; ``test``), else ``""``.
        strict: Raise at the first problem and change nothing.
        check_images: Read each image header (existence, size after EXIF orientation).
            ``False`` trusts the JSON's sizes (for huge generated files).
        progress: ``progress(done, total)`` over the annotations.

    Returns:
        What was added and what was skipped.

    Raises:
        FormatError: unreadable or invalid JSON, not a COCO document, or (strict) any
            problem; the project is then unchanged.
    """
    json_path = Path(json_path)
    with gc_paused():  # millions of short-lived containers, no cycles (see gc_paused)
        images, anns, cats = _sections(load_json(json_path, "COCO JSON"), json_path)
        split = split_from_path(json_path) if split is None else split
        report = ImportReport("coco", strict=strict)
        reader = _CocoReader(store, json_path, Path(image_dir) if image_dir else None, split,
                             report, check_images)
        per_image = _LazyCounts(anns)
        with store.bulk_transaction(len(anns)):
            reader.categories(cats)
            reader.images(images, per_image)
            reader.annotations(anns, progress)
            if reader.problems:
                store.add_problems(reader.problems)
        del images, anns, cats, per_image  # the parsed document is no longer needed
    log.info("%s: %s", json_path, report.summary().replace("\n", "; "))
    return report


__all__ = ["CATEGORY_IDS_SETTING", "read_coco"]
