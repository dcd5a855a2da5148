"""What the import/export dialogs and the welcome screen offer, over the core IO
functions (no Qt here: plain descriptions and calls, testable alone).

Each :class:`ImportFormat` names the inputs it needs (:class:`Field`) and calls the core
importer (``read_coco``, ``read_voc``, ``read_labelme``, ``read_masks``,
``read_imagefolder``) with them. :data:`SHARED_DATASETS` says how each dataset of
``../shared/data`` is imported, for one-click projects on the welcome screen.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from vision_studio.core.errors import VisionStudioError
from vision_studio.core.io.report import ImportReport
from vision_studio.core.store import ProjectStore

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Field:
    """One input of a format: ``kind`` is ``"file"``, ``"dir"``, ``"save_file"``,
    ``"text"`` or ``"int"``; ``filter`` is a Qt file-dialog filter for files."""

    key: str
    label: str
    kind: str
    tip: str = ""
    filter: str = ""
    optional: bool = False
    default: str = ""


def _fn(module: str, name: str) -> Callable[..., Any]:
    try:
        return getattr(importlib.import_module(f"vision_studio.core.io.{module}"), name)
    except (ImportError, AttributeError) as exc:
        raise VisionStudioError(f"the {module} format is not available in this build ({exc})") from exc


def parse_classes(text: str) -> dict[int, str]:
    """``"0=Sky, 1=Building"`` (commas or new lines) → ``{0: "Sky", 1: "Building"}``.

    Raises:
        VisionStudioError: on an entry that is not ``value=name`` with an integer value.
    """
    out: dict[int, str] = {}
    for part in text.replace("\n", ",").split(","):
        if not part.strip():
            continue
        value, sep, name = part.partition("=")
        if not sep or not value.strip().isdigit() or not name.strip():
            raise VisionStudioError(f"classes: “{part.strip()}” is not of the form value=name")
        out[int(value)] = name.strip()
    if not out:
        raise VisionStudioError("classes: give at least one value=name")
    return out


def _optional_int(text: str, what: str) -> int | None:
    text = (text or "").strip()
    if not text:
        return None
    try:
        return int(text)
    except ValueError as exc:
        raise VisionStudioError(f"{what}: “{text}” is not a whole number") from exc


@dataclass(frozen=True)
class ImportFormat:
    """An import format offered by the Import dialog."""

    name: str
    label: str
    fields: tuple[Field, ...]
    call: Callable[[ProjectStore, Mapping[str, str], dict[str, Any]], ImportReport]
    help: str = ""
    labels_existing: bool = True
    """The format brings labels, which may be for images already in the project (the
    importer's ``on_existing``: add / replace / skip)."""

    def run(self, store: ProjectStore, values: Mapping[str, str], split: str | None = None,
            strict: bool = False, progress: Progress | None = None,
            on_existing: str | None = None) -> ImportReport:
        """Check required inputs and call the core importer.

        Args:
            on_existing: For images already in the project: ``"add"`` their labels,
                ``"replace"`` that image's annotations, or ``"skip"`` them (``None``:
                the importer's default).

        Raises:
            VisionStudioError: a required input is empty, or from the importer.
        """
        for f in self.fields:
            if not f.optional and not str(values.get(f.key, "")).strip():
                raise VisionStudioError(f"{self.label}: “{f.label}” is required")
        kw: dict[str, Any] = {"strict": strict, "progress": progress}
        if split is not None:
            kw["split"] = split
        if on_existing is not None and self.labels_existing:
            kw["on_existing"] = on_existing
        return self.call(store, values, kw)


@dataclass(frozen=True)
class ExportFormat:
    """An export format offered by the Export dialog (``target`` is a file or folder).

    ``call(store, out, split, kwargs)``: ``kwargs`` is ``{"overwrite": True}`` once the
    user agreed to replace an existing output, else empty (the writers refuse then)."""

    name: str
    label: str
    target: Field
    call: Callable[[ProjectStore, str, str | None, dict[str, Any]], Any]


IMPORT_FORMATS: tuple[ImportFormat, ...] = (
    ImportFormat(
        "coco", "COCO JSON (detection / instance segmentation)",
        (Field("json", "Annotation file", "file", "The COCO .json file", "COCO JSON (*.json)"),
         Field("images", "Image folder", "dir", "Where the images are (default: the JSON's folder)",
               optional=True)),
        lambda s, v, kw: _fn("coco", "read_coco")(s, v["json"], image_dir=v.get("images") or None, **kw),
        "Boxes, polygons and RLE masks of a COCO annotation file."),
    ImportFormat(
        "voc", "Pascal VOC XML (detection)",
        (Field("xml", "Annotation folder", "dir", "Folder of the .xml files"),
         Field("images", "Image folder", "dir", "Folder of the images")),
        lambda s, v, kw: _fn("voc", "read_voc")(s, v["xml"], v["images"], **kw),
        "One XML file per image; images are found by <filename>."),
    ImportFormat(
        "labelme", "labelme JSON (polygons, rectangles, circles)",
        (Field("src", "File or folder", "dir", "A labelme .json file or a folder of them"),),
        lambda s, v, kw: _fn("labelme", "read_labelme")(s, v["src"], **kw),
        "Unsupported shapes (lines, points) are listed in the report."),
    ImportFormat(
        "masks", "Label images (semantic segmentation)",
        (Field("images", "Image folder", "dir", "Folder of the images"),
         Field("masks", "Label folder", "dir", "Folder of the label images (same file names)"),
         Field("classes", "Classes", "text", "value=name pairs, e.g. 0=background, 1=road",
               default="0=background, 1=foreground"),
         Field("ignore", "Ignore value", "int", "Label value of unlabelled (void) pixels, e.g. 255",
               optional=True)),
        lambda s, v, kw: _fn("masks", "read_masks")(
            s, v["images"], v["masks"], parse_classes(v["classes"]),
            _optional_int(v.get("ignore", ""), "Ignore value"), **kw),
        "Each pixel value of the label image is a class."),
    ImportFormat(
        "imagefolder", "Image folders (classification)",
        (Field("root", "Root folder", "dir", "root/<class>/*.jpg, or root/{train,val,test}/<class>/*.jpg"),),
        lambda s, v, kw: _fn("imagefolder", "read_imagefolder")(s, v["root"], **kw),
        "One sub-folder per class; the folder name becomes an image tag."),
    ImportFormat(
        "images", "Plain images (no labels yet)",
        (Field("root", "Folder", "dir", "A folder of images, searched recursively"),),
        lambda s, v, kw: _fn("imagefolder", "read_images")(s, v["root"], **kw),
        "Adds every image of the folder, to be labelled here.", labels_existing=False),
)

EXPORT_FORMATS: tuple[ExportFormat, ...] = (
    ExportFormat("coco", "COCO JSON", Field("out", "Output file", "save_file", filter="COCO JSON (*.json)"),
                 lambda s, out, split, kw: _fn("coco_write", "write_coco")(s, out, split=split, **kw)),
    ExportFormat("voc", "Pascal VOC XML", Field("out", "Output folder", "dir"),
                 lambda s, out, split, kw: _fn("voc", "write_voc")(s, out, split=split, **kw)),
    ExportFormat("masks", "Label images (PNG masks)", Field("out", "Output folder", "dir"),
                 lambda s, out, split, kw: _fn("masks", "write_masks")(s, out, split=split, **kw)),
)


def import_format(name: str) -> ImportFormat:
    """The import format called ``name``. Raises KeyError if unknown."""
    return {f.name: f for f in IMPORT_FORMATS}[name]


def export_format(name: str) -> ExportFormat:
    """The export format called ``name``. Raises KeyError if unknown."""
    return {f.name: f for f in EXPORT_FORMATS}[name]
