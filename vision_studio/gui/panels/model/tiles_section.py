"""The Model panel's "Large images: tiled training" section (issue 17).

Detection, instance and semantic segmentation can train on overlapping tiles of large
images (:mod:`vision_studio.core.large.tiled_training`): a choice Automatic / Always /
Never (``TrainConfig.tiles``), the Automatic threshold in pixels
(``tile_auto_min_side``) and the overlap (``tile_overlap``). The rule and its numbers are
read from the core's constants; a one-line hint says what the choice does to this
project's images at the chosen image size. Classification never tiles: the controls are
disabled and the hint says why.
"""
from __future__ import annotations

from typing import Any, Sequence

from PySide6.QtWidgets import QComboBox, QDoubleSpinBox, QFormLayout, QGroupBox, QSpinBox, QWidget

from vision_studio.core.large import tiled_training as tt
from vision_studio.core.large.tiles import DEFAULT_MIN_SIDE, DEFAULT_MIN_VISIBLE
from vision_studio.core.types import Task
from vision_studio.core.wording import plural
from vision_studio.gui.panels.model.wrap_label import WrapLabel

CHOICES = (("Automatic", "auto"), ("Always", "on"), ("Never", "off"))
"""Shown name and ``TrainConfig.tiles`` value."""


def rule_text(auto_min_side: int) -> str:
    """The tiling and clipping rule in words, with the core's numbers."""
    return (f"Automatic: an image is trained as tiles when its longer side exceeds both "
            f"{auto_min_side} px and {tt.AUTO_FACTOR:g} × the image size (each tile is the image "
            f"size). Always: every image larger than one tile. A box cut by a tile's edge is kept "
            f"when at least {DEFAULT_MIN_VISIBLE:.0%} of its area and {DEFAULT_MIN_SIDE:g} px on each "
            f"side remain; smaller remnants are dropped. Validation uses whole images.")


def hint_text(plan: tt.TilingPlan, mode: str, tile: int, overlap: float, auto_min_side: int) -> str:
    """One line: what ``mode`` does to the project's images (``plan``) at ``tile`` px."""
    if plan.total == 0:
        return "No images in the project yet."
    of = f"{plan.tiled} of {plural(plan.total, 'image')}"
    are = "is" if plan.tiled == 1 else "are"
    how = f"tiles of {tile} px with {overlap:.0%} overlap ({plural(plan.tiles, 'tile')} in all)"
    if mode == "off":
        big = (f"; {plan.larger} of them {'is' if plan.larger == 1 else 'are'} larger than "
               f"{auto_min_side} px") if plan.larger else ""
        whole = "the image is" if plan.total == 1 else f"all {plural(plan.total, 'image')} are"
        return f"Never: {whole} resized whole to {tile} px{big}."
    if mode == "on":
        if not plan.tiled:
            return f"None of the {plural(plan.total, 'image')} is larger than one tile ({tile} px): nothing is tiled."
        return f"{of} {are} larger than one tile: {'it' if plan.tiled == 1 else 'they'} will be trained as {how}."
    if plan.tiled:
        rest = plan.larger - plan.tiled
        more = (f"; {rest} more larger than {auto_min_side} px but not {tt.AUTO_FACTOR:g} × {tile} px "
                f"{'is' if rest == 1 else 'are'} resized whole") if rest > 0 else ""
        return (f"{of} {are} larger than {auto_min_side} px and {tt.AUTO_FACTOR:g} × {tile} px: "
                f"{'it' if plan.tiled == 1 else 'they'} will be trained as {how}{more}.")
    if plan.larger:
        return (f"{plan.larger} of {plural(plan.total, 'image')} {'is' if plan.larger == 1 else 'are'} "
                f"larger than {auto_min_side} px but not {tt.AUTO_FACTOR:g} × {tile} px: none is tiled.")
    return f"None of the {plural(plan.total, 'image')} is larger than {auto_min_side} px: none is tiled."


class TilesSection(QGroupBox):
    """Tiles choice, Automatic threshold, overlap, the rule and the project's hint.

    Attributes:
        mode: The Automatic / Always / Never combo box (data: the config value).
        min_side: The Automatic threshold (px).
        overlap: The overlap fraction.
        rule / hint: The rule's text and the one line about this project.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Large images: tiled training", parent)
        self.mode = QComboBox(self, objectName="tiles")
        for label, value in CHOICES:
            self.mode.addItem(label, value)
        self.min_side = QSpinBox(self, objectName="tile_auto_min_side", minimum=0, maximum=10**6,
                                 singleStep=100, suffix=" px", value=tt.AUTO_MIN_SIDE)
        self.overlap = QDoubleSpinBox(self, objectName="tile_overlap", minimum=0.0, maximum=0.9,
                                      decimals=2, singleStep=0.05, value=0.2)
        self.hint = WrapLabel(self, objectName="tiles_hint")
        self.rule = WrapLabel(self, objectName="tiles_rule")
        self.rule.setStyleSheet("color: palette(placeholder-text);")
        form = QFormLayout(self)
        form.addRow("Tiles", self.mode)
        form.addRow("Automatic above", self.min_side)
        form.addRow("Overlap (fraction of a tile)", self.overlap)
        form.addRow(self.hint)
        form.addRow(self.rule)
        self._sizes: list[tuple[int, int]] = []
        self._task = Task.CLASSIFICATION
        self._tile = 224
        self.mode.currentIndexChanged.connect(lambda _i: self.update_hint())
        self.min_side.valueChanged.connect(lambda _v: self.update_hint())
        self.overlap.valueChanged.connect(lambda _v: self.update_hint())
        self.update_hint()

    # ------------------------------------------------------------------ inputs
    def set_sizes(self, sizes: Sequence[tuple[int, int]]) -> None:
        """The project's image sizes, ``(width, height)`` pixels."""
        self._sizes = [(int(w), int(h)) for w, h in sizes]
        self.update_hint()

    def set_task(self, task: str) -> None:
        self._task = task
        self.update_hint()

    def set_image_size(self, size: int) -> None:
        """The model input size (the tile side), pixels."""
        self._tile = int(size)
        self.update_hint()

    # ------------------------------------------------------------------ config
    def to_dict(self) -> dict[str, Any]:
        """The section's TrainConfig fields (``tiles``, ``tile_overlap``, ``tile_auto_min_side``)."""
        return {"tiles": self.mode.currentData(), "tile_overlap": round(self.overlap.value(), 4),
                "tile_auto_min_side": self.min_side.value()}

    def set_dict(self, data: dict[str, Any]) -> None:
        """Show the tiling fields of a TrainConfig dict (absent ones keep their value)."""
        if "tiles" in data:
            self.mode.setCurrentIndex(max(0, self.mode.findData(data["tiles"])))
        if "tile_overlap" in data:
            self.overlap.setValue(float(data["tile_overlap"]))
        if "tile_auto_min_side" in data:
            self.min_side.setValue(int(data["tile_auto_min_side"]))

    # ------------------------------------------------------------------ text
    def update_hint(self) -> None:
        """Enable the controls for the task and rewrite the rule, tooltips and hint."""
        applies = self._task != Task.CLASSIFICATION
        mode = self.mode.currentData()
        for w in (self.mode, self.overlap):
            w.setEnabled(applies)
        self.min_side.setEnabled(applies and mode == "auto")
        rule = rule_text(self.min_side.value())
        self.rule.setText(rule)
        for w in (self.mode, self.min_side):
            w.setToolTip(rule)
        self.overlap.setToolTip(f"Fraction of a tile shared by neighbouring tiles: an object smaller than "
                                f"{self.overlap.value():.0%} of {self._tile} px appears whole in at least one tile.")
        if not applies:
            self.hint.setText("Classification trains on whole images: tiling applies to detection "
                              "and segmentation.")
            return
        plan = tt.tiling_plan(self._sizes, self._task, self._tile, mode, self.overlap.value(),
                              self.min_side.value())
        self.hint.setText(hint_text(plan, mode, self._tile, self.overlap.value(), self.min_side.value()))
