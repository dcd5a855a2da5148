"""Per-task views of the Evaluation panel: what the tables, curves, confusion matrix, list
and viewer show for classification and semantic segmentation (detection and instance
segmentation: :mod:`.detection_view`).

A view fills the panel's widgets (:class:`~.layout.EvalWidgets`) from frozen results of
the core evaluation session; it reads nothing from the panel and sets nothing on it. The
thresholds it shows are passed in as :class:`Thresholds`.
"""
from __future__ import annotations

import logging
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
from cachetools import LRUCache
from PySide6.QtCore import QObject, QTimer, Signal

from vision_studio.core.evaluation.dense import classification_result, semantic_result
from vision_studio.core.wording import plural
from vision_studio.gui.panels.evaluate.layout import EvalWidgets

log = logging.getLogger(__name__)

_DECODER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="evaluate-image")
"""Decodes the viewer's images (Pillow releases the GIL for most of it): a large image
decoded on the GUI thread froze it for ~100 ms (``benchmarks/bench_eval_sliders.py``).
Large images are decoded reduced (:func:`vision_studio.gui.image_cache.decode`: longer
side above ``LARGE_SIDE``, every tiled TIFF from its pyramid), so neither a 24-megapixel
photo nor a slide beyond the decoding pixel limit is decoded in full."""
DECODED_BYTES = 256 * 2**20
"""Memory for decoded images kept per view (least recently shown out)."""


class _Relay(QObject):
    """Carries a callable from a decoding thread to the GUI thread (queued signal)."""

    call = Signal(object)

    def __init__(self) -> None:
        super().__init__()
        self.call.connect(lambda fn: fn())


PALETTE = ("#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6",
           "#bfef45", "#fabed4", "#469990", "#dcbeff", "#9a6324", "#fffac8", "#800000")


@dataclass(frozen=True)
class Thresholds:
    """The thresholds a view shows: ``score`` (detections with ``score > score`` are
    counted and listed), the class-wise NMS IoU (>= 1: no NMS) and ``display`` (of those,
    the ones scoring ``>= display`` are drawn on the image)."""

    score: float
    nms: float
    display: float = 0.0


def display_path(path: str) -> str:
    """An image path as lists show it: without leading ``../`` parts (the full path is
    in the tooltip)."""
    parts = str(path).replace("\\", "/").split("/")
    while len(parts) > 1 and parts[0] in ("..", "."):
        parts.pop(0)
    return "/".join(parts)


class TaskView:
    """What every view shares: the images, category names and colours, decoded images."""

    thresholds = False

    def __init__(self, ui: EvalWidgets, store: Any, inputs: Any) -> None:
        self.ui, self.store, self.inputs = ui, store, inputs
        self.images = {im.id: im for im in inputs.images}
        cats = {c.id: c for c in store.categories()}
        self.names = {int(c["id"]): str(c["name"]) for c in inputs.categories}
        self.colors = {cid: (cats[cid].color if cid in cats else PALETTE[k % len(PALETTE)])
                       for k, cid in enumerate(self.names)}
        self._images: LRUCache = LRUCache(maxsize=DECODED_BYTES, getsizeof=lambda d: d.nbytes)
        self._relay = _Relay()
        self._later: dict[str, Callable[[], None]] = {}
        self.closed = False
        ui.viewer.highlighted = None  # a raw index of the previous evaluation's predictions
        ui.viewer.cam.set_inputs(inputs)

    def show(self, image_id: int) -> None:
        """Show an image in the viewer: its place (full-resolution size, dark) now, so
        that overlays can be drawn, and its pixels at once when decoded before, else
        when the decoding thread has them (reduced for a large image: the viewer
        stretches them over the full-resolution scene)."""
        im = self.images[image_id]
        self.ui.viewer.show_image(None, image_id, (im.height, im.width))
        dec = self._images.get(image_id)
        if dec is not None:
            self._put(image_id, dec)
            return
        from vision_studio.gui.image_cache import decode

        fut = _DECODER.submit(decode, self.store.resolve(im))
        fut.add_done_callback(lambda f: self._relay.call.emit(lambda: self._decoded(image_id, f)))

    def _decoded(self, image_id: int, fut: Future) -> None:
        if self.closed:
            return
        try:
            dec = fut.result()
        except Exception as exc:  # decode() reports errors in .error; anything else lands here
            dec = None
            error = str(exc)
        else:
            error = dec.error
        if error:  # an unreadable file: the viewer keeps the dark place
            log.warning("cannot show image %s: %s", image_id, error)
            if self.ui.viewer.image_id == image_id:
                self.ui.viewer.set_caption(f"cannot read this image: {error}", "#c0392b")
            return
        if dec.nbytes <= DECODED_BYTES:
            self._images[image_id] = dec
        self._put(image_id, dec)

    def _put(self, image_id: int, dec: Any) -> None:
        """Put decoded pixels (a :class:`~vision_studio.gui.image_cache.DecodedImage`)
        in the viewer at their full-resolution size."""
        full_hw = (dec.full_size[1], dec.full_size[0]) if dec.full_size else tuple(dec.display.shape[:2])
        resized = tuple(full_hw) != tuple(self.ui.viewer.size_hw)
        if self.ui.viewer.set_pixels(dec.display, image_id, scale=dec.scale, path=dec.path, full_hw=full_hw) \
                and resized:
            self.pixels_resized(image_id)

    def pixels_resized(self, image_id: int) -> None:
        """The decoded image's size differs from its record's: redraw its overlays."""

    def later(self, key: str, fn: Callable[[], None]) -> None:
        """Run ``fn`` in a later event-loop pass (the newest ``fn`` per ``key`` while one
        waits): splits GUI work so that no single pass blocks the window for long."""
        first = key not in self._later
        self._later[key] = fn
        if first:
            QTimer.singleShot(0, lambda: self._run_later(key))

    def _run_later(self, key: str) -> None:
        fn = self._later.pop(key, None)
        if fn is not None and not self.closed:
            fn()

    def flush(self) -> None:
        """Run what :meth:`later` holds now, in order."""
        while self._later and not self.closed:
            key = next(iter(self._later))
            self._run_later(key)

    def close(self) -> None:
        """The view is replaced: pending passes and decoded images are dropped."""
        self.closed = True
        self._later.clear()
        self.ui.viewer.drop_layers()

    def path(self, image_id: int) -> str:
        """The image's path as lists show it."""
        return display_path(self.images[image_id].path)

    def set_filters(self, items: tuple[tuple[str, str], ...]) -> None:
        """Replace the list filter's choices (no signal)."""
        f = self.ui.filter
        f.blockSignals(True)
        f.clear()
        for label, key in items:
            f.addItem(label, key)
        f.blockSignals(False)

    def refresh_list(self, t: Thresholds) -> None:
        """Re-fill the list for the current filter."""
        self.fill_list(self.ui.filter.currentData(), t)

    def fill_list(self, kind: str, t: Thresholds) -> None:  # noqa: D102
        raise NotImplementedError

    def class_selected(self, key: int, t: Thresholds) -> None:  # noqa: D102
        pass

    def _set_rows(self, headers: tuple[str, ...], rows: list[tuple], payload: list[Any]) -> None:
        """Fill the list; each row's tooltip is its image's full path."""
        payload = list(payload)
        self.ui.list_model.set_rows(headers, rows, payload,
                                    lambda k: str(self.images[self._image_of(payload[k])].path))

    @staticmethod
    def _image_of(payload: Any) -> int:
        return int(getattr(payload, "image_id", payload))


class ClassificationView(TaskView):
    """Single-label classification: accuracy, per-class P/R/F1, confusion, images."""

    def __init__(self, ui: EvalWidgets, store: Any, inputs: Any) -> None:
        super().__init__(ui, store, inputs)
        self.ev = classification_result(inputs)
        self.set_filters((("Misclassified (most confident first)", "wrong"), ("All images", "all")))
        ui.iou_type.setVisible(False)

    def fill(self, t: Thresholds) -> None:
        """Summary, per-class table, confusion matrix and list."""
        m = self.ev.metrics
        vals = {"accuracy": m["accuracy"], **{f"top-{k} accuracy": v for k, v in m["top_k"].items()},
                **{f"{a} {k}": m[a][k] for a in ("macro", "weighted") for k in ("precision", "recall", "f1")}}
        self.ui.summary.set_values(vals, {"accuracy": "Share of images whose predicted class is the true one."})
        self.ui.classes.set_rows(("precision", "recall", "f1", "support"),
                                 [(k, c["name"], c) for k, c in enumerate(m["per_class"])])
        self.ui.confusion.set_matrix(m["confusion"], list(self.ev.names))
        self.refresh_list(t)

    def fill_list(self, kind: str, t: Thresholds, cell: tuple[int, int] | None = None) -> None:  # noqa: D102
        rows = self.ev.rows(kind or "all", cell)
        n = self.ev.names
        self._set_rows(("true", "predicted", "confidence", "image"),
                       [(n[r.true], n[r.pred], r.confidence, self.path(r.image_id)) for r in rows], rows)
        self.ui.list_info.setText(plural(len(rows), "image"))

    def row_chosen(self, payload: Any, t: Thresholds) -> None:  # noqa: D102
        v, n = self.ui.viewer, self.ev.names
        v.cam.set_classes(payload.true, payload.pred)
        self.show(payload.image_id)
        ok = payload.true == payload.pred
        v.set_caption(f"true: {n[payload.true]} · predicted: {n[payload.pred]} {payload.confidence:.2f}",
                      "#2e8b57" if ok else "#c0392b")

    def cell_chosen(self, r: int, c: int, t: Thresholds) -> None:  # noqa: D102
        self.fill_list("all", t, (r, c))
        n = self.ev.names
        self.ui.list_info.setText(f"{plural(self.ui.list_model.rowCount(), 'image')} with true {n[r]} → predicted {n[c]}")

    def category_of(self, k: int) -> int:
        """The category id of class index ``k`` (model label order)."""
        return int(self.inputs.categories[k]["id"])

    def fixed_tag(self, row: Any) -> None:
        """The predicted class of ``row`` became its image's tag: its list rows and the
        viewer's caption say so at once (the metrics stay those of the evaluation)."""
        n, model = self.ev.names, self.ui.list_model
        for k, p in enumerate(model.payload):
            if getattr(p, "image_id", None) == row.image_id:
                model.replace_row(k, (f"{n[row.pred]} (fixed)",) + tuple(model.rows[k][1:]))
        if self.ui.viewer.image_id == row.image_id:
            self.ui.viewer.set_caption(f"tagged: {n[row.pred]} (fixed) · predicted: {n[row.pred]} "
                                       f"{row.confidence:.2f}", "#2e8b57")


class SemanticView(TaskView):
    """Semantic segmentation: IoU / Dice per class, pixel confusion, label-map overlays."""

    def __init__(self, ui: EvalWidgets, store: Any, inputs: Any) -> None:
        super().__init__(ui, store, inputs)
        self.ev = semantic_result(inputs)
        ids = [int(c["id"]) for c in inputs.categories]
        self.label_colors = (["#000000"] if inputs.label_offset else []) + [self.colors[i] for i in ids]
        self.index = {int(i): k for k, i in enumerate(self.ev.image_ids)}
        self.set_filters((("Images, worst pixel accuracy first", "worst"), ("Images in project order", "all")))
        ui.iou_type.setVisible(False)

    def fill(self, t: Thresholds) -> None:
        """Summary, per-class table, confusion matrix and list."""
        m = self.ev.metrics
        self.ui.summary.set_values({k: m[k] for k in ("mIoU", "mean_dice", "pixel_accuracy", "mean_class_accuracy")},
                                   {"mIoU": "Mean over classes of intersection over union of pixels.",
                                    "mean_dice": "Mean over classes of the Dice coefficient.",
                                    "pixel_accuracy": "Share of labelled pixels predicted right.",
                                    "mean_class_accuracy": "Mean over classes of the share of its pixels found."})
        self.ui.classes.set_rows(("iou", "dice", "accuracy", "pixels"),
                                 [(k, c["name"], c) for k, c in enumerate(m["per_class"])])
        self.ui.confusion.set_matrix(self.ev.confusion, list(self.ev.names), " (pixels)")
        self.refresh_list(t)

    def fill_list(self, kind: str, t: Thresholds) -> None:  # noqa: D102
        acc = self.ev.pixel_accuracy
        order = np.argsort(np.nan_to_num(acc, nan=2.0), kind="stable") if kind == "worst" else np.arange(acc.size)
        ids = [int(self.ev.image_ids[i]) for i in order]
        self._set_rows(("image", "pixel accuracy"), [(self.path(i), float(acc[self.index[i]])) for i in ids], ids)
        self.ui.list_info.setText(plural(len(ids), "image"))

    def row_chosen(self, payload: Any, t: Thresholds) -> None:  # noqa: D102
        image_id = int(payload)
        k = self.index[image_id]
        v = self.ui.viewer
        self.show(image_id)
        v.set_label_maps(self.inputs.predictions.label_maps[k], self.inputs.gt.maps[k], self.label_colors)

    def cell_chosen(self, r: int, c: int, t: Thresholds) -> None:  # noqa: D102
        rows = self.ev.cell_images(r, c)
        self._set_rows(("image", "pixels in cell"), [(self.path(i), n) for i, n in rows], [i for i, _ in rows])
        self.ui.list_info.setText(f"{plural(len(rows), 'image')} with true {self.ev.names[r]} → predicted {self.ev.names[c]}")
