"""The class-activation heatmap over the Evaluation viewer's image (issue 16): why the
model said what it said, while browsing false positives and negatives.

A "Heatmap" toggle, an opacity slider and (classification) the class to explain sit in
the viewer's tool bar. When the toggle is on, the heatmap of the shown image is computed
by :mod:`vision_studio.core.explain.cam` in a background thread — Grad-CAM of the
predicted (or the true) class for a classifier, EigenCAM of the FPN for a detector — and
drawn as a JET-coloured pixmap item over the image, stretched over the full-resolution
scene like the image itself (a large image is explained from its reduced decode, the
pixels the viewer shows; the model resizes its input anyway). The model is built once per
checkpoint file (an LRU of :data:`MODELS_KEPT`) and each image's heatmap is cached
(:data:`HEATMAP_BYTES`), so going back to an image shows it at once.

The toggle is disabled, with a tooltip saying why, for predictions read from a results
file (no model) and for semantic segmentation (the core has no heatmaps for it).
"""
from __future__ import annotations

import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from cachetools import LRUCache
from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QCheckBox, QComboBox, QLabel, QSizePolicy, QSlider, QWidget

from vision_studio.core.types import Task

log = logging.getLogger(__name__)

MODELS_KEPT = 2
"""Checkpoints whose built model stays in memory."""
HEATMAP_BYTES = 96 * 2**20
"""Memory for cached heatmaps (RGB colour arrays at the shown image's resolution)."""
NO_MODEL = ("The predictions come from a results file, not a trained checkpoint: there is no model to "
            "explain.")
NO_SEMANTIC = ("Heatmaps are made for classification (Grad-CAM) and detection models (EigenCAM); there are "
               "none for semantic segmentation.")
NOTHING_YET = "Evaluate a checkpoint first."

_WORKER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="evaluate-cam")
_LOCK = threading.Lock()
_MODELS: LRUCache = LRUCache(maxsize=MODELS_KEPT)
_HEATMAPS: LRUCache = LRUCache(maxsize=HEATMAP_BYTES, getsizeof=lambda v: v[0].nbytes)


def unavailable(inputs: Any) -> str:
    """Why there is no heatmap for an evaluation's inputs (``""``: there is one)."""
    ckpt = Path(str(getattr(inputs, "checkpoint", "") or ""))
    if ckpt.suffix.lower() != ".pt" or not ckpt.is_file():
        return NO_MODEL
    if inputs.task not in (Task.CLASSIFICATION, Task.DETECTION, Task.INSTANCE_SEGMENTATION):
        return NO_SEMANTIC
    return ""


def _model(checkpoint: str) -> tuple[Any, Any, list[str]]:
    """``(built, config, class names)`` of a checkpoint, built once per file version."""
    from vision_studio.core.training.checkpoints import load_checkpoint

    st = os.stat(checkpoint)
    key = (os.path.abspath(checkpoint), st.st_mtime_ns, st.st_size)
    with _LOCK:
        hit = _MODELS.get(key)
    if hit is None:
        built, config, categories = load_checkpoint(checkpoint, device="cpu")
        built.model.eval()
        hit = (built, config, [str(c["name"]) for c in categories])
        with _LOCK:
            _MODELS[key] = hit
    return hit


def compute_heatmap(checkpoint: str, pixels: np.ndarray, target: int | None) -> tuple[np.ndarray, str]:
    """The heatmap of one image as colours, and what it explains (worker thread).

    Args:
        checkpoint: The ``.pt`` file.
        pixels: ``h x w`` grey or ``h x w x 3`` RGB uint8, the pixels the viewer shows.
        target: Classification: the model label to explain, ``None`` for the predicted
            class. Ignored for detectors (EigenCAM explains every object).

    Returns:
        ``(rgba, text)``: ``h x w x 4`` uint8, the heatmap in the JET colour map
        (:func:`vision_studio.core.explain.cam.overlay` at opacity 1), transparent
        outside the part of the image the model's input shows (a classifier's centre
        crop: :func:`~vision_studio.core.explain.cam.input_box`), and e.g.
        ``"Grad-CAM of ants (0.93)"``.

    Raises:
        ConfigError, CheckpointError: from the core (no FPN, unreadable checkpoint...).
    """
    from vision_studio.core.explain.cam import explain_classification, explain_detection, input_box, overlay

    built, config, names = _model(checkpoint)
    rgb = pixels if pixels.ndim == 3 else np.repeat(pixels[:, :, None], 3, axis=2)
    if config.task == Task.CLASSIFICATION:
        heat = explain_classification(built, [rgb], names, config.image_size, target=target)[0]
        text = f"Grad-CAM of {heat.label} ({heat.score:.2f})"
    else:
        heat = explain_detection(built, [rgb], config.image_size)[0]
        text = f"EigenCAM of the detector (best score {heat.score:.2f})"
    colours = overlay(np.zeros(heat.cam.shape + (3,), np.uint8), heat.cam, 1.0)
    alpha = np.zeros(heat.cam.shape, np.uint8)  # transparent where the model's input did not reach
    x0, y0, x1, y1 = input_box(heat.cam.shape, str(config.task), config.image_size)
    alpha[int(round(y0)):int(round(y1)), int(round(x0)):int(round(x1))] = 255
    return np.dstack([colours, alpha]), text


class CamOverlay(QObject):
    """The heatmap controls and layer of one :class:`~.viewer.OverlayViewer`.

    Attributes:
        toggle: The "Heatmap" check box. opacity: Slider 0–100 (percent).
        target: Classification: explain the predicted or the true class.
        status: What is shown or being computed, or why not.
        pending: The key being computed, or ``None``.
    """

    done = Signal(int, object, object)  # generation, key, (rgb, text) or the exception

    def __init__(self, viewer: Any) -> None:
        super().__init__(viewer)
        self.viewer = viewer
        bar: QWidget = viewer.bar
        self.toggle = QCheckBox("Heatmap", bar)
        self.opacity = QSlider(Qt.Orientation.Horizontal, bar)
        self.opacity.setRange(0, 100)
        self.opacity.setValue(50)
        self.opacity.setMaximumWidth(110)
        self.opacity.setToolTip("Opacity of the heatmap over the image.")
        self.target = QComboBox(bar)
        self.target.addItem("predicted class", "pred")
        self.target.addItem("true class", "true")
        self.target.setToolTip("The class whose Grad-CAM is shown.")
        self.status = QLabel(bar)
        self.status.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)  # never widens the bar
        for w in (self.toggle, self.opacity, self.target):
            viewer.add_tool(w)
        viewer.add_tool(self.status, 1)
        self.checkpoint, self.task, self.generation = "", "", 0
        self.classes: tuple[int | None, int | None] = (None, None)
        self.pending: tuple | None = None
        self.shown: tuple | None = None
        self.set_inputs(None)
        self.toggle.toggled.connect(self._toggled)
        self.opacity.valueChanged.connect(lambda v: self.viewer.heat_layer.setOpacity(v / 100.0))
        self.target.currentIndexChanged.connect(lambda _i: self.refresh())
        self.done.connect(self._done, Qt.ConnectionType.QueuedConnection)
        viewer.pixelsShown.connect(lambda _id: self.refresh())

    def set_inputs(self, inputs: Any) -> None:
        """A new evaluation (``None``: none): enable the toggle when its model can be
        explained, else disable it with the reason as tooltip."""
        reason = NOTHING_YET if inputs is None else unavailable(inputs)
        self.checkpoint = "" if reason else str(inputs.checkpoint)
        self.task = "" if inputs is None else str(inputs.task)
        self.toggle.setEnabled(not reason)
        self.toggle.setToolTip(reason or "Show where the model looked: Grad-CAM of the class (classification) "
                                         "or EigenCAM of the detector's feature maps (detection).")
        if reason:
            self.toggle.setChecked(False)
        self.target.setVisible(self.task == Task.CLASSIFICATION)
        self._sync_controls()
        self.forget()
        self.refresh()  # the toggle stays on: the shown image's heatmap by the new model

    def forget(self) -> None:
        """Drop the shown heatmap and ignore what is being computed."""
        self.generation += 1
        self.pending = self.shown = None
        self.status.setText("")
        self.viewer.set_heatmap(None)

    def set_classes(self, true: int | None, pred: int | None) -> None:
        """Classification: the true and predicted model labels of the shown image (the
        list row), for the "true class" choice."""
        self.classes = (true, pred)

    def _sync_controls(self) -> None:
        """The opacity and class choices work only while the heatmap is on."""
        on = self.toggle.isEnabled() and self.toggle.isChecked()
        self.opacity.setEnabled(on)
        self.target.setEnabled(on)

    def _toggled(self, on: bool) -> None:
        self._sync_controls()
        if on:
            self.refresh()
        else:
            self.pending = self.shown = None
            self.status.setText("")
            self.viewer.set_heatmap(None)

    def _target(self) -> int | None:
        if self.task == Task.CLASSIFICATION and self.target.currentData() == "true":
            return self.classes[0]
        return None

    def key(self) -> tuple | None:
        """What identifies the heatmap of the shown image (``None``: no pixels yet)."""
        v = self.viewer
        if v.pixels is None or v.image_id is None or not self.checkpoint:
            return None
        st = os.stat(self.checkpoint) if os.path.exists(self.checkpoint) else None
        return (self.checkpoint, st.st_mtime_ns if st else 0, v.pixels_path, v.image_id, v.pixels.shape,
                self._target())

    def refresh(self) -> None:
        """Show the shown image's heatmap (from the cache, else computed in the
        background) when the toggle is on."""
        if not self.toggle.isChecked() or not self.toggle.isEnabled():
            return
        key = self.key()
        if key is None or key == self.pending or (key == self.shown and self.viewer.heat_layer.isVisible()):
            return
        self.viewer.set_heatmap(None)
        self.shown = None
        with _LOCK:
            hit = _HEATMAPS.get(key)
        if hit is not None:
            self._show(key, hit)
            return
        self.pending = key
        self.status.setText("computing the heatmap…")
        gen, ckpt, pixels, target = self.generation, self.checkpoint, self.viewer.pixels, key[-1]
        _WORKER.submit(self._work, gen, key, ckpt, pixels, target)

    def _work(self, gen: int, key: tuple, ckpt: str, pixels: np.ndarray, target: int | None) -> None:
        """Worker thread: compute unless the viewer moved on meanwhile."""
        if gen != self.generation or key != self.pending:
            self.done.emit(gen, key, None)
            return
        try:
            result: Any = compute_heatmap(ckpt, pixels, target)
            with _LOCK:
                _HEATMAPS[key] = result
        except Exception as exc:  # shown in the bar: a traceback would reach nobody
            log.warning("heatmap of %s: %s", key[2], exc, exc_info=True)
            result = exc
        self.done.emit(gen, key, result)

    def _done(self, gen: int, key: tuple, result: Any) -> None:
        if key == self.pending:
            self.pending = None
        if gen != self.generation or result is None or not self.toggle.isChecked():
            return
        if isinstance(result, Exception):
            from vision_studio.core.errors import VisionStudioError

            why = str(result) if isinstance(result, VisionStudioError) else \
                f"the checkpoint's model could not be explained ({type(result).__name__}: {result})"
            self.status.setText(f"no heatmap: {why}")
            self.status.setStyleSheet("color: #c0392b")
            self.status.setToolTip(f"The heatmap could not be computed: {why}")
            return
        if key == self.key():
            self._show(key, result)
        else:
            self.refresh()

    def _show(self, key: tuple, result: tuple[np.ndarray, str]) -> None:
        rgb, text = result
        self.shown = key
        self.viewer.set_heatmap(rgb, self.opacity.value() / 100.0)
        self.status.setStyleSheet("")
        self.status.setText(text)
        self.status.setToolTip(text)

    def wait(self, timeout: float = 120.0) -> None:
        """Block until the worker has run what was submitted so far (tests, screenshots)."""
        _WORKER.submit(lambda: None).result(timeout)
