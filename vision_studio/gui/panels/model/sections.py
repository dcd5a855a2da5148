"""The Model panel's form sections: architecture and weights, transfer strategy,
hyperparameters. Each reads and writes its part of a ``TrainConfig`` dict."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtWidgets import (QAbstractScrollArea, QAbstractSpinBox, QApplication, QCheckBox,
                               QComboBox, QDoubleSpinBox, QFileDialog, QFormLayout, QGroupBox,
                               QHBoxLayout, QLabel, QLineEdit, QProgressBar, QPushButton,
                               QSpinBox, QWidget)

from vision_studio.core.training.config import DEVICES, OPTIMIZERS, SCHEDULERS
from vision_studio.core.types import Task
from vision_studio.gui.panels.model import weights_status as ws
from vision_studio.core.training.checks import STRATEGY_TEXT, TASK_LABELS
from vision_studio.gui.panels.model.wrap_label import WrapLabel

log = logging.getLogger(__name__)

MARK = {ws.DOWNLOADED: "on this computer ✓", ws.DOWNLOADABLE: "downloadable (needs internet)",
        ws.MISSING: "missing"}


class ArchSection(QGroupBox):
    """Task, architecture (with size, speed class, description) and pretrained weights.

    Signals:
        taskChanged(str), archChanged(str).
        downloadRequested(str): the weights name to fetch (the panel runs the download).
    """

    taskChanged = Signal(str)
    archChanged = Signal(str)
    downloadRequested = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Task and model", parent)
        self.spec: Any = None
        self.task = QComboBox(self, objectName="task")
        self.arch = QComboBox(self, objectName="arch")
        self.info = WrapLabel(self, objectName="arch_info")
        self.weights = QComboBox(self, objectName="weights")
        self.weights_note = WrapLabel(self, objectName="weights_note")
        self.download = QPushButton("Download", self, objectName="download")
        self.pick_file = QPushButton("Use a weights file…", self, objectName="pick_weights")
        self.progress = QProgressBar(self, objectName="download_progress")
        self.progress.hide()
        self.cancel_download = QPushButton("Cancel download", self, objectName="cancel_download")
        self.cancel_download.hide()
        form = QFormLayout(self)
        form.addRow("Task", self.task)
        form.addRow("Architecture", self.arch)
        form.addRow("", self.info)
        form.addRow("Weights", self.weights)
        row = QHBoxLayout()
        row.addWidget(self.download)
        row.addWidget(self.pick_file)
        row.addStretch(1)
        form.addRow("", row)
        form.addRow("", self.weights_note)
        prog = QHBoxLayout()
        prog.addWidget(self.progress, 1)
        prog.addWidget(self.cancel_download)
        form.addRow("", prog)
        for t in Task.ALL:
            self.task.addItem(TASK_LABELS[t], t)
        self.task.currentIndexChanged.connect(lambda _i: self._task_changed())
        self.arch.currentIndexChanged.connect(lambda _i: self._arch_changed())
        self.weights.currentIndexChanged.connect(lambda _i: self._weights_changed())
        self.download.clicked.connect(lambda: self.downloadRequested.emit(self.weights.currentData() or ""))
        self.pick_file.clicked.connect(self._pick_file)
        self._runs: list[tuple[str, str]] = []
        self._files: list[str] = []  # weights files the user picked (this session)
        self._filled_for: str | None = None  # the architecture the weights list is for

    # ------------------------------------------------------------------ task / arch
    def set_tasks(self, allowed: list[str]) -> None:
        """Order the tasks: allowed ones first (the first is selected), others marked."""
        self.task.blockSignals(True)
        self.task.clear()
        for t in allowed + [t for t in Task.ALL if t not in allowed]:
            self.task.addItem(TASK_LABELS[t] + ("" if t in allowed else "  — no labels yet"), t)
        self.task.blockSignals(False)
        self._task_changed()

    def current_task(self) -> str:
        return self.task.currentData() or Task.CLASSIFICATION

    def _task_changed(self) -> None:
        from vision_studio.core.models.registry import architectures

        self.arch.blockSignals(True)
        self.arch.clear()
        for spec in architectures(self.current_task()):
            self.arch.addItem(f"{spec.name}   ·  {spec.param_count:.1f} M params  ·  {spec.speed}",
                              spec.name)
        self.arch.blockSignals(False)
        from vision_studio.core.training.defaults import default_arch  # weights on this computer

        self.select_arch(default_arch(self.current_task()))
        self.taskChanged.emit(self.current_task())

    def select_arch(self, name: str) -> None:
        """Select architecture ``name`` (added to the list if it is a valid unlisted one)."""
        from vision_studio.core.models.registry import get_arch

        i = self.arch.findData(name)
        if i < 0:
            spec = get_arch(name)  # ConfigError for unknown names
            self.arch.addItem(f"{spec.name}   ·  {spec.param_count:.1f} M params  ·  {spec.speed}",
                              spec.name)
            i = self.arch.count() - 1
        if i == self.arch.currentIndex():
            self._arch_changed()
        self.arch.setCurrentIndex(i)

    def _arch_changed(self) -> None:
        from vision_studio.core.models.registry import get_arch

        name = self.arch.currentData()
        if not name:
            return
        self.spec = spec = get_arch(name)
        self.info.setText(f"{spec.description}. {spec.param_count:.1f} M parameters, "
                          f"{spec.speed} on a CPU, input {spec.input_size} px ({spec.source}).")
        self._fill_weights()
        self.archChanged.emit(name)

    # ------------------------------------------------------------------ weights
    def _fill_weights(self, keep: str | None = None) -> None:
        """Rebuild the weights list: None, the library weights, earlier runs' checkpoints
        and every file the user picked. The current choice survives the rebuild (a
        re-split, a finished run, the same architecture re-selected); a new
        architecture starts on its default weights unless ``keep`` is given."""
        same_arch = self.spec is not None and self.spec.name == self._filled_for
        if keep is None and same_arch:
            keep = self.weights.currentData()
        self.weights.blockSignals(True)
        self.weights.clear()
        self.weights.addItem("None — random initialisation", None)
        spec = self.spec
        for name in spec.weights if spec else ():
            self.weights.addItem(f"{name} — {MARK[ws.availability(spec, name)]}", name)
        for label, path in self._runs:
            self.weights.addItem(f"Run “{label}” — {Path(path).name}", path)
        for path in self._files:
            if self.weights.findData(path) < 0:
                self._add_file_item(path)
        from vision_studio.core.models.local_weights import default_weights  # offline first

        default = default_weights(spec) if spec else None
        i = self.weights.findData(keep) if keep is not None or same_arch else -1
        self.weights.setCurrentIndex(i if i >= 0 else max(0, self.weights.findData(default)))
        self._filled_for = spec.name if spec else None
        self.weights.blockSignals(False)
        self._weights_changed()

    def _add_file_item(self, path: str) -> None:
        self.weights.addItem(f"File — {Path(path).name}", path)
        self.weights.setItemData(self.weights.count() - 1, path, Qt.ItemDataRole.ToolTipRole)

    def set_runs(self, runs: list[tuple[str, str]]) -> None:
        """Earlier runs' checkpoints offered as weights: ``[(run name, best.pt path)]``."""
        self._runs = list(runs)
        self._fill_weights(keep=self.weights.currentData())

    def set_weights(self, value: str | None) -> None:
        """Select weights ``value`` (a library name, or a file: added as an entry)."""
        i = self.weights.findData(value)
        if i < 0 and value:
            if value not in self._files:
                self._files.append(value)  # kept through every rebuild of the list
            self._add_file_item(value)
            i = self.weights.count() - 1
        self.weights.setCurrentIndex(max(0, i))

    def current_weights(self) -> str | None:
        return self.weights.currentData()

    def forget_choice(self) -> None:
        """Let the next architecture choice apply its default weights (a project was
        opened: its own saved settings, or the defaults, decide)."""
        self._filled_for = None

    def _pick_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Pretrained weights file", "",
                                              "Weights (*.pth *.pt *.bin *.safetensors *.ckpt);;"
                                              "All files (*)")
        if path:
            self.set_weights(path)

    def _weights_changed(self) -> None:
        name = self.weights.currentData()
        state = ws.availability(self.spec, name) if self.spec and name in self.spec.weights else ""
        self.download.setEnabled(state == ws.DOWNLOADABLE)
        if name is None:
            self.weights_note.setText("Random weights: use the ‘From scratch’ strategy and "
                                      "expect to need much more data.")
        elif state:
            self.weights_note.setText(f"Library weights {name}: {MARK[state]}.")
        else:
            self.weights_note.setText(f"Weights file: {Path(name).name}")
        self.weights_note.setToolTip(name or "")


PLAIN_TEXT: dict[str, str] = {
    "feature_extraction": "Fast, and safe with few images: the model keeps what it already "
                          "knows and only learns to name your categories.",
    "linear_probe": "The quickest check (seconds to minutes): does the pretrained model "
                    "already tell your categories apart?",
    "fine_tune": "Slower, best with many images: the whole model adapts to your pictures.",
    "partial": "A middle ground in time and data: part of the model adapts to your pictures.",
    "gradual": "A little slower than feature extraction, good with limited images: the "
               "model adapts step by step without forgetting what it knew.",
    "discriminative": "Slower, for many images: the whole model adapts, its general early "
                      "layers least.",
    "scratch": "Needs very many images and much more time: the model learns everything "
               "from your pictures alone.",
}
"""Strategy name → one plain sentence (what it does to the user's data and time), shown
before the technical explanation of :data:`STRATEGY_TEXT`."""


def explanation(name: str) -> str:
    """The text shown for strategy ``name``: the plain sentence, then the technical one."""
    return f"{PLAIN_TEXT.get(name, '')}\n\n{STRATEGY_TEXT[name][1]}".strip()


class StrategySection(QGroupBox):
    """The transfer strategy with a plain-language explanation and its settings."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Transfer strategy", parent)
        self.strategy = QComboBox(self, objectName="strategy")
        self.explain = WrapLabel(self, objectName="strategy_text")
        self.explain.setMinimumHeight(60)
        self.trainable_stages = QSpinBox(self, minimum=1, maximum=20, value=1)
        self.freeze_epochs = QSpinBox(self, minimum=0, maximum=100, value=1)
        self.unfreeze_every = QSpinBox(self, minimum=1, maximum=100, value=1)
        self.backbone_lr_mult = QDoubleSpinBox(self, minimum=0.001, maximum=1.0, value=0.1,
                                               decimals=3, singleStep=0.05)
        self.layer_decay = QDoubleSpinBox(self, minimum=0.05, maximum=1.0, value=0.5,
                                          decimals=2, singleStep=0.05)
        self.form = QFormLayout(self)
        self.form.addRow("Strategy", self.strategy)
        self.form.addRow(self.explain)
        self.rows = {"trainable_stages": ("Stages trained", self.trainable_stages),
                     "freeze_epochs": ("Head-only epochs", self.freeze_epochs),
                     "unfreeze_every": ("Unfreeze a stage every (epochs)", self.unfreeze_every),
                     "backbone_lr_mult": ("Backbone learning-rate ×", self.backbone_lr_mult),
                     "layer_decay": ("Decay per stage", self.layer_decay)}
        for label, w in self.rows.values():
            self.form.addRow(label, w)
        self.set_task(Task.CLASSIFICATION)
        self.strategy.currentIndexChanged.connect(lambda _i: self._changed())

    USES = {"partial": ("trainable_stages", "backbone_lr_mult"),
            "gradual": ("freeze_epochs", "unfreeze_every", "backbone_lr_mult"),
            "fine_tune": ("backbone_lr_mult",), "discriminative": ("layer_decay",)}

    def set_task(self, task: str) -> None:
        """Offer the strategies of ``task`` (linear probe: classification only)."""
        keep = self.strategy.currentData()
        self.strategy.blockSignals(True)
        self.strategy.clear()
        for name, (title, _) in STRATEGY_TEXT.items():
            if name == "linear_probe" and task != Task.CLASSIFICATION:
                continue
            self.strategy.addItem(title, name)
        self.strategy.setCurrentIndex(max(0, self.strategy.findData(keep or "fine_tune")))
        self.strategy.blockSignals(False)
        self._changed()

    def select(self, name: str) -> None:
        self.strategy.setCurrentIndex(max(0, self.strategy.findData(name)))

    def _changed(self) -> None:
        name = self.strategy.currentData() or "fine_tune"
        self.explain.setText(explanation(name))
        used = self.USES.get(name, ())
        for key, (_, w) in self.rows.items():
            self.form.setRowVisible(w, key in used)

    def to_dict(self) -> dict[str, Any]:
        """The ``strategy`` field of a TrainConfig."""
        name = self.strategy.currentData() or "fine_tune"
        out: dict[str, Any] = {"name": name}
        for key in self.USES.get(name, ()):
            w = self.rows[key][1]
            out[key] = w.value()
        return out

    def set_dict(self, data: dict[str, Any]) -> None:
        self.select(data.get("name", "fine_tune"))
        for key, (_, w) in self.rows.items():
            if key in data:
                w.setValue(data[key])


class HyperSection(QGroupBox):
    """Epochs, batch size, learning rate and the other numeric settings."""

    FIELDS = ("epochs", "batch_size", "lr", "optimizer", "scheduler", "warmup_epochs",
              "grad_clip", "weight_decay", "image_size", "early_stopping_patience", "device", "amp", "seed",
              "max_steps_per_epoch", "max_val_batches", "name")

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Hyperparameters", parent)
        w: dict[str, QWidget] = {
            "epochs": QSpinBox(self, minimum=1, maximum=10000),
            "batch_size": QSpinBox(self, minimum=1, maximum=1024),
            "lr": QDoubleSpinBox(self, minimum=1e-6, maximum=1.0, decimals=6, singleStep=0.001),
            "optimizer": QComboBox(self), "scheduler": QComboBox(self),
            "warmup_epochs": QDoubleSpinBox(self, minimum=0, maximum=100, decimals=1),
            "grad_clip": QDoubleSpinBox(self, minimum=0, maximum=1000, decimals=2, singleStep=1,
                                        specialValueText="off"),
            "weight_decay": QDoubleSpinBox(self, minimum=0, maximum=1, decimals=6, singleStep=1e-4),
            "image_size": QSpinBox(self, minimum=16, maximum=4096, singleStep=32),
            "early_stopping_patience": QSpinBox(self, minimum=0, maximum=1000,
                                                specialValueText="off"),
            "device": QComboBox(self), "amp": QCheckBox("mixed precision on CUDA", self),
            "seed": QSpinBox(self, minimum=0, maximum=2**31 - 1),
            "max_steps_per_epoch": QSpinBox(self, minimum=0, maximum=10**6, specialValueText="all"),
            "max_val_batches": QSpinBox(self, minimum=0, maximum=10**6, specialValueText="all"),
            "name": QLineEdit(self, placeholderText="(automatic)"),
        }
        w["optimizer"].addItems(list(OPTIMIZERS))
        w["scheduler"].addItems(list(SCHEDULERS))
        w["device"].addItems(list(DEVICES))
        labels = {"lr": "Learning rate", "batch_size": "Batch size", "warmup_epochs": "Warm-up epochs",
                  "grad_clip": "Gradient clipping (max norm)",
                  "weight_decay": "Weight decay", "image_size": "Image size (px)",
                  "early_stopping_patience": "Early stopping after", "amp": "AMP",
                  "max_steps_per_epoch": "Max steps / epoch", "max_val_batches": "Max val batches",
                  "name": "Run name"}
        form = QFormLayout(self)
        for key, widget in w.items():
            widget.setObjectName(key)
            form.addRow(labels.get(key, key.replace("_", " ").capitalize()), widget)
        w["grad_clip"].setToolTip("Largest gradient norm per step (0 = off). Keeps a new "
                                  "detection or segmentation head from diverging to NaN.")
        self.w = w

    def to_dict(self) -> dict[str, Any]:
        """The section's TrainConfig fields."""
        w = self.w
        out: dict[str, Any] = {}
        for key, widget in w.items():
            if isinstance(widget, QComboBox):
                out[key] = widget.currentText()
            elif isinstance(widget, QCheckBox):
                out[key] = widget.isChecked()
            elif isinstance(widget, QLineEdit):
                out[key] = widget.text().strip()
            else:
                out[key] = widget.value()
        for key in ("max_steps_per_epoch", "max_val_batches"):
            out[key] = out[key] or None  # 0 shows "all"
        out["grad_clip"] = float(out["grad_clip"])  # 0 = off (None would mean "default")
        # a short run's default warm-up is long (core.training.defaults.short_run): fewer
        # epochs chosen afterwards shorten it with them, as the CLI's fill_defaults does
        out["warmup_epochs"] = min(out["warmup_epochs"], float(out["epochs"]))
        return out

    def set_dict(self, data: dict[str, Any]) -> None:
        """Show the fields of ``data`` present here (``None`` caps show "all")."""
        for key, value in data.items():
            widget = self.w.get(key)
            if widget is None:
                continue
            if isinstance(widget, QComboBox):
                widget.setCurrentText(str(value))
            elif isinstance(widget, QCheckBox):
                widget.setChecked(bool(value))
            elif isinstance(widget, QLineEdit):
                widget.setText(value or "")
            else:
                widget.setValue(value if value is not None else 0)


class WheelGuard(QObject):
    """Event filter: a spin box or combo box takes the mouse wheel only when it has the
    keyboard focus; otherwise the wheel scrolls the form (the nearest scroll area), so
    scrolling past a field never changes a setting."""

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        if event.type() != QEvent.Type.Wheel or not isinstance(obj, QWidget) or obj.hasFocus():
            return False
        area = obj.parentWidget()
        while area is not None and not isinstance(area, QAbstractScrollArea):
            area = area.parentWidget()
        if area is not None:
            QApplication.sendEvent(area.verticalScrollBar(), event)
        return True


COMBO_MIN_WIDTH = 120
"""Pixels a Model-form combo box may shrink to (its text is then elided)."""


def guard_wheel(root: QWidget, guard: WheelGuard) -> None:
    """Install ``guard`` on every spin box and combo box under ``root`` (they then take
    the focus by click or Tab, not by the wheel); combo boxes stop asking for the width
    of their longest item (a long file name must not widen the form).

    The explicit minimum width matters: QComboBox caches its minimum size hint and a
    later ``setSizeAdjustPolicy`` does not reset it (Qt 6.11), so a combo box that had
    been laid out with its first policy kept asking for its longest item (the strategy
    list 373 px, the task list 302 px: the Model form scrolled sideways at 1280 px)."""
    for w in root.findChildren(QAbstractSpinBox) + root.findChildren(QComboBox):
        w.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        w.installEventFilter(guard)
    for c in root.findChildren(QComboBox):
        c.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        c.setMinimumContentsLength(18)
        c.setMinimumWidth(COMBO_MIN_WIDTH)


def watch_changes(root: QWidget, slot: Callable[[], None]) -> None:
    """Call ``slot()`` whenever any setting under ``root`` changes (spin boxes, combo
    boxes, check boxes, line edits)."""
    for w in root.findChildren(QSpinBox) + root.findChildren(QDoubleSpinBox):
        w.valueChanged.connect(lambda _v: slot())
    for c in root.findChildren(QComboBox):
        c.currentIndexChanged.connect(lambda _i: slot())
    for b in root.findChildren(QCheckBox):
        b.toggled.connect(lambda _on: slot())
    for e in root.findChildren(QLineEdit):
        e.textChanged.connect(lambda _t: slot())
