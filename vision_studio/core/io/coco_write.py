"""COCO JSON export: :func:`write_coco` (streamed to a file) and :func:`coco_dict`
(in memory, e.g. as ground truth for ``pycocotools.coco.COCO``).

* Image ids and annotation ids are the store's ids (unique, >= 1).
* Category ids are the original COCO ids recorded at import
  (:data:`~vision_studio.core.io.coco.CATEGORY_IDS_SETTING`) where they are still
  unique; other categories get their store id, or the next free id if that is taken.
  Every category is written, used or not.
* ``width``/``height`` are the stored sizes (after EXIF orientation).
* ``area`` is the stored area, which importers set to ``pycocotools.mask.area`` of the
  mask for annotations with polygons or RLE and to ``w * h`` for box-only ones
  (``recompute_area=True`` recomputes it so). Box-only annotations get
  ``"segmentation": []``.
* ``file_name`` is the image path relative to ``image_root`` (default: the output
  JSON's folder), with ``/`` separators, so it resolves from where the file is written.
"""
from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

from vision_studio import __version__
from vision_studio.core.geometry import polygons_area, rle_area
from vision_studio.core.io.coco_ids import CocoIdMaps, export_id_maps
from vision_studio.core.io.common import CHUNK
from vision_studio.core.io.report import ProgressCallback
from vision_studio.core.store import ProjectStore
from vision_studio.core.types import ImageRecord


def _header(store: ProjectStore, cat_ids: dict[int, int]) -> dict[str, Any]:
    return {
        "info": {"description": f"Exported by Vision Studio {__version__} from {store.path.name}",
                 "version": __version__,
                 "date_created": datetime.now(timezone.utc).isoformat(timespec="seconds")},
        "licenses": [],
        "categories": [{"id": cat_ids[c.id], "name": c.name,
                        "supercategory": c.supercategory or ""} for c in store.categories()],
    }


def _image_dicts(store: ProjectStore, images: list[ImageRecord], image_root: Path,
                 image_ids: Mapping[int, int]) -> Iterator[dict[str, Any]]:
    root, base = str(store.root), str(image_root)
    for im in images:
        full = os.path.normpath(os.path.join(root, im.path))
        try:
            name = os.path.relpath(full, base)
        except ValueError:  # another drive on Windows
            name = full
        yield {"id": image_ids[im.id], "file_name": name.replace(os.sep, "/"), "width": im.width,
               "height": im.height}


def _annotation_dicts(store: ProjectStore, sizes: dict[int, tuple[int, int]],
                      maps: CocoIdMaps) -> Iterator[dict[str, Any]]:
    """Annotations of the images in ``sizes`` (``{image id: (h, w)}``), streamed."""
    for a in store.iter_annotations():
        hw = sizes.get(a.image_id)
        if hw is None:
            continue
        x, y, w, h = a.bbox
        if a.rle is not None:
            seg: Any = {"size": list(a.rle["size"]), "counts": a.rle["counts"]}
            area = rle_area(a.rle)
        elif a.polygons:
            seg = [list(p) for p in a.polygons]
            area = polygons_area(seg, *hw)
        else:
            seg, area = [], w * h
        d = {"id": a.id, "image_id": maps.image[a.image_id],
             "category_id": maps.category[a.category_id],
             "bbox": [x, y, w, h], "area": area, "segmentation": seg,
             "iscrowd": int(a.iscrowd)}
        if a.attributes:
            d["attributes"] = dict(a.attributes)
        yield d


def _annotation_texts(store: ProjectStore, sizes: dict[int, tuple[int, int]],
                      maps: CocoIdMaps) -> Iterator[str]:
    """The same objects as :func:`_annotation_dicts` (with the stored area) as JSON
    text, composed from the store's raw rows: the stored polygon/RLE/attribute JSON is
    copied without being parsed (the fast path for 1M-annotation exports)."""
    cat_ids, image_ids = maps.category, maps.image
    for aid, iid, cid, x, y, w, h, polys, rle, crowd, area, attrs in store.iter_annotation_rows():
        if iid not in sizes:
            continue
        text = (f'{{"id":{aid},"image_id":{image_ids[iid]},"category_id":{cat_ids[cid]},'
                f'"bbox":[{x!r},{y!r},{w!r},{h!r}],"area":{area!r},'
                f'"segmentation":{rle or polys or "[]"},"iscrowd":{crowd}')
        yield text + (f',"attributes":{attrs}}}' if attrs else "}")


def _chunks(items: Iterable[Any], size: int = CHUNK) -> Iterator[list[Any]]:
    buf: list[Any] = []
    for item in items:
        buf.append(item)
        if len(buf) >= size:
            yield buf
            buf = []
    if buf:
        yield buf


def _root(out_dir: Path, image_root: str | os.PathLike | None) -> Path:
    return Path(image_root).resolve() if image_root is not None else out_dir.resolve()


def coco_dict(store: ProjectStore, split: str | None = None,
              image_root: str | os.PathLike | None = None) -> dict[str, Any]:
    """The project (or one split) as an in-memory COCO document.

    Args:
        store: The project.
        split: Only images of this split (and their annotations); ``None`` = all.
        image_root: Folder ``file_name`` is made relative to; default the project root.

    Returns:
        ``{"info", "licenses", "categories", "images", "annotations"}``, ready for
        ``pycocotools.coco.COCO`` (assign to ``coco.dataset`` and call ``createIndex``).
    """
    maps = export_id_maps(store)
    images = store.images(split)
    doc = _header(store, maps.category)
    doc["images"] = list(_image_dicts(store, images, _root(store.root, image_root), maps.image))
    sizes = {im.id: (im.height, im.width) for im in images}
    doc["annotations"] = list(_annotation_dicts(store, sizes, maps))
    return doc


def write_coco(store: ProjectStore, out_json: str | os.PathLike, split: str | None = None, *,
               image_root: str | os.PathLike | None = None, recompute_area: bool = False,
               progress: ProgressCallback | None = None) -> dict[str, Any]:
    """Write the project (or one split) as a COCO JSON file, streaming the annotations.

    The file is written to a temporary name beside ``out_json`` and renamed when
    complete, so a failed export never leaves a half-written file.

    Args:
        store: The project.
        out_json: The file to write (folders are created).
        split: Only images of this split (and their annotations); ``None`` = all.
        image_root: Folder ``file_name`` is made relative to; default the JSON's folder.
        recompute_area: Recompute every ``area`` (pycocotools mask area / ``w * h``)
            instead of writing the stored one (importers store exactly that; slower).
        progress: ``progress(done, total)`` over the annotations.

    Returns:
        ``{"path": str, "images": int, "annotations": int, "categories": int}``.
    """
    out_json = Path(out_json)
    out_json.parent.mkdir(parents=True, exist_ok=True)
    maps = export_id_maps(store)
    images = store.images(split)
    sizes = {im.id: (im.height, im.width) for im in images}
    total = 0
    if progress is not None:  # one GROUP BY query; only needed for the progress total
        total = sum(n for (s, _), n in store.annotation_counts().items()
                    if split is None or s == split)
    header = _header(store, maps.category)
    tmp = out_json.with_name(out_json.name + ".part")
    n_anns = 0
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(json.dumps(header)[:-1] + ', "images": [')
            _write_items(f, _image_dicts(store, images, _root(out_json.parent, image_root),
                                       maps.image))
            f.write('], "annotations": [')
            if recompute_area:
                texts: Iterable[str] = (json.dumps(d) for d in
                                        _annotation_dicts(store, sizes, maps))
            else:
                texts = _annotation_texts(store, sizes, maps)
            for k, chunk in enumerate(_chunks(texts)):
                f.write((",\n" if k else "\n") + ",\n".join(chunk))
                n_anns += len(chunk)
                if progress is not None:
                    progress(n_anns, total)
            f.write("\n]}\n")
        os.replace(tmp, out_json)
    finally:
        if tmp.exists():
            tmp.unlink()
    return {"path": str(out_json), "images": len(images), "annotations": n_anns,
            "categories": len(header["categories"])}


def _write_items(f: Any, items: Iterable[dict]) -> None:
    for k, chunk in enumerate(_chunks(items)):
        f.write((",\n" if k else "\n") + json.dumps(chunk)[1:-1])
