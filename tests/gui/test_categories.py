"""Category manager: add, rename, recolour, merge, delete — through the buttons and
dialogs, checked in the project file (a second connection), and undone."""
from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QInputDialog, QMessageBox, QToolButton

from vision_studio.core.store import ProjectStore
from vision_studio.gui.panels.annotate.categories import CategoryPanel
from vision_studio.gui.state import AppState


def on_disk(path):
    """Categories, annotation categories and tags as stored, read by another connection."""
    with ProjectStore.open(path) as s:
        return ({c.name: c for c in s.categories()},
                sorted((a.id, a.category_id) for a in s.annotations()),
                s.all_image_tags())


@pytest.fixture
def panel(small_project, qtbot):
    state = AppState()
    p = CategoryPanel(state)
    qtbot.addWidget(p)
    state.open_project(small_project)
    yield p
    state.close_project()


def click(panel, name):
    panel.findChild(QToolButton, f"category_{name}").click()


def test_lists_categories_with_counts_and_visibility(panel, qtbot):
    tree = panel.tree
    rows = [(tree.topLevelItem(i).text(0), tree.topLevelItem(i).text(1), tree.topLevelItem(i).text(2))
            for i in range(tree.topLevelItemCount())]
    assert rows == [("cat", "2", "0"), ("dog", "1", "1"), ("bird", "0", "0")]
    assert panel.current_category_id() == panel.categories()[0].id  # the most used one
    with qtbot.waitSignal(panel.hiddenCategoriesChanged) as sig:
        tree.topLevelItem(1).setCheckState(0, Qt.CheckState.Unchecked)
    assert sig.args[0] == {panel.categories()[1].id}
    with qtbot.waitSignal(panel.currentCategoryChanged) as sig:
        assert panel.select_index(2)
    assert sig.args[0] == panel.categories()[2].id


def test_add_rename_recolour_through_dialogs_and_undo(panel, small_project, monkeypatch):
    monkeypatch.setattr(QInputDialog, "getText", lambda *a, **k: ("  fish ", True))
    click(panel, "add")
    cats, _, _ = on_disk(small_project)
    assert "fish" in cats and panel.current_category_id() == cats["fish"].id
    monkeypatch.setattr(QInputDialog, "getText", lambda *a, **k: ("salmon", True))
    click(panel, "rename")
    cats, _, _ = on_disk(small_project)
    assert "salmon" in cats and "fish" not in cats
    assert panel.tree.topLevelItem(3).text(0) == "salmon"
    assert panel.recolour_category(cats["salmon"].id, "#123456")
    assert on_disk(small_project)[0]["salmon"].color == "#123456"
    stack = panel.state.undo_stack
    stack.undo()
    assert on_disk(small_project)[0]["salmon"].color == cats["salmon"].color
    stack.undo()
    assert "fish" in on_disk(small_project)[0]
    stack.undo()
    assert set(on_disk(small_project)[0]) == {"cat", "dog", "bird"}
    stack.redo()
    assert on_disk(small_project)[0]["fish"].id == cats["salmon"].id  # same id back


def test_merge_asks_and_moves_shapes_and_tags(panel, small_project, monkeypatch):
    cats, anns, tags = on_disk(small_project)
    cat, dog = cats["cat"].id, cats["dog"].id
    ims = [im.id for im in panel.state.store.images()]
    assert tags == {ims[2]: (dog,)}
    panel.state.store.add_image_tags([(ims[0], cat), (ims[2], cat)])  # ims[2]: cat and dog
    panel.reload()
    cats, anns, tags = on_disk(small_project)
    panel.tree.topLevelItem(0).setSelected(True)
    panel.tree.topLevelItem(1).setSelected(True)
    asked = []
    monkeypatch.setattr(QInputDialog, "getItem", lambda *a, **k: (a[3][1], True))  # keep dog
    monkeypatch.setattr(QMessageBox, "question",
                        lambda *a, **k: asked.append(a[2]) or QMessageBox.StandardButton.Yes)
    click(panel, "merge")
    assert "cat: 2 objects, 2 tagged images" in asked[0]
    cats2, anns2, tags2 = on_disk(small_project)
    assert set(cats2) == {"dog", "bird"}
    assert {c for _, c in anns2} == {dog} and len(anns2) == len(anns)
    assert tags2 == {ims[0]: (dog,), ims[2]: (dog,)}  # moved; the doubled tag kept once
    assert panel.tree.topLevelItem(0).text(1) == "3"  # dog now holds the 3 shapes
    assert panel.tree.topLevelItem(0).text(2) == "2"  # ...and 2 tagged images
    panel.state.undo_stack.undo()
    assert on_disk(small_project) == (cats, anns, tags) and cats["cat"].id == cat


def test_delete_confirms_with_counts_then_undo_restores(panel, small_project, monkeypatch):
    cats, anns, tags = on_disk(small_project)
    panel.set_current_category(cats["dog"].id)
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.No)
    click(panel, "delete")
    assert on_disk(small_project) == (cats, anns, tags)  # declined: nothing changed
    asked = []
    monkeypatch.setattr(QMessageBox, "question",
                        lambda *a, **k: asked.append(a[2]) or QMessageBox.StandardButton.Yes)
    click(panel, "delete")
    assert "dog: 1 object, 1 tagged image" in asked[0]
    cats2, anns2, tags2 = on_disk(small_project)
    assert "dog" not in cats2 and len(anns2) == 2 and tags2 == {}
    assert [c.name for c in panel.categories()] == ["cat", "bird"]
    panel.state.undo_stack.undo()
    assert on_disk(small_project) == (cats, anns, tags)
    assert [c.name for c in panel.categories()] == ["cat", "dog", "bird"]  # list follows undo
    assert panel.tree.topLevelItem(1).text(2) == "1"


def test_the_buttons_are_not_cut_in_the_narrowest_side_panel(panel, qtbot):
    """Five buttons in one row were squeezed to "…" / "C…r" in the side panel (seen under
    Xvfb); at the panel's narrowest width each button gets at least its size hint."""
    panel.setFixedSize(176, 400)  # the right-hand panel's minimum (180 px) less its margins
    panel.show()
    qtbot.waitExposed(panel)
    buttons = [panel.findChild(QToolButton, f"category_{n}")
               for n in ("add", "rename", "colour", "merge", "delete")]
    for b in buttons:
        assert b.width() >= b.sizeHint().width(), b.text()
        assert b.geometry().right() <= panel.width(), b.text()
