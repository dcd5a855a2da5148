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
from vision_studio.core.geometry import polygons_area, polygons_bbox
from vision_studio.core.io._importlog import ImportLog, Progress, call_progress, category_ids
from vision_studio.core.io.common import (
    ExistingImages,
    ProjectPaths,
    is_regular_file,
    leaves_folder,
    name_problem,
    project_paths,
)
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
    existing: ImageRecord | None = None  # the project's image, when it is already there


def read_labelme(store: ProjectStore, src: str | os.PathLike, *, split: str | None = None,
                 strict: bool = False, progress: Progress | None = None,
                 write_embedded: bool = False, circle_points: int = 48,
                 image_flags_as_tags: bool = True, on_existing: str = "add") -> ImportReport:
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
        on_existing: For a file whose image is already in the project (by project
            path, else by unique file name): ``"add"`` its shapes (an identical box and
            category not twice), ``"replace"`` that image's annotations, or ``"skip"``
            it (see :class:`~vision_studio.core.io.common.ExistingImages`).

    Returns:
        The report: images, annotations, categories and tags added; what was skipped
        (broken JSON, missing or unreadable image, a JSON ``imageWidth``/``imageHeight``
        that differs from the image file's size after EXIF orientation, an image named
        by two files: the whole file; unsupported or degenerate shapes, labels that are
        not text: that shape, named ``<file>#shape<index>``); shapes clipped to the
        image and an ``imagePath`` outside the imported folder are noted. Skipped
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
    existing = ExistingImages(store, on_existing)
    seen: set[str] = set()
    paths = project_paths(store)
    top = (src if src.is_dir() else src.parent).resolve()
    with store.transaction():
        batch: list[_Parsed] = []
        for i, path in enumerate(files):
            parsed = _parse_file(paths, path, split or "", log, write_embedded, circle_points,
                                 image_flags_as_tags, top)
            if parsed is not None:
                parsed.existing = existing.find(parsed.image.path, (parsed.image.width,
                                                                    parsed.image.height))
                key = parsed.existing.path if parsed.existing else parsed.image.path
                if key in seen:
                    log.skip(path, f"image {parsed.image.path} is named by another file of this "
                                   "import (not imported twice)", "duplicate_image")
                else:
                    seen.add(key)
                    batch.append(parsed)
            if len(batch) >= _BATCH:
                _insert(store, batch, log, existing)
            call_progress(progress, i + 1, len(files))
        _insert(store, batch, log, existing)
        report = log.report()
    return report


def _parse_file(paths: ProjectPaths, path: Path, split: str, log: ImportLog,
                write_embedded: bool, circle_points: int, flags_as_tags: bool,
                top: Path) -> _Parsed | None:
    """Read one labelme file; returns None (after reporting why) if it is unusable."""
    data = _load_json(path, log)
    if data is None:
        return None
    image_path = _resolve_image(path, data, log, write_embedded, top)
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
    tags = list(dict.fromkeys(k.strip() for k, v in flags.items() if v is True and k.strip())) \
        if flags_as_tags else []
    record = ImageRecord(path=paths(image_path), width=width, height=height, split=split)
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
    except RecursionError:
        log.skip(path, "broken JSON (nested too deeply)", "broken_json")
        return None
    except ValueError as exc:  # e.g. an integer of more than 4300 digits
        log.skip(path, f"broken JSON ({exc})", "broken_json")
        return None
    if not isinstance(data, dict) or not isinstance(data.get("shapes"), list):
        log.skip(path, "not a labelme file (no 'shapes' list)", "not_labelme")
        return None
    if not isinstance(data.get("imagePath"), str) or not data["imagePath"]:
        log.skip(path, "not a labelme file (no 'imagePath')", "not_labelme")
        return None
    problem = name_problem(data["imagePath"])
    if problem:
        log.skip(path, f"imagePath: {problem}", "bad_image_path")
        return None
    return data


def _resolve_image(path: Path, data: Mapping[str, Any], log: ImportLog, write_embedded: bool,
                   top: Path) -> Path | None:
    """The image file named by ``imagePath`` (relative to the JSON; Windows separators
    accepted), or None after reporting why there is none. An ``imagePath`` that is
    absolute or leads out of the imported folder ``top`` is noted (and never written)."""
    rel = data["imagePath"].replace("\\", "/")
    candidate = (path.parent / rel)
    if not is_regular_file(candidate) and is_regular_file(path.parent / Path(rel).name):
        candidate = path.parent / Path(rel).name  # JSON moved next to its image
    outside = leaves_folder(rel) and (Path(rel).is_absolute() or not _within(candidate, top))
    if outside:
        log.result.note(str(path), f"imagePath {rel[:200]} is outside the imported folder "
                        + ("(the file exists: imported)" if is_regular_file(candidate)
                           else "(no such file)"), "outside_folder")
    if is_regular_file(candidate):
        return candidate
    if outside:
        log.skip(path, f"image file {rel[:200]} not found (outside the imported folder; an "
                       "embedded image is never written there)", "missing_image")
        return None
    embedded = data.get("imageData")
    if embedded is not None and not isinstance(embedded, str):
        log.skip(path, f"image file {rel[:200]} not found, and imageData is not base64 text",
                 "embedded_image")
        return None
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


def _within(path: Path, top: Path) -> bool:
    try:
        return Path(os.path.abspath(path)).is_relative_to(top)
    except (OSError, ValueError):
        return False


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
    kind = shape.get("shape_type") or "polygon"  # labelme 3 wrote no shape_type for polygons
    if not isinstance(kind, str):
        raise _ShapeError(f"shape_type is not text ({type(kind).__name__})")
    raw = shape.get("label")
    if raw is not None and not isinstance(raw, str):
        raise _ShapeError(f"{kind} shape's label is not text (got {type(raw).__name__} "
                          f"{json.dumps(raw, default=str)[:40]})", "bad_label")
    label = (raw or "").strip()
    if not label:
        raise _ShapeError(f"{kind} shape has no label")
    if kind not in AREA_SHAPES:
        why = "encloses no area" if kind in LINE_SHAPES else "bitmap masks are not imported"
        raise _ShapeError(f"{kind} shape '{label}' is not supported ({why}); only polygon, "
                          "rectangle and circle shapes are imported", "unsupported_shape")
    try:
        pts = [(float(p[0]), float(p[1])) for p in shape["points"]]
    except (KeyError, TypeError, ValueError, IndexError, OverflowError):
        raise _ShapeError(f"{kind} shape '{label}' has malformed points") from None
    if not all(math.isfinite(v) for p in pts for v in p):
        raise _ShapeError(f"{kind} shape '{label}' has non-finite points")
    if kind == "circle":
        if len(pts) != 2:
            raise _ShapeError(f"circle shape '{label}' needs 2 points (centre, rim), got {len(pts)}")
        pts = circle_polygon(pts[0], pts[1], circle_points)
        if not all(math.isfinite(v) for p in pts for v in p):
            raise _ShapeError(f"circle shape '{label}' is too large")
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
    of its merged polygons as ``pycocotools.mask.area`` computes it (COCO's convention,
    :func:`~vision_studio.core.geometry.polygons_area`), of a bbox-only one ``w * h``."""
    polys: list[list[float]] = list(obj.polygons)
    if polys:  # a group mixing polygons and rectangles: rectangles become polygons
        polys += [[x1, y1, x2, y1, x2, y2, x1, y2] for x1, y1, x2, y2 in obj.boxes]
    corners = [[b[0], b[1], b[2], b[3]] for b in obj.boxes]
    bbox = polygons_bbox(polys + corners)
    ignore = obj.label == IGNORE_LABEL
    attrs = dict(obj.attributes)
    if ignore:
        attrs["ignore"] = True
    area = polygons_area(polys, image.height, image.width) if polys else bbox[2] * bbox[3]
    return Annotation(image_id=image.id, category_id=category_id, bbox=bbox,
                      polygons=tuple(tuple(p) for p in polys), iscrowd=ignore,
                      area=area, attributes=attrs)


def _insert(store: ProjectStore, batch: list[_Parsed], log: ImportLog,
            existing: ExistingImages) -> None:
    """Insert a batch of parsed files: images, categories, annotations, tags (those of
    images already in the project through ``existing``)."""
    if not batch:
        return
    names = [o.label for p in batch for o in p.objects] + [t for p in batch for t in p.tags]
    cats = category_ids(store, names, log)
    new = [p for p in batch if p.existing is None]
    records = store.add_images([p.image for p in new])
    anns: list[Annotation] = []
    tags: list[tuple[int, int]] = []
    for parsed, rec in zip(new, records):
        anns += [_annotation(o, rec, cats[o.label]) for o in parsed.objects]
        tags += [(rec.id, cats[t]) for t in parsed.tags]
        for source, reason, kind in parsed.shape_skips:
            log.skip(source, reason, kind, image_id=rec.id)
    store.add_annotations(anns)
    store.add_image_tags(tags)
    old = [p for p in batch if p.existing is not None]
    items = [(p.existing, [_annotation(o, p.existing, cats[o.label]) for o in p.objects],
              [cats[t] for t in p.tags]) for p in old]
    added, removed = existing.attach(items)  # type: ignore[arg-type]
    for p in old:
        if existing.on_existing == "skip":
            log.result.note(str(p.json_path), f"image {p.existing.path} is already in the "  # type: ignore[union-attr]
                            "project; its labels were left as they are (on_existing='skip')",
                            "existing_image")
        else:
            for source, reason, kind in p.shape_skips:
                log.skip(source, reason, kind, image_id=p.existing.id)  # type: ignore[union-attr]
    log.result.images += len(records)
    log.result.annotations += len(anns) + added
    log.result.tags += len(tags)
    log.result.existing += len(old) if existing.on_existing != "skip" else 0
    log.result.removed += removed
    batch.clear()
