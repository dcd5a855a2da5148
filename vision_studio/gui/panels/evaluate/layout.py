"""Widgets and layout of the Evaluation panel (:class:`~.panel.EvaluatePanel`): a top bar
(source — a checkpoint or a predictions file —, split, Evaluate (Cancel while opening),
Open predictions file…, export), a threshold bar, metrics tabs on the left and the list +
image viewer on the right, and a status line with the progress bar below.

:func:`build` returns them as one :class:`EvalWidgets` object (nothing is set on the
panel); the panel connects their signals, the task views fill them."""
from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDoubleSpinBox, QHBoxLayout, QHeaderView, QLabel, QProgressBar,
                               QPushButton, QSizePolicy, QSlider, QSplitter, QTableView, QTabWidget, QVBoxLayout,
                               QWidget)

from vision_studio.gui.panels.evaluate.pr_plot import PRPlot
from vision_studio.gui.panels.evaluate.tables import ClassTable, ConfusionTable, SummaryTable
from vision_studio.gui.panels.evaluate.viewer import OverlayViewer
from vision_studio.gui.panels.evaluate.worker import RowsModel
from vision_studio.gui.widgets.wrapped_label import WrappedLabel


@dataclass(frozen=True)
class EvalWidgets:
    """The Evaluation panel's widgets (made by :func:`build`)."""

    checkpoint: QComboBox
    split: QComboBox
    evaluate_btn: QPushButton
    results_btn: QPushButton
    cancel_btn: QPushButton
    progress: QProgressBar
    status: QLabel
    export_btn: QPushButton
    png_btn: QPushButton
    score_slider: QSlider
    score_label: QLabel
    nms_slider: QSlider
    nms_label: QLabel
    iou_type: QComboBox
    display_spin: QDoubleSpinBox
    det_bar: QWidget
    show_gt: QCheckBox
    summary: SummaryTable
    classes: ClassTable
    pr: PRPlot
    confusion: ConfusionTable
    tabs: QTabWidget
    filter: QComboBox
    list_model: RowsModel
    list: QTableView
    list_info: QLabel
    viewer: OverlayViewer
    open_btn: QPushButton
    accept_btn: QPushButton
    accept_all_btn: QPushButton
    refresh_btn: QPushButton


def _tip(w: QWidget, text: str) -> QWidget:
    w.setToolTip(text)
    return w


def _top(parent: QWidget) -> dict:
    w = {"checkpoint": QComboBox(parent), "split": QComboBox(parent),
         "evaluate_btn": _tip(QPushButton("Evaluate", parent), "Run the model on the split (cached: reopening "
                                                               "is instant)."),
         "results_btn": _tip(QPushButton("Open predictions file…", parent),
                             "Review detections made by another tool (YOLO, Detectron2, MMDetection…): a COCO "
                             "results JSON [{image_id, category_id, bbox, score}] keyed by the image ids or file "
                             "names of this project's COCO export, on the chosen split."),
         "cancel_btn": QPushButton("Cancel", parent), "progress": QProgressBar(parent),
         "export_btn": QPushButton("Export report…", parent), "png_btn": QPushButton("Save view as PNG…", parent)}
    w["checkpoint"].setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
    w["checkpoint"].setMinimumContentsLength(24)  # its preferred width; it may shrink to:
    w["checkpoint"].setMinimumWidth(100)  # the top bar fits a 800 px window (was 983 px)
    w["checkpoint"].setToolTip("What to evaluate: a trained checkpoint (runs of this project), or a predictions "
                               "file made elsewhere that was opened before (Open predictions file…).")
    w["split"].setToolTip("The images to evaluate on; use a split the model did not train on.")
    w["cancel_btn"].setVisible(False)  # shown instead of Evaluate while an evaluation opens
    w["progress"].setMaximumWidth(200)
    w["progress"].setMinimumWidth(40)
    return w


def _thresholds(parent: QWidget) -> dict:
    w = {"score_slider": QSlider(Qt.Orientation.Horizontal, parent), "score_label": QLabel(parent),
         "nms_slider": QSlider(Qt.Orientation.Horizontal, parent), "nms_label": QLabel(parent),
         "show_gt": QCheckBox("Show ground truth (dashed)", parent), "iou_type": QComboBox(parent)}
    w["score_slider"].setRange(0, 1000)
    w["score_slider"].setToolTip("Score threshold: predictions scoring above it are shown and counted "
                                 "(TP/FP/FN update live; AP when you stop moving).")
    w["nms_slider"].setRange(5, 100)
    w["nms_slider"].setToolTip("NMS IoU: a prediction overlapping a better one of the same class by more "
                               "than this is removed (1.00 = no NMS).")
    spin = w["display_spin"] = QDoubleSpinBox(parent)
    spin.setRange(0.0, 1.0)
    spin.setSingleStep(0.05)
    spin.setDecimals(2)
    spin.setValue(0.5)
    spin.setToolTip("Predictions are drawn on the image from this score up, so that low-scoring ones do not "
                    "bury it; the metrics and the lists use every prediction above the score threshold.")
    w["show_gt"].setChecked(True)
    w["iou_type"].addItem("match by boxes", "bbox")
    w["iou_type"].setToolTip("Instance segmentation: compare boxes or masks (COCO bbox / segm).")
    return w


def _browser(parent: QWidget) -> dict:
    w = {"filter": QComboBox(parent), "list_model": RowsModel(parent), "list": QTableView(parent),
         "list_info": QLabel(parent), "viewer": OverlayViewer(parent),
         "open_btn": _tip(QPushButton("Open in Annotate", parent), "Show this image in the Annotate panel to fix "
                                                                   "its labels."),
         "accept_btn": _tip(QPushButton("Accept prediction", parent), "Add the selected prediction to the "
                                                                      "project as an annotation (undoable)."),
         "accept_all_btn": _tip(QPushButton("Accept all shown on image", parent),
                                "Add every prediction above the score threshold on this image as annotations "
                                "(one undo step)."),
         "refresh_btn": _tip(QPushButton("Refresh metrics", parent),
                             "Labels changed since this evaluation: evaluate again with the new labels (the "
                             "predictions are cached, so this is quick).")}
    w["refresh_btn"].setVisible(False)
    w["filter"].setToolTip("What the list shows (errors sorted by score).")
    w["filter"].setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
    table = w["list"]
    table.setModel(w["list_model"])
    table.setSelectionBehavior(QTableView.SelectionBehavior.SelectRows)
    table.setSelectionMode(QTableView.SelectionMode.SingleSelection)
    table.verticalHeader().setVisible(False)
    table.setWordWrap(False)
    table.setTextElideMode(Qt.TextElideMode.ElideLeft)
    table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
    w["list_info"].setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
    return w


def _row(parent: QWidget, items: list, stretch: dict | None = None) -> QHBoxLayout:
    bar = QHBoxLayout()
    for it in items:
        if isinstance(it, str):
            it = QLabel(it, parent)
        bar.addWidget(it, (stretch or {}).get(id(it), 0))
    return bar


def build(panel: QWidget) -> EvalWidgets:
    """Create the widgets as children of ``panel`` and lay them out (no connections)."""
    # long messages wrap instead of being cut or widening the window; its height is its
    # text's at the row's width (beside the progress bar), with no height-for-width that
    # made the whole tab scroll (widgets.wrapped_label)
    status = WrappedLabel("Pick a checkpoint and a split, then Evaluate (or open a predictions file made "
                          "elsewhere).", panel)
    status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    w = {**_top(panel), **_thresholds(panel), **_browser(panel), "status": status,
         "summary": SummaryTable(panel), "classes": ClassTable(panel), "pr": PRPlot(panel),
         "confusion": ConfusionTable(panel), "tabs": QTabWidget(panel)}
    # Cancel takes Evaluate's place while an evaluation opens; the progress bar is on the
    # status line: the top bar fits a 800 px window with "Open predictions file…"
    top = _row(panel, ["Source", w["checkpoint"], "Split", w["split"], w["evaluate_btn"], w["cancel_btn"],
                       w["results_btn"]])
    top.addStretch(1)
    top.addWidget(w["export_btn"])
    top.addWidget(w["png_btn"])
    det_bar = w["det_bar"] = QWidget(panel)  # detection only: hidden for the other tasks
    det = _row(det_bar, ["Score >", w["score_slider"], w["score_label"], "NMS IoU", w["nms_slider"], w["nms_label"],
                         "Draw ≥", w["display_spin"], w["iou_type"]], {id(w["score_slider"]): 2, id(w["nms_slider"]): 1})
    det.setContentsMargins(0, 0, 0, 0)
    det_bar.setLayout(det)
    thr = _row(panel, [det_bar, w["show_gt"]], {id(det_bar): 1})
    metrics = QSplitter(Qt.Orientation.Horizontal, panel)
    metrics.addWidget(w["summary"])
    metrics.addWidget(w["classes"])
    metrics.setStretchFactor(1, 1)
    metrics.setChildrenCollapsible(False)
    w["tabs"].addTab(metrics, "Metrics")
    w["tabs"].addTab(w["pr"], "PR curves")
    w["tabs"].addTab(w["confusion"], "Confusion matrix")
    right = QWidget(panel)
    rl = QVBoxLayout(right)
    rl.setContentsMargins(0, 0, 0, 0)
    list_bar = _row(panel, ["Show", w["filter"], w["list_info"]], {id(w["list_info"]): 1})
    rl.addLayout(list_bar)
    split = QSplitter(Qt.Orientation.Vertical, right)
    split.addWidget(w["list"])
    split.addWidget(w["viewer"])
    split.setSizes([220, 520])
    rl.addWidget(split, 1)
    actions = _row(panel, [w["open_btn"], w["accept_btn"], w["accept_all_btn"], w["refresh_btn"]])
    actions.addStretch(1)
    rl.addLayout(actions)
    main = QSplitter(Qt.Orientation.Horizontal, panel)
    main.addWidget(w["tabs"])
    main.addWidget(right)
    main.setSizes([560, 760])
    lay = QVBoxLayout(panel)
    lay.addLayout(top)
    lay.addLayout(thr)
    lay.addWidget(main, 1)
    lay.addLayout(_row(panel, [status, w["progress"]], {id(status): 1}))
    return EvalWidgets(**w)
