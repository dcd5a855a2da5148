"""The filter bar above the image browser: search by file name, split, category,
labelled / unlabelled / has-problems, and the "N of M images" count."""
from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QKeyEvent, QKeySequence
from PySide6.QtWidgets import QComboBox, QGridLayout, QLabel, QLineEdit, QWidget

from vision_studio.core.store.filters import ImageFilter
from vision_studio.core.store import ProjectStore
from vision_studio.core.wording import plural

ANY = "__any__"
STATUS_CHOICES = (
    ("All images", (None, None)),
    ("Labelled", (True, None)),
    ("Unlabelled", (False, None)),
    ("With problems", (None, True)),
)


# What a line edit keeps for itself when a Ctrl key is pressed in it; every other Ctrl
# key goes to the window's shortcuts (on X11, Qt binds Ctrl+E to "end of line", which
# swallowed File → Export while the search box had focus).
_EDITING_KEYS = (QKeySequence.StandardKey.Undo, QKeySequence.StandardKey.Redo,
                 QKeySequence.StandardKey.Copy, QKeySequence.StandardKey.Cut,
                 QKeySequence.StandardKey.Paste, QKeySequence.StandardKey.SelectAll,
                 QKeySequence.StandardKey.Delete, QKeySequence.StandardKey.Backspace,
                 QKeySequence.StandardKey.DeleteStartOfWord, QKeySequence.StandardKey.DeleteEndOfWord,
                 QKeySequence.StandardKey.MoveToNextWord, QKeySequence.StandardKey.MoveToPreviousWord,
                 QKeySequence.StandardKey.SelectNextWord, QKeySequence.StandardKey.SelectPreviousWord)


class WindowShortcutsFirst(QObject):
    """Event filter for a text field: Ctrl+letter keys that are not text editing (copy,
    paste, undo...) trigger the window's shortcuts instead of a field's own binding."""

    def eventFilter(self, _obj: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        if event.type() == QEvent.Type.ShortcutOverride and isinstance(event, QKeyEvent):
            ctrl = event.modifiers() & Qt.KeyboardModifier.ControlModifier
            if ctrl and Qt.Key.Key_A <= event.key() <= Qt.Key.Key_Z and not any(
                    event.matches(k) for k in _EDITING_KEYS):
                event.ignore()  # not overridden: the shortcut system gets the key
                return True
        return False


class FilterBar(QWidget):
    """Widgets that build an :class:`ImageFilter`.

    Signals:
        filterChanged(object): the new :class:`ImageFilter` (search edits are debounced
            by 250 ms so typing does not re-query a 100k-image project per key).
    """

    filterChanged = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.search = QLineEdit(self)
        self.search.setPlaceholderText("Search file names…")
        self.search.setClearButtonEnabled(True)
        self.search.setToolTip("Show only images whose path contains this text (any case)")
        self._shortcuts_first = WindowShortcutsFirst(self)
        self.search.installEventFilter(self._shortcuts_first)
        self.split = QComboBox(self)
        self.split.setToolTip("Show one split only")
        self.category = QComboBox(self)
        self.category.setToolTip("Show only images with a shape or tag of this category")
        self.status = QComboBox(self)
        self.status.setToolTip("Labelled = at least one shape or tag; problems = found at import")
        for text, value in STATUS_CHOICES:
            self.status.addItem(text, value)
        self.count = QLabel("No project", self)
        self.count.setObjectName("image_count")
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(250)
        self._timer.timeout.connect(self._emit)
        self.search.textChanged.connect(lambda _t: self._timer.start())
        for combo in (self.split, self.category, self.status):
            combo.currentIndexChanged.connect(lambda _i: self._emit())
        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.addWidget(self.search, 0, 0, 1, 2)
        grid.addWidget(self.split, 1, 0)
        grid.addWidget(self.status, 1, 1)
        grid.addWidget(self.category, 2, 0, 1, 2)
        grid.addWidget(self.count, 3, 0, 1, 2)
        self._blocked = False
        self.populate(None)

    def populate(self, store: ProjectStore | None) -> None:
        """Fill the split and category choices from ``store`` (keeping the selection)."""
        self._blocked = True
        split, cat = self.split.currentData(), self.category.currentData()
        self.split.clear()
        self.split.addItem("All splits", ANY)
        self.category.clear()
        self.category.addItem("All categories", ANY)
        if store is not None:
            for name, n in store.splits().items():
                self.split.addItem(f"{name or 'unassigned'} ({n})", name)
            for c in store.categories():
                self.category.addItem(c.name, c.id)
        for combo, value in ((self.split, split), (self.category, cat)):
            i = combo.findData(value)
            combo.setCurrentIndex(max(i, 0))
        self._blocked = False

    def current_filter(self) -> ImageFilter:
        """The filter the widgets describe."""
        split = self.split.currentData()
        cat = self.category.currentData()
        labelled, problems = self.status.currentData() or (None, None)
        return ImageFilter(split=None if split in (ANY, None) else split,
                           category_id=None if cat in (ANY, None) else int(cat),
                           labelled=labelled, has_problems=problems,
                           name_contains=self.search.text())

    def set_counts(self, shown: int, total: int) -> None:
        """Show "N of M images"."""
        self.count.setText(plural(shown, "image", grouped=True) if shown == total
                           else f"{shown:,} of {plural(total, 'image', grouped=True)}")

    def _emit(self) -> None:
        if not self._blocked:
            self.filterChanged.emit(self.current_filter())
