"""The Annotate panel: image browser (left), canvas with its tool bar (centre), categories,
image tags and the project's problems, the current image's in bold (right).

It owns the annotation keyboard workflow as ``QAction`` objects (``self.actions``) that
the main window also puts in its menus, so each key is discoverable with a tooltip:
D / A next / previous image, N next unlabelled image, W box, P polygon, V select, Del
delete, F fit, 0 zoom 1:1, 1–9 category (:mod:`~vision_studio.gui.panels.annotate.keys`),
Ctrl+C / Ctrl+V copy / paste, Ctrl+Shift+V paste on the next image.
Panels talk only through :class:`~vision_studio.gui.state.AppState`.
"""
from __future__ import annotations

import logging

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import (QHBoxLayout, QLabel, QSlider, QSplitter, QToolBar, QVBoxLayout,
                               QWidget)

from vision_studio.core.types import ImageRecord
from vision_studio.gui import settings
from vision_studio.gui.panels.annotate.assist import AssistTools
from vision_studio.gui.panels.annotate.browser import BrowserModel, ImageBrowser
from vision_studio.gui.panels.annotate.categories import CategoryPanel
from vision_studio.gui.panels.annotate.filters import FilterBar
from vision_studio.gui.panels.annotate.keys import NEXT_UNLABELLED_KEY, next_unlabelled, number_key
from vision_studio.gui.panels.annotate.mask_tools import MaskTools
from vision_studio.gui.panels.annotate.problems import ProblemsPane
from vision_studio.gui.state import AppState
from vision_studio.gui.widgets.canvas import AnnotationCanvas
from vision_studio.gui.widgets.elided import ElidedLabel
from vision_studio.gui.widgets.tags import ImageTagsWidget

log = logging.getLogger(__name__)

# (name, text, shortcut(s), tooltip) of the panel's actions, in menu order.
ACTION_SPECS: tuple[tuple[str, str, tuple[str, ...], str], ...] = (
    ("next", "Next image ▶", ("D",), "Show the next image of the list"),
    ("previous", "◀ Previous image", ("A",), "Show the previous image of the list"),
    ("next_unlabelled", "Next unlabelled image", (NEXT_UNLABELLED_KEY,),
     "Show the next image of the list that has no label yet"),
    ("select", "Select / edit tool", ("V",), "Select, move and resize shapes; drag vertices"),
    ("box", "Box tool", ("W",), "Draw a box: press, drag, release"),
    ("polygon", "Polygon tool", ("P",),
     "Draw a polygon: click the vertices; Enter, double-click or the first vertex closes it; "
     "Esc cancels; Backspace removes the last point"),
    ("delete", "Delete selected shapes", ("Del",), "Delete the selected shapes (undoable)"),
    ("copy", "Copy shapes", ("Ctrl+C",), "Copy the selected shapes"),
    ("paste", "Paste shapes", ("Ctrl+V",), "Paste copied shapes on this image"),
    ("paste_next", "Paste shapes on next image", ("Ctrl+Shift+V",),
     "Go to the next image and paste the copied shapes there"),
    ("fit", "Fit image", ("F",), "Zoom so the whole image fits"),
    ("zoom_1to1", "Zoom 1:1", ("0",), "One image pixel per screen pixel"),
)
SIDE_WIDTHS = (300, 260)
"""Widths of the browser and of the right-hand panel when the window has room (px)."""
# Short labels for the tool bar (the menus show the full text).
SHORT_TEXT = {"next": "Next ▶", "previous": "◀ Prev", "next_unlabelled": "Unlabelled ▶", "select": "Select", "box": "Box",
              "polygon": "Polygon", "delete": "Delete", "copy": "Copy", "paste": "Paste",
              "paste_next": "Paste ▶", "fit": "Fit", "zoom_1to1": "1:1"}


class AnnotatePanel(QWidget):
    """Browse, draw and edit annotations of the project in ``state``.

    Attributes:
        model: The browser's :class:`BrowserModel`.
        browser: The thumbnail grid.
        canvas: The :class:`AnnotationCanvas` of the current image.
        categories: The :class:`CategoryPanel`.
        actions: ``{name: QAction}`` for :data:`ACTION_SPECS` plus ``category_1`` …
            ``category_9``.
    """

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.model = BrowserModel(self, thumb_size=settings.thumbnail_size())
        self.browser = ImageBrowser(self.model, self)
        self.filters = FilterBar(self)
        self.canvas: AnnotationCanvas | None = None
        self.tags: ImageTagsWidget | None = None
        self.categories = CategoryPanel(state, self)
        self.problems = ProblemsPane(state, self)
        self._undo_index = state.undo_stack.index()
        self.image_label = ElidedLabel("No image", self)
        self.actions: dict[str, QAction] = {}
        self._build_actions()
        self._build_layout()
        self._connect()
        # issue 14 hook: pre-label, proposal review, smart polygon, Label next (assist.py)
        self.assist = AssistTools(self)
        self._canvas_box.insertWidget(1, self.assist.toolbar)
        self.browser.parentWidget().layout().insertWidget(1, self.assist.queue.widget)
        self.masks = MaskTools(self)  # issue 19 hook: mask brush / eraser / fill (mask_tools.py)
        self._canvas_box.insertWidget(2, self.masks.toolbar)
        # a click on a tool-bar button leaves the focus where Qt puts it (not the canvas):
        # the review keys (Enter, Backspace, 1-9) must work right after "Next ▶"
        for bar in self.findChildren(QToolBar):
            bar.actionTriggered.connect(lambda _a: self.focus_canvas())

    # ------------------------------------------------------------------ building
    def _build_actions(self) -> None:
        handlers = {
            "next": lambda: self.step(1), "previous": lambda: self.step(-1),
            "next_unlabelled": lambda: next_unlabelled(self),
            "select": lambda: self.set_tool("select"), "box": lambda: self.set_tool("box"),
            "polygon": lambda: self.set_tool("polygon"), "delete": self.delete_selection,
            "copy": lambda: self.canvas and self.canvas.copy_selection(),
            "paste": lambda: self.canvas and self.canvas.paste(), "paste_next": self.paste_next,
            "fit": lambda: self.canvas and self.canvas.fit(),
            "zoom_1to1": lambda: self.canvas and self.canvas.zoom_1to1(),
        }
        tools = QActionGroup(self)
        for name, text, keys, tip in ACTION_SPECS:
            act = QAction(text, self)
            act.setIconText(SHORT_TEXT[name])
            act.setShortcuts([QKeySequence(k) for k in keys])
            act.setToolTip(f"{tip} ({', '.join(keys)})")
            act.setStatusTip(tip)
            act.triggered.connect(handlers[name])
            if name in ("select", "box", "polygon"):
                act.setCheckable(True)
                tools.addAction(act)
            self.actions[name] = act
        self.actions["select"].setChecked(True)
        for n in range(1, 10):
            act = QAction(f"Category {n}", self)
            act.setShortcut(QKeySequence(str(n)))
            act.setToolTip(f"Category number {n} of the list: for the selected shapes, else "
                           f"accept the selected proposal as it, else the image's tag (when "
                           f"number keys tag), else the next shape ({n})")
            act.setStatusTip(f"Category number {n}: selected shapes, selected proposal, image tag "
                             "or next shape")
            act.triggered.connect(lambda _c=False, k=n: number_key(self, k))
            self.actions[f"category_{n}"] = act
        for act in self.actions.values():
            act.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
            self.addAction(act)  # active even when the panel is used without a main window

    def _build_toolbar(self) -> QToolBar:
        bar = QToolBar("Annotate tools", self)
        for name in ("previous", "next", "next_unlabelled", None, "select", "box", "polygon", None, "delete",
                     None, "fit", "zoom_1to1"):
            if name is None:
                bar.addSeparator()
            else:
                bar.addAction(self.actions[name])
        bar.addSeparator()
        self.brightness = self._slider(bar, "Brightness", -100, 100, 0)
        self.contrast = self._slider(bar, "Contrast", 10, 300, 100)
        return bar

    def _slider(self, bar: QToolBar, name: str, lo: int, hi: int, value: int) -> QSlider:
        bar.addWidget(QLabel(f" {name} ", bar))
        s = QSlider(Qt.Orientation.Horizontal, bar)
        s.setRange(lo, hi)
        s.setValue(value)
        s.setFixedWidth(80)
        s.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # the canvas gets the keys again after a drag
        s.sliderReleased.connect(self.focus_canvas)
        s.actionTriggered.connect(lambda _a: self.focus_canvas())
        s.setToolTip(f"{name} of the displayed image (double-click the label area to reset: "
                     "View → Reset display)")
        s.valueChanged.connect(self._apply_display)
        bar.addWidget(s)
        return s

    def _build_layout(self) -> None:
        left = QWidget(self)
        lv = QVBoxLayout(left)
        lv.setContentsMargins(2, 2, 2, 2)
        lv.addWidget(self.filters)
        lv.addWidget(self.browser, 1)
        centre = QWidget(self)
        cv = self._canvas_box = QVBoxLayout(centre)
        cv.setContentsMargins(0, 0, 0, 0)
        cv.addWidget(self._build_toolbar())
        cv.addWidget(self.image_label)
        self._placeholder = QLabel("Open or create a project (File menu) to start.", centre)
        self._placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        cv.addWidget(self._placeholder, 1)
        right = QWidget(self)
        rv = QVBoxLayout(right)
        rv.setContentsMargins(2, 2, 2, 2)
        rv.addWidget(QLabel("<b>Categories</b>", right))
        rv.addWidget(self.categories, 3)
        self.tags_box = QVBoxLayout()
        rv.addLayout(self.tags_box)
        rv.addWidget(self.problems, 2)
        self.splitter = QSplitter(Qt.Orientation.Horizontal, self)
        for w in (left, centre, right):
            self.splitter.addWidget(w)
        self.splitter.setStretchFactor(0, 0)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setStretchFactor(2, 0)
        # side panels may shrink below their contents' wish (they elide/scroll) so that
        # the canvas keeps room on a small screen (resizeEvent)
        self._side_min = (150, 180)
        left.setMinimumWidth(self._side_min[0])
        right.setMinimumWidth(self._side_min[1])
        self._squeezed = False
        self.splitter.setSizes([SIDE_WIDTHS[0], 900, SIDE_WIDTHS[1]])
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.splitter)

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt override
        """When the window gets narrow, side panels give way (to a quarter of the width
        each, not below their minimum) so the canvas keeps at least half; when it grows
        again, panels that gave way get back up to their first widths (seen under Xvfb:
        the window's first, small layout left them at 150 / 170 px for good, so the
        Label-next order and the category buttons were cut off on a 1600 px screen)."""
        super().resizeEvent(event)
        sizes, w = self.splitter.sizes(), self.splitter.width()
        if len(sizes) != 3 or w <= 0:
            return
        wish_left, wish_right = SIDE_WIDTHS
        if sizes[1] < w // 2:
            left = min(sizes[0], max(self._side_min[0], w // 4))
            right = min(sizes[2], max(self._side_min[1], w // 4))
            if (left, right) != (sizes[0], sizes[2]):
                self._squeezed = True
                self.splitter.setSizes([left, max(100, w - left - right), right])
        elif self._squeezed:
            left = max(sizes[0], min(wish_left, w // 4))
            right = max(sizes[2], min(wish_right, w // 4))
            self.splitter.setSizes([left, max(100, w - left - right), right])
            self._squeezed = left < wish_left or right < wish_right

    def _connect(self) -> None:
        st = self.state
        st.projectOpened.connect(self._on_project_opened)
        st.projectClosed.connect(self._on_project_closed)
        st.categoriesChanged.connect(self._on_categories_changed)
        st.annotationsChanged.connect(self.model.invalidate_image)
        st.imagesChanged.connect(self._on_images_changed)
        st.showImageRequested.connect(self.show_image_id)
        st.undo_stack.indexChanged.connect(self._on_undo_index)
        self.problems.imageRequested.connect(self.show_image_id)
        self.filters.filterChanged.connect(self._on_filter)
        self.model.countsChanged.connect(self.filters.set_counts)
        self.browser.imageSelected.connect(self._show)
        self.categories.currentCategoryChanged.connect(self._on_current_category)
        self.categories.selection_count = lambda: len(self.canvas.selected_ids) if self.canvas else 0
        self.categories.assignRequested.connect(
            lambda cid: self.canvas is not None and self.canvas.set_selection_category(cid))
        self.categories.hiddenCategoriesChanged.connect(
            lambda ids: self.canvas is not None and self.canvas.set_hidden_categories(set(ids)))

    def _on_current_category(self, category_id: int) -> None:
        # a row click only picks the next shape's category (issue 19: it used to relabel
        # the selection silently); relabelling is keys.number_key / assignRequested
        if self.canvas is not None and category_id:
            self.canvas.set_current_category(category_id, apply_to_selection=False)

    # ------------------------------------------------------------------ project
    def _on_project_opened(self, store) -> None:
        self._make_canvas(store)
        self.model.set_thumb_size(settings.thumbnail_size())  # Preferences may have changed it
        self.browser.apply_thumb_size()
        self.filters.populate(store)
        self.model.set_store(store)
        self.problems.refresh()
        if self.model.rowCount():
            self.browser.select_row(0)

    def _make_canvas(self, store) -> None:
        if self.canvas is not None:
            self._canvas_box.removeWidget(self.canvas)
            self.canvas.deleteLater()
        self._placeholder.hide()
        self.canvas = AnnotationCanvas(store, self.state.undo_stack, self)
        self._canvas_box.addWidget(self.canvas, 1)
        self.canvas.annotationsChanged.connect(self.state.annotationsChanged)
        self.canvas.statusMessage.connect(self.state.statusMessage)
        cid = self.categories.current_category_id()
        if cid:
            self.canvas.set_current_category(cid)
        self.canvas.set_hidden_categories(self.categories.hidden_category_ids())
        self.assist.attach(self.canvas)  # issue 14 hook
        self.masks.attach(self.canvas)  # issue 19 hook
        self._make_tags(store)
        for name in ("select", "box", "polygon"):
            if self.actions[name].isChecked():
                self.canvas.set_tool(name)

    def _make_tags(self, store) -> None:
        """Embed the image-tag widget (classification labels of the image)."""
        while self.tags_box.count():
            w = self.tags_box.takeAt(0).widget()
            if w is not None:
                w.deleteLater()
        self.tags = ImageTagsWidget(store, self.state.undo_stack, self)
        self.tags_box.addWidget(QLabel("<b>Image tags (classification)</b>", self))
        self.tags_box.addWidget(self.tags)

    def _on_project_closed(self) -> None:
        self.model.set_store(None)
        self.filters.populate(None)
        if self.canvas is not None:
            self._canvas_box.removeWidget(self.canvas)
            self.canvas.deleteLater()
            self.canvas = None
        self._placeholder.show()
        self.image_label.setText("No image")
        self.problems.refresh()

    def _on_categories_changed(self) -> None:
        self.filters.populate(self.state.store)
        self.model.invalidate_all()  # merges/deletes change counts on many images
        if self.canvas is not None:
            self.canvas.reload()

    def _on_images_changed(self) -> None:
        current = self.state.current_image
        self.filters.populate(self.state.store)
        self.model.refresh()
        self.problems.refresh()
        if not (current and self.browser.select_image(current.id)) and self.model.rowCount():
            self.browser.select_row(0)

    def _on_filter(self, flt) -> None:
        current = self.state.current_image
        self.model.set_filter(flt)
        if current is not None and self.browser.select_image(current.id):
            return
        if self.model.rowCount():
            self.browser.select_row(0)

    def _on_undo_index(self, index: int) -> None:
        """Refresh what the commands done or undone since the last index changed."""
        stack, old = self.state.undo_stack, self._undo_index
        self._undo_index = index
        cmds = [stack.command(i) for i in range(min(old, index), max(old, index))]
        if any(getattr(c, "changes_images", False) for c in cmds):
            self._on_images_changed()  # the image list itself changed
            return
        ids = {i for c in cmds for i in getattr(c, "image_ids", ())}
        if self.state.current_image is not None:
            ids.add(self.state.current_image.id)
        for image_id in ids:
            self.model.invalidate_image(image_id)
        if any(getattr(c, "changes_problems", False) for c in cmds):
            self.problems.refresh()

    # ------------------------------------------------------------------ navigation
    def _show(self, image: ImageRecord) -> None:
        if self.canvas is None:
            return
        self.canvas.show_image(image)
        self.assist.image_shown(image)  # issue 14 hook: its proposals
        self.state.set_current_image(image)
        row = self.browser.current_row()
        neighbours = [self.model.image_at(r) for r in (row + 1, row - 1, row + 2)]
        self.canvas.prefetch([im for im in neighbours if im is not None])
        store = self.state.store
        self.image_label.setText(f"{self.model.display_path(image)}   ({image.width} × "
                                 f"{image.height} px, split: {image.split or 'none'})   "
                                 f"{row + 1:,} / {self.model.rowCount():,}",
                                 tooltip=str(store.resolve(image)) if store else "")
        self.problems.set_current_image(image.id)
        if self.tags is not None:
            self.tags.set_image(image.id)

    def step(self, delta: int) -> bool:
        """Next (+1) / previous (-1) image of the list; False at either end."""
        ok = self.browser.step(delta)
        if not ok:
            self.state.statusMessage.emit("Last image of the list" if delta > 0
                                          else "First image of the list")
        return ok

    def show_image_id(self, image_id: int) -> bool:
        """Show ``image_id``, clearing the filter when it hides that image."""
        if self.browser.select_image(image_id):
            return True
        self.filters.search.clear()
        for combo in (self.filters.split, self.filters.category, self.filters.status):
            combo.setCurrentIndex(0)
        self.model.set_filter(self.filters.current_filter())
        return self.browser.select_image(image_id)

    # ------------------------------------------------------------------ tools
    def set_tool(self, tool: str) -> None:
        """Switch the canvas tool: ``"select"``, ``"box"``, ``"polygon"`` or
        ``"smart_polygon"`` (issue 14: the canvas stays in "select" under it)."""
        masked = self.masks.set_tool(tool)  # issue 19: mask tools also keep the canvas in "select"
        if self.assist.set_tool(tool) or masked:
            tool = "select"
        else:
            self.actions[tool].setChecked(True)
        if self.canvas is not None:
            self.canvas.set_tool(tool)
            self.canvas.setFocus()

    def focus_canvas(self) -> None:
        """Give the keyboard to the canvas (after a click on a tool-bar slider: a widget
        without focus hands a click's focus to the scroll area around it)."""
        if self.canvas is not None:
            self.canvas.setFocus()

    def delete_selection(self) -> None:
        """Delete the canvas's selected shapes (undoable); with a proposal selected,
        reject it (issue 14)."""
        if self.assist.review is not None and self.assist.review.reject_selected():
            return
        if self.canvas is not None:
            self.canvas.delete_selection()

    def paste_next(self) -> None:
        """Go to the next image and paste the copied shapes there."""
        if self.canvas is not None and self.step(1) and self.state.current_image is not None:
            self.canvas.paste(self.state.current_image.id)

    def _apply_display(self) -> None:
        if self.canvas is not None:
            self.canvas.set_display(brightness=self.brightness.value() / 100.0,
                                    contrast=self.contrast.value() / 100.0)

    def reset_display(self) -> None:
        """Brightness 0, contrast 1."""
        self.brightness.setValue(0)
        self.contrast.setValue(100)

    def shutdown(self) -> None:
        """Stop background decoding and jobs (before the window is destroyed)."""
        self.assist.shutdown()  # issue 14 hook
        self.model.shutdown()
        if self.canvas is not None:
            self.canvas.cache.wait(5000)
