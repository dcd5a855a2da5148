"""The Annotate tab's problems pane: every open problem of the project (a file that
cannot be decoded, a box outside its image...), where the user is looking (issue 12
trap 9). A click shows the image; the user can dismiss a problem (it is not one) or
remove the image from the project (the file on disk stays), both undoable."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (QAbstractItemView, QHBoxLayout, QLabel, QListWidget,
                               QListWidgetItem, QPushButton, QVBoxLayout, QWidget)

from vision_studio.core.types import Problem
from vision_studio.gui import undo
from vision_studio.gui.state import AppState

MAX_SHOWN = 2000  # rows listed; View → Problems in the project lists them all
PROBLEM_ID_ROLE = Qt.ItemDataRole.UserRole
IMAGE_ID_ROLE = Qt.ItemDataRole.UserRole + 1
MESSAGE_ROLE = Qt.ItemDataRole.UserRole + 2


class ProblemsPane(QWidget):
    """The project's open problems, the current image's in bold.

    Signals:
        imageRequested(int): the user clicked a problem of this image id.

    Attributes:
        list: One row per problem: ``"message — file name"`` (elided at the right, so
            the message stays readable; the full path in the tooltip).
        dismiss_button: Dismisses the selected problems (undoable).
        remove_button: Removes the selected problems' images from the project (undoable).
    """

    imageRequested = Signal(int)

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self._current: int | None = None
        self.title = QLabel("<b>Problems</b>", self)
        self.list = QListWidget(self)
        self.list.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.list.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.list.setToolTip("Problems found at import or while decoding; click one to show "
                             "its image")
        self.dismiss_button = QPushButton("Dismiss", self)
        self.dismiss_button.setToolTip("It is not a problem: hide it from the lists and the "
                                       "thumbnail badge (Edit → Undo brings it back)")
        self.remove_button = QPushButton("Remove image", self)
        self.remove_button.setToolTip("Remove the selected problems' images from the project "
                                      "with their shapes (the files stay on disk; undoable)")
        buttons = QHBoxLayout()
        buttons.addWidget(self.dismiss_button)
        buttons.addWidget(self.remove_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.title)
        layout.addWidget(self.list, 1)
        layout.addLayout(buttons)
        self.list.itemClicked.connect(self._on_click)
        self.list.itemActivated.connect(self._on_click)
        self.list.itemSelectionChanged.connect(self._update_buttons)
        self.dismiss_button.clicked.connect(self.dismiss_selected)
        self.remove_button.clicked.connect(self.remove_selected_images)
        self._update_buttons()

    # ------------------------------------------------------------------ content
    def refresh(self) -> None:
        """Re-read the open problems from the store."""
        self.list.clear()
        store = self.state.store
        problems = store.problems() if store is not None else []
        n = len(problems)
        self.title.setText(f"<b>Problems ({n:,})</b>" if n else "<b>Problems</b> (none)")
        for p in problems[:MAX_SHOWN]:
            item = QListWidgetItem(f"{p.message} — {Path(p.source).name}")
            item.setToolTip(f"{p.message}\n{p.source}")
            item.setData(MESSAGE_ROLE, p.message)
            item.setData(PROBLEM_ID_ROLE, p.id)
            item.setData(IMAGE_ID_ROLE, p.image_id)
            self.list.addItem(item)
        if n > MAX_SHOWN:
            more = QListWidgetItem(f"… and {n - MAX_SHOWN:,} more (View → Problems in the project)")
            more.setFlags(Qt.ItemFlag.NoItemFlags)
            self.list.addItem(more)
        self.set_current_image(self._current)

    def set_current_image(self, image_id: int | None) -> None:
        """Show ``image_id``'s problems in bold and make the first one current."""
        self._current = image_id
        first = None
        for i in range(self.list.count()):
            item = self.list.item(i)
            mine = image_id is not None and item.data(IMAGE_ID_ROLE) == image_id
            font = QFont(item.font())
            font.setBold(mine)
            item.setFont(font)
            if mine and first is None:
                first = item
        if first is not None:
            self.list.setCurrentItem(first)
            self.list.scrollToItem(first)
        self._update_buttons()

    def current_image_problems(self) -> list[str]:
        """Messages of the current image's problems (bold rows), in order."""
        return [self.list.item(i).data(MESSAGE_ROLE) for i in range(self.list.count())
                if self.list.item(i).font().bold()]

    # ------------------------------------------------------------------ actions
    def _selected(self) -> list[Problem]:
        store = self.state.store
        if store is None:
            return []
        wanted = {it.data(PROBLEM_ID_ROLE) for it in self.list.selectedItems()}
        return [p for p in store.problems() if p.id in wanted]

    def dismiss_selected(self) -> bool:
        """Dismiss the selected problems (one undoable command)."""
        problems = self._selected()
        if not problems or self.state.store is None:
            return False
        self.state.undo_stack.push(undo.DismissProblemsCommand(self.state.store, problems))
        self.state.statusMessage.emit(f"Dismissed {len(problems)} problem(s) — Ctrl+Z to undo")
        return True

    def remove_selected_images(self) -> bool:
        """Remove the selected problems' images from the project (one undoable command)."""
        ids = sorted({p.image_id for p in self._selected() if p.image_id is not None})
        if not ids or self.state.store is None:
            return False
        self.state.undo_stack.push(undo.RemoveImagesCommand(self.state.store, ids))
        self.state.statusMessage.emit(f"Removed {len(ids)} image(s) from the project (the files "
                                      "stay on disk) — Ctrl+Z to undo")
        return True

    def _on_click(self, item: QListWidgetItem) -> None:
        image_id = item.data(IMAGE_ID_ROLE)
        if image_id is not None:
            self.imageRequested.emit(int(image_id))

    def _update_buttons(self) -> None:
        selected = self.list.selectedItems()
        self.dismiss_button.setEnabled(bool(selected))
        self.remove_button.setEnabled(any(it.data(IMAGE_ID_ROLE) is not None for it in selected))
