"""Per-task behaviour of the Evaluation panel: what the tables, curves, confusion matrix,
list and viewer show for detection / instance segmentation, classification and semantic
segmentation. A view reads the panel's widgets and thresholds; it holds no widgets."""
from __future__ import annotations

import math
from collections import OrderedDict
from typing import Any

import numpy as np

from vision_studio.core.evaluation.outcomes import FN, FP, TP
from vision_studio.core.types import Annotation, Task
from vision_studio.gui.panels.evaluate.dense import ClassificationEvaluator, SemanticEvaluator
from vision_studio.gui.panels.evaluate.detection import (LOW_IOU, MAX_PER_IMAGE, DetectionEvaluator,
                                                         ErrorRow)
from vision_studio.gui.panels.evaluate.viewer import DrawnDetection, rows_to_truths

LIST_LIMIT = 1000
DET_COLUMNS = ("AP", "AP50", "AP75", "GT", TP, FP, FN)
PALETTE = ("#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6",
           "#bfef45", "#fabed4", "#469990", "#dcbeff", "#9a6324", "#fffac8", "#800000")
DET_FILTERS = (("Images (gallery)", "images"), ("False positives", FP), ("False negatives (missed)", FN),
               (f"Low-IoU matches (< {LOW_IOU})", "low_iou"), ("Confusions (other class)", "confusion"),
               ("All shown predictions", "all"))


class _Base:
    thresholds = False

    def __init__(self, panel: Any, inputs: Any) -> None:
        self.panel, self.inputs = panel, inputs
        self.store = panel.state.store
        self.images = {im.id: im for im in inputs.images}
        cats = {c.id: c for c in self.store.categories()}
        self.names = {int(c["id"]): str(c["name"]) for c in inputs.categories}
        self.colors = {cid: (cats[cid].color if cid in cats else PALETTE[k % len(PALETTE)])
                       for k, cid in enumerate(self.names)}
        self._images: OrderedDict[int, np.ndarray] = OrderedDict()

    def image(self, image_id: int) -> np.ndarray:
        """The decoded image (a few kept)."""
        from vision_studio.core.images import read_image

        if image_id not in self._images:
            self._images[image_id] = read_image(self.store.resolve(self.images[image_id]))
            while len(self._images) > 8:
                self._images.popitem(last=False)
        return self._images[image_id]

    def set_filters(self, items: tuple[tuple[str, str], ...]) -> None:
        f = self.panel.filter
        f.blockSignals(True)
        f.clear()
        for label, key in items:
            f.addItem(label, key)
        f.blockSignals(False)

    def class_selected(self, key: int) -> None:  # noqa: D102
        pass

    def live(self) -> None:  # noqa: D102
        pass

    def full(self) -> None:  # noqa: D102
        pass


def make_view(panel: Any, inputs: Any, evaluator: Any = None) -> Any:
    """The view for ``inputs.task`` (detection: with ``evaluator``, a
    :class:`DetectionEvaluator` made in a worker thread, when given)."""
    if inputs.task in (Task.DETECTION, Task.INSTANCE_SEGMENTATION):
        return DetectionView(panel, inputs, evaluator)
    if inputs.task == Task.CLASSIFICATION:
        return ClassificationView(panel, inputs)
    return SemanticView(panel, inputs)


# =========================================================================== detection
class DetectionView(_Base):
    """Detection and instance segmentation: live thresholds over cached raw detections.

    The slow parts (a base evaluation for a new NMS IoU, AP and the confusion matrix at
    the thresholds) are computed by the panel in a worker thread; this view shows what is
    cached and marks the rest as "computing" (:meth:`set_pending`) until
    :meth:`show_full` receives it. Only :meth:`full` (scripts) computes in the caller.
    """

    thresholds = True

    def __init__(self, panel: Any, inputs: Any, evaluator: DetectionEvaluator | None = None) -> None:
        super().__init__(panel, inputs)
        self.raw = inputs.predictions
        self.gt = inputs.gt["coco"]
        self.has_masks = inputs.task == Task.INSTANCE_SEGMENTATION and self.raw.masks is not None
        combo = panel.iou_type
        combo.blockSignals(True)
        combo.clear()
        combo.addItem("match by boxes", "bbox")
        if self.has_masks:
            combo.addItem("match by masks", "segm")
            combo.setCurrentIndex(1)
        combo.setVisible(self.has_masks)
        combo.blockSignals(False)
        if evaluator is not None and combo.findData(evaluator.iou_type) >= 0:
            combo.setCurrentIndex(combo.findData(evaluator.iou_type))
        self.iou_type = combo.currentData()
        if evaluator is None or evaluator.iou_type != self.iou_type:
            evaluator = DetectionEvaluator(self.raw, self.gt, self.iou_type)
        self.evaluator = evaluator
        self.gt_by_image: dict[int, list[dict]] = {}
        for a in self.gt["annotations"]:
            self.gt_by_image.setdefault(a["image_id"], []).append(a)
        self.pos = {int(i): k for k, i in enumerate(self.raw.image_ids)}
        self.cat_of_raw = self.raw.category_ids()
        self.cells: dict[tuple[int, int], list[int]] = {}
        self.counts: dict[int, dict[str, int]] = {}
        self.coco = None
        self.set_filters(DET_FILTERS)

    def set_iou_type(self, iou_type: str) -> None:
        """Evaluate by boxes or by masks (a new evaluator: the panel recomputes)."""
        self.iou_type = iou_type
        self.evaluator = DetectionEvaluator(self.raw, self.gt, iou_type)

    # ------------------------------------------------------------------ metrics
    def ready(self) -> bool:
        """Whether the live part can be shown now (the base for the NMS IoU is computed)."""
        return self.evaluator.has_base(self.panel.nms)

    def fill(self) -> None:
        """Everything cached at the current thresholds (the base must be computed; AP
        and the confusion matrix show as pending until :meth:`show_full`)."""
        p = self.panel
        base = self.evaluator.base(p.nms)
        p.pr.set_result(base.coco, self.names, self.colors)
        full = self.evaluator.cached_full(p.score, p.nms)
        self.live()
        if full is not None:
            self.show_full(full)
        else:
            self.set_pending()
        if p.classes.selected_key() is None and self.names:
            p.classes.select_key(next(iter(self.names)))

    def live(self) -> None:
        """Counts, operating point, list and overlays (cheap: no COCO evaluation; the base
        for the NMS IoU must be computed — see :meth:`ready`)."""
        p = self.panel
        base = self.evaluator.base(p.nms)
        if p.pr._coco is not base.coco:
            p.pr.set_result(base.coco, self.names, self.colors)
        self.counts = self.evaluator.counts(p.score, p.nms)
        if p.classes.columns != list(DET_COLUMNS) or p.classes.rowCount() != len(self.names):
            p.classes.set_rows(DET_COLUMNS, self._rows(None))
            p.classes.set_pending(("AP", "AP50", "AP75"))
        for col in (TP, FP, FN):
            p.classes.update_column(col, {c: v[col] for c, v in self.counts.items()})
        self._operating_point()
        total = self.counts[-1]
        p.list_info.setText(f"at score > {p.score:.3f}: TP {total[TP]} · FP {total[FP]} · FN {total[FN]}")
        p.refresh_list()
        if p.viewer.image_id is not None:
            self.draw(p.viewer.image_id)

    def _rows(self, coco: Any) -> list[tuple[int, str, dict[str, Any]]]:
        per = {c.category_id: c for c in coco.per_class} if coco is not None else {}
        rows = []
        for cid in self.evaluator.category_ids:
            n, c = self.counts.get(cid, {}), per.get(cid)
            rows.append((cid, self.names.get(cid, str(cid)),
                         {"AP": c.ap if c else None, "AP50": c.ap50 if c else None, "AP75": c.ap75 if c else None,
                          "GT": c.num_gt if c else n.get("GT"), TP: n.get(TP), FP: n.get(FP), FN: n.get(FN)}))
        return rows

    def set_pending(self, counts: bool = False) -> None:
        """Mark what a running evaluation will replace: AP columns, summary, confusion
        matrix (and, with ``counts``, the TP/FP/FN columns: a new NMS IoU)."""
        p = self.panel
        p.classes.set_pending(("AP", "AP50", "AP75") + ((TP, FP, FN) if counts else ()), "…")
        p.summary.set_pending(True)
        p.confusion.setEnabled(False)
        if counts:  # list and overlays belong to the old NMS IoU: ground truth only for now
            p.refresh_list()
            p.list_info.setText(f"computing the evaluation at NMS IoU {p.nms:.2f}…")
            if p.viewer.image_id is not None:
                self.draw(p.viewer.image_id)

    def show_full(self, full: Any) -> None:
        """Show a :class:`~.detection.FullResult` at the current thresholds: AP columns,
        summary, confusion matrix (with the live counts)."""
        p = self.panel
        self.coco = full.coco
        self.counts = self.evaluator.counts(p.score, p.nms)
        p.summary.set_values(self.coco.stats)
        p.classes.set_rows(DET_COLUMNS, self._rows(self.coco))
        self.cells = full.cells or {}
        names = [self.names[c] for c in self.evaluator.category_ids] + ["background"]
        if full.confusion is not None:
            p.confusion.set_matrix(full.confusion, names, f"\nIoU ≥ 0.50, score > {p.score:.3f}")
        p.confusion.setEnabled(True)
        self._operating_point()

    def full(self) -> None:
        """Live part plus AP, summary and confusion, computed in the calling thread when
        not cached (scripts; the panel computes them in its worker)."""
        p = self.panel
        self.evaluator.confusion(p.score, p.nms)  # computes and caches the full result
        self.live()
        self.show_full(self.evaluator.cached_full(p.score, p.nms))

    def _operating_point(self) -> None:
        p = self.panel
        key = p.pr.highlight
        n = self.counts.get(key) if key is not None else None
        if not n:
            p.pr.set_operating_point(float("nan"), float("nan"))
            return
        prec = n[TP] / (n[TP] + n[FP]) if n[TP] + n[FP] else float("nan")
        rec = n[TP] / n["GT"] if n["GT"] else float("nan")
        p.pr.set_operating_point(rec, prec)

    def class_selected(self, key: int) -> None:
        """Highlight a class's PR curve."""
        self.panel.pr.set_highlight(key)
        self._operating_point()

    # ------------------------------------------------------------------ list
    def fill_list(self, kind: str) -> None:
        """Fill the list for a filter of :data:`DET_FILTERS` (empty while the base for
        the NMS IoU is being computed)."""
        p = self.panel
        if not self.ready():
            p.list_model.set_rows(("outcome", "category", "score", "IoU", "image"), [], [])
            return None
        if kind == "images":
            return self._fill_images()
        rows = self.evaluator.errors(kind, p.score, p.nms, limit=LIST_LIMIT)
        total = self.evaluator.error_count(kind, p.score, p.nms)
        if total > len(rows):
            p.list_info.setText(f"showing the first {len(rows):,} of {total:,} rows")
        disp, tips = [], []
        for r in rows:
            im = self.images[r.image_id]
            other = f" (looks like {self.names.get(r.other_category, '?')})" if r.other_category >= 0 else ""
            disp.append((r.kind, self.names.get(r.category_id, "?") + other, "—" if math.isnan(r.score) else r.score,
                         "—" if math.isnan(r.iou) else r.iou, im.path))
            tips.append(self._tooltip(r))
        p.list_model.set_rows(("outcome", "category", "score", "IoU", "image"), disp, rows, tips)

    def _fill_images(self) -> None:
        p = self.panel
        base = self.evaluator.base(p.nms)
        on = base.score > p.score
        ids = np.asarray(self.raw.image_ids)
        sorter = np.argsort(ids)
        img_pos = sorter[np.searchsorted(ids, base.img, sorter=sorter)]
        tp = np.bincount(img_pos[on & (base.kind == TP)], minlength=ids.size)
        fp = np.bincount(img_pos[on & (base.kind == FP)], minlength=ids.size)
        missed = self.evaluator.missed(p.score, p.nms)
        fn = np.bincount(sorter[np.searchsorted(ids, base.g_img[missed], sorter=sorter)], minlength=ids.size)
        disp = [(self.images[int(i)].path, int(tp[k]), int(fp[k]), int(fn[k])) for k, i in enumerate(ids)]
        p.list_model.set_rows(("image", TP, FP, FN), disp, [int(i) for i in ids])

    def _tooltip(self, r: ErrorRow) -> str:
        if r.kind == FN:
            return f"missed {self.names.get(r.category_id)} (annotation {r.gt_id})"
        if r.kind == TP:
            return f"{self.names.get(r.category_id)} {r.score:.3f}: TP, IoU {r.iou:.2f} with annotation {r.gt_id}"
        return f"{self.names.get(r.category_id)} {r.score:.3f}: FP, best IoU with any object {r.iou:.2f}"

    def row_chosen(self, payload: Any) -> None:
        """Show the image of a list row and highlight its detection."""
        if isinstance(payload, ErrorRow):
            self.panel.viewer.highlighted = payload.raw_index if payload.raw_index >= 0 else None
            self.draw(payload.image_id, refit=True)
            if payload.raw_index >= 0:
                self.panel.viewer.set_highlight(payload.raw_index)
        else:
            self.panel.viewer.highlighted = None
            self.draw(int(payload), refit=True)

    def cell_chosen(self, r: int, c: int) -> None:
        """List the images behind a confusion-matrix cell."""
        p = self.panel
        ids = self.cells.get((r, c), [])
        p.list_model.set_rows(("image", "cell count"), [(self.images[i].path, "") for i in ids], ids)
        K = len(self.evaluator.category_ids)
        names = [self.names[c_] for c_ in self.evaluator.category_ids] + ["background"]
        p.list_info.setText(f"{len(ids)} images with true {names[min(r, K)]} → predicted {names[min(c, K)]}")

    # ------------------------------------------------------------------ viewer
    def shown_on_image(self, image_id: int) -> list[int]:
        """Raw indices of the detections shown on an image at the thresholds."""
        kept = self.evaluator.kept(self.panel.score, self.panel.nms)
        return [int(i) for i in kept[self.raw.img_index[kept] == self.pos[image_id]]]

    def draw(self, image_id: int, refit: bool = False) -> None:
        """Draw an image's shown predictions and its ground truth."""
        v = self.panel.viewer
        if refit or v.image_id != image_id:
            hl = v.highlighted
            v.show_image(self.image(image_id), image_id)
            v.highlighted = hl
        base = self.evaluator.cached_base(self.panel.nms)
        v.set_truth(rows_to_truths(self.gt_by_image.get(image_id, []), self.names, self.colors))
        if base is None:  # a new NMS IoU is being evaluated: ground truth only for now
            v.set_detections([])
            return
        on_image = np.flatnonzero(base.img == image_id)
        rows = dict(zip(base.keep[on_image].tolist(), on_image.tolist()))
        dets = []
        for i in self.shown_on_image(image_id):
            cid = int(self.cat_of_raw[i])
            j = rows.get(i)
            kind = str(base.kind[j]) if j is not None else "-"
            iou = float(base.iou[j] if kind == TP else base.best_iou[j]) if j is not None else float("nan")
            tip = (f"{self.names.get(cid)} {self.raw.scores[i]:.3f} — {kind}; "
                   + (f"IoU {iou:.2f} with annotation {int(base.gt_id[j])}" if kind == TP
                      else f"best IoU with any object {iou:.2f}"))
            dets.append(DrawnDetection(i, tuple(float(x) for x in self.raw.boxes[i]), self.names.get(cid, "?"),
                                       self.colors.get(cid, "#ffffff"), float(self.raw.scores[i]),
                                       self.raw.masks[i] if self.has_masks else None, tip))
        v.set_detections(dets)

    # ------------------------------------------------------------------ accept
    def accept(self, raw_indices: list[int]) -> list[int]:
        """Add raw detections as annotations in one undo step; returns the new ids."""
        from vision_studio.gui.undo import AddAnnotationsCommand

        anns = []
        for i in raw_indices:
            image_id = int(self.raw.image_ids[self.raw.img_index[i]])
            im = self.images[image_id]
            x1, y1, x2, y2 = (float(v) for v in self.raw.boxes[i])
            x1, y1 = max(0.0, x1), max(0.0, y1)
            x2, y2 = min(float(im.width), x2), min(float(im.height), y2)
            if x2 <= x1 or y2 <= y1:
                continue
            rle = dict(self.raw.masks[i]) if self.has_masks else None
            anns.append(Annotation(image_id=image_id, category_id=int(self.cat_of_raw[i]),
                                   bbox=(x1, y1, x2 - x1, y2 - y1), rle=rle,
                                   attributes={"source": "model", "score": round(float(self.raw.scores[i]), 5),
                                               "checkpoint": str(self.inputs.checkpoint)}))
        if not anns:
            return []
        text = "Accept prediction" if len(anns) == 1 else f"Accept {len(anns)} predictions"
        cmd = AddAnnotationsCommand(self.store, anns, text=text)
        self.panel.state.undo_stack.push(cmd)
        for image_id in {a.image_id for a in anns}:
            self.panel.state.annotationsChanged.emit(image_id)
        self.panel.status.setText(f"{text}: added to the project (Ctrl+Z undoes). Metrics still use "
                                  "the ground truth of the evaluation; Evaluate again to include them.")
        return cmd.ids


# =========================================================================== classification
class ClassificationView(_Base):
    """Single-label classification: accuracy, per-class P/R/F1, confusion, images."""

    def __init__(self, panel: Any, inputs: Any) -> None:
        super().__init__(panel, inputs)
        self.ev = ClassificationEvaluator(inputs.predictions, inputs.gt["labels"], inputs.class_names)
        self.set_filters((("Misclassified (most confident first)", "wrong"), ("All images", "all")))
        self.panel.iou_type.setVisible(False)

    def fill(self) -> None:  # noqa: D102
        p, m = self.panel, self.ev.metrics
        vals = {"accuracy": m["accuracy"], **{f"top-{k} accuracy": v for k, v in m["top_k"].items()},
                **{f"{a} {k}": m[a][k] for a in ("macro", "weighted") for k in ("precision", "recall", "f1")}}
        p.summary.set_values(vals, {"accuracy": "Share of images whose predicted class is the true one."})
        p.classes.set_rows(("precision", "recall", "f1", "support"),
                           [(k, c["name"], c) for k, c in enumerate(m["per_class"])])
        p.confusion.set_matrix(m["confusion"], self.ev.names)
        p.refresh_list()

    def fill_list(self, kind: str, cell: tuple[int, int] | None = None) -> None:  # noqa: D102
        rows = self.ev.rows(kind or "all", cell)
        n = self.ev.names
        self.panel.list_model.set_rows(("true", "predicted", "confidence", "image"),
                                       [(n[r.true], n[r.pred], r.confidence, self.images[r.image_id].path)
                                        for r in rows], rows)
        self.panel.list_info.setText(f"{len(rows)} images")

    def row_chosen(self, payload: Any) -> None:  # noqa: D102
        v, n = self.panel.viewer, self.ev.names
        v.show_image(self.image(payload.image_id), payload.image_id)
        ok = payload.true == payload.pred
        v.set_caption(f"true: {n[payload.true]} · predicted: {n[payload.pred]} {payload.confidence:.2f}",
                      "#2e8b57" if ok else "#c0392b")

    def cell_chosen(self, r: int, c: int) -> None:  # noqa: D102
        self.fill_list("all", (r, c))


# =========================================================================== semantic
class SemanticView(_Base):
    """Semantic segmentation: IoU / Dice per class, pixel confusion, label-map overlays."""

    def __init__(self, panel: Any, inputs: Any) -> None:
        super().__init__(panel, inputs)
        self.ev = SemanticEvaluator(inputs.predictions, inputs.gt["maps"], inputs.class_names)
        ids = [int(c["id"]) for c in inputs.categories]
        self.label_colors = (["#000000"] if inputs.label_offset else []) + [self.colors[i] for i in ids]
        self.index = {int(i): k for k, i in enumerate(self.ev.image_ids)}
        self.set_filters((("Images, worst pixel accuracy first", "worst"), ("Images in project order", "all")))
        self.panel.iou_type.setVisible(False)

    def fill(self) -> None:  # noqa: D102
        p, m = self.panel, self.ev.metrics
        p.summary.set_values({k: m[k] for k in ("mIoU", "mean_dice", "pixel_accuracy", "mean_class_accuracy")},
                             {"mIoU": "Mean over classes of intersection over union of pixels.",
                              "mean_dice": "Mean over classes of the Dice coefficient.",
                              "pixel_accuracy": "Share of labelled pixels predicted right.",
                              "mean_class_accuracy": "Mean over classes of the share of its pixels found."})
        p.classes.set_rows(("iou", "dice", "accuracy", "pixels"),
                           [(k, c["name"], c) for k, c in enumerate(m["per_class"])])
        p.confusion.set_matrix(self.ev.confusion, self.ev.names, " (pixels)")
        p.refresh_list()

    def fill_list(self, kind: str) -> None:  # noqa: D102
        acc = self.ev.pixel_accuracy
        order = np.argsort(np.nan_to_num(acc, nan=2.0), kind="stable") if kind == "worst" else np.arange(acc.size)
        ids = [int(self.ev.image_ids[i]) for i in order]
        self.panel.list_model.set_rows(("image", "pixel accuracy"),
                                       [(self.images[i].path, float(acc[self.index[i]])) for i in ids], ids)
        self.panel.list_info.setText(f"{len(ids)} images")

    def row_chosen(self, payload: Any) -> None:  # noqa: D102
        image_id = int(payload)
        k = self.index[image_id]
        v = self.panel.viewer
        v.show_image(self.image(image_id), image_id)
        v.set_label_maps(self.ev.pred.label_maps[k], self.inputs.gt["maps"][k], self.label_colors)

    def cell_chosen(self, r: int, c: int) -> None:  # noqa: D102
        rows = self.ev.cell_images(r, c)
        self.panel.list_model.set_rows(("image", "pixels in cell"),
                                       [(self.images[i].path, n) for i, n in rows], [i for i, _ in rows])
        self.panel.list_info.setText(f"{len(rows)} images with true {self.ev.names[r]} → predicted {self.ev.names[c]}")


__all__ = ["DetectionView", "ClassificationView", "SemanticView", "make_view", "MAX_PER_IMAGE"]
