"""The Evaluation panel's view of detection and instance segmentation: live thresholds
over cached raw detections (:class:`~vision_studio.core.evaluation.detection_session.
DetectionSession`).

The slow parts (a base evaluation for a new NMS IoU, AP and the confusion matrix at the
thresholds) are computed by the panel in a worker; this view shows what the session has
and marks the rest as "computing" (:meth:`DetectionView.set_pending`) until
:meth:`DetectionView.show_full` receives it. Only :meth:`DetectionView.full` (scripts)
computes in the caller.
"""
from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

from vision_studio.core.evaluation.detection_base import DetectionSource, FullResult
from vision_studio.core.evaluation.detection_session import LOW_IOU, DetectionSession, ErrorRow
from vision_studio.core.evaluation.matching import FN, FP, TP
from vision_studio.core.types import Task
from vision_studio.core.wording import plural
from vision_studio.gui.panels.evaluate.layout import EvalWidgets
from vision_studio.gui.panels.evaluate.viewer import DrawnDetection, rows_to_truths
from vision_studio.gui.panels.evaluate.views import TaskView, Thresholds

LIST_LIMIT = 1000
DET_COLUMNS = ("AP", "AP50", "AP75", "GT", TP, FP, FN)
DET_FILTERS = (("Images (gallery)", "images"), ("False positives", FP), ("False negatives (missed)", FN),
               (f"Low-IoU matches (< {LOW_IOU})", "low_iou"), ("Confusions (other class)", "confusion"),
               ("All shown predictions", "all"))
ERROR_HEADERS = ("outcome", "category", "score", "IoU", "image")


class DetectionView(TaskView):
    """Detection and instance segmentation (see the module docstring)."""

    thresholds = True

    def __init__(self, ui: EvalWidgets, store: Any, inputs: Any, session: DetectionSession | None = None) -> None:
        super().__init__(ui, store, inputs)
        self.raw = inputs.predictions
        self.gt = inputs.gt.coco
        self.has_masks = inputs.task == Task.INSTANCE_SEGMENTATION and self.raw.masks is not None
        combo = ui.iou_type
        combo.blockSignals(True)
        combo.clear()
        combo.addItem("match by boxes", "bbox")
        if self.has_masks:
            combo.addItem("match by masks", "segm")
            combo.setCurrentIndex(1)
        if session is not None and combo.findData(session.iou_type) >= 0:
            combo.setCurrentIndex(combo.findData(session.iou_type))
        combo.setVisible(self.has_masks)
        combo.blockSignals(False)
        if session is None or session.iou_type != combo.currentData():
            session = DetectionSession(DetectionSource(self.raw, self.gt, combo.currentData()))
        self.session = session
        self.gt_by_image: dict[int, list[dict]] = {}
        for a in self.gt["annotations"]:
            self.gt_by_image.setdefault(a["image_id"], []).append(a)
        self.pos = {int(i): k for k, i in enumerate(self.raw.image_ids)}
        self.cat_of_raw = self.raw.category_ids()
        self.cells: dict[tuple[int, int], tuple[int, ...]] = {}
        self.counts: dict[int, dict[str, int]] = {}
        self._last_t = Thresholds(0.0, 1.0)
        self.set_filters(DET_FILTERS)

    @property
    def iou_type(self) -> str:
        """``"bbox"`` or ``"segm"``: what the session matches by."""
        return self.session.iou_type

    def set_iou_type(self, iou_type: str) -> None:
        """Evaluate by boxes or by masks (a new session: the panel recomputes)."""
        self.session = DetectionSession(DetectionSource(self.raw, self.gt, iou_type))

    # ------------------------------------------------------------------ metrics
    def ready(self, t: Thresholds) -> bool:
        """Whether the live part can be shown now (the base for the NMS IoU is there)."""
        return self.session.has_base(t.nms)

    def fill(self, t: Thresholds, done: Callable[[], None] | None = None) -> None:
        """Everything the session has at ``t`` (its base must be there; AP and the
        confusion matrix show as pending until :meth:`show_full`), in a few event-loop
        passes (:meth:`~.views.TaskView.later`); ``done`` runs after the last."""
        ui = self.ui
        ui.pr.set_result(self.session.base(t.nms).coco, self.names, self.colors)
        self._metrics(t)
        full = self.session.cached_full(t.score, t.nms)
        if full is not None:
            self.show_full(full, t)
        else:
            self.set_pending(t, lists=False)
        if ui.classes.selected_key() is None and self.names:
            ui.classes.select_key(next(iter(self.names)))
        self.later("list", lambda: self.refresh_list(t))
        self.later("draw", lambda: self._redraw(t))
        if done is not None:
            self.later("done", done)

    def live(self, t: Thresholds, done: Callable[[], None] | None = None) -> None:
        """Counts, operating point, list and overlays (cheap: no COCO evaluation; the base
        for the NMS IoU must be there — see :meth:`ready`). Without ``done`` all in this
        call (a slider step); with it, the list and the overlays in later event-loop
        passes, then ``done`` (a result from the worker: each pass stays short)."""
        self._metrics(t)
        if done is None:
            self.refresh_list(t)
            self._redraw(t)
            return
        self.later("list", lambda: self.refresh_list(t))
        self.later("draw", lambda: self._redraw(t))
        self.later("done", done)

    def _metrics(self, t: Thresholds) -> None:
        ui = self.ui
        base = self.session.base(t.nms)
        if ui.pr.coco is not base.coco:
            ui.pr.set_result(base.coco, self.names, self.colors)
        self.counts = self.session.counts(t.score, t.nms)
        if ui.classes.columns != list(DET_COLUMNS) or ui.classes.rowCount() != len(self.names):
            ui.classes.set_rows(DET_COLUMNS, self._rows(None))
            ui.classes.set_pending(("AP", "AP50", "AP75"))
        for col in (TP, FP, FN):
            ui.classes.update_column(col, {c: v[col] for c, v in self.counts.items()})
        self._operating_point()
        total = self.counts[-1]
        ui.list_info.setText(f"at score > {t.score:.3f}: TP {total[TP]} · FP {total[FP]} · FN {total[FN]}")

    def _redraw(self, t: Thresholds) -> None:
        if self.ui.viewer.image_id in self.pos:  # (not an image of an earlier evaluation)
            self.draw(self.ui.viewer.image_id, t)

    def _rows(self, coco: Any) -> list[tuple[int, str, dict[str, Any]]]:
        per = {c.category_id: c for c in coco.per_class} if coco is not None else {}
        rows = []
        for cid in self.session.category_ids:
            n, c = self.counts.get(cid, {}), per.get(cid)
            rows.append((cid, self.names.get(cid, str(cid)),
                         {"AP": c.ap if c else None, "AP50": c.ap50 if c else None, "AP75": c.ap75 if c else None,
                          "GT": c.num_gt if c else n.get("GT"), TP: n.get(TP), FP: n.get(FP), FN: n.get(FN)}))
        return rows

    def set_pending(self, t: Thresholds, counts: bool = False, lists: bool = True) -> None:
        """Mark what a running evaluation will replace: AP columns, summary, confusion
        matrix (and, with ``counts``, the TP/FP/FN columns: a new NMS IoU; ``lists``:
        then also empty the list and draw ground truth only, in later passes)."""
        ui = self.ui
        ui.classes.set_pending(("AP", "AP50", "AP75") + ((TP, FP, FN) if counts else ()), "…")
        ui.summary.set_pending(True)
        ui.confusion.setEnabled(False)
        if counts and lists:  # list and overlays belong to the old NMS IoU: ground truth only for now
            ui.list_info.setText(f"computing the evaluation at NMS IoU {t.nms:.2f}…")
            self.later("list", lambda: self.refresh_list(t))
            self.later("draw", lambda: self._redraw(t))

    def show_full(self, full: FullResult, t: Thresholds) -> None:
        """Show a full result at ``t``: AP columns, summary, confusion matrix."""
        ui = self.ui
        self.counts = self.session.counts(t.score, t.nms)
        ui.summary.set_values(full.coco.stats)
        ui.classes.set_rows(DET_COLUMNS, self._rows(full.coco))
        self.cells = dict(full.cells or {})
        names = [self.names[c] for c in self.session.category_ids] + ["background"]
        if full.confusion is not None:
            ui.confusion.set_matrix(full.confusion, names, f"\nIoU ≥ 0.50, score > {t.score:.3f}")
        ui.confusion.setEnabled(True)
        self._operating_point()

    def full(self, t: Thresholds) -> None:
        """Live part plus AP, summary and confusion, computed in the calling thread when
        not cached (scripts; the panel computes them in its worker)."""
        full = self.session.full(t.score, t.nms)
        self.live(t)
        self.show_full(full, t)

    def _operating_point(self) -> None:
        key = self.ui.pr.highlight
        n = self.counts.get(key) if key is not None else None
        if not n:
            self.ui.pr.set_operating_point(float("nan"), float("nan"))
            return
        prec = n[TP] / (n[TP] + n[FP]) if n[TP] + n[FP] else float("nan")
        rec = n[TP] / n["GT"] if n["GT"] else float("nan")
        self.ui.pr.set_operating_point(rec, prec)

    def class_selected(self, key: int, t: Thresholds) -> None:
        """Highlight a class's PR curve."""
        self.ui.pr.set_highlight(key)
        self._operating_point()

    # ------------------------------------------------------------------ list
    def fill_list(self, kind: str, t: Thresholds) -> None:
        """Fill the list for a filter of :data:`DET_FILTERS` (empty while the base for
        the NMS IoU is being computed)."""
        if not self.ready(t):
            self.ui.list_model.set_rows(ERROR_HEADERS, [], [])
            return
        if kind == "images":
            tp, fp, fn = self.session.per_image_counts(t.score, t.nms)
            ids = [int(i) for i in self.raw.image_ids]
            self._set_rows(("image", TP, FP, FN), [(self.path(i), int(tp[k]), int(fp[k]), int(fn[k]))
                                                   for k, i in enumerate(ids)], ids)
            return
        rows = self.session.errors(kind, t.score, t.nms, limit=LIST_LIMIT)
        total = self.session.error_count(kind, t.score, t.nms)
        if total > len(rows):
            self.ui.list_info.setText(f"showing the first {len(rows):,} of {plural(total, 'row', grouped=True)}")
        disp = []
        for r in rows:
            other = f" (looks like {self.names.get(r.other_category, '?')})" if r.other_category >= 0 else ""
            disp.append((r.kind, self.names.get(r.category_id, "?") + other, "—" if math.isnan(r.score) else r.score,
                         "—" if math.isnan(r.iou) else r.iou, self.path(r.image_id)))
        self.ui.list_model.set_rows(ERROR_HEADERS, disp, rows, lambda k: self._tooltip(rows[k]))

    def _tooltip(self, r: ErrorRow) -> str:
        path = self.images[r.image_id].path
        if r.kind == FN:
            return f"missed {self.names.get(r.category_id)} (annotation {r.gt_id}) in {path}"
        if r.kind == TP:
            return f"{self.names.get(r.category_id)} {r.score:.3f}: TP, IoU {r.iou:.2f} with annotation {r.gt_id} " \
                   f"in {path}"
        return f"{self.names.get(r.category_id)} {r.score:.3f}: FP, best IoU with any object {r.iou:.2f} in {path}"

    def row_chosen(self, payload: Any, t: Thresholds) -> None:
        """Show the image of a list row and highlight its detection."""
        v = self.ui.viewer
        if isinstance(payload, ErrorRow):
            v.highlighted = payload.raw_index if payload.raw_index >= 0 else None
            self.draw(payload.image_id, t, refit=True)
            if payload.raw_index >= 0:
                v.set_highlight(payload.raw_index)
        else:
            v.highlighted = None
            self.draw(int(payload), t, refit=True)

    def cell_chosen(self, r: int, c: int, t: Thresholds) -> None:
        """List the images behind a confusion-matrix cell."""
        ids = list(self.cells.get((r, c), ()))
        self._set_rows(("image", "cell count"), [(self.path(i), "") for i in ids], ids)
        K = len(self.session.category_ids)
        names = [self.names[c_] for c_ in self.session.category_ids] + ["background"]
        self.ui.list_info.setText(f"{plural(len(ids), 'image')} with true {names[min(r, K)]} → predicted {names[min(c, K)]}")

    # ------------------------------------------------------------------ viewer
    def shown_on_image(self, image_id: int, t: Thresholds) -> list[int]:
        """Raw indices of the detections drawn on an image at ``t``: kept at the score
        threshold and NMS IoU, and scoring at least the display threshold."""
        kept = self.session.kept(t.score, t.nms)
        on = kept[self.raw.img_index[kept] == self.pos[image_id]]
        return [int(i) for i in on[self.raw.scores[on] >= t.display]]

    def mark_accepted(self, raw_indices: list[int], anns: list[Any], t: Thresholds) -> None:
        """Predictions were accepted as annotations: their list rows say so and the
        new annotations are drawn as ground truth at once (the metrics stay those of
        the evaluation until it is refreshed)."""
        for a in anns:
            self.gt_by_image.setdefault(a.image_id, []).append(
                {"id": a.id, "image_id": a.image_id, "category_id": a.category_id, "bbox": list(a.bbox),
                 "segmentation": [list(poly) for poly in a.polygons] or None})
        accepted = set(raw_indices)
        model = self.ui.list_model
        for k, row in enumerate(model.payload):
            if isinstance(row, ErrorRow) and row.raw_index in accepted:
                model.replace_row(k, ("accepted",) + tuple(model.rows[k][1:]))
        if self.ui.viewer.image_id in {a.image_id for a in anns}:
            self.draw(self.ui.viewer.image_id, t)

    def draw(self, image_id: int, t: Thresholds, refit: bool = False) -> None:
        """Draw an image's shown predictions and its ground truth."""
        v = self.ui.viewer
        self._last_t = t
        if refit or v.image_id != image_id:
            hl = v.highlighted
            self.show(image_id)
            v.highlighted = hl
        base = self.session.cached_base(t.nms)
        v.set_truth(rows_to_truths(self.gt_by_image.get(image_id, []), self.names, self.colors))
        if base is None:  # a new NMS IoU is being evaluated: ground truth only for now
            v.set_detections([])
            return
        on_image = np.flatnonzero(base.img == image_id)
        rows = dict(zip(base.keep[on_image].tolist(), on_image.tolist()))
        v.set_detections([self._drawn(i, base, rows.get(i)) for i in self.shown_on_image(image_id, t)])

    def pixels_resized(self, image_id: int) -> None:  # noqa: D102
        self.draw(image_id, self._last_t)

    def _drawn(self, i: int, base: Any, j: int | None) -> DrawnDetection:
        cid = int(self.cat_of_raw[i])
        kind = str(base.kind[j]) if j is not None else "-"
        iou = float(base.iou[j] if kind == TP else base.best_iou[j]) if j is not None else float("nan")
        tip = (f"{self.names.get(cid)} {self.raw.scores[i]:.3f} — {kind}; "
               + (f"IoU {iou:.2f} with annotation {int(base.gt_id[j])}" if kind == TP
                  else f"best IoU with any object {iou:.2f}"))
        return DrawnDetection(i, tuple(float(x) for x in self.raw.boxes[i]), self.names.get(cid, "?"),
                              self.colors.get(cid, "#ffffff"), float(self.raw.scores[i]),
                              self.raw.masks[i] if self.has_masks else None, tip)
