"""Plain, frozen value types shared by every layer (store, IO, training, GUI).

Conventions (COCO data format, https://cocodataset.org/#format-data):

* Pixel coordinates have their origin at the top-left corner of the image, x to the
  right, y down, in pixels of the image *after* EXIF orientation is applied.
* ``bbox`` is COCO ``[x, y, w, h]`` (floats, pixels): top-left corner plus width and
  height. ``xyxy`` (``[x1, y1, x2, y2]``) is only used where a function says so.
* A polygon is a flat tuple ``(x1, y1, x2, y2, ...)`` of at least three points, as in a
  COCO ``segmentation`` list; one annotation may hold several polygons (one object in
  several pieces).
* ``rle`` is a COCO run-length encoding ``{"size": [h, w], "counts": str}`` (compressed
  counts, as produced by ``pycocotools.mask.encode``); used for ``iscrowd`` regions and
  for masks that do not come as polygons.

Every type here is a frozen dataclass of plain Python values so that it can cross the
thread boundary between the training worker and the GUI, and be compared in tests.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

BBox = tuple[float, float, float, float]
"""COCO bbox ``(x, y, w, h)`` in pixels."""

Polygon = tuple[float, ...]
"""Flat polygon ``(x1, y1, x2, y2, ...)`` in pixels, at least 3 points."""


class Split:
    """Standard split names. Any other non-empty string is allowed too."""

    TRAIN = "train"
    VAL = "val"
    TEST = "test"
    UNASSIGNED = ""
    ALL = (TRAIN, VAL, TEST)


class Task:
    """The four tasks the app trains and evaluates."""

    CLASSIFICATION = "classification"
    DETECTION = "detection"
    INSTANCE_SEGMENTATION = "instance_segmentation"
    SEMANTIC_SEGMENTATION = "semantic_segmentation"
    ALL = (CLASSIFICATION, DETECTION, INSTANCE_SEGMENTATION, SEMANTIC_SEGMENTATION)


class ImageStatus:
    """Review status of an image in the annotation workflow."""

    NEW = "new"
    IN_PROGRESS = "in_progress"
    DONE = "done"
    ALL = (NEW, IN_PROGRESS, DONE)


@dataclass(frozen=True)
class Category:
    """An object/image category.

    Attributes:
        id: Store-assigned id (>= 1). On COCO import the original id is kept in
            ``extra`` as ``coco_id``; ids in the store are our own.
        name: Display name; not required to be unique (real datasets repeat names).
        color: ``"#rrggbb"`` colour used to draw it.
        supercategory: COCO ``supercategory``; ``""`` when none.
        extra: Imported fields to keep on export (JSON values), e.g.
            ``{"coco_id": 18}``; ``{}`` when none.
    """

    id: int
    name: str
    color: str = "#e6194b"
    supercategory: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ImageRecord:
    """One image of the project.

    Attributes:
        id: Store-assigned id (>= 1); 0 for a record not yet inserted.
        path: POSIX path relative to the project root (``ProjectStore.root``).
        width: Width in pixels after EXIF orientation.
        height: Height in pixels after EXIF orientation.
        split: ``Split`` name (``"train"``, ``"val"``, ``"test"``) or ``""``.
        checksum: Hex digest of the file bytes (sha1), or ``""`` when not computed.
        status: One of ``ImageStatus``.
        extra: Imported fields to keep on export (JSON values), e.g. COCO's
            ``{"coco_id": 397133, "license": 4, "coco_url": ..., "flickr_url": ...,
            "date_captured": ...}``; ``{}`` when none.
        check_key: ``""`` when the file was never verified in full (decoded end to
            end); else ``"<size>:<mtime_ns>"`` (bytes, nanoseconds) of the file when it
            last was, so a changed file is checked again.
        id: Store-assigned id (>= 1); 0 for a record not yet inserted.
    """

    path: str
    width: int
    height: int
    split: str = Split.UNASSIGNED
    checksum: str = ""
    status: str = ImageStatus.NEW
    id: int = 0
    extra: Mapping[str, Any] = field(default_factory=dict)
    check_key: str = ""


@dataclass(frozen=True)
class Annotation:
    """One object instance on an image.

    Attributes:
        image_id: Id of the ``ImageRecord``.
        category_id: Id of the ``Category``.
        bbox: COCO ``(x, y, w, h)`` in pixels; ``w`` and ``h`` are > 0.
        polygons: Zero or more flat polygons (pixels), COCO polygon segmentation.
        rle: COCO compressed RLE ``{"size": [h, w], "counts": str}`` or ``None``.
        iscrowd: COCO ``iscrowd`` flag (a region of many objects, usually RLE).
        area: Area in square pixels. Importers store the ``pycocotools`` mask area
            (``pycocotools.mask.area`` of the RLE or of the rasterised, merged
            polygons) for annotations with a mask, else ``w * h``. When an annotation
            is added to the store with ``area`` 0 (the default), the store computes
            it: the RLE's pixel count (``pycocotools.mask.area``) when there is an
            RLE, else the polygons' exact shoelace area (summed over the pieces, not
            rasterised), else ``w * h``. A non-zero ``area`` is stored as given.
        attributes: Free-form JSON-serialisable values the user sees and edits
            (``difficult``, ``truncated``, ...).
        id: Store-assigned id (>= 1); 0 for an annotation not yet inserted.
        extra: Imported fields to keep on export (JSON values), e.g.
            ``{"coco_id": 1768, "area_imported": true}``; ``{}`` when none.
        source: Where it came from: ``""`` = drawn or imported, ``"model:<run>"`` =
            predicted by run ``<run>`` and accepted, ``"model:<run>:edited"`` = that,
            then changed by hand.
    """

    image_id: int
    category_id: int
    bbox: BBox
    polygons: tuple[Polygon, ...] = ()
    rle: Mapping[str, Any] | None = None
    iscrowd: bool = False
    area: float = 0.0
    attributes: Mapping[str, Any] = field(default_factory=dict)
    id: int = 0
    extra: Mapping[str, Any] = field(default_factory=dict)
    source: str = ""

    @property
    def xyxy(self) -> tuple[float, float, float, float]:
        """The bbox as ``(x1, y1, x2, y2)`` in pixels."""
        x, y, w, h = self.bbox
        return (x, y, x + w, y + h)

    @property
    def has_mask(self) -> bool:
        """True when the annotation carries a polygon or RLE mask."""
        return bool(self.polygons) or self.rle is not None


@dataclass(frozen=True)
class Problem:
    """Something wrong found in the project's data (decode error, box outside image...).

    Attributes:
        source: File (or project-relative path) the problem is about.
        message: Human-readable description naming the problem.
        image_id: The image concerned, when there is one in the store.
        kind: Short machine tag, e.g. ``"decode_error"``, ``"bbox_outside"``.
        id: Store-assigned id.
        dismissed: The user marked it as not a problem; left out of listings by default.
    """

    source: str
    message: str
    image_id: int | None = None
    kind: str = ""
    id: int = 0
    dismissed: bool = False


@dataclass(frozen=True)
class RunRecord:
    """A training run recorded in the project.

    Attributes:
        name: Display name, editable.
        task: One of ``Task``.
        out_dir: Run folder (``config.json``, ``metrics.jsonl``, checkpoints); absolute
            or relative to the project root.
        config: The run's ``TrainConfig`` as a JSON-compatible dict.
        status: ``"created"``, ``"running"``, ``"paused"``, ``"stopped"``, ``"finished"``,
            ``"failed"`` or ``"interrupted"`` (its process died while ``"running"``:
            found when the project is opened; resumable from the run's ``last.pt``).
        best_metric: Best validation value of ``metric_name`` so far, or ``None``.
        metric_name: Name of the task metric (``"accuracy"``, ``"mAP"``, ``"mIoU"``, ...).
        notes: Free text from the user.
        created_at: ISO-8601 UTC timestamp.
        id: Store-assigned id.
        pid: Id of the process that runs it (set to ``os.getpid()`` when the run is
            added with 0); 0 = unknown.
        host: Host name of that process (``socket.gethostname()`` when added with
            ``""``).
    """

    name: str
    task: str
    out_dir: str
    config: Mapping[str, Any] = field(default_factory=dict)
    status: str = "created"
    best_metric: float | None = None
    metric_name: str = ""
    notes: str = ""
    created_at: str = ""
    id: int = 0
    pid: int = 0
    host: str = ""


@dataclass(frozen=True)
class Proposal:
    """A model's suggestion on an image, waiting for review (issue 14). Not an annotation:
    exports, training and evaluation never read proposals.

    Attributes:
        id: Store-assigned id (>= 1); 0 for a proposal not yet inserted.
        image_id: Id of the ``ImageRecord``.
        category_id: Id of the proposed ``Category``.
        kind: ``"bbox"`` (a box), ``"polygon"`` (an instance mask as polygons),
            ``"tag"`` (an image-level class with its probability) or ``"mask"`` (the
            polygons of one class of a semantic-segmentation mask).
        bbox: COCO ``(x, y, w, h)`` in pixels; ``None`` for a tag. For a polygon or
            mask proposal, the polygons' bounding box.
        segmentation: COCO polygons (flat ``[x1, y1, x2, y2, ...]`` lists, pixels) for
            ``"polygon"`` / ``"mask"``; ``None`` otherwise.
        score: The model's confidence in [0, 1] (detection score, softmax probability,
            or mean class probability over the mask's pixels).
        run: Name of the run whose checkpoint made it.
    """

    id: int
    image_id: int
    category_id: int
    kind: str
    bbox: BBox | None
    segmentation: list[list[float]] | None
    score: float
    run: str

    KINDS = ("bbox", "polygon", "tag", "mask")
