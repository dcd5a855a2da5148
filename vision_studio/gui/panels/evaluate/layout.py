"""Widgets and layout of the Evaluation panel (:class:`~.panel.EvaluatePanel`): a top bar
(checkpoint, split, Evaluate / Cancel, progress, export), a threshold bar, metrics tabs
on the left and the list + image viewer on the right. The widgets become attributes of
the panel; their signals go to the panel's bound methods."""
from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QCheckBox, QComboBox, QHBoxLayout, QHeaderView, QLabel, QProgressBar, QPushButton,
                               QSizePolicy, QSlider, QSplitter, QTableView, QTabWidget, QVBoxLayout, QWidget)

from vision_studio.gui.panels.evaluate.pr_plot import PRPlot
from vision_studio.gui.panels.evaluate.tables import ClassTable, ConfusionTable, SummaryTable
from vision_studio.gui.panels.evaluate.viewer import OverlayViewer
from vision_studio.gui.panels.evaluate.worker import RowsModel


def build(panel: Any) -> None:
    """Create the panel's widgets as its attributes, lay them out and connect them."""
    panel.checkpoint = QComboBox(panel)
    panel.checkpoint.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
    panel.checkpoint.setMinimumContentsLength(24)
    panel.checkpoint.setToolTip("The trained checkpoint to evaluate (runs of this project).")
    panel.split = QComboBox(panel)
    panel.split.setToolTip("The images to evaluate on; use a split the model did not train on.")
    panel.evaluate_btn = QPushButton("Evaluate", panel)
    panel.evaluate_btn.setToolTip("Run the model on the split (cached: reopening is instant).")
    panel.cancel_btn = QPushButton("Cancel", panel)
    panel.cancel_btn.setEnabled(False)
    panel.progress = QProgressBar(panel)
    panel.progress.setMaximumWidth(200)
    panel.status = QLabel("Pick a checkpoint and a split, then Evaluate.", panel)
    panel.status.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
    panel.export_btn = QPushButton("Export report…", panel)
    panel.png_btn = QPushButton("Save view as PNG…", panel)
    top = QHBoxLayout()
    for w in (QLabel("Checkpoint", panel), panel.checkpoint, QLabel("Split", panel), panel.split,
              panel.evaluate_btn, panel.cancel_btn, panel.progress):
        top.addWidget(w)
    top.addWidget(panel.status, 1)
    top.addWidget(panel.export_btn)
    top.addWidget(panel.png_btn)
    _build_thresholds(panel)
    panel.summary = SummaryTable(panel)
    panel.classes = ClassTable(panel)
    metrics = QSplitter(Qt.Orientation.Horizontal, panel)
    metrics.addWidget(panel.summary)
    metrics.addWidget(panel.classes)
    metrics.setSizes([150, 410])
    panel.pr = PRPlot(panel)
    panel.confusion = ConfusionTable(panel)
    panel.tabs = QTabWidget(panel)
    panel.tabs.addTab(metrics, "Metrics")
    panel.tabs.addTab(panel.pr, "PR curves")
    panel.tabs.addTab(panel.confusion, "Confusion matrix")
    _build_browser(panel)
    right = QWidget(panel)
    rl = QVBoxLayout(right)
    rl.setContentsMargins(0, 0, 0, 0)
    rl.addLayout(panel._list_bar)
    split = QSplitter(Qt.Orientation.Vertical, right)
    split.addWidget(panel.list)
    split.addWidget(panel.viewer)
    split.setSizes([220, 520])
    rl.addWidget(split, 1)
    rl.addLayout(panel._action_bar)
    main = QSplitter(Qt.Orientation.Horizontal, panel)
    main.addWidget(panel.tabs)
    main.addWidget(right)
    main.setSizes([560, 760])
    lay = QVBoxLayout(panel)
    lay.addLayout(top)
    lay.addLayout(panel._threshold_bar)
    lay.addWidget(main, 1)
    panel.evaluate_btn.clicked.connect(lambda: panel.start())
    panel.cancel_btn.clicked.connect(panel.cancel)
    panel.export_btn.clicked.connect(panel._export_clicked)
    panel.png_btn.clicked.connect(panel._png_clicked)
    panel.classes.classSelected.connect(panel._class_selected)
    panel.pr.thresholdPicked.connect(lambda s: panel.set_score_threshold(max(0.0, s - 1e-6)))
    panel.confusion.cellChosen.connect(panel._cell_chosen)
    panel._set_enabled(False)

def _build_thresholds(panel: Any) -> None:
    panel.score_slider = QSlider(Qt.Orientation.Horizontal, panel)
    panel.score_slider.setRange(0, 1000)
    panel.score_slider.setToolTip("Score threshold: predictions scoring above it are shown and "
                                 "counted (TP/FP/FN update live; AP when you stop moving).")
    panel.score_label = QLabel(panel)
    panel.nms_slider = QSlider(Qt.Orientation.Horizontal, panel)
    panel.nms_slider.setRange(5, 100)
    panel.nms_slider.setToolTip("NMS IoU: a prediction overlapping a better one of the same class "
                               "by more than this is removed (1.00 = no NMS).")
    panel.nms_label = QLabel(panel)
    panel.show_gt = QCheckBox("Show ground truth (dashed)", panel)
    panel.show_gt.setChecked(True)
    panel.iou_type = QComboBox(panel)
    panel.iou_type.addItem("match by boxes", "bbox")
    panel.iou_type.setToolTip("Instance segmentation: compare boxes or masks (COCO bbox / segm).")
    bar = QHBoxLayout()
    for w, stretch in ((QLabel("Score >", panel), 0), (panel.score_slider, 2), (panel.score_label, 0),
                       (QLabel("NMS IoU", panel), 0), (panel.nms_slider, 1), (panel.nms_label, 0),
                       (panel.iou_type, 0), (panel.show_gt, 0)):
        bar.addWidget(w, stretch)
    panel._threshold_bar = bar
    panel._sync_sliders()
    panel.score_slider.valueChanged.connect(panel._score_moved)
    panel.nms_slider.valueChanged.connect(panel._nms_moved)
    panel.show_gt.toggled.connect(panel._gt_toggled)
    panel.iou_type.currentIndexChanged.connect(panel._iou_type_changed)

def _build_browser(panel: Any) -> None:
    panel.filter = QComboBox(panel)
    panel.filter.setToolTip("What the list shows (errors sorted by score).")
    panel.filter.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
    panel.list_model = RowsModel(panel)
    panel.list = QTableView(panel)
    panel.list.setModel(panel.list_model)
    panel.list.setSelectionBehavior(QTableView.SelectionBehavior.SelectRows)
    panel.list.setSelectionMode(QTableView.SelectionMode.SingleSelection)
    panel.list.verticalHeader().setVisible(False)
    panel.list.setWordWrap(False)
    panel.list.setTextElideMode(Qt.TextElideMode.ElideLeft)
    panel.list.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
    panel.list_info = QLabel(panel)
    panel.list_info.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
    panel._list_bar = QHBoxLayout()
    panel._list_bar.addWidget(QLabel("Show", panel))
    panel._list_bar.addWidget(panel.filter)
    panel._list_bar.addWidget(panel.list_info, 1)
    panel.viewer = OverlayViewer(panel)
    panel.open_btn = QPushButton("Open in Annotate", panel)
    panel.open_btn.setToolTip("Show this image in the Annotate panel to fix its labels.")
    panel.accept_btn = QPushButton("Accept prediction", panel)
    panel.accept_btn.setToolTip("Add the selected prediction to the project as an annotation (undoable).")
    panel.accept_all_btn = QPushButton("Accept all shown on image", panel)
    panel.accept_all_btn.setToolTip("Add every prediction above the score threshold on this image "
                                   "as annotations (one undo step).")
    panel._action_bar = QHBoxLayout()
    for b in (panel.open_btn, panel.accept_btn, panel.accept_all_btn):
        panel._action_bar.addWidget(b)
    panel._action_bar.addStretch(1)
    panel.filter.currentIndexChanged.connect(lambda _i: panel.refresh_list())
    panel.list.selectionModel().currentRowChanged.connect(lambda cur, _p: panel._row_chosen(cur.row()))
    panel.list_model.modelReset.connect(panel._list_reset)
    panel.open_btn.clicked.connect(panel._open_clicked)
    panel.accept_btn.clicked.connect(panel._accept_clicked)
    panel.accept_all_btn.clicked.connect(panel._accept_all_clicked)
    panel.viewer.acceptRequested.connect(panel.accept_prediction)
    panel.viewer.acceptAllRequested.connect(panel._accept_all_clicked)
