"""The Model panel: configure a training run and start it on the shared engine.

Left: task, architecture and weights, transfer strategy, hyperparameters, tiled training
of large images. Right: augmentation with a live preview on a real project image, the
train/validation split (with a stratified re-split), the checks shown before a run
starts. Below, the buttons to save / load the settings (a ``TrainConfig`` JSON the CLI
accepts), to export them with the command lines for another machine, and to start.
"""
from __future__ import annotations

import logging
import random
from pathlib import Path
from typing import Any

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import (QCheckBox, QDoubleSpinBox, QFormLayout, QGroupBox, QHBoxLayout,
                               QMessageBox, QPushButton, QScrollArea, QVBoxLayout, QWidget)

from vision_studio.core.errors import ConfigError, VisionStudioError
from vision_studio.core.training.config import TrainConfig
from vision_studio.core.types import Task
from vision_studio.core.training import checks as advice
from vision_studio.core.wording import plural
from vision_studio.gui.panels.model.buttons import button_row
from vision_studio.gui.panels.model.launch import Launcher, error_label
from vision_studio.gui.panels.model.preview import AugmentationPreview, augmented_samples
from vision_studio.gui.panels.model.sections import (ArchSection, HyperSection, StrategySection,
                                                     WheelGuard, guard_wheel, watch_changes)
from vision_studio.gui.panels.model.tiles_section import TilesSection
from vision_studio.gui.state import AppState
from vision_studio.gui.panels.model.wrap_label import WrapLabel

log = logging.getLogger(__name__)


class ModelPanel(QWidget):
    """Configure and start training on the project in ``state``.

    Attributes:
        arch / strategy / hyper: The form sections.
        preview: The :class:`AugmentationPreview`.
        warnings: The label listing :func:`advice.training_warnings`.
        snapshot: The current task's snapshot (``None`` without labels).
    """

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.snapshot: Any = None
        self._restoring = False
        self.arch = ArchSection(self)
        self.strategy = StrategySection(self)
        self.hyper = HyperSection(self)
        self.hyper.set_dict(TrainConfig().to_dict())
        self.tiles = TilesSection(self)
        self.tiles.set_image_size(self.hyper.w["image_size"].value())
        self.hyper.w["image_size"].valueChanged.connect(self.tiles.set_image_size)
        left = QWidget(self)
        lv = QVBoxLayout(left)
        for w in (self.arch, self.strategy, self.hyper, self.tiles):
            lv.addWidget(w)
        lv.addStretch(1)
        right = QWidget(self)
        rv = QVBoxLayout(right)
        rv.addWidget(self._augment_box())
        rv.addWidget(self._split_box())
        rv.addWidget(self._checks_box())
        rv.addStretch(1)
        outer = QVBoxLayout(self)
        row = QHBoxLayout()
        self.scrolls = []
        for w in (left, right):
            scroll = QScrollArea(self)
            scroll.setWidgetResizable(True)
            scroll.setWidget(w)
            row.addWidget(scroll, 1)
            self.scrolls.append(scroll)
        outer.addLayout(row, 1)
        self.start_error = error_label(self, "start_error")
        outer.addWidget(self.start_error)
        outer.addLayout(button_row(self))  # outside the scroll areas: always visible
        self.launcher = Launcher(self, self.start_error)
        from vision_studio.gui.help_texts import apply_model_tooltips  # issue 19: plain words

        apply_model_tooltips(self)
        self._wheel_guard = WheelGuard(self)
        guard_wheel(self, self._wheel_guard)
        self._save_timer = QTimer(self, singleShot=True, interval=400)
        self._save_timer.timeout.connect(self.persist)
        watch_changes(self, self._save_timer.start)
        self.arch.taskChanged.connect(self._on_task)
        self.arch.archChanged.connect(self._on_arch)
        self.arch.downloadRequested.connect(self.download_weights)
        self._pending: str | None = None
        state.projectOpened.connect(lambda _s: self._project_opened())
        state.projectClosed.connect(self._on_closed)
        for sig in (state.imagesChanged, state.categoriesChanged):
            sig.connect(lambda *_: self.refresh())
        state.runsChanged.connect(self._fill_runs)
        state.startWeightsRequested.connect(self.use_checkpoint)
        state.engine.stateChanged.connect(lambda s: self.start.setEnabled(s == "idle"))
        self.setEnabled(False)

    # ------------------------------------------------------------------ layout
    def _augment_box(self) -> QGroupBox:
        box = QGroupBox("Augmentation", self)
        form = QFormLayout(box)
        self.aug_enabled = QCheckBox("augment training images", box, objectName="aug_enabled")
        self.aug = {k: QDoubleSpinBox(box, objectName=f"aug_{k}", minimum=0, maximum=mx,
                                      decimals=2, singleStep=step)
                    for k, mx, step in (("hflip", 1, 0.1), ("vflip", 1, 0.1),
                                        ("rotation", 180, 5), ("color_jitter", 1, 0.1),
                                        ("scale_lo", 4, 0.05), ("scale_hi", 4, 0.05))}
        self.aug["scale_lo"].setMinimum(0.05)
        self.aug["scale_hi"].setMinimum(0.05)
        form.addRow(self.aug_enabled)
        names = {"hflip": "Horizontal flip (probability)", "vflip": "Vertical flip (probability)",
                 "rotation": "Rotation (± degrees)", "color_jitter": "Colour jitter",
                 "scale_lo": "Scale from", "scale_hi": "Scale to"}
        for k, w in self.aug.items():
            form.addRow(names[k], w)
            w.valueChanged.connect(lambda _v: self.update_preview())
        self.aug_enabled.toggled.connect(lambda _v: self.update_preview())
        self.preview = AugmentationPreview(box)
        self.shuffle = QPushButton("Another image", box, objectName="preview_next")
        self.shuffle.clicked.connect(lambda: self.update_preview(new_image=True))
        form.addRow(self.preview)
        form.addRow(self.shuffle)
        self._preview_index = 0
        return box

    def _split_box(self) -> QGroupBox:
        box = QGroupBox("Train / validation split", self)
        form = QFormLayout(box)
        self.split_info = WrapLabel(box, objectName="split_info")
        self.val_split = QDoubleSpinBox(box, objectName="val_split", minimum=0.0, maximum=0.5,
                                        decimals=2, singleStep=0.05, value=0.2)
        self.resplit = QPushButton("Stratified re-split", box, objectName="resplit")
        self.resplit.setToolTip("Assign the labelled images (except test) to train / val, "
                                "keeping each class's proportion and augmented copies together")
        self.resplit.clicked.connect(lambda: self.stratified_resplit())
        form.addRow(self.split_info)
        form.addRow("Validation fraction", self.val_split)
        form.addRow(self.resplit)
        return box

    def _checks_box(self) -> QGroupBox:
        box = QGroupBox("Checks before training", self)
        v = QVBoxLayout(box)
        self.warnings = WrapLabel(box, objectName="warnings")
        self.blocking: list[str] = []  # error messages of the last checks: Start refuses
        v.addWidget(self.warnings)
        return box

    # ------------------------------------------------------------------ project
    def _project_opened(self) -> None:
        self.refresh(reset=True)

    def showEvent(self, event: Any) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        if self._pending is not None and self.state.store is not None:
            self.refresh(reset=self._pending == "reset")

    def refresh(self, reset: bool = False) -> None:
        """Re-read the project (labels, splits, runs); with ``reset``, choose the task
        from the labels and apply its defaults. Hidden, it waits until shown (listing
        the architectures loads torch: annotating must not wait for it)."""
        store = self.state.store
        if store is None:
            return
        if not self.isVisible():
            self._pending = "reset" if reset or self._pending == "reset" else "refresh"
            return
        self._pending = None
        self.setEnabled(True)
        self.tiles.set_sizes([(im.width, im.height) for im in store.images()])
        if reset:
            self.arch.forget_choice()
            self._restoring = True
            try:
                allowed = advice.allowed_tasks(advice.label_counts(store))
                self.arch.set_tasks(allowed)
                self.restore(allowed)
            finally:
                self._restoring = False
        else:
            self._load_snapshot()
        self._fill_runs()

    SETTING = "model_config"
    """The project setting holding the Model tab's last configuration (TrainConfig JSON)."""

    def persist(self) -> bool:
        """Save the current settings in the project (``settings`` key :data:`SETTING`);
        False when there is nothing valid to save (no project, a field out of range)."""
        if self._restoring or self.state.store is None or self._pending is not None:
            return False
        try:
            cfg = self.config()
        except ConfigError:
            return False
        cfg.out_dir = None
        try:
            self.state.store.set_setting(self.SETTING, cfg.to_dict())
        except VisionStudioError as exc:  # a read-only project: keep working
            log.warning("cannot save the Model settings: %s", exc)
            return False
        return True

    def restore(self, allowed: list[str]) -> bool:
        """Show the configuration saved in the project, if any (and for a task its
        labels allow); True if one was restored."""
        data = self.state.store.get_setting(self.SETTING)
        if not isinstance(data, dict):
            return False
        try:
            cfg = TrainConfig.from_dict(data)
            if allowed and cfg.task not in allowed:
                return False
            self.set_config(cfg)
        except (ConfigError, ValueError, TypeError) as exc:
            log.warning("saved Model settings not restored: %s", exc)
            return False
        return True

    def _on_closed(self) -> None:
        """Show nothing of the closed project: its split counts, checks, start error,
        preview image and run checkpoints go (the settings come back from the next
        project's own saved configuration when it opens)."""
        self._save_timer.stop()
        self.snapshot, self._pending = None, None
        self.launcher.clear()
        self.split_info.setText("")
        self.warnings.setText("")
        self.blocking = []
        self.preview.message("no project open")
        self.arch.set_runs([])
        self.hyper.w["name"].clear()  # a run name is the project's (its saved config has it)
        self.setEnabled(False)

    def _fill_runs(self) -> None:
        store = self.state.store
        if store is None:
            return
        runs = []
        for r in store.runs():
            folder = Path(r.out_dir) if Path(r.out_dir).is_absolute() else store.root / r.out_dir
            best = folder / "best.pt"
            if r.task == self.arch.current_task() and best.is_file():
                runs.append((r.name, str(best)))
        self.arch.set_runs(runs)

    def _load_snapshot(self) -> None:
        from vision_studio.core.data.snapshot import take_snapshot

        try:
            self.snapshot = take_snapshot(self.state.store, self.arch.current_task())
        except ConfigError:
            self.snapshot = None
        counts = advice.split_counts(self.snapshot)
        parts = [f"{n} {s or 'unassigned'}" for s, n in sorted(counts.items())]
        self.split_info.setText("Labelled images: " + (", ".join(parts) if parts else "none")
                                + ".\nWith ‘val’ images the project's split is used; otherwise "
                                  "the fraction below is split off (stratified).")
        self.update_warnings()
        self.update_preview()

    def _on_task(self, task: str) -> None:
        self.strategy.set_task(task)
        self.tiles.set_task(task)
        if self.state.store is None:
            return
        self._load_snapshot()
        self._apply_defaults()
        self._fill_runs()

    def _on_arch(self, _name: str) -> None:
        spec = self.arch.spec
        if spec is not None and self.state.store is not None:
            self._apply_defaults(only_size=True)

    def _apply_defaults(self, only_size: bool = False) -> None:
        from vision_studio.core.data.transforms_options import AUGMENTATION_DEFAULTS

        spec, task = self.arch.spec, self.arch.current_task()
        n = len(self.snapshot.samples) if self.snapshot else 0
        hp = advice.default_hyperparameters(task, n, spec.input_size if spec else 224)
        if only_size:
            self.hyper.set_dict({"image_size": hp["image_size"]})
            return
        self.hyper.set_dict(hp)
        self.strategy.select(advice.default_strategy(n, self.arch.current_weights() is not None))
        self.set_augmentation(AUGMENTATION_DEFAULTS[task])

    # ------------------------------------------------------------------ augmentation
    def augmentation(self) -> dict[str, Any]:
        """The ``augmentation`` field of the config."""
        a = self.aug
        return {"enabled": self.aug_enabled.isChecked(), "hflip": a["hflip"].value(),
                "vflip": a["vflip"].value(), "rotation": a["rotation"].value(),
                "color_jitter": a["color_jitter"].value(),
                "scale": [a["scale_lo"].value(), max(a["scale_lo"].value(), a["scale_hi"].value())]}

    def set_augmentation(self, opts: dict[str, Any]) -> None:
        from vision_studio.core.data.transforms_options import parse_augmentation

        full = parse_augmentation(self.arch.current_task(), opts)
        for w in list(self.aug.values()) + [self.aug_enabled]:
            w.blockSignals(True)
        self.aug_enabled.setChecked(full["enabled"])
        for k in ("hflip", "vflip", "rotation", "color_jitter"):
            self.aug[k].setValue(full[k])
        self.aug["scale_lo"].setValue(full["scale"][0])
        self.aug["scale_hi"].setValue(full["scale"][1])
        for w in list(self.aug.values()) + [self.aug_enabled]:
            w.blockSignals(False)
        self.update_preview()

    def update_preview(self, new_image: bool = False) -> None:
        """Redraw the preview: four augmented draws of a labelled project image."""
        snap, spec = self.snapshot, self.arch.spec
        if snap is None or spec is None or not self.isEnabled():
            self.preview.message("no labelled image for this task")
            return
        labelled = [s for s in snap.samples if s.label >= 0 or s.annotations]
        if not labelled:
            self.preview.message("no labelled image for this task")
            return
        if new_image:
            self._preview_index = random.randrange(len(labelled))
        sample = labelled[self._preview_index % len(labelled)]
        size = min(self.hyper.w["image_size"].value(), 384)
        try:
            items = augmented_samples(snap, sample, size, self.augmentation(), spec.mean,
                                      spec.std, n=4, seed=self._preview_index)
        except (VisionStudioError, OSError, ValueError) as exc:
            self.preview.message(f"{sample.rel_path}: {exc}")
            return
        self.preview.show_items(items, list(snap.class_names),
                                snap.task == Task.SEMANTIC_SEGMENTATION)

    # ------------------------------------------------------------------ split / checks
    def stratified_resplit(self, confirm: bool = True) -> bool:
        """Re-assign train/val of the labelled non-test images with the core's
        stratified, group-aware split (``val_split`` fraction, the seed field)."""
        from vision_studio.core.data.split import stratified_split

        snap = self.snapshot
        if snap is None or self.val_split.value() <= 0:
            return False
        pool = [s for s in snap.samples if s.split != "test"]
        if confirm and QMessageBox.question(
                self, "Re-split", f"Re-assign {plural(len(pool), 'image')} to train / val "
                f"({self.val_split.value():.0%} validation)?") != QMessageBox.StandardButton.Yes:
            return False
        try:
            train, val = stratified_split(pool, snap.task, self.val_split.value(),
                                          self.hyper.w["seed"].value())
        except ConfigError as exc:
            QMessageBox.warning(self, "Re-split", str(exc))
            return False
        splits = {s.image_id: "train" for s in train}
        splits.update({s.image_id: "val" for s in val})
        self.state.store.set_splits(splits)
        self.state.imagesChanged.emit()
        self.state.statusMessage.emit(f"Split: {len(train)} train / {len(val)} val")
        return True

    def update_warnings(self) -> list[str]:
        """Recompute and show the pre-training checks; returns them."""
        if self.state.store is None:
            return []
        try:
            checks = advice.run_checks(self.state.store, self.snapshot, self.config())
        except ConfigError:  # an out-of-range field is reported when Start is pressed
            checks = [advice.Check("warning", w)
                      for w in advice.training_warnings(self.state.store, self.snapshot)]
        self.blocking = [c.message for c in checks if c.severity == "error"]
        found = [str(c) for c in checks]
        self.warnings.setText("\n".join(("✖ " if c.severity == "error" else "⚠ ") + c.message
                                         for c in checks) if checks else "✓ No problems found.")
        return found

    # ------------------------------------------------------------------ config
    def config(self) -> TrainConfig:
        """The settings as a validated :class:`TrainConfig`.

        Raises:
            ConfigError: a setting out of range (names the field).
        """
        data = dict(task=self.arch.current_task(), arch=self.arch.arch.currentData() or "",
                    weights=self.arch.current_weights(), strategy=self.strategy.to_dict(),
                    augmentation=self.augmentation(), val_split=self.val_split.value())
        data.update(self.hyper.to_dict())
        data.update(self.tiles.to_dict())
        return TrainConfig.from_dict(data)

    def set_config(self, cfg: TrainConfig) -> None:
        """Show ``cfg`` in the widgets (task, arch, weights, strategy, all fields)."""
        i = self.arch.task.findData(cfg.task)
        self.arch.task.setCurrentIndex(i)
        self.arch.select_arch(cfg.arch)
        self.arch.set_weights(cfg.weights)
        self.strategy.set_dict(cfg.strategy)
        self.hyper.set_dict(cfg.to_dict())
        self.tiles.set_dict(cfg.to_dict())
        self.val_split.setValue(cfg.val_split)
        self.set_augmentation(cfg.augmentation)

    def save_config(self, path: str | Path) -> Path:
        """Write the settings as a TrainConfig JSON (``vision-studio train --config``)."""
        cfg = self.config()
        cfg.out_dir = None
        cfg.save(path)
        return Path(path)

    def load_config(self, path: str | Path) -> TrainConfig:
        """Read a TrainConfig JSON into the widgets. Raises ConfigError naming the file."""
        cfg = TrainConfig.load(path)
        self.set_config(cfg)
        return cfg

    # ------------------------------------------------------------------ actions
    def use_checkpoint(self, path: str) -> None:
        """Start the next run from an earlier run's checkpoint."""
        self._fill_runs()
        self.arch.set_weights(path)

    def start_training(self, confirm: bool = True) -> bool:
        """Validate, show the checks (asking to go on), fetch missing library weights
        (with progress, cancellable) and start on the shared engine. What goes wrong is
        said at once under the Start button."""
        if self.state.store is None:
            return False
        self.launcher.clear()
        try:
            cfg = self.config()
        except ConfigError as exc:
            self.launcher.start_failed(None, str(exc))
            return False
        found = self.update_warnings()
        if self.blocking:
            self.launcher.start_failed(None, "; ".join(self.blocking))
            return False
        if confirm and found and QMessageBox.question(
                self, "Start training?", "\n".join(found) + "\n\nStart anyway?"
        ) != QMessageBox.StandardButton.Yes:
            return False
        self.persist()
        if self.launcher.needs_download(cfg):
            return self.launcher.download(cfg.weights, then=lambda: self._submit(cfg))
        return self._submit(cfg)

    def _submit(self, cfg: TrainConfig) -> bool:
        try:
            self.state.engine.start(self.state.store.path, cfg)
        except VisionStudioError as exc:
            self.launcher.start_failed(cfg, str(exc))
            return False
        self.launcher.expect_start()
        self.state.statusMessage.emit(f"Training {cfg.arch} started")
        return True

    def download_weights(self, name: str) -> None:
        """Fetch library weights in a background thread with a progress bar and Cancel."""
        self.launcher.clear()
        self.launcher.download(name)

    def shutdown(self) -> None:
        """Save the settings and wait for a running download (before the window is
        destroyed)."""
        if self._save_timer.isActive():
            self._save_timer.stop()
            self.persist()
        self.launcher.shutdown()
