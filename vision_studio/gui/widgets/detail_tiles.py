"""Full-resolution tiles of the visible region of a large image, read in the background.

A large image is shown as a reduced overview scaled up to full-resolution scene
coordinates (:mod:`vision_studio.gui.image_cache`). When the user zooms in past the
overview's resolution, :class:`DetailTiles` covers the visible part of the scene with
tiles of :data:`TILE` image pixels read at the pyramid level that matches the zoom
(level 0 = full resolution; a JPEG or PNG has only level 0, read from one full decode
kept by :func:`vision_studio.core.image_regions.read_window`'s small cache), in a
``QThreadPool``; only numpy arrays cross the thread boundary, the ``QPixmap`` is made on
the GUI thread. At most :data:`MAX_TILES` tile items are kept (least recently needed out),
so memory stays bounded (``MAX_TILES x TILE^2 x 3`` bytes of pixmaps, 75 MB, plus the
decode caches). Annotation coordinates are untouched: tiles sit in the same scene
coordinates as the overview.
"""
from __future__ import annotations

import logging
import math
import threading
from collections import OrderedDict

import numpy as np
from PySide6.QtCore import QObject, QRectF, QRunnable, Qt, QThreadPool, QTimer, Signal
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import QGraphicsPixmapItem, QGraphicsScene, QGraphicsView

from vision_studio.gui.qimage import array_to_qimage

log = logging.getLogger(__name__)

TILE = 512
MAX_TILES = 96
Key = tuple[str, int, int, int]  # path, level, column, row


class _Signals(QObject):
    done = Signal(int, object, object)  # generation, key, array (or None on failure)


class _TileJob(QRunnable):
    def __init__(self, owner: DetailTiles, generation: int, key: Key, rect: tuple[int, int, int, int]) -> None:
        super().__init__()
        self._owner, self._generation, self._key, self._rect = owner, generation, key, rect

    def run(self) -> None:  # noqa: D102 - worker thread
        arr = None
        try:
            if self._owner.generation == self._generation:
                arr = self._owner.read(self._key[1], self._rect)
        except Exception as exc:  # a failed tile leaves the overview visible
            log.warning("tile %s of %s: %s", self._rect, self._key[0], exc)
        self._owner.signals.done.emit(self._generation, self._key, arr)


class DetailTiles:
    """The detail-tile layer of one canvas.

    Args:
        scene: The canvas's scene.
        z: Z value of the tiles (above the overview, below the shapes).
        pool: Thread pool for the reads (default a private pool of 2 threads).
    """

    def __init__(self, scene: QGraphicsScene, z: float, pool: QThreadPool | None = None) -> None:
        self.scene, self.z = scene, z
        self.signals = _Signals()
        self.signals.done.connect(self._on_done)
        if pool is None:
            pool = QThreadPool()
            pool.setMaxThreadCount(2)
        self.pool = pool
        self.generation = 0
        self._path = ""
        self._size = (0, 0)
        self._overview_scale = 1.0
        self._levels: list[tuple[int, int]] = []
        self._look: tuple[float, float, tuple[float, float] | None] = (0.0, 1.0, None)
        self._items: OrderedDict[Key, QGraphicsPixmapItem] = OrderedDict()
        self._pending: set[Key] = set()
        self._lock = threading.Lock()
        self._source = None

    # ------------------------------------------------------------------ set-up
    def watch(self, view: QGraphicsView) -> None:
        """Follow ``view``'s pans and zooms (its scroll bars' values and ranges change
        with both): the tiles of the visible region are asked for 15 ms after the last
        change."""
        self._view = view
        self._timer = QTimer(view, singleShot=True, interval=15, timeout=self._update_from_view)
        for bar in (view.horizontalScrollBar(), view.verticalScrollBar()):
            bar.valueChanged.connect(self.schedule)
            bar.rangeChanged.connect(self.schedule)

    def schedule(self, *_args: object) -> None:
        """Ask for the tiles of the watched view's visible region soon (large images only)."""
        if self.active and getattr(self, "_timer", None) is not None:
            self._timer.start()

    def _update_from_view(self) -> None:
        view = self._view
        self.update(view.mapToScene(view.viewport().rect()).boundingRect(), view.transform().m11())

    def set_source(self, path: str, width: int, height: int, overview_scale: float,
                   look: tuple[float, float, tuple[float, float] | None] = (0.0, 1.0, None)) -> None:
        """A new image (or none: ``overview_scale`` 1 disables the layer). ``look`` is
        ``(brightness, contrast, window)`` as the canvas applies them."""
        self.clear()
        self._path, self._size, self._overview_scale, self._look = path, (width, height), overview_scale, look
        self._levels = [(height, width)]
        with self._lock:
            old, self._source = self._source, None
        if old is not None:
            old.close()
        if overview_scale > 1.0 and path:
            from vision_studio.core.image_regions import TiffRegions, is_tiled_tiff

            if is_tiled_tiff(path):
                src = TiffRegions(path)
                self._levels = list(src.levels)
                with self._lock:
                    self._source = src

    def set_look(self, look: tuple[float, float, tuple[float, float] | None]) -> None:
        """New brightness / contrast / window: tiles are read again."""
        if look != self._look:
            self._look = look
            self._drop_items()

    def clear(self) -> None:
        """Remove every tile and forget pending reads."""
        self.generation += 1
        self._drop_items()
        self._pending.clear()

    def _drop_items(self) -> None:
        for item in self._items.values():
            self.scene.removeItem(item)
        self._items.clear()

    @property
    def active(self) -> bool:
        """True when the image is shown from a reduced overview."""
        return self._overview_scale > 1.0

    def __len__(self) -> int:
        return len(self._items)

    # ------------------------------------------------------------------ reads
    def read(self, level: int, rect: tuple[int, int, int, int]) -> np.ndarray:
        """Display pixels of a full-resolution ``rect`` at pyramid ``level`` (worker thread)."""
        from vision_studio.gui.image_cache import adjust, display_array

        brightness, contrast, window = self._look
        with self._lock:
            src = self._source
        if src is not None:
            raw = src.region(*rect, level=level, raw=True)
            if window is None and raw.dtype != np.uint8:
                window = src.window
        else:
            from vision_studio.core.image_regions import read_window

            raw = read_window(self._path, rect)
        return np.ascontiguousarray(adjust(display_array(raw, "", window), brightness, contrast))

    def level_for(self, zoom: float) -> int:
        """The coarsest pyramid level that still gives at least one image pixel per
        screen pixel at ``zoom`` (screen pixels per full-resolution pixel)."""
        best = 0
        for i, (h, _w) in enumerate(self._levels):
            factor = self._size[1] / h if h else 1.0
            if factor <= 1.0 / max(zoom, 1e-9) + 1e-9:
                best = i
        return best

    def update(self, visible: QRectF, zoom: float) -> None:
        """Show the tiles the visible scene rectangle needs at ``zoom``; nothing when the
        overview is fine enough (``zoom * overview_scale <= 1``)."""
        if not self.active or zoom * self._overview_scale <= 1.0:
            for item in self._items.values():
                item.setVisible(False)
            return
        level = self.level_for(zoom)
        lh, lw = self._levels[level]
        factor = self._size[1] / lh
        step = TILE * factor  # full-resolution pixels per tile
        w, h = self._size
        c0, c1 = max(0, int(visible.left() // step)), min(math.ceil(w / step), int(visible.right() // step) + 1)
        r0, r1 = max(0, int(visible.top() // step)), min(math.ceil(h / step), int(visible.bottom() // step) + 1)
        wanted = set()
        for row in range(r0, r1):
            for col in range(c0, c1):
                key = (self._path, level, col, row)
                wanted.add(key)
                if key in self._items:
                    self._items.move_to_end(key)
                elif key not in self._pending:
                    self._pending.add(key)
                    rect = (int(col * step), int(row * step), min(w, int((col + 1) * step)), min(h, int((row + 1) * step)))
                    self.pool.start(_TileJob(self, self.generation, key, rect))
        for key, item in self._items.items():
            item.setVisible(key in wanted)

    def _on_done(self, generation: int, key: Key, arr: object) -> None:
        self._pending.discard(key)
        if generation != self.generation or arr is None:
            return
        level, col, row = key[1], key[2], key[3]
        factor = self._size[1] / self._levels[level][0]
        item = QGraphicsPixmapItem(QPixmap.fromImage(array_to_qimage(arr)))
        item.setPos(col * TILE * factor, row * TILE * factor)
        item.setScale(factor)
        item.setZValue(self.z + level * -0.001)  # finer levels on top
        item.setShapeMode(QGraphicsPixmapItem.ShapeMode.BoundingRectShape)
        item.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self.scene.addItem(item)
        self._items[key] = item
        while len(self._items) > MAX_TILES:
            _, old = self._items.popitem(last=False)
            self.scene.removeItem(old)

    def wait(self, msecs: int = 10000) -> bool:
        """Block until pending reads finish (tests and benchmarks)."""
        return self.pool.waitForDone(msecs)
