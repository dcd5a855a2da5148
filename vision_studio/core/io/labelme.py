"""Import of labelme JSON files (labelme 3.x – 5.x, https://github.com/wkentaro/labelme).

A labelme file is one JSON object per image::

    {"version": "5.7.0", "flags": {...}, "imagePath": "img.jpg", "imageData": null | base64,
     "imageHeight": H, "imageWidth": W,
     "shapes": [{"label": str, "points": [[x, y], ...], "group_id": int | null,
                 "shape_type": "polygon" | "rectangle" | "circle" | "line" | "point" |
                               "linestrip" | "points" | "mask",
                 "flags": {...}, "description": str, "mask": base64 PNG | null}, ...]}

Points are pixels of the image after EXIF orientation (labelme applies it on load),
origin at the top-left corner.

How shapes become annotations:

* ``polygon`` → polygon annotation; ``rectangle`` (two opposite corners) → bbox-only
  annotation; ``circle`` (centre, point on the rim) → a polygon of ``circle_points``
  vertices. Coordinates are clipped to the image (noted in the report). ``area`` is
  the polygons' pixel count as ``pycocotools.mask.area`` computes it, as COCO import does.
* shapes sharing a non-null ``group_id`` and label → one annotation with several
  polygons (as labelme's ``labelme2coco`` example does); a rectangle in such a group
  becomes a 4-point polygon.
* ``line``, ``linestrip``, ``point``, ``points``, ``mask`` and unknown types enclose no
  area we import: each is reported as skipped with the file and the shape index.
* label ``__ignore__`` (labelme's convention for regions to leave out of training and
  evaluation) → an annotation of category ``__ignore__`` with ``iscrowd=True`` and
  ``attributes={"ignore": True}``: COCOeval ignores detections matching crowd regions,
  and :func:`~vision_studio.core.io.masks.write_masks` paints them with the ignore value.
* shape ``flags`` (and a non-empty ``description``, ``group_id``) → annotation
  ``attributes``; file-level ``flags`` that are true → image-level tags (labelme's own
  image-classification convention), unless ``image_flags_as_tags=False``.
"""
from __future__ import annotations

import base64
import binascii
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from vision_studio.core import images
from vision_studio.core.errors import FormatError
from vision_studio.core.io._importlog import ImportLog, Progress, call_progress, category_ids
from vision_studio.core.io.report import ImportReport
from vision_studio.core.store import ProjectStore
from vision_studio.core.types import Annotation, ImageRecord

IGNORE_LABEL = "__ignore__"
AREA_SHAPES = ("polygon", "rectangle", "circle")
LINE_SHAPES = ("line", "linestrip", "point", "points")
_BATCH = 500  # files per insert batch


class _ShapeError(ValueError):
    """A shape that is not imported; ``kind`` is the report's grouping tag."""

    def __init__(self, reason: str, kind: str = "invalid_shape") -> None:
        super().__init__(reason)
        self.kind = kind


@dataclass
class _Object:
    """One future annotation: shapes merged by group id."""

    label: str
    polygons: list[list[float]] = field(default_factory=list)
    boxes: list[tuple[float, float, float, float]] = field(default_factory=list)  # xyxy
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Parsed:
    """One labelme file ready to insert."""

    json_path: Path
    image: ImageRecord
    objects: list[_Object]
    tags: list[str]
    shape_skips: list[tuple[str, str, str]]  # (source, reason, kind), recorded once the image has an id


def read_labelme(store: ProjectStore, src: str | os.PathLike, *, split: str | None = None,
                 strict: bool = False, progress: Progress | None = None,
                 write_embedded: bool = False, circle_points: int = 48,
                 image_flags_as_tags: bool = True) -> ImportReport:
    """Import labelme JSON files into a project.

    Args:
        store: The project to add to.
        src: One ``*.json`` file, or a folder searched recursively for ``*.json``.
        split: Split recorded for every imported image (default unassigned, ``""``).
        strict: Raise :class:`~vision_studio.core.errors.FormatError` at the first file
            or shape that cannot be imported; nothing is then changed.
        progress: Called as ``progress(files_done, files_total)``.
        write_embedded: When the image file named by ``imagePath`` is missing but the
            JSON embeds it (``imageData``), write the embedded image there (never
            overwriting a file). Default: report the file as skipped, since images are
            never copied or created by an import.
        circle_points: Vertices of the polygon that approximates a ``circle`` shape.
        image_flags_as_tags: Turn true file-level ``flags`` into image-level tags.

    Returns:
        The report: images, annotations, categories and tags added; what was skipped
        (broken JSON, missing or unreadable image, a JSON ``imageWidth``/``imageHeight``
        that differs from the image file's size after EXIF orientation, images already
        in the project: the whole file; unsupported or degenerate shapes: that shape,
        named ``<file>#shape<index>``); shapes clipped to the image are noted. Skipped
        shapes of imported images are also recorded as problems of that image.
        An image extracted with ``write_embedded`` stays on disk even if a strict
        import is then rolled back.

    Raises:
        FormatError: ``src`` does not exist or holds no JSON file; in strict mode, the
            first skipped file or shape.
    """
    src = Path(src)
    files = sorted(src.rglob("*.json")) if src.is_dir() else [src]
    if not src.exists() or not files:
        raise FormatError(f"{src}: no labelme JSON file found")
    log = ImportLog(store, strict, "labelme")
    known = {im.path for im in store.images()}
    with store.transaction():
        batch: list[_Parsed] = []
        for i, path in enumerate(files):
            parsed = _parse_file(store, path, split or "", log, write_embedded, circle_points,
                                 image_flags_as_tags)
            if parsed is not None:
                if parsed.image.path in known:
                    log.skip(path, f"image {parsed.image.path} is already in the project "
                                   "(not imported twice)", "duplicate_image")
                else:
                    known.add(parsed.image.path)
                    batch.append(parsed)
            if len(batch) >= _BATCH:
                _insert(store, batch, log)
                batch = []
            call_progress(progress, i + 1, len(files))
        _insert(store, batch, log)
        report = log.report()
    return report


def _parse_file(store: ProjectStore, path: Path, split: str, log: ImportLog,
                write_embedded: bool, circle_points: int, flags_as_tags: bool) -> _Parsed | None:
    """Read one labelme file; returns None (after reporting why) if it is unusable."""
    data = _load_json(path, log)
    if data is None:
        return None
    image_path = _resolve_image(path, data, log, write_embedded)
    if image_path is None:
        return None
    try:
        width, height = images.image_size(image_path)
    except images.ImageDecodeError as exc:
        log.skip(path, f"image cannot be read: {exc}", "decode_error")
        return None
    jw, jh = data.get("imageWidth"), data.get("imageHeight")
    if jw is not None and jh is not None and (jw, jh) != (width, height):
        log.skip(path, f"imageWidth x imageHeight {jw}x{jh} in the JSON differ from the image "
                       f"file {image_path.name} ({width}x{height} after EXIF orientation); "
                       "its shapes would not match the image", "size_mismatch")
        return None
    objects, skips = _objects(path, data["shapes"], width, height, circle_points, log)
    flags = data.get("flags") if isinstance(data.get("flags"), dict) else {}
    tags = [str(k) for k, v in flags.items() if v is True] if flags_as_tags else []
    record = ImageRecord(path=store.relative_path(image_path), width=width, height=height, split=split)
    return _Parsed(path, record, objects, tags, skips)


def _load_json(path: Path, log: ImportLog) -> dict[str, Any] | None:
    try:
        with open(path, "rb") as f:
            data = json.loads(f.read().decode("utf-8"))
    except OSError as exc:
        log.skip(path, f"cannot be read ({exc.strerror or exc})", "unreadable_file")
        return None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        log.skip(path, f"broken JSON ({exc})", "broken_json")
        return None
    if not isinstance(data, dict) or not isinstance(data.get("shapes"), list):
        log.skip(path, "not a labelme file (no 'shapes' list)", "not_labelme")
        return None
    if not isinstance(data.get("imagePath"), str) or not data["imagePath"]:
        log.skip(path, "not a labelme file (no 'imagePath')", "not_labelme")
        return None
    return data


def _resolve_image(path: Path, data: Mapping[str, Any], log: ImportLog, write_embedded: bool) -> Path | None:
    """The image file named by ``imagePath`` (relative to the JSON; Windows separators
    accepted), or None after reporting why there is none."""
    rel = data["imagePath"].replace("\\", "/")
    candidate = (path.parent / rel)
    if not candidate.is_file() and (path.parent / Path(rel).name).is_file():
        candidate = path.parent / Path(rel).name  # JSON moved next to its image
    if candidate.is_file():
        return candidate
    embedded = data.get("imageData")
    if not embedded:
        log.skip(path, f"image file {rel} not found (and no imageData embedded)", "missing_image")
        return None
    if not write_embedded:
        log.skip(path, f"image file {rel} not found; the JSON embeds the image (imageData) but "
                       "an import never creates image files: extract it (write_embedded=True) "
                       "or put the image there", "embedded_image")
        return None
    try:
        raw = base64.b64decode(embedded, validate=True)
    except (binascii.Error, ValueError) as exc:
        log.skip(path, f"imageData is not valid base64 ({exc})", "embedded_image")
        return None
    try:
        candidate.parent.mkdir(parents=True, exist_ok=True)
        with open(candidate, "xb") as f:
            f.write(raw)
    except OSError as exc:
        log.skip(path, f"cannot write the embedded image to {candidate} ({exc})", "embedded_image")
        return None
    log.result.note(str(path), f"embedded image written to {candidate}", "embedded_image")
    return candidate


def _objects(path: Path, shapes: list[Any], width: int, height: int, circle_points: int,
             log: ImportLog) -> tuple[list[_Object], list[tuple[str, str, str]]]:
    """Shapes → objects (merged by ``(label, group_id)``); skipped shapes listed."""
    objects: list[_Object] = []
    groups: dict[tuple[str, Any], _Object] = {}
    skips: list[tuple[str, str, str]] = []
    for idx, shape in enumerate(shapes):
        source = f"{path}#shape{idx}"
        try:
            label, kind, geom, clipped = _shape_geometry(shape, width, height, circle_points)
        except _ShapeError as exc:
            if log.strict:
                log.skip(source, str(exc), exc.kind)
            skips.append((source, str(exc), exc.kind))
            continue
        if clipped:
            log.result.note(source, f"{kind} shape '{label}' reaches outside the {width}x{height} "
                                    "image: clipped to it", "clipped")
        gid = shape.get("group_id")
        if gid is not None and not isinstance(gid, (int, float, str)):
            gid = json.dumps(gid)  # unhashable junk still groups consistently
        key = (label, gid)
        obj = groups.get(key) if gid is not None else None
        if obj is None:
            obj = _Object(label=label, attributes=_attributes(shape))
            objects.append(obj)
            if gid is not None:
                groups[key] = obj
        if kind == "rectangle":
            obj.boxes.append(geom)  # type: ignore[arg-type]
        else:
            obj.polygons.append(geom)  # type: ignore[arg-type]
    return objects, skips


def _attributes(shape: Mapping[str, Any]) -> dict[str, Any]:
    attrs: dict[str, Any] = {"source": "labelme"}
    if isinstance(shape.get("flags"), dict) and shape["flags"]:
        attrs["flags"] = dict(shape["flags"])
    if shape.get("description"):
        attrs["description"] = str(shape["description"])
    if shape.get("group_id") is not None:
        attrs["group_id"] = shape["group_id"]
    return attrs


def _shape_geometry(shape: Any, width: int, height: int,
                    circle_points: int) -> tuple[str, str, Any, bool]:
    """``(label, kind, geometry, clipped)``: a flat polygon for polygons/circles, an xyxy
    box for rectangles, clipped to the image (``clipped`` tells whether that moved a point).

    Raises:
        _ShapeError: with the reason the shape is not imported.
    """
    if not isinstance(shape, dict):
        raise _ShapeError("shape is not a JSON object")
    label = str(shape.get("label") or "").strip()
    kind = shape.get("shape_type") or "polygon"  # labelme 3 wrote no shape_type for polygons
    if not label:
        raise _ShapeError(f"{kind} shape has no label")
    if kind not in AREA_SHAPES:
        why = "encloses no area" if kind in LINE_SHAPES else "bitmap masks are not imported"
        raise _ShapeError(f"{kind} shape '{label}' is not supported ({why}); only polygon, "
                          "rectangle and circle shapes are imported", "unsupported_shape")
    try:
        pts = [(float(p[0]), float(p[1])) for p in shape["points"]]
    except (KeyError, TypeError, ValueError, IndexError):
        raise _ShapeError(f"{kind} shape '{label}' has malformed points") from None
    if not all(math.isfinite(v) for p in pts for v in p):
        raise _ShapeError(f"{kind} shape '{label}' has non-finite points")
    if kind == "circle":
        if len(pts) != 2:
            raise _ShapeError(f"circle shape '{label}' needs 2 points (centre, rim), got {len(pts)}")
        pts = circle_polygon(pts[0], pts[1], circle_points)
    need = 2 if kind == "rectangle" else 3
    if len(pts) < need:
        raise _ShapeError(f"{kind} shape '{label}' has {len(pts)} point(s), needs at least {need}")
    inside = [(min(max(x, 0.0), float(width)), min(max(y, 0.0), float(height))) for x, y in pts]
    clipped, pts = inside != pts, inside
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    box = (min(xs), min(ys), max(xs), max(ys))
    if not (box[2] > box[0] and box[3] > box[1]):
        raise _ShapeError(f"{kind} shape '{label}' has no area inside the {width}x{height} image")
    if kind == "rectangle":
        return label, kind, box, clipped
    return label, kind, [v for p in pts for v in p], clipped


def circle_polygon(center: tuple[float, float], rim: tuple[float, float], n: int = 48) -> list[tuple[float, float]]:
    """Vertices of a regular ``n``-gon inscribed in the circle through ``rim`` around
    ``center`` (labelme's circle: centre point and one point on the circle), pixels,
    counter-clockwise from angle 0."""
    cx, cy = center
    r = math.hypot(rim[0] - cx, rim[1] - cy)
    return [(cx + r * math.cos(2 * math.pi * k / n), cy + r * math.sin(2 * math.pi * k / n))
            for k in range(n)]


def _annotation(obj: _Object, image: ImageRecord, category_id: int) -> Annotation:
    """The annotation of one object; ``area`` of a polygon annotation is the pixel count
    of its merged polygons as ``pycocotools.mask.area`` computes it (COCO's convention),
    of a bbox-only one ``w * h``."""
    from pycocotools import mask as mask_utils

    polys: list[list[float]] = list(obj.polygons)
    if polys:  # a group mixing polygons and rectangles: rectangles become polygons
        polys += [[x1, y1, x2, y1, x2, y2, x1, y2] for x1, y1, x2, y2 in obj.boxes]
    xs = [v for p in polys for v in p[0::2]] + [v for b in obj.boxes for v in (b[0], b[2])]
    ys = [v for p in polys for v in p[1::2]] + [v for b in obj.boxes for v in (b[1], b[3])]
    x1, y1 = min(xs), min(ys)
    ignore = obj.label == IGNORE_LABEL
    attrs = dict(obj.attributes)
    if ignore:
        attrs["ignore"] = True
    w, h = max(xs) - x1, max(ys) - y1
    area = w * h
    if polys:
        area = float(mask_utils.area(mask_utils.merge(
            mask_utils.frPyObjects(polys, image.height, image.width))))
    return Annotation(image_id=image.id, category_id=category_id, bbox=(x1, y1, w, h),
                      polygons=tuple(tuple(p) for p in polys), iscrowd=ignore,
                      area=area, attributes=attrs)


def _insert(store: ProjectStore, batch: list[_Parsed], log: ImportLog) -> None:
    """Insert a batch of parsed files: images, categories, annotations, tags."""
    if not batch:
        return
    names = [o.label for p in batch for o in p.objects] + [t for p in batch for t in p.tags]
    cats = category_ids(store, names, log)
    records = store.add_images([p.image for p in batch])
    anns: list[Annotation] = []
    tags: list[tuple[int, int]] = []
    for parsed, rec in zip(batch, records):
        anns += [_annotation(o, rec, cats[o.label]) for o in parsed.objects]
        tags += [(rec.id, cats[t]) for t in parsed.tags]
        for source, reason, kind in parsed.shape_skips:
            log.skip(source, reason, kind, image_id=rec.id)
    store.add_annotations(anns)
    store.add_image_tags(tags)
    log.result.images += len(records)
    log.result.annotations += len(anns)
    log.result.tags += len(tags)
    batch.clear()
