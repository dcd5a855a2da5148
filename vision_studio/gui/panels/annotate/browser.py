"""The image browser: a virtualised grid of thumbnails over a filtered, paged image list.

Scales to projects of 100k images: the model holds only the matching image *ids*
(:func:`vision_studio.core.store.filters.filter_image_ids`), fetches ``ImageRecord`` pages
of :data:`PAGE_SIZE` rows when the view asks for them, and decodes thumbnails in a
``QThreadPool`` (newest requests first), caching them in an LRU. A grey placeholder is
shown until a thumbnail arrives; an image that cannot be decoded gets a red one and a
tooltip naming the problem.
"""
from __future__ import annotations

import bisect
import itertools
import logging
from pathlib import Path

from cachetools import LRUCache

from PySide6.QtCore import (QAbstractListModel, QModelIndex, QObject, QPersistentModelIndex,
                            QRunnable, QSize, Qt, QThreadPool, Signal)
from PySide6.QtGui import QColor, QImage, QImageReader, QPainter, QPixmap
from PySide6.QtWidgets import QAbstractItemView, QListView, QWidget

from vision_studio.core.store.filters import (ImageFilter, annotation_counts_by_image,
                                             filter_image_ids, images_by_ids, problem_image_ids,
                                             proposal_counts_by_image, tags_by_image)
from vision_studio.core.store import ProjectStore
from vision_studio.core.errors import VisionStudioError
from vision_studio.core.images import read_image
from vision_studio.core.types import ImageRecord
from vision_studio.core.wording import plural
from vision_studio.gui.image_paths import dataset_folder, display_path
from vision_studio.gui.panels.annotate.thumbs import PROBLEM_ROLE, PROPOSALS_ROLE, SCORE_ROLE, ThumbnailDelegate
from vision_studio.gui.qimage import array_to_qimage

log = logging.getLogger(__name__)

PAGE_SIZE = 200
MAX_PAGES = 64          # pages of records kept (64 × 200 rows)
THUMB_CACHE = 1500      # thumbnails kept (96 px ≈ 37 kB each)
MAX_PENDING = 300       # queued decode jobs before the stale ones are dropped
IMAGE_ID_ROLE = Qt.ItemDataRole.UserRole + 1


def decode_thumbnail(path: Path, size: int) -> tuple[QImage, str]:
    """Decode ``path`` scaled to fit ``size``×``size`` (EXIF orientation applied).

    Qt's reader is tried first (it scales JPEGs while decoding, fast); images it cannot
    read (16-bit, exotic TIFFs...) go through :func:`vision_studio.core.images.read_image`.

    Returns:
        ``(image, error)``: a non-null ``QImage`` and ``""``, or a null image and a
        message naming the problem. Safe to call from worker threads (no ``QPixmap``).
    """
    from vision_studio.core.image_regions import is_tiled_tiff, open_regions

    if is_tiled_tiff(path):  # a slide-sized TIFF: from its pyramid, never whole
        try:
            src = open_regions(path)
            try:
                return array_to_qimage(src.overview(size)), ""
            finally:
                src.close()
        except (VisionStudioError, OSError, ValueError) as exc:
            return QImage(), str(exc)
    reader = QImageReader(str(path))
    reader.setAutoTransform(True)
    full = reader.size()
    if full.isValid() and full.width() > 0 and full.height() > 0:
        reader.setScaledSize(full.scaled(size, size, Qt.AspectRatioMode.KeepAspectRatio))
    image = reader.read()
    if not image.isNull():
        return image, ""
    qt_error = reader.errorString()
    try:
        image = array_to_qimage(read_image(path, max_side=4 * size))  # reduced decode of large files
    except (VisionStudioError, OSError, ValueError) as exc:  # reported, never raised
        return QImage(), str(exc) or f"{path}: {qt_error}"
    return image.scaled(size, size, Qt.AspectRatioMode.KeepAspectRatio,
                        Qt.TransformationMode.SmoothTransformation), ""


class _ThumbSignals(QObject):
    done = Signal(int, int, QImage, str)  # generation, image id, thumbnail, error


class _ThumbJob(QRunnable):
    def __init__(self, signals: _ThumbSignals, generation: int, image_id: int, path: Path,
                 size: int) -> None:
        super().__init__()
        self.signals, self.generation, self.image_id = signals, generation, image_id
        self.path, self.size = path, size

    def run(self) -> None:  # worker thread
        image, error = decode_thumbnail(self.path, self.size)
        self.signals.done.emit(self.generation, self.image_id, image, error)


def _placeholder(size: int, color: str, text: str) -> QPixmap:
    pix = QPixmap(size, size)
    pix.fill(QColor(color))
    p = QPainter(pix)
    p.setPen(QColor("#ffffff"))
    p.drawText(pix.rect(), Qt.AlignmentFlag.AlignCenter, text)
    p.end()
    return pix


class BrowserModel(QAbstractListModel):
    """Rows = the project's images matching an :class:`ImageFilter`, ordered by id.

    Roles: ``DisplayRole`` (file name, then tags and annotation count), ``DecorationRole``
    (thumbnail or placeholder), ``ToolTipRole`` (full path, size, split, problems),
    :data:`IMAGE_ID_ROLE` (the image id), :data:`PROBLEM_ROLE` (True when the image has
    a problem: the browser paints a badge), :data:`PROPOSALS_ROLE` (how many model
    proposals the image has, issue 14).

    Attributes:
        folder: The dataset's folder (:func:`~vision_studio.gui.image_paths.dataset_folder`),
            that :meth:`display_path` shows paths relative to.

    Signals:
        countsChanged(int, int): rows shown, images in the project.
    """

    countsChanged = Signal(int, int)

    def __init__(self, parent: QObject | None = None, thumb_size: int = 96) -> None:
        super().__init__(parent)
        self.store: ProjectStore | None = None
        self.filter = ImageFilter()
        self.thumb_size = thumb_size
        self._ids: list[int] = []
        self._total = 0
        self.folder = Path()
        self._pages: LRUCache[int, list[ImageRecord]] = LRUCache(MAX_PAGES)
        self._ann_counts: dict[int, int] = {}
        self._tags: dict[int, tuple[int, ...]] = {}
        self._names: dict[int, str] = {}
        self._problems: set[int] = set()
        self._proposals: dict[int, int] = {}  # issue 14: stored proposals per image
        self._scores: dict[int, float] = {}  # issue 14: Label-next scores
        self._ordered = False                # rows sorted by them (most uncertain first)
        self._rows: dict[int, int] | None = None  # id -> row when not in id order
        self._thumbs: LRUCache[int, QPixmap] = LRUCache(THUMB_CACHE)
        self._errors: dict[int, str] = {}
        self._pending: set[int] = set()
        self._generation = 0
        self._priority = itertools.count()
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(2)
        self._signals = _ThumbSignals(self)
        self._signals.done.connect(self._on_thumbnail)
        self._loading = _placeholder(thumb_size, "#5a5a5a", "…")
        self._broken = _placeholder(thumb_size, "#a03030", "cannot\ndecode")

    # ------------------------------------------------------------------ content
    def set_store(self, store: ProjectStore | None) -> None:
        """Show ``store``'s images (or nothing); thumbnails of the old one are dropped."""
        self.store = store
        self._generation += 1
        self._pool.clear()
        self._thumbs.clear()
        self._errors.clear()
        self._pending.clear()
        self.refresh()

    def set_thumb_size(self, size: int) -> None:
        """Change the thumbnail edge (pixels); cached thumbnails are dropped."""
        if size == self.thumb_size:
            return
        self.thumb_size = size
        self._generation += 1
        self._pool.clear()
        self._thumbs.clear()
        self._pending.clear()
        self._loading = _placeholder(size, "#5a5a5a", "…")
        self._broken = _placeholder(size, "#a03030", "cannot\ndecode")

    def set_scores(self, scores: dict[int, float], ordered: bool = False) -> None:
        """Label-next scores (``{image_id: score}``, shown on the thumbnails) and whether
        the rows are sorted by them, highest first (issue 14)."""
        self._scores, self._ordered = dict(scores), bool(ordered)
        self.refresh()

    def set_filter(self, flt: ImageFilter) -> None:
        """Show only images matching ``flt``."""
        self.filter = flt
        self.refresh()

    def refresh(self) -> None:
        """Re-read the matching ids and counts from the store (thumbnails are kept)."""
        self.beginResetModel()
        self._pages.clear()
        self._ann_counts.clear()
        self._tags.clear()
        self._problems.clear()
        if self.store is None:
            self._ids, self._total = [], 0
        else:
            self.folder = dataset_folder(self.store)
            self._ids = filter_image_ids(self.store, self.filter)
            self._rows = None
            if self._ordered and self._scores:  # issue 14: Label-next order
                self._ids.sort(key=lambda i: (-self._scores.get(i, float("-inf")), i))
                self._rows = {i: r for r, i in enumerate(self._ids)}
            self._total = (len(self._ids) if self.filter.is_empty()
                           else self.store.image_count())
        self.endResetModel()
        self.countsChanged.emit(len(self._ids), self._total)

    def invalidate_image(self, image_id: int) -> None:
        """Re-read one image's record and counts (after an edit) and repaint its row."""
        row = self.row_of(image_id)
        if row < 0:
            return
        self._pages.pop(row // PAGE_SIZE, None)
        idx = self.index(row)
        self.dataChanged.emit(idx, idx)

    def invalidate_all(self) -> None:
        """Re-read records and counts of every row when next shown (thumbnails kept)."""
        self._pages.clear()
        if self._ids:
            self.dataChanged.emit(self.index(0), self.index(len(self._ids) - 1))

    # ------------------------------------------------------------------ lookups
    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._ids)

    def image_ids(self) -> list[int]:
        """The ids shown, in row order (do not modify)."""
        return self._ids

    def total(self) -> int:
        """Images in the project, whatever the filter."""
        return self._total

    def row_of(self, image_id: int) -> int:
        """Row of ``image_id``, or -1 when it is filtered out (ids are sorted: bisect)."""
        if self._rows is not None:
            return self._rows.get(image_id, -1)
        i = bisect.bisect_left(self._ids, image_id)
        return i if i < len(self._ids) and self._ids[i] == image_id else -1

    def image_at(self, row: int) -> ImageRecord | None:
        """The record shown at ``row`` (fetched with its page), or ``None``."""
        if not 0 <= row < len(self._ids) or self.store is None:
            return None
        page = self._page(row // PAGE_SIZE)
        off = row % PAGE_SIZE
        return page[off] if off < len(page) else None

    def _page(self, n: int) -> list[ImageRecord]:
        page = self._pages.get(n)  # a hit makes it the most recent
        if page is not None:
            return page
        ids = self._ids[n * PAGE_SIZE:(n + 1) * PAGE_SIZE]
        page = images_by_ids(self.store, ids)
        self._ann_counts.update({i: 0 for i in ids})
        self._ann_counts.update(annotation_counts_by_image(self.store, ids))
        for i in ids:
            self._tags.pop(i, None)
        self._tags.update(tags_by_image(self.store, ids))
        self._names = {c.id: c.name for c in self.store.categories()}
        self._problems.difference_update(ids)
        self._problems.update(problem_image_ids(self.store, ids))
        counts = proposal_counts_by_image(self.store, ids)
        self._proposals.update({i: counts.get(i, 0) for i in ids})
        self._pages[n] = page  # the least recent page goes beyond MAX_PAGES
        return page

    # ------------------------------------------------------------------ data
    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        image = self.image_at(index.row())
        if image is None:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return self._label(image)
        if role == Qt.ItemDataRole.DecorationRole:
            return self._thumbnail(image)
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(image)
        if role == IMAGE_ID_ROLE:
            return image.id
        if role == PROBLEM_ROLE:
            return image.id in self._problems
        if role == SCORE_ROLE:
            return self._scores.get(image.id)
        if role == PROPOSALS_ROLE:
            return self._proposals.get(image.id, 0)
        return None

    def display_path(self, image: ImageRecord) -> str:
        """``image``'s path relative to the dataset's folder (:attr:`folder`)."""
        return image.path if self.store is None else display_path(self.store, self.folder, image)

    def _label(self, image: ImageRecord) -> str:
        """File name, then the image's tags and/or its number of objects."""
        n = self._ann_counts.get(image.id, 0)
        tags = ", ".join(self._names.get(c, "?") for c in self._tags.get(image.id, ()))
        objects = plural(n, "object")
        second = f"{tags} · {objects}" if tags and n else (tags or objects)
        return f"{Path(image.path).name}\n{second}"

    def _tooltip(self, image: ImageRecord) -> str:
        full = str(self.store.resolve(image)) if self.store is not None else image.path
        lines = [self.display_path(image), full, f"{image.width} × {image.height} px, split: {image.split or 'none'}",
                 plural(self._ann_counts.get(image.id, 0), "annotation")]
        if self._tags.get(image.id):
            lines.append("tags: " + ", ".join(self._names.get(c, "?") for c in self._tags[image.id]))
        if self._proposals.get(image.id):
            lines.append(f"{self._proposals[image.id]} model proposal(s), any score (Annotate → Pre-label)")
        if image.id in self._scores:
            lines.append(f"Label-next score: {self._scores[image.id]:.3f} (higher = label sooner)")
        if image.id in self._errors:
            lines.append(f"cannot decode: {self._errors[image.id]}")
        if image.id in self._problems and self.store is not None:
            lines += [f"problem: {p.message}" for p in self.store.problems(image.id)[:5]]
        return "\n".join(lines)

    def _thumbnail(self, image: ImageRecord) -> QPixmap:
        pix = self._thumbs.get(image.id)
        if pix is not None:
            return pix
        if image.id in self._errors:
            return self._broken
        if image.id not in self._pending and self.store is not None:
            if len(self._pending) > MAX_PENDING:  # scrolled far: drop the stale queue
                self._pool.clear()
                self._pending.clear()
            self._pending.add(image.id)
            job = _ThumbJob(self._signals, self._generation, image.id,
                            self.store.resolve(image), self.thumb_size)
            self._pool.start(job, next(self._priority) % 2**31)  # newest first
        return self._loading

    def _on_thumbnail(self, generation: int, image_id: int, image: QImage, error: str) -> None:
        if generation != self._generation:
            return
        self._pending.discard(image_id)
        if image.isNull():
            self._errors[image_id] = error or "unreadable image"
            log.info("thumbnail: %s", self._errors[image_id])
        else:
            self._thumbs[image_id] = QPixmap.fromImage(image)  # LRU: the oldest goes
        row = self.row_of(image_id)
        if row >= 0:
            idx = self.index(row)
            self.dataChanged.emit(idx, idx, [Qt.ItemDataRole.DecorationRole,
                                             Qt.ItemDataRole.ToolTipRole])

    def wait_for_thumbnails(self, msecs: int = 10000) -> bool:
        """Block until queued decodes finish (tests, screenshots); True if all done."""
        return self._pool.waitForDone(msecs)

    def shutdown(self) -> None:
        """Drop queued decodes and wait for running ones (call before destruction)."""
        self._generation += 1
        self._pool.clear()
        self._pool.waitForDone(5000)


class ImageBrowser(QListView):
    """A grid of thumbnails over a :class:`BrowserModel`.

    Signals:
        imageSelected(object): the :class:`ImageRecord` made current by the user or by
            :meth:`select_row` / :meth:`step`.
    """

    imageSelected = Signal(object)

    def __init__(self, model: BrowserModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setModel(model)
        self._model = model
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setMovement(QListView.Movement.Static)   # list-mode layout: fast for 100k rows
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setUniformItemSizes(True)
        self.setLayoutMode(QListView.LayoutMode.Batched)
        self.setBatchSize(500)
        self.setWrapping(True)
        self.delegate = ThumbnailDelegate(model.thumb_size, self)
        self.setItemDelegate(self.delegate)
        self.apply_thumb_size()
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setToolTip("")
        self.selectionModel().currentChanged.connect(self._on_current)

    def apply_thumb_size(self) -> None:
        """Size the grid for the model's thumbnail edge."""
        size = self._model.thumb_size
        self.delegate.thumb_size = size
        self.setIconSize(QSize(size, size))
        self.setGridSize(self.delegate.cell_size(self.fontMetrics()))

    def _on_current(self, current: QModelIndex, _previous: QModelIndex) -> None:
        image = self._model.image_at(current.row()) if current.isValid() else None
        if image is not None:
            self.imageSelected.emit(image)

    def current_row(self) -> int:
        """Row of the current image, -1 when none."""
        idx = self.currentIndex()
        return idx.row() if idx.isValid() else -1

    def select_row(self, row: int) -> bool:
        """Make ``row`` current (emits :attr:`imageSelected`); False when out of range."""
        if not 0 <= row < self._model.rowCount():
            return False
        idx = self._model.index(row)
        self.setCurrentIndex(idx)
        self.scrollTo(idx)
        return True

    def select_image(self, image_id: int) -> bool:
        """Make ``image_id`` current; False when it is not shown (filtered out)."""
        return self.select_row(self._model.row_of(image_id))

    def step(self, delta: int) -> bool:
        """Go ``delta`` rows forward (+1 next, -1 previous); False at either end."""
        row = self.current_row()
        return self.select_row(0 if row < 0 else row + delta)
