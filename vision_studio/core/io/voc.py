"""Pascal VOC XML import and export (one XML file per image, as in VOC2007-2012).

Coordinate convention: VOC ``<bndbox>`` values are 1-based pixel indices with the
maximum inclusive (``xmin = 1`` is the first pixel column, ``xmax = width`` the last),
as in the VOC devkit (``VOCdevkit/devkit_doc.pdf``; Detectron2's ``pascal_voc`` loader
and torchvision's reference scripts subtract 1 from ``xmin``/``ymin`` the same way).
The store keeps COCO ``[x, y, w, h]`` with 0-based continuous coordinates, so::

    x = xmin - 1,  y = ymin - 1,  w = xmax - xmin + 1,  h = ymax - ymin + 1   (import)
    xmin = x + 1,  ymin = y + 1,  xmax = x + w,         ymax = y + h          (export)

Export writes integers, as VOC readers expect: each edge is rounded to the nearest
pixel boundary first (:func:`voc_bndbox`), so integer coordinates round-trip exactly
and a box drawn at ``x = 232.74`` is written ``xmin = 234``.

Other rules:

* XML is parsed with ``defusedxml``: files with entity declarations (billion laughs),
  external entities or DTD references are rejected with ``FormatError`` and the whole
  import is abandoned (the project is unchanged). A merely malformed XML file is
  reported and skipped (raises in strict mode).
* Images are resolved by ``<filename>`` in ``image_dir`` (``<path>`` usually points at
  the author's disk and is ignored); when absent there, an image named like the XML
  file is looked for.
* ``difficult``, ``truncated`` and ``occluded`` are kept as booleans in the
  annotation's ``attributes`` (and ``pose`` when it is not ``Unspecified``).
* Export writes ``<image stem>.xml`` per image (``_<id>`` appended when two images
  share a stem) and ``labels.txt`` with one category name per line, into an empty or
  new folder unless ``overwrite`` (a folder of imported XMLs is never rewritten by
  accident); the project file and its images are never written.
"""
from __future__ import annotations

import dataclasses
import logging
import math
import os
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from defusedxml import DefusedXmlException
from defusedxml import ElementTree as SafeET

from vision_studio.core.errors import FormatError
from vision_studio.core.images import IMAGE_EXTENSIONS, ImageDecodeError, image_size
from vision_studio.core.geometry import clip_box, xywh_to_xyxy
from vision_studio.core.io.common import (
    ExistingImages,
    RelativePaths,
    is_regular_file,
    leaves_folder,
    match_categories,
    name_problem,
    output_names,
    refuse_protected,
    split_from_path,
)
from vision_studio.core.io.report import ImportReport, ProgressCallback
from vision_studio.core.outputs import (
    atomic_write_bytes,
    atomic_write_text,
    check_output,
    protected_paths,
)
from vision_studio.core.store import ProjectStore
from vision_studio.core.types import Annotation, ImageRecord, Problem

log = logging.getLogger(__name__)

_FLAGS = ("difficult", "truncated", "occluded")
_MAX_SIDE = 1 << 20  # a <size> beyond a million pixels a side is not believed

_Parsed = tuple[ImageRecord, list[tuple[str, Annotation]], bool]
"""One XML file: the image (new, or the project's), its objects, whether it was there."""


def parse_voc_xml(path: str | os.PathLike) -> ET.Element:
    """Parse one VOC XML file safely.

    Raises:
        FormatError: ``unsafe XML`` for entity declarations / external references /
            DTDs (``defusedxml``), ``not valid XML`` for syntax errors or an encoding
            the parser does not support (``UTF-7``, unknown names), or unreadable.
    """
    path = Path(path)
    try:
        return SafeET.parse(str(path), forbid_dtd=True).getroot()
    except DefusedXmlException as exc:
        raise FormatError(f"{path}: unsafe XML rejected ({type(exc).__name__}: entity "
                          "declarations, external references and DTDs are not allowed)") from None
    except ET.ParseError as exc:
        raise FormatError(f"{path}: not valid XML ({exc})") from None
    except (LookupError, ValueError, UnicodeError) as exc:  # encoding="UTF-7", unknown ones
        raise FormatError(f"{path}: not valid XML (unsupported text encoding: {exc})") from None
    except OSError as exc:
        raise FormatError(f"{path}: cannot read ({exc.strerror or exc})") from None


def _text(node: ET.Element | None, tag: str, default: str = "") -> str:
    child = node.find(tag) if node is not None else None
    return (child.text or "").strip() if child is not None and child.text else default


def _number(node: ET.Element | None, tag: str) -> float | None:
    try:
        value = float(_text(node, tag))
    except ValueError:
        return None
    return value if value == value and abs(value) != float("inf") else None


def _flag(text: str) -> bool:
    return text.lower() in ("1", "true", "yes")


class _VocReader:
    """State of one :func:`read_voc` call."""

    def __init__(self, store: ProjectStore, image_dir: Path, split: str, report: ImportReport,
                 check_images: bool, on_existing: str) -> None:
        self.store, self.image_dir, self.split = store, image_dir, split
        self.report, self.check_images = report, check_images
        self.paths = RelativePaths(store, image_dir)
        self.existing = ExistingImages(store, on_existing)
        self.seen: dict[str, int] = {}  # project path -> 0 (new) or the existing image id
        self.problems: list[Problem] = []
        self.categories: dict[str, int] = {}

    def skip(self, source: Path | str, reason: str, kind: str, image_id: int | None = None) -> None:
        self.report.skip(str(source), reason, kind)
        self.problems.append(Problem(str(source), reason, image_id, kind))

    def note(self, source: Path, reason: str, kind: str, image_id: int | None = None) -> None:
        self.report.note(str(source), reason, kind)
        self.problems.append(Problem(str(source), reason, image_id, kind))

    def _image_name(self, xml: Path, root: ET.Element) -> str | None:
        """The image's file name in ``image_dir`` (``<filename>``, else the XML's stem
        with an image extension), or None when neither exists (reported)."""
        name = _text(root, "filename")
        problem = name_problem(name)
        if problem:
            self.skip(xml, f"<filename>: {problem}; the XML is skipped", "bad_filename")
            return None
        if name and leaves_folder(name):
            found = is_regular_file(self.paths.absolute(name))
            self.note(xml, f"<filename> {name[:200]} is outside the image folder "
                      + ("(the file exists: imported)" if found or not self.check_images
                         else "(no such file)"), "outside_folder")
        if name and (not self.check_images or is_regular_file(self.paths.absolute(name))):
            return name
        if self.check_images:
            for ext in sorted(IMAGE_EXTENSIONS):
                if is_regular_file(self.paths.absolute(xml.stem + ext)):
                    return xml.stem + ext
        if name and self.existing.find(self.paths(name)) is not None:
            return name  # not in image_dir, but the project has it (matched by file name)
        self.skip(xml, f"image file {self.paths.absolute(name or xml.stem)} (its <filename>) "
                  "not found; the XML is skipped", "missing_image")
        return None

    def _size(self, xml: Path, root: ET.Element, name: str,
              known: ImageRecord | None) -> tuple[int, int] | None:
        size = root.find("size")
        w, h = _number(size, "width") or 0, _number(size, "height") or 0
        if not 0 <= w <= _MAX_SIDE or not 0 <= h <= _MAX_SIDE:
            w = h = 0
        if known is not None and not is_regular_file(self.paths.absolute(name)):
            return known.width, known.height
        if not self.check_images:
            if w >= 1 and h >= 1:
                return int(w), int(h)
            self.skip(xml, "no valid <size>; the XML is skipped", "bad_image")
            return None
        try:
            fw, fh = image_size(self.paths.absolute(name))
        except ImageDecodeError as exc:
            self.skip(xml, f"image {exc.path} (its <filename>): {exc.reason}; the XML is "
                      "skipped", "unreadable_image")
            return None
        if w and h and (int(w), int(h)) != (fw, fh):
            msg = (f"<size> says {int(w)}x{int(h)} but the image is {fw}x{fh} after EXIF "
                   "orientation; the image's size is used")
            if self.report.strict:
                self.skip(xml, msg, "size_mismatch")
            self.note(xml, msg, "size_mismatch")
        return fw, fh

    def read_file(self, xml: Path) -> _Parsed | None:
        """One XML file → (image record, [(category name, annotation without ids)],
        the project image it belongs to when it is already there)."""
        try:
            root = parse_voc_xml(xml)
        except FormatError as exc:
            if "unsafe XML" in str(exc):
                raise
            self.skip(xml, str(exc).split(": ", 1)[1] + "; skipped", "bad_xml")
            return None
        name = self._image_name(xml, root)
        if name is None:
            return None
        rel = self.paths(name)
        known = self.existing.find(rel)
        size = self._size(xml, root, name, known)
        if size is None:
            return None
        if known is not None and (known.width, known.height) != size:
            known = None if known.path != rel else known
        if rel in self.seen or (known is not None and known.path in self.seen):
            self.skip(xml, f"image {name} is named by another XML file of this import; "
                      "not imported again", "duplicate_image", self.seen.get(rel) or None)
            return None
        self.seen[known.path if known else rel] = known.id if known else 0
        objects = [o for o in (self._object(xml, k, obj, size)
                               for k, obj in enumerate(root.iter("object"))) if o is not None]
        record = known or ImageRecord(path=rel, width=size[0], height=size[1], split=self.split)
        return record, objects, known is not None

    def _object(self, xml: Path, k: int, obj: ET.Element,
                size: tuple[int, int]) -> tuple[str, Annotation] | None:
        label = _text(obj, "name")
        what = f"object {k} ({label or 'no name'})"
        box = obj.find("bndbox")
        coords = [_number(box, t) for t in ("xmin", "ymin", "xmax", "ymax")]
        if not label or any(c is None for c in coords):
            self.skip(xml, f"{what}: needs a <name> and numeric <bndbox> xmin/ymin/xmax/ymax; "
                      "skipped", "bad_object")
            return None
        xmin, ymin, xmax, ymax = coords
        x, y, w, h = xmin - 1, ymin - 1, xmax - xmin + 1, ymax - ymin + 1
        if w <= 0 or h <= 0:
            self.skip(xml, f"{what}: box of zero or negative size (xmin={xmin:g}, xmax={xmax:g}, "
                      f"ymin={ymin:g}, ymax={ymax:g}); skipped", "bad_bbox")
            return None
        clipped = clip_box((x, y, w, h), size[0], size[1])
        if clipped is None:
            self.skip(xml, f"{what}: box lies wholly outside the {size[0]}x{size[1]} image; "
                      "skipped", "bbox_outside")
            return None
        if clipped != (x, y, w, h):
            self.note(xml, f"{what}: box extends outside the {size[0]}x{size[1]} image; clipped",
                      "bbox_clipped")
            x, y, w, h = clipped
        attrs: dict[str, Any] = {f: _flag(_text(obj, f)) for f in _FLAGS if obj.find(f) is not None}
        pose = _text(obj, "pose")
        if pose and pose != "Unspecified":
            attrs["pose"] = pose
        return label, Annotation(image_id=0, category_id=0, bbox=(x, y, w, h), area=w * h,
                                 attributes=attrs)

    def add(self, parsed: list[_Parsed]) -> None:
        """Insert a batch of parsed files: categories, new images, then annotations
        (those of images already in the project through :class:`ExistingImages`)."""
        names = list(dict.fromkeys(n for _, objs, _ in parsed for n, _ in objs
                                   if n not in self.categories))
        if names:
            cats, created = match_categories(self.store, [(n, "") for n in names])
            self.categories.update({n: c.id for n, c in zip(names, cats)})
            self.report.categories += created
        new = [(rec, objs) for rec, objs, old in parsed if not old]
        records = self.store.add_images([rec for rec, _ in new])
        for (rec, _), added in zip(new, records):
            self.seen[rec.path] = added.id
        anns = [dataclasses.replace(a, image_id=rec.id, category_id=self.categories[n])
                for rec, (_, objs) in zip(records, new) for n, a in objs]
        self.store.add_annotations(anns)
        old = [(rec, [dataclasses.replace(a, category_id=self.categories[n]) for n, a in objs], ())
               for rec, objs, was in parsed if was]
        added, removed = self.existing.attach(old)
        self.report.images += len(records)
        self.report.annotations += len(anns) + added
        self.report.existing += len(old) if self.existing.on_existing != "skip" else 0
        self.report.removed += removed
        if old and self.existing.on_existing == "skip":
            for rec, _, _ in old:
                self.report.note(rec.path, "already in the project; its labels were left as "
                                 "they are (on_existing='skip')", "existing_image")


def read_voc(store: ProjectStore, xml_dir: str | os.PathLike, image_dir: str | os.PathLike,
             *, split: str | None = None, strict: bool = False, check_images: bool = True,
             progress: ProgressCallback | None = None, on_existing: str = "add") -> ImportReport:
    """Import Pascal VOC XML files (see the module docstring for conventions).

    Args:
        store: The project to add to.
        xml_dir: Folder of ``*.xml`` files (or one XML file).
        image_dir: Folder where the images named by ``<filename>`` are.
        split: Split recorded on the images; default derived from ``xml_dir``'s name.
        strict: Raise at the first problem and change nothing.
        check_images: Check each image exists and read its size (after EXIF
            orientation); ``False`` trusts ``<size>``.
        progress: ``progress(done, total)`` over the XML files.
        on_existing: For an XML whose image is already in the project (by project path,
            else by unique file name): ``"add"`` its objects (not twice), ``"replace"``
            that image's annotations, or ``"skip"`` it (see
            :class:`~vision_studio.core.io.common.ExistingImages`).

    Returns:
        What was added and what was skipped.

    Raises:
        FormatError: ``xml_dir`` missing or empty, unsafe XML (always), or (strict) any
            problem; the project is then unchanged.
    """
    xml_dir = Path(xml_dir)
    files = sorted(xml_dir.glob("*.xml")) if xml_dir.is_dir() else [xml_dir]
    if not xml_dir.exists() or not files:
        raise FormatError(f"{xml_dir}: no Pascal VOC XML files found")
    split = split_from_path(xml_dir if xml_dir.is_dir() else xml_dir.parent) \
        if split is None else split
    report = ImportReport("voc", strict=strict)
    reader = _VocReader(store, Path(image_dir), split, report, check_images, on_existing)
    with store.transaction():
        batch: list = []
        for n, xml in enumerate(files, 1):
            parsed = reader.read_file(xml)
            if parsed is not None:
                batch.append(parsed)
            if len(batch) >= 2000 or n == len(files):
                if batch:
                    reader.add(batch)
                batch = []
                if progress is not None:
                    progress(n, len(files))
        if reader.problems:
            store.add_problems(reader.problems)
    return report


def voc_bndbox(bbox: tuple[float, float, float, float], width: int, height: int
               ) -> tuple[int, int, int, int]:
    """A store box → VOC ``(xmin, ymin, xmax, ymax)``: integer, 1-based, max inclusive.

    VOC readers (the devkit, Detectron2's ``pascal_voc``, torchvision's references)
    read ``<bndbox>`` as integer pixel indices, so the edges are rounded to the nearest
    pixel boundary (half up): ``xmin = round(x) + 1``, ``xmax = round(x + w)``, each
    kept inside ``1..width`` (``1..height`` for y) and ``xmax >= xmin`` (a box thinner
    than half a pixel becomes one pixel wide). Integer boxes, the ones a VOC import
    gives, are written exactly, so import → export → import is stable.
    """
    x1, y1, x2, y2 = xywh_to_xyxy(bbox)

    def edge(v: float, hi: int) -> int:
        return min(max(math.floor(v + 0.5), 0), max(hi, 1))

    xmin, ymin = min(edge(x1, width) + 1, max(width, 1)), min(edge(y1, height) + 1, max(height, 1))
    return xmin, ymin, max(edge(x2, width), xmin), max(edge(y2, height), ymin)


def _sub(parent: ET.Element, tag: str, text: Any = None) -> ET.Element:
    node = ET.SubElement(parent, tag)
    if text is not None:
        node.text = str(text)
    return node


def _voc_tree(store: ProjectStore, im: ImageRecord, anns: list[Annotation],
              names: dict[int, str]) -> ET.ElementTree:
    full = store.resolve(im)
    root = ET.Element("annotation")
    _sub(root, "folder", full.parent.name)
    _sub(root, "filename", full.name)
    _sub(root, "path", str(full))
    _sub(_sub(root, "source"), "database", "Vision Studio")
    size = _sub(root, "size")
    _sub(size, "width", im.width)
    _sub(size, "height", im.height)
    _sub(size, "depth", 3)
    _sub(root, "segmented", 0)
    for a in anns:
        obj = _sub(root, "object")
        _sub(obj, "name", names[a.category_id])
        _sub(obj, "pose", a.attributes.get("pose", "Unspecified"))
        for flag in ("truncated", "difficult"):
            _sub(obj, flag, int(bool(a.attributes.get(flag, False))))
        if "occluded" in a.attributes:
            _sub(obj, "occluded", int(bool(a.attributes["occluded"])))
        box = _sub(obj, "bndbox")
        for tag, v in zip(("xmin", "ymin", "xmax", "ymax"), voc_bndbox(a.bbox, im.width, im.height)):
            _sub(box, tag, v)
    tree = ET.ElementTree(root)
    ET.indent(tree, space="\t")
    return tree


def write_voc(store: ProjectStore, out_dir: str | os.PathLike, split: str | None = None,
              *, overwrite: bool = False, page: int = 5000) -> dict[str, Any]:
    """Write one Pascal VOC XML per image, plus ``labels.txt``.

    Only boxes are written (VOC XML has no polygons), as integers (see
    :func:`voc_bndbox`); attributes ``difficult``, ``truncated``, ``occluded`` and
    ``pose`` are restored. Images without annotations get an XML without ``<object>``
    (they are negatives, not missing). Each file is written atomically (a temporary
    file in the folder, renamed into place).

    Args:
        store: The project.
        out_dir: Folder to write into (created).
        split: Only images of this split; ``None`` = all.
        overwrite: Allow writing into a folder that is not empty (e.g. the folder the
            XMLs were imported from, whose files are then replaced).
        page: Images read per query (annotations fetched per page, no N+1 queries).

    Returns:
        ``{"path": str, "files": int, "objects": int, "labels": [names]}``.

    Raises:
        OutputExistsError: ``out_dir`` is not empty and ``overwrite`` is false.
        ProtectedPathError: ``out_dir`` or a file to write is the project file or an
            image of the project (never written, even with ``overwrite``).
    """
    protected = protected_paths(store)
    out_dir = check_output(out_dir, overwrite=overwrite, protected=protected)
    out_dir.mkdir(parents=True, exist_ok=True)
    names = {c.id: c.name for c in store.categories()}
    labels = list(dict.fromkeys(names.values()))
    files_of = output_names(store.images(split), ".xml")
    refuse_protected(out_dir, [*files_of.values(), "labels.txt"], protected)
    atomic_write_text(out_dir / "labels.txt", "".join(f"{n}\n" for n in labels),
                      protected=protected)
    files = objects = 0
    offset = 0
    while True:
        images = store.images(split, offset=offset, limit=page)
        if not images:
            break
        offset += len(images)
        by_image = store.annotations_by_image(im.id for im in images)
        for im in images:
            anns = by_image.get(im.id, [])
            data = ET.tostring(_voc_tree(store, im, anns, names).getroot(), encoding="utf-8",
                               xml_declaration=False)
            atomic_write_bytes(out_dir / files_of[im.id], data, protected=protected)
            files += 1
            objects += len(anns)
    return {"path": str(out_dir), "files": files, "objects": objects, "labels": labels}
