"""Semantic-segmentation masks: import of image + label-image pairs, export of label PNGs.

A label image holds one class value per pixel (``H x W``, uint8 or uint16; palette PNGs
give their palette indices, as Pascal VOC's ``SegmentationClass`` does). A table maps
values to class names; one value may be the *ignore* (void) value, whose pixels stay
unlabelled. Colour-coded RGB label images are read through a colour table instead.

In the store each class present in an image becomes one annotation holding a COCO RLE
mask (``pycocotools.mask.encode`` of the Fortran-ordered binary mask), ``bbox`` from
``pycocotools.mask.toBbox``, ``area`` from ``pycocotools.mask.area``, ``iscrowd=False``
and ``attributes={"source": "mask"}``. Pixels covered by no annotation are unlabelled.

:func:`write_masks` is the inverse: one label PNG per image (value = the category's
index in category order, or the value of an explicit table) plus ``classes.txt``; a
project imported with :func:`read_masks` round-trips pixel for pixel.
"""
from __future__ import annotations

import logging
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from vision_studio.core import images
from vision_studio.core.errors import FormatError
from vision_studio.core.geometry import mask_bbox, rle_area
from vision_studio.core.io._importlog import ImportLog, Progress, call_progress, category_ids
from vision_studio.core.io.common import (
    ExistingImages,
    ProjectPaths,
    output_names,
    project_paths,
    refuse_protected,
)
from vision_studio.core.io.report import ImportReport
from vision_studio.core.outputs import (
    atomic_output,
    atomic_write_text,
    check_output,
    protected_paths,
)
from vision_studio.core.store import ProjectStore
from vision_studio.core.types import Annotation, ImageRecord

log = logging.getLogger(__name__)

MASK_EXTENSIONS = frozenset({".png", ".bmp", ".tif", ".tiff", ".gif"})
"""Lossless formats accepted for label images (JPEG would blur class values)."""
_BATCH = 200  # images per insert batch

Color = tuple[int, int, int]


@dataclass
class _Pair:
    image: Path
    mask: Path


def read_masks(store: ProjectStore, image_dir: str | os.PathLike, mask_dir: str | os.PathLike,
               classes: Mapping[int, str], ignore_value: int | None = None, *,
               colors: Mapping[Color, int] | None = None, mask_suffix: str = "",
               split: str | None = None, strict: bool = False,
               progress: Progress | None = None, on_existing: str = "add") -> ImportReport:
    """Import image + label-image pairs as semantic-segmentation masks.

    Pairs are matched by file stem: ``image_dir/NAME.<any image extension>`` with
    ``mask_dir/NAME<mask_suffix>.<png|bmp|tif|tiff|gif>`` (folders are not searched
    recursively).

    Args:
        store: The project to add to.
        image_dir: Folder of the images (e.g. CamVid ``train/``).
        mask_dir: Folder of the label images (e.g. CamVid ``trainannot/``).
        classes: ``{label value: class name}``; categories are found or created by
            name, new ones in increasing value order.
        ignore_value: Label value of unlabelled (void) pixels, e.g. 11 for CamVid,
            255 for Pascal VOC; ``None`` when every value must be in ``classes``.
        colors: For colour-coded RGB label images: ``{(r, g, b): label value}``; each
            pixel's colour is mapped to a value first (the ignore value included).
        mask_suffix: Suffix of a label file's stem after the image's (``"_mask"``...).
        split: Split recorded for every imported image (default unassigned).
        strict: Raise :class:`~vision_studio.core.errors.FormatError` at the first
            problem (nothing is then changed).
        progress: Called as ``progress(pairs_done, pairs_total)``.
        on_existing: For an image already in the project (by project path, else by
            unique file name and size): ``"add"`` its class masks (a class whose bbox
            the image already has is not added twice), ``"replace"`` that image's
            annotations, or ``"skip"`` it (see
            :class:`~vision_studio.core.io.common.ExistingImages`).

    Returns:
        The report. Label values (or colours) that are neither in the table nor the
        ignore value are reported with the file and the values; their pixels are left
        unlabelled and the image's other classes are imported. An image whose label
        image has another size, or that has no label image (and vice versa), is skipped.

    Raises:
        FormatError: a folder is missing, the class table is empty, or (strict) the
            first problem.
    """
    image_dir, mask_dir = Path(image_dir), Path(mask_dir)
    for folder in (image_dir, mask_dir):
        if not folder.is_dir():
            raise FormatError(f"{folder}: folder not found")
    if not classes:
        raise FormatError("read_masks: the class table (value -> name) is empty")
    rep = ImportLog(store, strict, "masks")
    pairs = _pairs(image_dir, mask_dir, mask_suffix, rep)
    existing = ExistingImages(store, on_existing)
    paths = project_paths(store)
    with store.transaction():
        cats = category_ids(store, [classes[v] for v in sorted(classes)], rep)
        value_to_cat = {int(v): cats[n.strip()] for v, n in classes.items()}
        batch: list[tuple[ImageRecord, list[Annotation]]] = []
        for i, pair in enumerate(pairs):
            item = _read_pair(paths, pair, value_to_cat, ignore_value, colors, split or "", rep)
            known = existing.find(item[0].path) if item is not None else None
            if known is not None:  # pairs are unique by stem: each image comes once
                _attach(existing, known, item[1], pair, rep)  # type: ignore[index]
            elif item is not None:
                batch.append(item)
            if len(batch) >= _BATCH:
                _insert(store, batch, rep)
            call_progress(progress, i + 1, len(pairs))
        _insert(store, batch, rep)
        return rep.report()


def _attach(existing: ExistingImages, image: ImageRecord, anns: list[Annotation], pair: _Pair,
            rep: ImportLog) -> None:
    """Labels of an image already in the project, as ``existing.on_existing`` says."""
    if existing.on_existing == "skip":
        rep.result.note(str(pair.image), "already in the project; its labels were left as they "
                        "are (on_existing='skip')", "existing_image")
        return
    added, removed = existing.attach([(image, anns, ())])
    rep.result.annotations += added
    rep.result.existing += 1
    rep.result.removed += removed


def load_class_table(path: str | os.PathLike) -> dict[int, str]:
    """Read a class table file, as :func:`write_masks` writes ``classes.txt``.

    Either one class name per line (value = line number, from 0), or ``value name``
    lines (names may contain spaces). Blank lines and lines starting with ``#`` are
    skipped.

    Returns:
        ``{value: name}`` for :func:`read_masks`.

    Raises:
        FormatError: unreadable file, mixed styles, or a repeated value.
    """
    path = Path(path)
    try:
        lines = [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines()]
    except (OSError, UnicodeDecodeError) as exc:
        raise FormatError(f"{path}: cannot read the class table ({exc})") from None
    lines = [ln for ln in lines if ln and not ln.startswith("#")]
    parts = [ln.split(maxsplit=1) for ln in lines]
    numbered = [len(p) == 2 and p[0].isdigit() for p in parts]
    if all(numbered) and lines:
        table = {int(p[0]): p[1].strip() for p in parts}
        if len(table) != len(parts):
            raise FormatError(f"{path}: a label value appears twice in the class table")
        return table
    if any(numbered):
        raise FormatError(f"{path}: mix of 'value name' lines and plain name lines")
    return dict(enumerate(lines))


def _pairs(image_dir: Path, mask_dir: Path, suffix: str, rep: ImportLog) -> list[_Pair]:
    """Image/label files matched by stem; the unmatched ones are reported."""
    imgs: dict[str, Path] = {}
    for p in sorted(image_dir.iterdir()):
        if p.is_file() and images.is_image_file(p) and not p.name.startswith("."):
            if p.stem in imgs:
                rep.skip(p, f"another image has the same name stem ({imgs[p.stem].name})",
                         "duplicate_stem")
                continue
            imgs[p.stem] = p
    masks: dict[str, Path] = {}
    for p in sorted(mask_dir.iterdir()):
        if p.is_file() and p.suffix.lower() in MASK_EXTENSIONS and p.stem.endswith(suffix):
            stem = p.stem[:len(p.stem) - len(suffix)] if suffix else p.stem
            if stem in masks:
                rep.skip(p, f"another label image has the same name stem ({masks[stem].name})",
                         "duplicate_stem")
                continue
            masks[stem] = p
    for stem in sorted(set(masks) - set(imgs)):
        rep.skip(masks[stem], f"label image without an image named {stem}.* in {image_dir}",
                 "unmatched_mask")
    for stem in sorted(set(imgs) - set(masks)):
        rep.skip(imgs[stem], f"no label image {stem}{suffix}.png (or .bmp/.tif) in {mask_dir}",
                 "unmatched_image")
    return [_Pair(imgs[s], masks[s]) for s in sorted(set(imgs) & set(masks))]


def _read_pair(paths: ProjectPaths, pair: _Pair, value_to_cat: Mapping[int, int],
               ignore_value: int | None, colors: Mapping[Color, int] | None, split: str,
               rep: ImportLog) -> tuple[ImageRecord, list[Annotation]] | None:
    """One image record and its per-class RLE annotations (image id 0), or None."""
    try:
        width, height = images.image_size(pair.image)
        label = load_label(pair.mask, colors)
    except images.ImageDecodeError as exc:
        rep.skip(exc.path, exc.reason, "decode_error")
        return None
    except FormatError as exc:
        rep.skip(pair.mask, str(exc), "bad_mask")
        return None
    if label.shape != (height, width):
        rep.skip(pair.mask, f"label image is {label.shape[1]}x{label.shape[0]} but the image "
                            f"{pair.image.name} is {width}x{height} (after EXIF orientation)",
                 "size_mismatch")
        return None
    values = np.unique(label)
    unknown = [int(v) for v in values if int(v) not in value_to_cat and int(v) != ignore_value]
    if unknown:
        n = int(np.isin(label, unknown).sum())
        shown = ", ".join(map(str, unknown[:10])) + (", ..." if len(unknown) > 10 else "")
        rep.skip(pair.mask, f"label values {shown} are not in the class table "
                            f"({n} pixels left unlabelled)", "unknown_value")
    record = ImageRecord(path=paths(pair.image), width=width, height=height,
                         split=split)
    by_cat: dict[int, list[int]] = {}  # several values may name one class
    for v in values:
        if int(v) in value_to_cat and int(v) != ignore_value:
            by_cat.setdefault(value_to_cat[int(v)], []).append(int(v))
    anns = [mask_annotation(label == vs[0] if len(vs) == 1 else np.isin(label, vs), cat)
            for cat, vs in by_cat.items()]
    return record, anns


def load_label(path: str | os.PathLike, colors: Mapping[Color, int] | None = None) -> np.ndarray:
    """Read a label image as an ``H x W`` array of class values (EXIF applied).

    Args:
        path: A PNG/BMP/TIFF label image: grayscale (8 or 16 bit), palette (indices are
            the values) or, with ``colors``, colour-coded RGB(A).
        colors: ``{(r, g, b): value}`` for colour-coded label images.

    Returns:
        ``H x W`` array, uint8 or uint16 (int32 for 32-bit or colour-mapped input).

    Raises:
        images.ImageDecodeError: the file cannot be decoded.
        FormatError: an RGB label image without a colour table (other than a grey one),
            or colours missing from the table (named with their pixel counts).
    """
    arr = images.read_image_raw(path)
    if arr.ndim == 3 and arr.shape[2] == 2:  # LA / PA: the values, plus alpha (ignored)
        arr = np.ascontiguousarray(arr[..., 0])
    if arr.ndim == 3:
        rgb = arr[..., :3]
        if colors is None:
            if (rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all():
                return np.ascontiguousarray(rgb[..., 0])
            raise FormatError(f"{path}: colour label image needs a colour table (colors=)")
        return _map_colors(Path(path), rgb, colors)
    if colors is not None and arr.ndim == 2:
        raise FormatError(f"{path}: a colour table was given but the label image is not RGB")
    if arr.dtype == bool:
        return arr.astype(np.uint8)
    if arr.dtype.kind == "f":
        raise FormatError(f"{path}: floating-point label image (class values must be integers)")
    return arr


def _map_colors(path: Path, rgb: np.ndarray, colors: Mapping[Color, int]) -> np.ndarray:
    """RGB → values through the colour table (one 24-bit key per pixel)."""
    keys = (rgb[..., 0].astype(np.int64) << 16) | (rgb[..., 1].astype(np.int64) << 8) | rgb[..., 2]
    table = {(int(r) << 16) | (int(g) << 8) | int(b): int(v) for (r, g, b), v in colors.items()}
    uniq, inverse = np.unique(keys, return_inverse=True)
    missing = [int(k) for k in uniq if int(k) not in table]
    if missing:
        shown = ", ".join(f"({k >> 16}, {(k >> 8) & 255}, {k & 255})" for k in missing[:10])
        raise FormatError(f"{path}: colours {shown} are not in the colour table")
    lut = np.array([table[int(k)] for k in uniq], dtype=np.int32)
    return lut[inverse].reshape(rgb.shape[:2])


def mask_annotation(mask: np.ndarray, category_id: int, image_id: int = 0,
                    attributes: Mapping[str, Any] | None = None) -> Annotation:
    """An RLE annotation of a binary mask.

    Args:
        mask: ``H x W`` bool (or 0/1) array, non-empty.
        category_id: Category of the annotation.
        image_id: Image id (0 when not known yet).
        attributes: Default ``{"source": "mask"}``.

    Returns:
        Annotation with ``rle`` (compressed counts as str, ``size`` ``[H, W]``), bbox
        from ``pycocotools.mask.toBbox`` and area from ``pycocotools.mask.area``.
    """
    from pycocotools import mask as mask_utils

    enc = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8, copy=False)))
    rle = {"size": [int(s) for s in enc["size"]], "counts": enc["counts"].decode("ascii")}
    bbox = mask_bbox((), rle, *rle["size"])
    area = rle_area(rle)
    return Annotation(image_id=image_id, category_id=category_id, bbox=bbox, rle=rle,
                      area=area, attributes=dict(attributes or {"source": "mask"}))


def _insert(store: ProjectStore, batch: list[tuple[ImageRecord, list[Annotation]]],
            rep: ImportLog) -> None:
    if not batch:
        return
    records = store.add_images([b[0] for b in batch])
    anns = [Annotation(image_id=rec.id, category_id=a.category_id, bbox=a.bbox, rle=a.rle,
                       area=a.area, attributes=a.attributes)
            for rec, (_, group) in zip(records, batch) for a in group]
    store.add_annotations(anns)
    rep.result.images += len(records)
    rep.result.annotations += len(anns)
    batch.clear()


def write_masks(store: ProjectStore, out_dir: str | os.PathLike, split: str | None = None,
                ignore_value: int = 255, *, classes: Mapping[int, str] | None = None,
                progress: Progress | None = None, overwrite: bool = False) -> dict[int, Path]:
    """Write one label PNG per image, plus ``classes.txt``.

    Each annotation with a mask (RLE or polygons) is painted with its class value, in
    annotation id order (later ones on top); annotations flagged
    ``attributes["ignore"]`` (labelme's ``__ignore__`` regions) are painted last with
    ``ignore_value``; pixels covered by nothing get ``ignore_value``. Bbox-only
    annotations are not drawn.

    Args:
        store: The project.
        out_dir: Folder to write ``<image stem>.png`` files into (created; a stem shared
            by two images gets ``_<image id>`` appended for the second).
        split: Only images of this split (default all images).
        ignore_value: Value of unlabelled pixels (255, the usual void index).
        classes: Optional ``{value: category name}`` table (e.g. the one given to
            :func:`read_masks`): categories are written with these values and
            ``classes.txt`` holds ``value name`` lines. Default: value = index of the
            category in category (id) order, ``classes.txt`` one name per line.
        progress: Called as ``progress(images_done, images_total)``.
        overwrite: Allow writing into a folder that is not empty (e.g. the label folder
            the masks were imported from, whose PNGs are then replaced).

    Returns:
        ``{image id: written PNG path}``; each written atomically (temporary file in
        the folder, renamed into place).

    Raises:
        FormatError: a value (or the ignore value) does not fit in 16 bits, or the
            ignore value collides with a class value.
        OutputExistsError: ``out_dir`` is not empty and ``overwrite`` is false.
        ProtectedPathError: ``out_dir`` or a PNG to write is the project file or an
            image of the project (never written, even with ``overwrite``).
    """
    protected = protected_paths(store)
    out = check_output(out_dir, overwrite=overwrite, protected=protected)
    cats = store.categories()
    if classes is None:
        value_of = {c.id: i for i, c in enumerate(cats)}
        lines = [c.name for c in cats]
    else:
        by_name = {n: int(v) for v, n in classes.items()}
        value_of = {c.id: by_name[c.name] for c in cats if c.name in by_name}
        missing = [c.name for c in cats if c.name not in by_name]
        if missing:
            log.warning("write_masks: categories %s are not in the class table; not drawn", missing)
        lines = [f"{v} {n}" for v, n in sorted(classes.items())]
    if ignore_value in value_of.values():
        raise FormatError(f"write_masks: ignore value {ignore_value} is also a class value")
    top = max([ignore_value, *value_of.values()])
    if not 0 <= top <= 65535 or min([ignore_value, *value_of.values()]) < 0:
        raise FormatError("write_masks: label values must be within 0..65535")
    dtype = np.uint8 if top <= 255 else np.uint16
    out.mkdir(parents=True, exist_ok=True)
    recs = store.images(split)
    names = output_names(recs, ".png")
    refuse_protected(out, [*names.values(), "classes.txt"], protected)
    atomic_write_text(out / "classes.txt", "\n".join(lines) + "\n", protected=protected)
    written: dict[int, Path] = {}
    for start in range(0, len(recs), _BATCH):
        chunk = recs[start:start + _BATCH]
        by_image = store.annotations_by_image([r.id for r in chunk])
        for i, rec in enumerate(chunk, start):
            label = render_label(rec, by_image.get(rec.id, []), value_of, ignore_value, dtype)
            written[rec.id] = _save_png(out / names[rec.id], label, protected)
            call_progress(progress, i + 1, len(recs))
    return written


def render_label(image: ImageRecord, anns: list[Annotation], value_of: Mapping[int, int],
                 ignore_value: int, dtype: Any = np.uint8) -> np.ndarray:
    """Paint an image's mask annotations into an ``H x W`` label array.

    Args:
        image: The image (its ``height`` x ``width`` is the array's shape).
        anns: Its annotations; those without mask or whose category is not in
            ``value_of`` are not drawn.
        value_of: ``{category id: label value}``.
        ignore_value: Background value, and the value of ``ignore``-flagged regions.
        dtype: Array dtype (uint8 or uint16).
    """
    from pycocotools import mask as mask_utils

    h, w = image.height, image.width
    label = np.full((h, w), ignore_value, dtype=dtype)
    ordered = sorted((a for a in anns if a.has_mask), key=lambda a: (bool(a.attributes.get("ignore")), a.id))
    for a in ordered:
        ignore = bool(a.attributes.get("ignore"))
        if not ignore and a.category_id not in value_of:
            continue
        if a.rle is not None:
            rle = dict(a.rle)
        else:
            rle = mask_utils.merge(mask_utils.frPyObjects([list(p) for p in a.polygons], h, w))
        with warnings.catch_warnings():  # pycocotools' decode trips NumPy 2's copy= deprecation
            warnings.simplefilter("ignore", DeprecationWarning)
            m = mask_utils.decode(rle).astype(bool)
        label[m] = ignore_value if ignore else value_of[a.category_id]
    return label


def _save_png(path: Path, label: np.ndarray, protected: Any) -> Path:
    """Save ``H x W`` uint8 (mode L) or uint16 (mode I;16) as PNG, atomically."""
    from PIL import Image

    with atomic_output(path, protected=protected) as tmp:
        Image.fromarray(np.ascontiguousarray(label)).save(tmp, format="PNG")
    return path


def label_value_counts(mask_dir: str | os.PathLike, *, colors: Mapping[Color, int] | None = None,
                       max_files: int | None = None) -> tuple[dict[int, tuple[int, int]], int, list[str]]:
    """The label values found in a folder of label images, to map them before importing.

    Args:
        mask_dir: Folder of label images (:data:`MASK_EXTENSIONS`, not recursive).
        colors: For colour-coded RGB label images, as in :func:`read_masks`.
        max_files: Read at most this many files (sorted by name); ``None``: all.

    Returns:
        ``({value: (pixels, files)}, files read, problems)``: for each value its pixel
        count and the number of label images that hold it; ``problems`` has one
        ``"FILE: reason"`` line per file that could not be read.

    Raises:
        FormatError: ``mask_dir`` is not a folder.
    """
    folder = Path(mask_dir)
    if not folder.is_dir():
        raise FormatError(f"{folder}: folder not found")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in MASK_EXTENSIONS)
    if max_files is not None:
        files = files[:max_files]
    counts: dict[int, list[int]] = {}
    problems, read = [], 0
    for path in files:
        try:
            label = load_label(path, colors)
        except (FormatError, images.ImageDecodeError) as exc:
            problems.append(f"{path.name}: {getattr(exc, 'reason', exc)}")
            continue
        read += 1
        values, n = np.unique(label, return_counts=True)
        for v, c in zip(values.tolist(), n.tolist()):
            entry = counts.setdefault(int(v), [0, 0])
            entry[0] += int(c)
            entry[1] += 1
    return {v: (p, f) for v, (p, f) in sorted(counts.items())}, read, problems
