"""Image-level tags (classification labels) of the current image: a checkable list.

One check box per category, in the category's colour. Checking or unchecking pushes a
:class:`~vision_studio.gui.undo.SetImageTagsCommand` (committed to the project file at
once, undoable). In *exclusive* mode (single-label classification, the default)
checking a category unchecks the others in the same command. The list re-reads the
store after every change of the undo stack, so an undo elsewhere shows here.

Keyboard tagging (:mod:`vision_studio.gui.panels.annotate.keys`): with "Number keys tag
the image" on, key ``n`` tags the image with category ``n`` and, with "then show the next
image", moves on. The three choices belong to the project (setting :data:`SETTING`); a
project that has never set them gets them from its labels: multi-label when an image has
two tags, number keys tagging when it has tags and no shapes.
"""
from __future__ import annotations

import sqlite3

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QIcon, QPixmap, QUndoStack
from PySide6.QtWidgets import QCheckBox, QListWidget, QListWidgetItem, QVBoxLayout, QWidget

from vision_studio.core.store import ProjectStore, StoreError
from vision_studio.gui.undo import SetImageTagsCommand
from vision_studio.gui.widgets.canvas_items import weak_slot


SETTING = "tagging"
"""Project setting: ``{"multi_label": bool, "keys_tag": bool, "advance": bool}``."""


def tagging_defaults(store: ProjectStore) -> dict[str, bool]:
    """The project's tagging choices: stored ones, else inferred from its labels."""
    stored = store.get_setting(SETTING) or {}
    tags = store.all_image_tags()
    multi = any(len(t) > 1 for t in tags.values())
    out = {"multi_label": multi, "keys_tag": bool(tags) and store.annotation_count() == 0,
           "advance": not multi}
    out.update({k: bool(v) for k, v in stored.items() if k in out})
    return out


def _swatch(color: str) -> QIcon:
    pm = QPixmap(12, 12)
    pm.fill(QColor(color))
    return QIcon(pm)


class ImageTagsWidget(QWidget):
    """Checkable list of the project's categories for the current image's tags.

    Args:
        store: The open project.
        undo_stack: The session's stack; each change is one command there.
        parent: Parent widget.

    Signals:
        tagsChanged(int): the tags of this image id were changed from this widget.
    """

    tagsChanged = Signal(int)

    def __init__(self, store: ProjectStore, undo_stack: QUndoStack, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.store = store
        self.undo_stack = undo_stack
        self._image_id: int | None = None
        self._updating = False
        prefs = tagging_defaults(store)
        self.exclusive_box = QCheckBox("One tag per image (single-label)", self)
        self.exclusive_box.setChecked(not prefs["multi_label"])
        self.exclusive_box.setToolTip("Checking a category unchecks the others "
                                      "(single-label classification)")
        self.keys_box = QCheckBox("Number keys 1–9 tag the image", self)
        self.keys_box.setChecked(prefs["keys_tag"])
        self.keys_box.setToolTip("Key n tags the image with category n of the list (when no "
                                 "shape is selected); off: key n picks the category to draw")
        self.advance_box = QCheckBox("… then show the next image", self)
        self.advance_box.setChecked(prefs["advance"])
        self.advance_box.setToolTip("After a number key tags the image, go to the next one")
        for box in (self.exclusive_box, self.keys_box, self.advance_box):
            box.toggled.connect(self._save_prefs)
        self.list = QListWidget(self)
        self.list.setToolTip("Image-level labels for classification: check the categories "
                             "this whole image belongs to")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.exclusive_box)
        lay.addWidget(self.keys_box)
        lay.addWidget(self.advance_box)
        lay.addWidget(self.list)
        self.list.itemChanged.connect(self._on_item_changed)
        undo_stack.indexChanged.connect(weak_slot(self, "refresh"))
        self.refresh()

    @property
    def exclusive(self) -> bool:
        """Single-label mode: at most one tag per image."""
        return self.exclusive_box.isChecked()

    @property
    def keys_tag(self) -> bool:
        """Whether number keys tag the image (else they pick the drawing category)."""
        return self.keys_box.isChecked()

    @property
    def advance(self) -> bool:
        """Whether a number-key tag moves to the next image."""
        return self.advance_box.isChecked()

    def _save_prefs(self) -> None:
        prefs = {"multi_label": not self.exclusive, "keys_tag": self.keys_tag,
                 "advance": self.advance}
        try:
            self.store.set_setting(SETTING, prefs)
        except (StoreError, sqlite3.Error):  # a read-only project: the choice lasts the session
            pass

    def tag_by_key(self, category_id: int) -> None:
        """A number key: single-label sets the image's tag to ``category_id`` (pressing it
        again keeps it), multi-label toggles ``category_id``."""
        if self._image_id is None:
            return
        if self.exclusive:
            self.set_tags([category_id])
        else:
            self.toggle(category_id)

    def set_exclusive(self, exclusive: bool) -> None:
        """Switch single-label (True) / multi-label (False) tagging."""
        self.exclusive_box.setChecked(exclusive)

    def set_image(self, image_id: int | None) -> None:
        """Show the tags of ``image_id`` (``None``: no image, list disabled)."""
        self._image_id = image_id
        self.refresh()

    def checked_ids(self) -> list[int]:
        """Category ids checked in the list."""
        return [self.list.item(r).data(Qt.ItemDataRole.UserRole) for r in range(self.list.count())
                if self.list.item(r).checkState() == Qt.CheckState.Checked]

    def set_tags(self, category_ids: list[int]) -> None:
        """Replace the current image's tags (one undo command)."""
        if self._image_id is None:
            return
        new = tuple(dict.fromkeys(category_ids))
        if set(new) != set(self.store.image_tags(self._image_id)):
            self.undo_stack.push(SetImageTagsCommand(self.store, self._image_id, new))
            self.tagsChanged.emit(self._image_id)
        self.refresh()

    def toggle(self, category_id: int) -> None:
        """Check/uncheck one category (exclusive mode: it becomes the only tag)."""
        if self._image_id is None:
            return
        tags = list(self.store.image_tags(self._image_id))
        if category_id in tags:
            tags.remove(category_id)
        else:
            tags = [category_id] if self.exclusive else tags + [category_id]
        self.set_tags(tags)

    def refresh(self, *_args: object) -> None:
        """Re-read categories and the image's tags from the store."""
        try:
            tags = set(self.store.image_tags(self._image_id)) if self._image_id is not None else set()
            cats = self.store.categories()
        except sqlite3.ProgrammingError:  # the project was closed (the window is closing)
            return
        self._updating = True
        try:
            if [self.list.item(r).data(Qt.ItemDataRole.UserRole) for r in range(self.list.count())] \
                    != [c.id for c in cats]:
                self.list.clear()
                for c in cats:
                    item = QListWidgetItem(self.list)
                    item.setData(Qt.ItemDataRole.UserRole, c.id)
                    item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            for r, c in enumerate(cats):
                item = self.list.item(r)
                item.setText(c.name)
                item.setIcon(_swatch(c.color))
                item.setCheckState(Qt.CheckState.Checked if c.id in tags else Qt.CheckState.Unchecked)
            self.list.setEnabled(self._image_id is not None)
        finally:
            self._updating = False

    def _on_item_changed(self, item: QListWidgetItem) -> None:
        if self._updating or self._image_id is None:
            return
        cid = item.data(Qt.ItemDataRole.UserRole)
        checked = item.checkState() == Qt.CheckState.Checked
        tags = list(self.store.image_tags(self._image_id))
        if checked and cid not in tags:
            tags = [cid] if self.exclusive else tags + [cid]
        elif not checked and cid in tags:
            tags.remove(cid)
        self.set_tags(tags)
