"""The image-tags widget: clicking check boxes writes the project file, undoably."""
from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402
from PySide6.QtCore import QPoint, Qt  # noqa: E402
from PySide6.QtGui import QUndoStack  # noqa: E402

from vision_studio.core.store import ProjectStore  # noqa: E402
from vision_studio.core.types import ImageRecord  # noqa: E402
from vision_studio.gui.undo import RenameCategoryCommand  # noqa: E402
from vision_studio.gui.widgets.tags import ImageTagsWidget  # noqa: E402


@pytest.fixture
def widget(qtbot, new_store):
    for i in range(2):
        new_store.add_image(ImageRecord(path=f"{i}.png", width=10, height=10))
    for name in ("ants", "bees", "wasps"):
        new_store.add_category(name)
    stack = QUndoStack()
    w = ImageTagsWidget(new_store, stack)
    w._test_stack = stack
    qtbot.addWidget(w)
    w.resize(250, 200)
    w.show()
    w.set_image(new_store.images()[0].id)
    return w


def tags_on_disk(store: ProjectStore, image_id: int) -> tuple[int, ...]:
    with ProjectStore.open(store.path) as other:
        return other.image_tags(image_id)


def click_row(qtbot, w: ImageTagsWidget, row: int) -> None:
    """Click the check box of a row (the indicator sits at the left of the item)."""
    rect = w.list.visualItemRect(w.list.item(row))
    qtbot.mouseClick(w.list.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(rect.left() + 10, rect.center().y()))


def test_lists_categories_and_checks_by_click(qtbot, widget):
    store = widget.store
    image_id = store.images()[0].id
    assert [widget.list.item(r).text() for r in range(widget.list.count())] == ["ants", "bees", "wasps"]
    click_row(qtbot, widget, 1)
    assert tags_on_disk(store, image_id) == (2,)
    assert widget.checked_ids() == [2]
    click_row(qtbot, widget, 0)  # exclusive: ants replaces bees
    assert tags_on_disk(store, image_id) == (1,)
    widget.undo_stack.undo()
    assert tags_on_disk(store, image_id) == (2,) and widget.checked_ids() == [2]
    widget.undo_stack.redo()
    assert tags_on_disk(store, image_id) == (1,) and widget.checked_ids() == [1]


def test_multi_label_and_toggle_off(qtbot, widget):
    store = widget.store
    image_id = store.images()[0].id
    widget.set_exclusive(False)
    click_row(qtbot, widget, 0)
    click_row(qtbot, widget, 2)
    assert tags_on_disk(store, image_id) == (1, 3)
    click_row(qtbot, widget, 0)
    assert tags_on_disk(store, image_id) == (3,)
    assert widget.undo_stack.count() == 3


def test_follows_image_and_category_changes(qtbot, widget):
    store = widget.store
    first, second = store.images()
    widget.toggle(3)
    widget.set_image(second.id)
    assert widget.checked_ids() == []
    widget.toggle(1)
    assert tags_on_disk(store, second.id) == (1,) and tags_on_disk(store, first.id) == (3,)
    widget.undo_stack.push(RenameCategoryCommand(store, 1, "formica"))
    assert widget.list.item(0).text() == "formica"
    widget.set_image(None)
    assert not widget.list.isEnabled()
