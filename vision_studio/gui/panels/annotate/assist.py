"""Model assistance in the Annotate panel (issue 14): its actions and its tool bar.

:class:`AssistTools` is created by the :class:`~.panel.AnnotatePanel` and owns

* the actions "Pre-label with model…", "Accept proposal" (Enter), "Accept all shown
  proposals" (Shift+Enter), "Reject proposal" (Backspace), "Smart polygon tool" (G),
  "Score unlabelled images…" and "Label next" (L), which the main window also puts in
  its Annotate menu (:meth:`menu_actions`);
* a second tool bar under the panel's own: the proposals' score slider and count, the
  review buttons, the smart polygon's tolerance, and Label next;
* per canvas: a :class:`~.proposals.ProposalReview` and a
  :class:`~vision_studio.gui.widgets.smart_polygon_tool.SmartPolygonTool`.

The review keys are handled by the canvas's event filter (they only act when there is
a proposal to act on, so Enter still closes a polygon and Backspace still deletes a
shape); the menu entries show the keys and run the same code. The number keys 1–9 are
the panel's category actions (:mod:`~.keys`): with a proposal selected (and no shape)
they accept it under category n, as edited when the model proposed another.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QDoubleSpinBox, QLabel, QSlider, QToolBar, QWidget

from vision_studio.core.evaluation.session import checkpoint_file
from vision_studio.core.types import ImageRecord, Task
from vision_studio.core.wording import plural
from vision_studio.gui.panels.annotate.label_next import LabelNext
from vision_studio.gui.panels.annotate.prelabel_job import PrelabelController
from vision_studio.gui.panels.annotate.proposals import ProposalReview
from vision_studio.gui.widgets.smart_polygon_tool import DEFAULT_TOLERANCE_PX, SmartPolygonTool

if TYPE_CHECKING:  # the panel imports this module
    from vision_studio.gui.panels.annotate.panel import AnnotatePanel

log = logging.getLogger(__name__)

DEFAULT_SCORE = 0.5
"""Proposals scoring below this are hidden until the slider is moved."""

# (name, text, menu key shown, real shortcut, tooltip)
SPECS: tuple[tuple[str, str, str, str, str], ...] = (
    ("prelabel", "Pre-label with model…", "", "",
     "Run a checkpoint of the project on its images and show the results as proposals"),
    ("accept_proposal", "Accept proposal", "Return", "",
     "Make the selected proposal an annotation (Enter on the canvas)"),
    ("accept_all_proposals", "Accept all shown proposals", "Shift+Return", "",
     "Accept every proposal shown on this image (Shift+Enter on the canvas)"),
    ("reject_proposal", "Reject proposal", "Backspace", "",
     "Delete the selected proposal (Backspace on the canvas)"),
    ("reject_all_proposals", "Reject all shown proposals", "Shift+Backspace", "",
     "Delete every proposal shown on this image, e.g. the rest after accepting the good ones "
     "(Shift+Backspace on the canvas)"),
    ("smart_polygon", "Smart polygon tool", "", "G",
     "Drag a box around an object (or click a box) to get its polygon; paint strokes to "
     "refine (left: object, Shift+left: background); Enter keeps it, Esc cancels"),
    ("smart_model", "Smart polygon by the project's model", "", "",
     "Outline with the project's newest instance-segmentation checkpoint, loaded in the "
     "background when the smart polygon is first used (GrabCut until it is ready, and "
     "where it finds nothing in the box); off: GrabCut"),
    ("score_queue", "Score unlabelled images…", "", "",
     "Rank the unlabelled images by how unsure the model is about them (background)"),
    ("label_next", "Label next", "", "L",
     "Show the unlabelled image the model is most unsure about"),
)
SHORT = {"prelabel": "Pre-label…", "accept_proposal": "Accept", "accept_all_proposals": "Accept all",
         "reject_proposal": "Reject", "reject_all_proposals": "Reject all", "smart_polygon": "Smart polygon",
         "smart_model": "by model", "score_queue": "Score…",
         "label_next": "Label next"}


class AssistTools(QObject):
    """Pre-labelling, proposal review, smart polygons and Label next for ``panel``.

    Attributes:
        actions: ``{name: QAction}`` of :data:`SPECS`.
        review: The current canvas's :class:`ProposalReview` (None without a project).
        smart: The current canvas's :class:`SmartPolygonTool`.
        prelabel: The :class:`PrelabelController` (dialog and background job).
        queue: The :class:`LabelNext` controller (scoring job and browser order).
    """

    def __init__(self, panel: AnnotatePanel) -> None:
        super().__init__(panel)
        self.panel = panel
        self.review: ProposalReview | None = None
        self.smart: SmartPolygonTool | None = None
        self.segmentation_checkpoint: Path | None = None
        self.actions: dict[str, QAction] = {}
        self._build_actions()
        self.prelabel = PrelabelController(panel.state, panel)
        self.prelabel.proposalsAdded.connect(self._on_proposals_added)
        self.queue = LabelNext(panel.state, panel.model, panel.browser, panel)
        self.queue.add_actions(self.actions["score_queue"], self.actions["label_next"])
        self.toolbar = self._build_toolbar(panel)
        panel.state.runsChanged.connect(self._find_segmentation_model)
        panel.state.projectClosed.connect(self._detach)
        panel.categories.hiddenCategoriesChanged.connect(
            lambda ids: self.review is not None and self.review.set_hidden_categories(set(ids)))

    # ------------------------------------------------------------------ building
    def _build_actions(self) -> None:
        handlers = {"prelabel": lambda: self.prelabel.ask(),
                    "accept_proposal": lambda: self.review is not None and self.review.accept_selected(),
                    "accept_all_proposals": lambda: self.review is not None and self.review.accept_shown(),
                    "reject_proposal": lambda: self.review is not None and self.review.reject_selected(),
                    "reject_all_proposals": lambda: self.review is not None and self.review.reject_shown(),
                    "smart_polygon": lambda: self.panel.set_tool("smart_polygon"),
                    "smart_model": self._apply_smart_model,
                    "score_queue": lambda: self.queue.ask(),
                    # the keys (Enter, Backspace, 1-9) go to the image shown, not to the button
                    "label_next": lambda: self.queue.label_next() and self.panel.focus_canvas()}
        for name, text, shown_key, key, tip in SPECS:
            act = QAction(text, self.panel)
            act.setIconText(SHORT[name])
            keys = key or shown_key
            act.setToolTip(f"{tip} ({keys})" if keys else tip)
            act.setStatusTip(tip)
            if key:
                act.setShortcut(QKeySequence(key))
                act.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
                self.panel.addAction(act)
            elif shown_key:  # shown in menus; the canvas's event filter does the work
                act.setShortcut(QKeySequence(shown_key))
                act.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
            act.triggered.connect(handlers[name])
            self.actions[name] = act
        self.actions["smart_model"].setCheckable(True)
        self.actions["smart_model"].setEnabled(False)
        smart = self.actions["smart_polygon"]
        smart.setCheckable(True)
        group = self.panel.actions["select"].actionGroup()
        if group is not None:
            group.addAction(smart)

    def _build_toolbar(self, parent: QWidget) -> QToolBar:
        bar = QToolBar("Model assist", parent)
        bar.addAction(self.actions["prelabel"])
        bar.addWidget(QLabel(" Score ≥ ", bar))
        self.score_slider = QSlider(Qt.Orientation.Horizontal, bar)
        self.score_slider.setRange(0, 100)
        self.score_slider.setValue(round(DEFAULT_SCORE * 100))
        self.score_slider.setFixedWidth(110)
        self.score_slider.setToolTip("Hide proposals scoring below this")
        # after a click or drag on it the keys (Enter, 1-9, Backspace) go to the canvas again
        self.score_slider.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.score_slider.sliderReleased.connect(self.panel.focus_canvas)
        self.score_slider.actionTriggered.connect(lambda _a: self.panel.focus_canvas())
        self.score_slider.valueChanged.connect(self._on_score)
        bar.addWidget(self.score_slider)
        self.score_label = QLabel(f"{DEFAULT_SCORE:.2f}", bar)
        bar.addWidget(self.score_label)
        self.count_label = QLabel("  no proposals ", bar)
        self.count_label.setToolTip("Proposals of this image at or above the score")
        # the buttons after it stay put while proposals are accepted one by one
        self.count_label.setMinimumWidth(self.count_label.fontMetrics().horizontalAdvance("  99 proposals shown "))
        bar.addWidget(self.count_label)
        for name in ("accept_proposal", "accept_all_proposals", "reject_proposal", "reject_all_proposals"):
            bar.addAction(self.actions[name])
        bar.addSeparator()
        bar.addAction(self.actions["smart_polygon"])
        bar.addAction(self.actions["smart_model"])
        self.tolerance = QDoubleSpinBox(bar)
        self.tolerance.setPrefix("± ")
        self.tolerance.setRange(0.0, 20.0)
        self.tolerance.setSingleStep(0.5)
        self.tolerance.setSuffix(" px")
        self.tolerance.setValue(DEFAULT_TOLERANCE_PX)
        self.tolerance.setToolTip("Smart polygon: largest distance of the outline from the "
                                  "object's mask edge (Douglas-Peucker); 0 keeps every pixel step")
        self.tolerance.valueChanged.connect(lambda v: self.smart is not None and self.smart.set_tolerance(v))
        bar.addWidget(self.tolerance)
        return bar

    def menu_actions(self) -> list[QAction | None]:
        """The actions for the main window's Annotate menu (None = separator)."""
        a = self.actions
        return [None, a["prelabel"], a["accept_proposal"], a["accept_all_proposals"],
                a["reject_proposal"], a["reject_all_proposals"], None, a["smart_polygon"], a["smart_model"], None,
                a["score_queue"], a["label_next"]]

    # ------------------------------------------------------------------ hooks of the panel
    def attach(self, canvas) -> None:
        """A new canvas was made (project opened): review and smart tool for it."""
        self._detach()
        self.review = ProposalReview(canvas, self.score_slider.value() / 100.0)
        self.review.countsChanged.connect(self._on_counts)
        self.review.set_hidden_categories(set(self.panel.categories.hidden_category_ids()))
        self.smart = SmartPolygonTool(canvas, self.tolerance.value())
        self.smart.set_active(self.actions["smart_polygon"].isChecked())
        self._find_segmentation_model()

    def _detach(self) -> None:
        """The project closed: its canvas goes (deleted later), and with it the review
        and the smart tool."""
        if self.smart is not None:
            self.smart.shutdown()
        self.review = self.smart = None
        self._on_counts(0, 0)

    def image_shown(self, _image: ImageRecord) -> None:
        """The canvas shows another image: its proposals."""
        if self.review is not None:
            self.review.reload()
        if self.smart is not None:
            self.smart.cancel()

    def set_tool(self, tool: str) -> bool:
        """The panel switches tools; True when ``tool`` is the smart polygon (the canvas
        itself stays in "select", the smart tool's event filter takes the mouse)."""
        smart = tool == "smart_polygon"
        self.actions["smart_polygon"].setChecked(smart)
        if self.smart is not None:
            self.smart.set_active(smart)
        return smart

    # ------------------------------------------------------------------ slots
    def _find_segmentation_model(self) -> None:
        """The newest instance-segmentation checkpoint of the project, for the smart tool."""
        store, act = self.panel.state.store, self.actions["smart_model"]
        self.segmentation_checkpoint = None
        for run in reversed(store.runs() if store is not None else []):
            folder = Path(run.out_dir) if Path(run.out_dir).is_absolute() else store.root / run.out_dir
            if run.task == Task.INSTANCE_SEGMENTATION and checkpoint_file(folder).is_file():
                self.segmentation_checkpoint = checkpoint_file(folder)
                act.setText(f"Smart polygon by model {run.name}")
                break
        act.setEnabled(self.segmentation_checkpoint is not None)
        act.setChecked(self.segmentation_checkpoint is not None)
        self._apply_smart_model()

    def _apply_smart_model(self) -> None:
        if self.smart is not None:
            use = self.actions["smart_model"].isChecked() and self.segmentation_checkpoint is not None
            self.smart.set_checkpoint(self.segmentation_checkpoint if use else None)

    def _on_score(self, value: int) -> None:
        self.score_label.setText(f"{value / 100:.2f}")
        if self.review is not None:
            self.review.set_threshold(value / 100.0)

    def _on_counts(self, shown: int, total: int) -> None:
        if not total:
            self.count_label.setText("  no proposals ")
        else:
            hidden = f" ({total - shown} below the score)" if total > shown else ""
            self.count_label.setText(f"  {plural(shown, 'proposal')} shown{hidden} ")

    def _on_proposals_added(self, count: int) -> None:
        self.panel.model.invalidate_all()
        if self.review is not None:
            self.review.reload()
        self.panel.state.statusMessage.emit(f"Pre-labelling made {count:,} proposal(s)")

    def shutdown(self) -> None:
        """Stop the background jobs (before the window is destroyed)."""
        self.prelabel.shutdown()
        self.queue.shutdown()
        if self.smart is not None:
            self.smart.shutdown()
