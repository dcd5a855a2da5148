"""COCO JSON export: :func:`write_coco` (streamed to a file) and :func:`coco_dict`
(in memory, e.g. as ground truth for ``pycocotools.coco.COCO``).

What was imported is written again (a COCO file survives a round trip):

* Ids: categories and images get the ids of :func:`~vision_studio.core.io.coco_ids.
  export_id_maps` (the imported COCO ids; records made in the app are offset past
  them). Annotations keep their imported id (``extra["coco_id"]``) unless an annotation
  of lower store id in the same export already has it; the others get
  ``offset + store id``, ``offset`` being the largest annotation id ever imported into
  the project (setting :data:`ANN_OFFSET_SETTING`; 0 when none, so app-made projects
  write their store ids). Every category is written, used or not.
* ``area``: the imported ``area`` as given (kept as ``extra["area"]``) while the stored
  area still equals it — COCO's official areas are not recomputable from the polygons,
  and changing them moves objects between the small / medium / large ranges of
  COCOeval. Otherwise (drawn in the app; edited, which makes the store recompute the
  stored area; or not given in the imported file), and for every annotation with
  ``recompute_area=True``, it is computed by
  :func:`vision_studio.core.geometry.annotation_area`: the pixel count of the mask as
  ``pycocotools.mask.area`` gives it (polygons rasterised with ``frPyObjects`` and
  merged, RLE counted), ``w * h`` for a plain box — the convention of the COCO ground
  truth (https://cocodataset.org/#format-data, ``pycocotools/coco.py``).
* ``segmentation`` keeps its encoding: polygons as polygons, compressed RLE strings as
  strings, uncompressed (list) ``counts`` — COCO's crowd regions — as lists
  (``extra["rle_uncompressed"]``). Box-only annotations get ``"segmentation": []``.
* Images: ``width``/``height`` are the stored sizes (after EXIF orientation), the
  imported fields (``license``, ``coco_url``, ``flickr_url``, ``date_captured``...) are
  written again, and ``file_name`` is the path relative to ``image_root`` (default: the
  output JSON's folder), with ``/`` separators.
* Top level: the imported ``info`` / ``licenses`` (settings ``coco_info`` /
  ``coco_licenses``) when there are some, else a Vision Studio ``info`` and ``[]``.
"""
from __future__ import annotations

import json
import os
import posixpath
from datetime import datetime, timezone
from itertools import islice
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

from vision_studio import __version__
from vision_studio.core.errors import VisionStudioError
from vision_studio.core.io.coco_ids import (
    ANN_OFFSET_SETTING,
    COCO_ID,
    INFO_SETTING,
    LICENSES_SETTING,
    CocoIdMaps,
    export_id_maps,
)
from vision_studio.core.io.coco_values import MAX_DEPTH, dumps, shallow
from vision_studio.core.io.report import ProgressCallback
from vision_studio.core.outputs import atomic_output, check_output
from vision_studio.core.store import ProjectStore
from vision_studio.core.types import ImageRecord

_CHUNK = 20_000
_PLAIN = '{"coco_id":'  # the extra text the COCO importer writes: {"coco_id":N,"area":A}
_AREA = ',"area":'


def _header(store: ProjectStore, maps: CocoIdMaps) -> dict[str, Any]:
    info = store.get_setting(INFO_SETTING)
    if not isinstance(info, dict):
        info = {"description": f"Exported by Vision Studio {__version__} from {store.path.name}",
                "version": __version__,
                "date_created": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    licenses = store.get_setting(LICENSES_SETTING)
    cats = []
    for c in store.categories():
        rest = {k: v for k, v in c.extra.items() if k != COCO_ID}
        cats.append({**rest, "id": maps.category[c.id], "name": c.name,
                     "supercategory": c.supercategory or ""})
    return {"info": info, "licenses": licenses if isinstance(licenses, list) else [],
            "categories": cats}


def _image_dicts(store: ProjectStore, images: list[ImageRecord], image_root: Path,
                 image_ids: Mapping[int, int]) -> Iterator[dict[str, Any]]:
    root, base = str(store.root), str(image_root)
    try:  # string operations only, as os.path.relpath does, computed once for the root
        prefix = Path(os.path.relpath(root, base)).as_posix()
    except ValueError:  # another drive on Windows
        prefix = Path(root).as_posix()
    for im in images:
        if posixpath.isabs(im.path) or ":" in im.path[:3]:
            try:
                name = os.path.relpath(im.path, base)
            except ValueError:
                name = im.path
        else:
            name = posixpath.normpath(posixpath.join(prefix, im.path))
        d = {k: v for k, v in im.extra.items() if k != COCO_ID} if im.extra else {}
        d.update(id=image_ids[im.id], file_name=name.replace(os.sep, "/"), width=im.width,
                 height=im.height)
        yield d


def _meta(extra: str | None, area: float) -> tuple[Any, bool, bool]:
    """``(imported id or None, imported area still valid, RLE was uncompressed)`` of an
    annotation's ``extra`` JSON text and its stored ``area``."""
    if not extra:
        return None, False, False
    d = json.loads(extra)
    aid = d.get(COCO_ID)
    kept = d.get("area")
    return (aid if type(aid) is int else None,
            type(kept) in (int, float) and float(kept) == area,
            d.get("rle_uncompressed") is True)


class _AnnotationIds:
    """Exported annotation ids (see the module docstring): an imported id is kept by the
    annotation of lowest store id that has it. Kept ids are held as decimal text (the
    fast path reads them from the stored ``extra`` text without parsing it).

    A chunk of rows is first composed optimistically (kept ids only collected, no
    per-row set look-up: :meth:`begin` / :meth:`commit`); in the rare case that the
    chunk repeats an id, the chunk is composed again exactly, row by row.
    """

    def __init__(self, store: ProjectStore) -> None:
        offset = store.get_setting(ANN_OFFSET_SETTING, 0)
        self.offset = max(0, offset) if type(offset) is int else 0
        self.claimed: set[str] = set()
        self.pending: list[str] | None = None

    def keep(self, ident: str) -> bool:
        """Whether the annotation may keep the imported id ``ident``."""
        if self.pending is not None:
            self.pending.append(ident)
            return True
        if ident in self.claimed:
            return False
        self.claimed.add(ident)
        return True

    def begin(self) -> list[str]:
        """Start an optimistic chunk; returns the list kept ids go to."""
        self.pending = []
        return self.pending

    def commit(self) -> bool:
        """End an optimistic chunk: True (and the ids claimed) when none repeats."""
        pending, self.pending = self.pending or [], None
        kept = set(pending)
        if len(kept) == len(pending) and self.claimed.isdisjoint(kept):
            self.claimed |= kept
            return True
        return False


def _attributes(aid: int, text: str) -> str:
    """The stored attributes text, checked to nest at most ``MAX_DEPTH`` deep.

    Raises:
        VisionStudioError: nested deeper (such a file could not be read back).
    """
    if text.count("{") + text.count("[") > MAX_DEPTH:
        try:
            ok = shallow(json.loads(text))
        except RecursionError:
            ok = False
        if not ok:
            raise VisionStudioError(f"annotation {aid}: its attributes are nested more than "
                                    f"{MAX_DEPTH} deep and cannot be exported to COCO JSON")
    return text


def _general_text(row: tuple, image_id: int, cat_ids: Mapping[int, int],
                  ann_ids: _AnnotationIds, recompute_area: bool) -> str:
    """One annotation's JSON text, every case (see :func:`_annotation_texts`)."""
    from vision_studio.core.geometry import annotation_area  # numpy: only when needed
    from vision_studio.core.io.coco_rle import uncompress

    aid, _, cid, x, y, w, h, polys, rle, crowd, area, attrs, extra, _ = row
    orig, area_kept, uncompressed = _meta(extra, area)
    if recompute_area or not area_kept:
        area = annotation_area((x, y, w, h), json.loads(polys) if polys else (),
                               json.loads(rle) if rle else None)
    seg = rle or polys or "[]"
    if uncompressed and rle:
        d = json.loads(rle)
        h_img, w_img = d["size"]
        seg = dumps({"size": d["size"], "counts": uncompress(d["counts"], h_img, w_img)})
    out_id = orig if orig is not None and ann_ids.keep(str(orig)) else ann_ids.offset + aid
    text = (f'{{"id":{out_id},"image_id":{image_id},'
            f'"category_id":{cat_ids[cid]},"bbox":[{x!r},{y!r},{w!r},{h!r}],'
            f'"area":{area!r},"segmentation":{seg},"iscrowd":{crowd}')
    return text + (f',"attributes":{_attributes(aid, attrs)}}}' if attrs else "}")


def _chunk_texts(rows: list[tuple], image_ids: Mapping[int, int], cat_ids: Mapping[int, int],
                 ann_ids: _AnnotationIds, recompute_area: bool, exact: bool) -> list[str]:
    """The texts of one chunk of rows (see :func:`_annotation_texts`); ``exact``: check
    each kept id against those claimed so far, else collect them (optimistic)."""
    out: list[str] = []
    img_get, claimed, append = image_ids.get, ann_ids.claimed, out.append
    pending = None if exact else ann_ids.begin()
    head, start, sep = _PLAIN, len(_PLAIN), _AREA
    for row in rows:
        image_id = img_get(row[1])
        if image_id is None:
            continue
        aid, _, cid, x, y, w, h, polys, rle, crowd, area, attrs, extra, _ = row
        if attrs is None and not recompute_area and extra is not None and \
                extra.startswith(head):
            ident, found, kept = extra[start:-1].partition(sep)
            area_text = repr(area)
            if (found and kept == area_text and ident.isdigit()
                    and (pending is not None or ident not in claimed)):
                if pending is None:
                    claimed.add(ident)
                else:
                    pending.append(ident)
                append(f'{{"id":{ident},"image_id":{image_id},"category_id":{cat_ids[cid]},'
                       f'"bbox":[{x!r},{y!r},{w!r},{h!r}],"area":{area_text},"segmentation":'
                       f'{rle or polys or "[]"},"iscrowd":{crowd}}}')
                continue
        append(_general_text(row, image_id, cat_ids, ann_ids, recompute_area))
    return out


def _annotation_texts(store: ProjectStore, image_ids: Mapping[int, int], maps: CocoIdMaps,
                      recompute_area: bool = False) -> Iterator[list[str]]:
    """The annotations of the images in ``image_ids`` (``{store id: exported id}``) as
    COCO JSON object texts, in lists of up to ``_CHUNK``, composed from the store's raw
    rows. The common case — an imported annotation whose ``extra`` is the importer's
    ``{"coco_id":N,"area":A}`` with ``A`` the stored area, no attributes — is composed
    inline, copying
    the stored polygon/RLE JSON without parsing it; anything else goes through
    :func:`_general_text`. Both give the same text."""
    ann_ids = _AnnotationIds(store)
    source = store.iter_annotation_rows(extended=True)
    while rows := list(islice(source, _CHUNK)):
        texts = _chunk_texts(rows, image_ids, maps.category, ann_ids, recompute_area, False)
        if not ann_ids.commit():
            texts = _chunk_texts(rows, image_ids, maps.category, ann_ids, recompute_area, True)
        if texts:
            yield texts


def _chunks(items: Iterable[Any], size: int = _CHUNK) -> Iterator[list[Any]]:
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
              image_root: str | os.PathLike | None = None, *,
              recompute_area: bool = False) -> dict[str, Any]:
    """The project (or one split) as an in-memory COCO document, the same one
    :func:`write_coco` writes.

    Args:
        store: The project.
        split: Only images of this split (and their annotations); ``None`` = all.
        image_root: Folder ``file_name`` is made relative to; default the project root.
        recompute_area: Compute every ``area`` (see the module docstring).

    Returns:
        ``{"info", "licenses", "categories", "images", "annotations"}``, ready for
        ``pycocotools.coco.COCO`` (assign to ``coco.dataset`` and call ``createIndex``).

    Raises:
        VisionStudioError: an annotation's attributes nest more than 32 deep.
    """
    images = store.images(split)
    maps = export_id_maps(store, split, images=images)
    doc = _header(store, maps)
    doc["images"] = list(_image_dicts(store, images, _root(store.root, image_root), maps.image))
    selected = dict(maps.image)
    doc["annotations"] = [json.loads(t) for chunk in
                          _annotation_texts(store, selected, maps, recompute_area)
                          for t in chunk]
    return doc


def _protected(store: ProjectStore, out: Path) -> list[Path]:
    """The project files and, if ``out`` is one, that image (one query instead of
    resolving every image path of the project)."""
    project = Path(os.path.realpath(store.path))
    paths = [project.with_name(project.name + s) for s in ("", "-wal", "-shm", "-journal")]
    for candidate in {os.path.abspath(out), os.path.realpath(out)}:
        try:
            rel = Path(os.path.relpath(candidate, store.root)).as_posix()
        except ValueError:  # another drive on Windows
            continue
        if store.image_by_path(rel) is not None:
            paths.append(out)
    return paths


def write_coco(store: ProjectStore, out_json: str | os.PathLike, split: str | None = None, *,
               image_root: str | os.PathLike | None = None, recompute_area: bool = False,
               overwrite: bool = False, progress: ProgressCallback | None = None
               ) -> dict[str, Any]:
    """Write the project (or one split) as a COCO JSON file, streaming the annotations.

    The file is written to a temporary file beside ``out_json`` and renamed into place
    when complete (:func:`vision_studio.core.outputs.atomic_output`), so a failed or
    killed export never leaves a half-written file.

    Args:
        store: The project.
        out_json: The file to write (folders are created).
        split: Only images of this split (and their annotations); ``None`` = all.
        image_root: Folder ``file_name`` is made relative to; default the JSON's folder.
        recompute_area: Compute every ``area`` instead of keeping imported ones (see
            the module docstring).
        overwrite: Replace ``out_json`` if it exists.
        progress: ``progress(done, total)`` over the annotations.

    Returns:
        ``{"path": str, "images": int, "annotations": int, "categories": int}``.

    Raises:
        ProtectedPathError: ``out_json`` is the project file (or its ``-wal``/``-shm``/
            ``-journal``) or an image of the project, whatever ``overwrite`` says.
        OutputExistsError: ``out_json`` exists and ``overwrite`` is false.
        VisionStudioError: an annotation's attributes nest more than 32 deep (nothing
            is written).
    """
    out_json = Path(out_json)
    protected = _protected(store, out_json)
    check_output(out_json, overwrite=overwrite, protected=protected)
    images = store.images(split)
    maps = export_id_maps(store, split, images=images)
    selected = dict(maps.image)  # the images of ``split`` (a plain dict: faster look-ups)
    total = 0
    if progress is not None:  # one GROUP BY query; only needed for the progress total
        total = sum(n for (s, _), n in store.annotation_counts().items()
                    if split is None or s == split)
    header = _header(store, maps)
    n_anns = 0
    with atomic_output(out_json, protected=protected) as tmp:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(json.dumps(header)[:-1] + ', "images": [')
            _write_items(f, _image_dicts(store, images, _root(out_json.parent, image_root),
                                         maps.image))
            f.write('], "annotations": [')
            chunks = _annotation_texts(store, selected, maps, recompute_area)
            for k, chunk in enumerate(chunks):
                f.write((",\n" if k else "\n") + ",\n".join(chunk))
                n_anns += len(chunk)
                if progress is not None:
                    progress(n_anns, total)
            f.write("\n]}\n")
    return {"path": str(out_json), "images": len(images), "annotations": n_anns,
            "categories": len(header["categories"])}


def _write_items(f: Any, items: Iterable[dict]) -> None:
    for k, chunk in enumerate(_chunks(items)):
        f.write((",\n" if k else "\n") + json.dumps(chunk)[1:-1])
