"""COCO JSON import (https://cocodataset.org/#format-data); export is
:mod:`vision_studio.core.io.coco_write`.

:func:`read_coco` adds one COCO file (one split) to a project. Several files
(``train``/``valid``/``test``) go into one project, each with its split recorded.
What is imported is kept so that an export writes it again (a round trip):

* Category ids may start at 0 and have gaps; the store assigns its own ids and keeps the
  original id as ``Category.extra["coco_id"]`` (and, for older readers, in the project
  setting :data:`~vision_studio.core.io.coco_ids.CATEGORY_IDS_SETTING`). Categories are
  kept even when no annotation uses them; two categories with the same name stay
  distinct. A later file of the same dataset reuses the categories matched by
  (coco id, name), then by name. An ``id`` that is not an integer or a string (``true``,
  ``1.5``) is reported and the category skipped; a ``name`` that is not a non-empty
  string is reported and the category imported as ``"category <id>"``.
* Images keep their id (``ImageRecord.extra["coco_id"]``) and every other field of the
  entry (``license``, ``coco_url``, ``flickr_url``, ``date_captured``, ...) in
  ``ImageRecord.extra``. The top-level ``info`` and ``licenses`` go to the project
  settings ``coco_info`` / ``coco_licenses`` (the first file's ``info`` wins; licenses
  are merged by id).
* Image files are resolved relative to ``image_dir`` (default: the JSON's folder); their
  size after EXIF orientation is read from the file header and checked against the
  JSON's ``width``/``height``. A ``file_name`` that is absolute or climbs out of that
  folder (``../``) is reported by name (in strict mode refused) and imported only if
  the file exists. An image already in the project gets the file's annotations
  (``on_existing``, see :class:`~vision_studio.core.io.common.ExistingImages`).
* Annotations: see :mod:`vision_studio.core.io.coco_annotations` (ids, ``iscrowd``,
  segmentation, bbox, ``area`` kept as given, attributes).
* Problems are reported as :class:`~vision_studio.core.io.report.Skipped` items naming
  the JSON file and the item, and recorded as project problems. In strict mode the first
  problem raises ``FormatError`` and the project is unchanged (the import runs in one
  transaction). A file that is not JSON or not COCO (also: nested too deeply, integers
  of more than 4,300 digits) raises ``FormatError`` naming it.
"""
from __future__ import annotations

import logging
import os
import posixpath
from collections import Counter
from pathlib import Path
from typing import Any

from vision_studio.core.errors import FormatError
from vision_studio.core.images import ImageDecodeError, image_size
from vision_studio.core.io.coco_annotations import AnnotationChecker, entry_ids, read_annotations
from vision_studio.core.io.coco_ids import (
    ANN_OFFSET_SETTING,
    CATEGORY_IDS_SETTING,
    COCO_ID,
    INFO_SETTING,
    LICENSES_SETTING,
)
from vision_studio.core.io.coco_values import dumps, key, shallow
from vision_studio.core.io.common import (
    CHUNK,
    ExistingImages,
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
_IMAGE_KEYS = ("id", "file_name", "width", "height")
_MAX_SIDE = 2**31 - 1  # largest image width/height accepted from the JSON


def _load(path: Path) -> Any:
    """The parsed JSON; every failure a ``FormatError`` naming the file."""
    try:
        return load_json(path, "COCO JSON")
    except RecursionError:
        raise FormatError(f"{path}: not a COCO file (JSON nested too deeply)") from None
    except MemoryError:
        raise FormatError(f"{path}: too large to read into memory") from None
    except ValueError as exc:  # e.g. "Exceeds the limit (4300 digits) for integer string"
        raise FormatError(f"{path}: not valid JSON ({exc})") from None


def _sections(data: Any, path: Path) -> tuple[list, list, list]:
    """The images, annotations and categories lists of a COCO document."""
    if not isinstance(data, dict):
        raise FormatError(f"{path}: not a COCO file (the top level is not an object)")
    parts = []
    for name in ("images", "annotations", "categories"):
        value = data.get(name, [])
        if not isinstance(value, list):
            raise FormatError(f"{path}: not a COCO file ('{name}' is not a list)")
        parts.append(value)
    if "images" not in data:
        raise FormatError(f"{path}: not a COCO file (no 'images' list)")
    return parts[0], parts[1], parts[2]


class _LazyCounts:
    """Annotations per image id, counted on first use (only skip messages need them)."""

    def __init__(self, anns: list) -> None:
        self.anns = anns
        self.counts: Counter | None = None

    def of(self, image_id: Any) -> int:
        if self.counts is None:
            self.counts = Counter(key(a.get("image_id")) for a in self.anns
                                  if isinstance(a, dict))
        return self.counts[image_id]


def _outside(name: str) -> bool:
    """True for an absolute ``file_name`` or one that climbs out of its folder."""
    posix = name.replace("\\", "/")
    if posix.startswith("/") or (len(posix) > 1 and posix[1] == ":"):
        return True
    norm = posixpath.normpath(posix)
    return norm == ".." or norm.startswith("../")


class _CocoReader:
    """State of one :func:`read_coco` call (kept small so each step is one method)."""

    def __init__(self, store: ProjectStore, json_path: Path, image_dir: Path | None,
                 split: str, report: ImportReport, check_images: bool,
                 on_existing: str = "add") -> None:
        self.store, self.json_path, self.split = store, json_path, split
        self.src = str(json_path)
        self.folder = Path(image_dir) if image_dir is not None else json_path.parent
        self.report, self.check_images = report, check_images
        self.cat_map: dict[Any, int] = {}
        self.img_map: dict[Any, tuple[int, int, int]] = {}  # coco id -> (store id, w, h)
        self.dropped_images: set[Any] = set()
        self.existing = ExistingImages(store, on_existing)
        self.problems: list[Problem] = []
        self.checker = AnnotationChecker(self.skip, self.note)

    # -------------------------------------------------------------- reporting
    def skip(self, reason: str, kind: str, image_id: int | None = None,
             source: str | None = None) -> None:
        source = source or self.src
        self.report.skip(source, reason, kind)
        self.problems.append(Problem(source=source, message=reason, image_id=image_id, kind=kind))

    def note(self, reason: str, kind: str, image_id: int | None = None) -> None:
        self.report.note(self.src, reason, kind)
        self.problems.append(Problem(source=self.src, message=reason, image_id=image_id, kind=kind))

    def warn(self, reason: str, kind: str) -> None:
        """A note, which strict mode refuses like a skip."""
        if self.report.strict:
            self.skip(reason, kind)
        self.note(reason, kind)

    # -------------------------------------------------------------- top level
    def header(self, data: dict) -> None:
        """Keep ``info`` / ``licenses`` in the project settings."""
        info, licenses = data.get("info"), data.get("licenses")
        if info is not None:
            if isinstance(info, dict) and shallow(info):
                if self.store.get_setting(INFO_SETTING) is None:
                    self.store.set_setting(INFO_SETTING, info)
            else:
                self.warn("'info' is not a JSON object nested at most 32 deep; not kept",
                          "bad_info")
        if licenses is not None:
            if isinstance(licenses, list) and shallow(licenses) and \
                    all(isinstance(x, dict) for x in licenses):
                kept = list(self.store.get_setting(LICENSES_SETTING) or [])
                ids = {dumps(x.get("id")) for x in kept}
                kept += [x for x in licenses if dumps(x.get("id")) not in ids]
                self.store.set_setting(LICENSES_SETTING, kept)
            else:
                self.warn("'licenses' is not a list of JSON objects nested at most 32 deep; "
                          "not kept", "bad_info")

    # -------------------------------------------------------------- categories
    def _category_entries(self, entries: list) -> list[tuple[Any, str, str, dict]]:
        valid: list[tuple[Any, str, str, dict]] = []
        for c in entries:
            cid = key(c.get("id")) if isinstance(c, dict) else None
            if cid is None:
                self.skip(f"category {c!r:.60}: no valid 'id' (an integer or a string); "
                          "skipped", "bad_category")
                continue
            if any(cid == v[0] for v in valid):
                self.skip(f"category id {cid}: listed twice; second entry skipped", "bad_category")
                continue
            name = c.get("name")
            if not isinstance(name, str) or not name.strip():
                name = f"category {cid}"
                self.warn(f"category id {cid}: name {c.get('name')!r:.40} is not a non-empty "
                          f"string; imported as {name!r}", "bad_category")
            sc = c.get("supercategory")
            rest = {k: v for k, v in c.items() if k not in ("id", "name", "supercategory")}
            if not shallow(rest):
                self.warn(f"category id {cid}: fields nested deeper than 32 levels; not kept",
                          "bad_category")
                rest = {}
            valid.append((cid, name.strip(), sc if isinstance(sc, str) else "",
                          {COCO_ID: cid, **rest}))
        return valid

    def categories(self, entries: list) -> None:
        """Match/create categories; fills ``cat_map`` (coco id -> store id)."""
        valid = self._category_entries(entries)
        mapping: dict[str, Any] = dict(self.store.get_setting(CATEGORY_IDS_SETTING, {}) or {})
        by_id = {c.id: c for c in self.store.categories()}
        pending, used = [], set()
        for cid, name, sc, extra in valid:  # reuse a category imported from the same dataset
            hit = next((c.id for c in by_id.values() if c.name == name and c.id not in used
                        and c.extra.get(COCO_ID, mapping.get(str(c.id))) == cid), None)
            if hit is None:
                pending.append((cid, name, sc, extra))
            else:
                used.add(hit)
                self.cat_map[cid] = hit
        matched, created = match_categories(self.store, [(n, sc) for _, n, sc, _ in pending], used)
        for (cid, _, _, extra), cat in zip(pending, matched):
            self.cat_map[cid] = cat.id
            mapping.setdefault(str(cat.id), cid)
            if COCO_ID not in cat.extra:
                self.store.update_category(cat.id, extra={**cat.extra, **extra})
        self.report.categories += created
        self.store.set_setting(CATEGORY_IDS_SETTING, mapping)

    # -------------------------------------------------------------- images
    def _image_entry(self, entry: Any, seen_ids: set) -> tuple[Any, str, int, int, str] | None:
        """Validate one ``images`` entry; ``(coco id, file_name, width, height, extra)``."""
        iid = key(entry.get("id")) if isinstance(entry, dict) else None
        name = entry.get("file_name") if isinstance(entry, dict) else None
        if iid is None or not isinstance(name, str) or not name or "\x00" in name:
            self.skip(f"image entry {entry!r:.80}: needs an 'id' (an integer or a string) "
                      "and a 'file_name'; skipped", "bad_image")
            return None
        if iid in seen_ids:
            self.skip(f"image id {iid} ({name:.200}): listed twice; second entry skipped",
                      "bad_image")
            return None
        seen_ids.add(iid)
        w, h = entry.get("width"), entry.get("height")
        w = int(w) if type(w) in (int, float) and 1 <= w <= _MAX_SIDE else 0
        h = int(h) if type(h) in (int, float) and 1 <= h <= _MAX_SIDE else 0
        rest = {k: v for k, v in entry.items() if k not in _IMAGE_KEYS}
        if rest and not shallow(rest):
            self.warn(f"image id {iid}: fields nested deeper than 32 levels; not kept",
                      "bad_image")
            rest = {}
        return iid, name, w, h, dumps({COCO_ID: iid, **rest})

    def _checked_size(self, iid: Any, name: str, w: int, h: int, n_anns: _LazyCounts,
                      paths: RelativePaths) -> tuple[int, int] | None:
        """The image's size after EXIF orientation, or None (reported) when unusable."""
        if _outside(name):
            self.warn(f"image id {iid}: file_name {name!r:.300} is absolute or climbs out of "
                      f"the dataset folder {self.folder}; imported only if the file exists",
                      "outside_folder")
            if not self.check_images and not os.path.isfile(paths.absolute(name)):
                self.skip(f"image id {iid} ({name:.300}): file not found; image and its "
                          f"{n_anns.of(iid)} annotation(s) skipped", "missing_image")
                return None
        if not self.check_images:
            if w and h:
                return w, h
            self.skip(f"image id {iid} ({name:.300}): no valid width/height; image and its "
                      f"{n_anns.of(iid)} annotation(s) skipped", "bad_image")
            return None
        try:
            fw, fh = image_size(paths.absolute(name))
        except ImageDecodeError as exc:
            self.skip(f"{exc.reason} (image id {iid} in {self.json_path.name}); image and its "
                      f"{n_anns.of(iid)} annotation(s) skipped",
                      "missing_image" if "not found" in exc.reason else "unreadable_image",
                      source=str(exc.path))
            return None
        if (w or h) and (fw, fh) != (w, h):
            self.warn(f"image id {iid} ({name}): the JSON says {w}x{h} but the file is "
                      f"{fw}x{fh} after EXIF orientation; the file's size is used",
                      "size_mismatch")
        return fw, fh

    def images(self, entries: list, anns_per_image: _LazyCounts) -> None:
        """Add the images; fills ``img_map``."""
        paths = RelativePaths(self.store, self.folder)
        existing: dict[str, int] = {}  # project paths named by this file so far
        seen_ids: set = set()
        batch: list[tuple[Any, tuple]] = []  # (coco id, store.add_image_rows row)
        for entry in entries:
            parsed = self._image_entry(entry, seen_ids)
            if parsed is None:
                continue
            iid, name, w, h, extra = parsed
            rel = paths(name)
            known = self.existing.find(rel, (w, h) if w and h else None)
            if (known.path if known else rel) in existing:
                self.dropped_images.add(iid)
                self.skip(f"image id {iid} ({name:.300}): named twice in this file; it and "
                          f"its {anns_per_image.of(iid)} annotation(s) were not imported again",
                          "duplicate_image", image_id=existing.get(known.path if known else rel)
                          or None)
                continue
            if known is not None:  # already in the project: labels go to it (on_existing)
                existing[known.path] = known.id
                self._existing_image(iid, known)
                continue
            size = self._checked_size(iid, name, w, h, anns_per_image, paths)
            if size is None:
                self.dropped_images.add(iid)
                continue
            existing[rel] = 0
            batch.append((iid, (rel, size[0], size[1], self.split, _NEW.checksum, _NEW.status,
                                extra, "")))
        for i in range(0, len(batch), CHUNK):  # store.add_image_rows: no record objects
            part = batch[i:i + CHUNK]
            first = self.store.add_image_rows([row for _, row in part])
            for k, (iid, row) in enumerate(part):
                self.img_map[iid] = (first + k, row[1], row[2])
        self.report.images += len(batch)

    def _existing_image(self, iid: Any, image: ImageRecord) -> None:
        """An image of the file that is already in the project (see ExistingImages)."""
        if self.existing.on_existing == "skip":
            self.dropped_images.add(iid)
            self.report.note(self.src, f"image id {iid} ({image.path:.300}): already in the "
                             "project; its labels were left as they are (on_existing='skip')",
                             "existing_image")
            return
        self.report.removed += self.existing.prepare(image)
        self.report.existing += 1
        self.img_map[iid] = (image.id, image.width, image.height)

    # -------------------------------------------------------------- annotations
    def annotation_offset(self, ids: set) -> None:
        """Record the largest integer annotation id imported (see ``coco_write``)."""
        top = max((v for v in ids if type(v) is int), default=None)
        old = self.store.get_setting(ANN_OFFSET_SETTING, 0)
        if top is not None and (type(old) is not int or top > old):
            self.store.set_setting(ANN_OFFSET_SETTING, top)

    def annotation(self, a: Any, index: int, seen: set) -> tuple | None:
        """The store row of one annotation, checked in detail; None when skipped."""
        aid, coco_id, problem, kind = entry_ids(a, index, seen)
        if problem:
            self.skip(f"annotation {aid}: {problem}", kind)
            return None
        im = self.img_map.get(key(a.get("image_id")))
        if im is None:
            if key(a.get("image_id")) not in self.dropped_images:
                self.skip(f"annotation {aid}: unknown image id {a.get('image_id')!r:.40}; "
                          "skipped", "unknown_image")
            return None
        sid, w_img, h_img = im
        cid = self.cat_map.get(key(a.get("category_id")))
        if cid is None:
            self.skip(f"annotation {aid}: unknown category id {a.get('category_id')!r:.40}; "
                      "skipped", "unknown_category", sid)
            return None
        return self.checker.row(a, aid, coco_id, sid, cid, w_img, h_img)


def read_coco(store: ProjectStore, json_path: str | os.PathLike,
              image_dir: str | os.PathLike | None = None, *, split: str | None = None,
              strict: bool = False, check_images: bool = True,
              progress: ProgressCallback | None = None, on_existing: str = "add") -> ImportReport:
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
        on_existing: For an image already in the project (by project path, else by
            unique file name and size): ``"add"`` its annotations (an identical box and
            category not twice), ``"replace"`` that image's annotations, or ``"skip"`` it
            (:class:`~vision_studio.core.io.common.ExistingImages`).

    Returns:
        What was added and what was skipped.

    Raises:
        FormatError: unreadable or invalid JSON, not a COCO document, or (strict) any
            problem; the project is then unchanged.
    """
    json_path = Path(json_path)
    with gc_paused():  # millions of short-lived containers, no cycles (see gc_paused)
        data = _load(json_path)
        images, anns, cats = _sections(data, json_path)
        split = split_from_path(json_path) if split is None else split
        report = ImportReport("coco", strict=strict)
        reader = _CocoReader(store, json_path, Path(image_dir) if image_dir else None, split,
                             report, check_images, on_existing)
        per_image = _LazyCounts(anns)
        with store.bulk_transaction(len(anns)):
            reader.header(data)
            reader.categories(cats)
            reader.images(images, per_image)
            seen = read_annotations(reader, anns, progress)
            report.annotations -= reader.existing.drop_repeats()
            reader.annotation_offset(seen)
            if reader.problems:
                store.add_problems(reader.problems)
        del data, images, anns, cats, per_image  # the parsed document is no longer needed
    log.info("%s: %s", json_path, report.summary().replace("\n", "; "))
    return report


__all__ = ["CATEGORY_IDS_SETTING", "INFO_SETTING", "LICENSES_SETTING", "read_coco"]
