"""The smart polygon tool's background work (issue 14): one segmentation
(:class:`SegmentJob`: GrabCut or the model, numpy in, a frozen result out) and one
model load (:class:`LoadJob`) per ``QRunnable``, reporting to the GUI thread through
:class:`Relay`'s queued signals; the loaded models are cached per checkpoint file
(:data:`MODELS`)."""
from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
from cachetools import LRUCache
from PySide6.QtCore import QObject, QRunnable, Signal

from vision_studio.core.errors import VisionStudioError

log = logging.getLogger(__name__)

MODEL_CACHE_SIZE = 2
"""Loaded checkpoints kept (a Mask R-CNN holds ~100 MB)."""
MODELS: LRUCache = LRUCache(MODEL_CACHE_SIZE)
"""``{(checkpoint path, size, mtime_ns): LoadedModel}``: loaded once per checkpoint file
(a retrained file has another key), shared by the canvases of one session."""


DETECTIONS: LRUCache = LRUCache(8)
"""``{(model key, project file, image id): (raw, keep)}``: the model's detections of an image
(:func:`~vision_studio.core.assist.grabcut.model_detections`; they do not depend on the
box), so that a second box on the same image costs no second run of the model. Used by
the segmentation worker thread only."""


def model_key(checkpoint: Path) -> tuple[str, int, int]:
    """The cache key of a checkpoint file: its resolved path, size and mtime."""
    try:
        st = checkpoint.stat()
        return str(checkpoint.resolve()), st.st_size, st.st_mtime_ns
    except OSError:
        return str(checkpoint), -1, -1


def clear_model_cache() -> None:
    """Forget the loaded models and their detections (tests; memory)."""
    MODELS.clear()
    DETECTIONS.clear()


class Relay(QObject):
    """Queued signals from the workers to the tool (GUI thread)."""

    done = Signal(int, object)  # generation, (seconds, SmartPolygon) or an error message
    loaded = Signal(object, object)  # model key, LoadedModel or an error message


class LoadJob(QRunnable):
    """:func:`~vision_studio.core.assist.inference.load_model` in a worker thread, on a
    read-only connection of its own to the project file (the checkpoint's categories are
    checked against the project's)."""

    def __init__(self, relay: Relay, key: tuple, project: Path, checkpoint: Path) -> None:
        super().__init__()
        self.relay, self.key, self.project, self.checkpoint = relay, key, project, checkpoint

    def run(self) -> None:  # worker thread
        from vision_studio.core.assist.inference import load_model  # torch: loaded on first use
        from vision_studio.core.store import ProjectStore

        try:
            with ProjectStore.open(self.project, readonly=True) as store:
                self.relay.loaded.emit(self.key, load_model(store, self.checkpoint))
        except VisionStudioError as exc:
            self.relay.loaded.emit(self.key, str(exc))
        except Exception as exc:  # a worker must never take the app down
            log.exception("loading %s failed", self.checkpoint)
            self.relay.loaded.emit(self.key, f"{type(exc).__name__}: {exc}")


class SegmentJob(QRunnable):
    """One :func:`~vision_studio.core.assist.grabcut.smart_polygon` call in a worker
    thread (plain numpy in, a frozen result out)."""

    def __init__(self, relay: Relay, generation: int, image: np.ndarray, box, model, fg, bg,
                 tolerance: float, cache_key: tuple | None = None) -> None:
        super().__init__()
        self.relay, self.generation, self.image, self.box = relay, generation, image, box
        self.model, self.fg, self.bg, self.tolerance = model, fg, bg, tolerance
        self.cache_key = cache_key  # (model key, image id): where its detections are cached

    def _detections(self):
        """The model's detections of the image (cached), or None when it is not asked."""
        from vision_studio.core.assist.grabcut import model_detections

        if self.model is None or self.fg is not None or self.bg is not None:
            return None
        found = DETECTIONS.get(self.cache_key) if self.cache_key is not None else None
        if found is None:
            found = model_detections(self.model, self.image)
            if self.cache_key is not None:
                DETECTIONS[self.cache_key] = found
        return found

    def run(self) -> None:  # worker thread
        from vision_studio.core.assist.grabcut import smart_polygon  # cv2: loaded on first use

        t0 = time.perf_counter()
        try:
            found = smart_polygon(self.image, self.box, model=self.model, foreground=self.fg,
                                  background=self.bg, tolerance=self.tolerance,
                                  detections=self._detections())
            self.relay.done.emit(self.generation, (time.perf_counter() - t0, found))
        except VisionStudioError as exc:
            self.relay.done.emit(self.generation, str(exc))
        except Exception as exc:  # a worker must never take the app down
            log.exception("smart polygon failed")
            self.relay.done.emit(self.generation, f"failed: {exc}")
