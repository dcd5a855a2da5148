"""Mask painting in the Annotate panel (issue 19): its actions and its tool bar.

:class:`MaskTools` is created by the :class:`~.panel.AnnotatePanel` and owns the actions
"Brush" (B), "Eraser" (E), "Fill" (K) — tools of the panel's exclusive tool group — and
"Polygons → mask" (M), a tool bar with them, the brush size (``[`` / ``]``, Ctrl + wheel)
and where strokes may paint, and per canvas a
:class:`~vision_studio.gui.widgets.mask_paint.MaskPainter`. The painted category is the
category list's current one.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QComboBox, QLabel, QSpinBox, QToolBar, QWidget

from vision_studio.gui.widgets.mask_paint import (DEFAULT_RADIUS, MASK_TOOLS, MAX_RADIUS,
                                                  MIN_RADIUS, MaskPainter)

if TYPE_CHECKING:  # the panel imports this module
    from vision_studio.gui.panels.annotate.panel import AnnotatePanel

# (name, text, key, tooltip)
SPECS = (
    ("brush", "Mask brush", "B", "Paint the current category into the image's mask "
     "(semantic segmentation); [ and ] or Ctrl+wheel change the size"),
    ("eraser", "Mask eraser", "E", "Remove mask labels under the brush"),
    ("fill", "Mask fill", "K", "Give the current category to the connected region of "
     "pixels with the clicked pixel's label"),
    ("polygons_to_mask", "Polygons → mask", "M", "Turn the selected polygons (none "
     "selected: every polygon of the image) into mask pixels of their categories"),
)
SHORT = {"brush": "Brush", "eraser": "Eraser", "fill": "Fill", "polygons_to_mask": "Poly→mask"}
LIMIT_TEXT = (("everywhere", "Paint everywhere"),
              ("inside", "Only inside existing labels"),
              ("outside", "Only outside existing labels"))


class MaskTools(QObject):
    """The mask tools of ``panel`` (see the module docstring).

    Attributes:
        actions: ``{name: QAction}`` of :data:`SPECS`.
        painter: The current canvas's :class:`MaskPainter` (None without a project).
        toolbar: The tool bar (size, limit).
    """

    def __init__(self, panel: AnnotatePanel) -> None:
        super().__init__(panel)
        self.panel = panel
        self.painter: MaskPainter | None = None
        self.actions: dict[str, QAction] = {}
        group = panel.actions["select"].actionGroup()
        for name, text, key, tip in SPECS:
            act = QAction(text, panel)
            act.setIconText(SHORT[name])
            act.setShortcut(QKeySequence(key))
            act.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
            act.setToolTip(f"{tip} ({key})")
            act.setStatusTip(tip)
            if name in MASK_TOOLS:
                act.setCheckable(True)
                if group is not None:
                    group.addAction(act)
                act.triggered.connect(lambda _c=False, t=name: panel.set_tool(t))
            else:
                act.triggered.connect(self.polygons_to_mask)
            panel.addAction(act)
            self.actions[name] = act
        self.toolbar = self._build_toolbar(panel)

    def _build_toolbar(self, parent: QWidget) -> QToolBar:
        bar = QToolBar("Mask painting", parent)
        for name in ("brush", "eraser", "fill", "polygons_to_mask"):
            bar.addAction(self.actions[name])
        bar.addWidget(QLabel(" size ", bar))
        self.size = QSpinBox(bar)
        self.size.setRange(int(MIN_RADIUS), int(MAX_RADIUS))
        self.size.setValue(int(DEFAULT_RADIUS))
        self.size.setSuffix(" px")
        self.size.setToolTip("Brush radius in image pixels ([ and ], or Ctrl+wheel on the image)")
        self.size.valueChanged.connect(lambda v: self.painter is not None and self.painter.set_radius(v))
        bar.addWidget(self.size)
        self.limit = QComboBox(bar)
        for key, text in LIMIT_TEXT:
            self.limit.addItem(text, key)
        self.limit.setToolTip("Where the brush and fill may paint: everywhere, only over "
                              "pixels that already have a label, or only unlabelled pixels")
        self.limit.currentIndexChanged.connect(
            lambda _i: self.painter is not None and self.painter.set_limit(self.limit.currentData()))
        bar.addWidget(self.limit)
        return bar

    def menu_actions(self) -> list[QAction]:
        """The actions for the main window's Annotate menu."""
        return [self.actions[n] for n, *_ in SPECS]

    # ------------------------------------------------------------------ hooks of the panel
    def attach(self, canvas) -> None:
        """A new canvas was made (project opened): a painter for it."""
        self.painter = MaskPainter(canvas)
        self.painter.set_radius(self.size.value())
        self.painter.set_limit(self.limit.currentData())
        self.painter.radiusChanged.connect(lambda r: self.size.setValue(round(r)))
        for name in MASK_TOOLS:
            if self.actions[name].isChecked():
                self.painter.set_tool(name)

    def set_tool(self, tool: str) -> bool:
        """The panel switches tools; True when ``tool`` is a mask tool (the canvas stays in
        "select" and the painter's event filter takes the mouse)."""
        mask = tool in MASK_TOOLS
        if mask:
            self.actions[tool].setChecked(True)
        if self.painter is not None:
            self.painter.set_tool(tool if mask else "")
        return mask

    def polygons_to_mask(self) -> bool:
        """Polygons → mask on the current image (one undo step)."""
        return self.painter is not None and self.painter.polygons_to_mask()
