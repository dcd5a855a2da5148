"""The category list of the annotate panel: pick the category to draw with, hide/show
categories on the canvas, and add, rename, recolour, merge or delete categories.

A plain click on a row only chooses the category of the *next* shape: it never changes
existing shapes. Giving a category to the selected shapes is a deliberate action: a
double-click on the row while shapes are selected, the row's context menu, a number key
or the canvas's context menu (:attr:`CategoryPanel.assignRequested` asks the canvas).
Two categories may not share a name: adding one refuses, renaming offers to merge.

Every change is an undo command of :mod:`vision_studio.gui.undo` pushed on the session's
``QUndoStack`` (so Ctrl+Z undoes a deletion too) and is committed to the project file
at once. Deleting and merging ask for confirmation and name the counts concerned.
"""
from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QPoint, Qt, Signal
from PySide6.QtGui import QColor, QIcon, QPixmap, QUndoCommand
from PySide6.QtWidgets import (QAbstractItemView, QColorDialog, QHBoxLayout, QInputDialog,
                               QMenu, QMessageBox, QToolButton, QTreeWidget, QTreeWidgetItem,
                               QVBoxLayout, QWidget)

from vision_studio.core.store.filters import category_usage
from vision_studio.core.types import Category
from vision_studio.core.wording import plural
from vision_studio.gui.state import AppState
from vision_studio.gui.undo import (AddCategoryCommand, DeleteCategoryCommand,
                                    MergeCategoriesCommand, RecolourCategoryCommand,
                                    RenameCategoryCommand, StoreCommand)

COL_NAME, COL_OBJECTS, COL_TAGS = 0, 1, 2


def color_icon(color: str, size: int = 14) -> QIcon:
    """A square swatch of ``color`` (``#rrggbb``)."""
    pix = QPixmap(size, size)
    pix.fill(QColor(color))
    return QIcon(pix)


class CategoryPanel(QWidget):
    """List of categories with counts, visibility checkboxes and edit buttons.

    The row order is the store's (by id); keys 1–9 of the annotate panel pick rows 1–9.

    Signals:
        currentCategoryChanged(int): the category new shapes get (0 when none).
        hiddenCategoriesChanged(object): the ``set[int]`` of unchecked (hidden) ids.
        assignRequested(int): the user asked to give this category to the selected
            shapes (double-click on the row with shapes selected, or the row's menu).

    Attributes:
        selection_count: Callable returning how many shapes are selected on the canvas
            (set by the annotate panel; 0 without a canvas).
    """

    currentCategoryChanged = Signal(int)
    hiddenCategoriesChanged = Signal(object)
    assignRequested = Signal(int)

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self._categories: list[Category] = []
        self._updating = False
        self.reloading = False  # True while the list is rebuilt (not a user's choice)
        self.selection_count: Callable[[], int] = lambda: 0
        self.tree = QTreeWidget(self)
        self.tree.setColumnCount(3)
        self.tree.setHeaderLabels(["Category", "Obj.", "Tags"])  # short: the panel is narrow
        self.tree.headerItem().setToolTip(COL_OBJECTS, "Objects (boxes, polygons, masks) of the category")
        self.tree.headerItem().setToolTip(COL_TAGS, "Images tagged with the category")
        self.tree.setRootIsDecorated(False)
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.tree.setToolTip("Click: the category for the next shapes you draw (existing shapes "
                             "keep theirs).\nDouble-click with shapes selected, a number key or "
                             "right-click: give it to the selected shapes.\nDouble-click with "
                             "nothing selected: rename. Untick to hide its shapes on the image.")
        self.tree.header().setStretchLastSection(False)
        header = self.tree.header()
        header.setSectionResizeMode(COL_NAME, header.ResizeMode.Stretch)
        for col in (COL_OBJECTS, COL_TAGS):  # the counts as narrow as their numbers: room for the names
            header.setSectionResizeMode(col, header.ResizeMode.ResizeToContents)
        header.setMinimumSectionSize(28)
        self.tree.currentItemChanged.connect(self._on_current)
        self.tree.itemChanged.connect(self._on_item_changed)
        self.tree.itemDoubleClicked.connect(self._on_double_click)
        self.tree.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.tree.customContextMenuRequested.connect(self._show_menu)
        # two rows: five buttons in one row were cut to "…" in the side panel (seen under Xvfb)
        rows = [QHBoxLayout(), QHBoxLayout()]
        for k, (text, tip, slot) in enumerate((
                ("Add", "Add a category", self.ask_add),
                ("Rename", "Rename the selected category", self.ask_rename),
                ("Colour", "Change the colour of the selected category", self.ask_recolour),
                ("Merge", "Merge the selected categories into one (their shapes and tags move)",
                 self.ask_merge),
                ("Delete", "Delete the selected categories with their shapes and tags",
                 self.ask_delete))):
            b = QToolButton(self)
            b.setText(text)
            b.setToolTip(tip)
            b.clicked.connect(slot)
            b.setObjectName(f"category_{text.lower()}")
            rows[k // 3].addWidget(b)
        buttons = QVBoxLayout()
        buttons.setSpacing(2)
        for row in rows:
            row.setSpacing(4)
            row.addStretch(1)
            buttons.addLayout(row)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.tree)
        layout.addLayout(buttons)
        state.projectOpened.connect(lambda _s: self.reload())
        state.projectClosed.connect(self.reload)
        state.categoriesChanged.connect(self.reload)
        state.annotationsChanged.connect(lambda _i: self.reload_counts())
        state.imagesChanged.connect(self.reload_counts)  # imports add shapes and tags
        state.undo_stack.indexChanged.connect(lambda _i: self.reload_counts())

    # ------------------------------------------------------------------ view
    def categories(self) -> list[Category]:
        """The categories shown, in row order."""
        return list(self._categories)

    def reload(self) -> None:
        """Re-read categories and counts from the store, keeping current/hidden ones."""
        store = self.state.store
        current, hidden = self.current_category_id(), self.hidden_category_ids()
        self._categories = store.categories() if store is not None else []
        usage = category_usage(store) if store is not None else {}
        self._updating = self.reloading = True
        self.tree.clear()
        names = [c.name for c in self._categories]
        for n, cat in enumerate(self._categories, 1):
            objects, tags = usage.get(cat.id, (0, 0))
            # real datasets repeat names (brain_tumor has two "Tumor"): show the id then
            label = cat.name if names.count(cat.name) == 1 else f"{cat.name} (id {cat.id})"
            item = QTreeWidgetItem([label, str(objects), str(tags)])
            item.setData(COL_NAME, Qt.ItemDataRole.UserRole, cat.id)
            item.setIcon(COL_NAME, color_icon(cat.color))
            if n <= 9:
                item.setToolTip(COL_NAME, f"{label}: number key {n}")
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(COL_NAME, Qt.CheckState.Unchecked if cat.id in hidden
                               else Qt.CheckState.Checked)
            for col in (COL_OBJECTS, COL_TAGS):
                item.setTextAlignment(col, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.tree.addTopLevelItem(item)
        self._updating = False
        ids = [c.id for c in self._categories]
        if current not in ids and ids:  # default: the most used category (not a placeholder)
            current = max(ids, key=lambda i: (sum(usage.get(i, (0, 0))), -i))
        try:
            self.set_current_category(current if current in ids else 0)
        finally:
            self.reloading = False
        self.hiddenCategoriesChanged.emit(self.hidden_category_ids())

    def reload_counts(self) -> None:
        """Refresh the Objects / Tagged columns only."""
        if self.state.store is None:
            return
        usage = category_usage(self.state.store)
        self._updating = True
        for i in range(self.tree.topLevelItemCount()):
            item = self.tree.topLevelItem(i)
            objects, tags = usage.get(item.data(COL_NAME, Qt.ItemDataRole.UserRole), (0, 0))
            item.setText(COL_OBJECTS, str(objects))
            item.setText(COL_TAGS, str(tags))
        self._updating = False

    def current_category_id(self) -> int:
        """Id of the category new shapes get, 0 when there is none."""
        item = self.tree.currentItem()
        return int(item.data(COL_NAME, Qt.ItemDataRole.UserRole)) if item is not None else 0

    def set_current_category(self, category_id: int) -> None:
        """Make ``category_id`` current (emits :attr:`currentCategoryChanged`)."""
        for i in range(self.tree.topLevelItemCount()):
            item = self.tree.topLevelItem(i)
            if item.data(COL_NAME, Qt.ItemDataRole.UserRole) == category_id:
                self.tree.setCurrentItem(item)
                return
        self.currentCategoryChanged.emit(0)

    def select_index(self, index: int) -> bool:
        """Make the ``index``-th row (0-based) current; False when there is no such row."""
        if not 0 <= index < self.tree.topLevelItemCount():
            return False
        self.tree.setCurrentItem(self.tree.topLevelItem(index))
        return True

    def selected_ids(self) -> list[int]:
        """Ids of the selected rows (the current one when none is selected)."""
        ids = [int(i.data(COL_NAME, Qt.ItemDataRole.UserRole)) for i in self.tree.selectedItems()]
        if not ids and self.current_category_id():
            ids = [self.current_category_id()]
        return ids

    def hidden_category_ids(self) -> set[int]:
        """Ids of the categories whose shapes are hidden (unticked)."""
        out = set()
        for i in range(self.tree.topLevelItemCount()):
            item = self.tree.topLevelItem(i)
            if item.checkState(COL_NAME) == Qt.CheckState.Unchecked:
                out.add(int(item.data(COL_NAME, Qt.ItemDataRole.UserRole)))
        return out

    def _on_current(self, item: QTreeWidgetItem | None, _prev: QTreeWidgetItem | None) -> None:
        cid = int(item.data(COL_NAME, Qt.ItemDataRole.UserRole)) if item is not None else 0
        self.currentCategoryChanged.emit(cid)

    def _on_double_click(self, item: QTreeWidgetItem, _column: int) -> None:
        cid = int(item.data(COL_NAME, Qt.ItemDataRole.UserRole))
        if self.selection_count() > 0:
            self.assignRequested.emit(cid)
        else:
            self.ask_rename()

    def build_menu(self, category_id: int) -> QMenu:
        """The row's context menu: give to the selection, rename, colour."""
        menu = QMenu(self)
        n = self.selection_count()
        give = menu.addAction(f"Give to the {n} selected shape(s)" if n else
                              "Give to the selected shapes (select shapes first)",
                              lambda: self.assignRequested.emit(category_id))
        give.setEnabled(n > 0)
        menu.addSeparator()
        menu.addAction("Rename…", self.ask_rename)
        menu.addAction("Colour…", self.ask_recolour)
        return menu

    def _show_menu(self, pos: QPoint) -> None:
        item = self.tree.itemAt(pos)
        if item is None:
            return
        self.tree.setCurrentItem(item)
        self.build_menu(int(item.data(COL_NAME, Qt.ItemDataRole.UserRole))).popup(
            self.tree.viewport().mapToGlobal(pos))

    def _on_item_changed(self, _item: QTreeWidgetItem, column: int) -> None:
        if not self._updating and column == COL_NAME:
            self.hiddenCategoriesChanged.emit(self.hidden_category_ids())

    # ------------------------------------------------------------------ edits (API)
    def _push(self, command: QUndoCommand) -> bool:
        self.state.undo_stack.push(command)
        error = getattr(command, "error", "")
        if error:
            QMessageBox.warning(self, "Category change failed", error)
        self.state.check_categories()  # already done by the stack's indexChanged, if any
        if isinstance(command, StoreCommand):
            for image_id in sorted(command.image_ids):
                self.state.annotationsChanged.emit(image_id)
        return not error

    def category_named(self, name: str, except_id: int = 0) -> Category | None:
        """The category (other than ``except_id``) whose name equals ``name`` ignoring
        case and surrounding spaces, or None."""
        key = name.strip().casefold()
        store = self.state.store
        for cat in store.categories() if store is not None else []:
            if cat.id != except_id and cat.name.strip().casefold() == key:
                return cat
        return None

    def add_category(self, name: str, color: str | None = None) -> Category | None:
        """Add a category (undoable); returns it, or None when it failed or the name is
        taken (a warning says so)."""
        if self.category_named(name) is not None:
            QMessageBox.warning(self, "Add category",
                                f"There is already a category named “{name.strip()}”.")
            return None
        cmd = AddCategoryCommand(self.state.store, name, color)
        if not self._push(cmd):
            return None
        self.set_current_category(cmd.category.id)
        return cmd.category

    def rename_category(self, category_id: int, name: str) -> bool:
        """Rename a category (undoable); refused (False, with a warning) when another
        category has that name: merge them instead (:meth:`ask_rename` offers it)."""
        if self.category_named(name, except_id=category_id) is not None:
            QMessageBox.warning(self, "Rename category",
                                f"There is already a category named “{name.strip()}”.")
            return False
        return self._push(RenameCategoryCommand(self.state.store, category_id, name))

    def recolour_category(self, category_id: int, color: str) -> bool:
        """Give a category the ``#rrggbb`` colour (undoable)."""
        return self._push(RecolourCategoryCommand(self.state.store, category_id, color))

    def merge_categories(self, source_ids: list[int], target_id: int) -> bool:
        """Move the shapes and tags of ``source_ids`` into ``target_id`` (undoable)."""
        return self._push(MergeCategoriesCommand(self.state.store, source_ids, target_id))

    def delete_categories(self, ids: list[int]) -> bool:
        """Delete categories with their shapes and tags (undoable, one step each)."""
        stack = self.state.undo_stack
        stack.beginMacro(f"Delete {len(ids)} category(ies)")
        try:
            ok = all([self._push(DeleteCategoryCommand(self.state.store, i)) for i in ids])
        finally:
            stack.endMacro()
        return ok

    # ------------------------------------------------------------------ edits (dialogs)
    def ask_add(self) -> None:
        """Ask for a name and add the category."""
        if self.state.store is None:
            return
        name, ok = QInputDialog.getText(self, "Add category", "Name of the new category:")
        if ok and name.strip():
            self.add_category(name.strip())

    def ask_rename(self) -> None:
        """Ask for a new name of the current category."""
        cid = self.current_category_id()
        if not cid:
            return
        old = self.state.store.category(cid).name
        name, ok = QInputDialog.getText(self, "Rename category", f"New name for “{old}”:", text=old)
        name = name.strip()
        if not ok or not name or name == old:
            return
        other = self.category_named(name, except_id=cid)
        if other is None:
            self.rename_category(cid, name)
            return
        text = (f"There is already a category named “{other.name}”. Merge “{old}” into it "
                f"(its shapes and tags move, “{old}” is deleted)?\n{self._describe([cid])}"
                "\n\n(Undo with Ctrl+Z.)")
        if QMessageBox.question(self, "Rename category", text) == QMessageBox.StandardButton.Yes:
            self.merge_categories([cid], other.id)

    def ask_recolour(self) -> None:
        """Pick a colour for the current category."""
        cid = self.current_category_id()
        if not cid:
            return
        cat = self.state.store.category(cid)
        color = QColorDialog.getColor(QColor(cat.color), self, f"Colour of {cat.name}")
        if color.isValid():
            self.recolour_category(cid, color.name())

    def _describe(self, ids: list[int]) -> str:
        usage = category_usage(self.state.store)
        names = {c.id: c.name for c in self._categories}
        return "\n".join(f"  • {names.get(i, i)}: {plural(usage.get(i, (0, 0))[0], 'object')}, "
                         f"{plural(usage.get(i, (0, 0))[1], 'tagged image')}" for i in ids)

    def ask_merge(self) -> None:
        """Merge the selected categories into one of them, after confirmation."""
        ids = self.selected_ids()
        if len(ids) < 2:
            QMessageBox.information(self, "Merge categories",
                                    "Select two or more categories (Ctrl+click) to merge.")
            return
        names = {c.id: c.name for c in self._categories}
        labels = [f"{names[i]} (id {i})" for i in ids]
        choice, ok = QInputDialog.getItem(self, "Merge categories", "Keep which category?",
                                          labels, 0, False)
        if not ok:
            return
        target = ids[labels.index(choice)]
        sources = [i for i in ids if i != target]
        text = (f"Move every shape and tag of these categories into “{names[target]}” "
                f"and delete them?\n{self._describe(sources)}\n\n(Undo with Ctrl+Z.)")
        if QMessageBox.question(self, "Merge categories", text) == QMessageBox.StandardButton.Yes:
            self.merge_categories(sources, target)

    def ask_delete(self) -> None:
        """Delete the selected categories after a confirmation naming the counts."""
        ids = self.selected_ids()
        if not ids:
            return
        text = (f"Delete {len(ids)} category(ies) with all their shapes and tags?\n"
                f"{self._describe(ids)}\n\n(Undo with Ctrl+Z.)")
        if QMessageBox.question(self, "Delete categories", text) == QMessageBox.StandardButton.Yes:
            self.delete_categories(ids)
