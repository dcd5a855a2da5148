"""Issue 19 item 4: a click on a category row never changes the selected shapes; giving a
category to shapes is a deliberate action (number key, row double-click with shapes
selected, the row's or the canvas's context menu); duplicate names are refused or merged
explicitly; the object counts follow an import."""
from __future__ import annotations

from PySide6.QtCore import QPointF, Qt
from PySide6.QtWidgets import QInputDialog, QMessageBox

from vision_studio.core.store import ProjectStore
from vision_studio.core.types import Annotation

LEFT, NOMOD = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier


def stored(path):
    """``[(annotation id, category id)]`` as another connection reads the project file."""
    with ProjectStore.open(path) as s:
        return sorted((a.id, a.category_id) for a in s.annotations())


def row_rect(panel, row):
    tree = panel.tree
    return tree.visualItemRect(tree.topLevelItem(row))


def click_row(qtbot, panel, row, double=False):
    # click on the name text, right of the check box, as a user does to pick or rename
    rect = row_rect(panel, row)
    pos = rect.center()
    qtbot.mouseClick(panel.tree.viewport(), LEFT, NOMOD, pos)
    if double:  # a double-click is a click then a double-click event, as Qt delivers it
        qtbot.mouseDClick(panel.tree.viewport(), LEFT, NOMOD, pos)


def select_first_shape(qtbot, win):
    canvas = win.annotate.canvas
    ann = sorted(canvas.shape_items.values(), key=lambda it: it.ann.id)[0].ann
    x, y, w, h = ann.bbox
    qtbot.mouseClick(canvas.viewport(), LEFT, NOMOD, canvas.mapFromScene(QPointF(x + w / 2, y + h / 2)))
    assert canvas.selected_ids == [ann.id]
    return ann


def test_row_click_leaves_selected_shapes_unchanged_in_the_store(main_window, small_project, qtbot):
    win = main_window
    win.open_project(small_project)
    cats = win.annotate.categories
    ann = select_first_shape(qtbot, win)  # image 1: a "cat" box
    before = stored(small_project)
    click_row(qtbot, cats, 2)  # bird
    bird = cats.categories()[2]
    assert cats.current_category_id() == bird.id
    assert stored(small_project) == before  # the shape kept its category
    assert win.annotate.canvas.selected_ids == [ann.id]
    assert win.state.undo_stack.count() == 0
    # the next shape drawn gets the clicked category
    new_id = win.annotate.canvas.add_box(40, 30, 10, 10)
    with ProjectStore.open(small_project) as s:
        assert s.annotation(new_id).category_id == bird.id


def test_double_click_with_a_selection_recategorises_it_and_undo_restores(main_window, small_project,
                                                                         qtbot, monkeypatch):
    win = main_window
    win.open_project(small_project)
    cats = win.annotate.categories
    renamed = []
    monkeypatch.setattr(QInputDialog, "getText", lambda *a, **k: renamed.append(a) or ("", False))
    ann = select_first_shape(qtbot, win)
    before = stored(small_project)
    click_row(qtbot, cats, 2, double=True)
    bird = cats.categories()[2].id
    after = dict(stored(small_project))
    assert after[ann.id] == bird and renamed == []  # recategorised, no rename dialog
    assert {k: v for k, v in after.items() if k != ann.id} == {k: v for k, v in before if k != ann.id}
    win.state.undo_stack.undo()
    assert stored(small_project) == before
    win.annotate.canvas.set_selection([])
    click_row(qtbot, cats, 1, double=True)  # nothing selected: double-click renames
    assert len(renamed) == 1 and stored(small_project) == before


def test_number_key_and_row_menu_recategorise_the_selection(main_window, small_project, qtbot):
    win = main_window
    win.open_project(small_project)
    cats = win.annotate.categories
    ann = select_first_shape(qtbot, win)
    qtbot.keyClick(win.annotate.canvas, Qt.Key.Key_2)
    dog = cats.categories()[1].id
    assert dict(stored(small_project))[ann.id] == dog
    menu = cats.build_menu(cats.categories()[2].id)
    give = menu.actions()[0]
    assert give.isEnabled() and "1 selected" in give.text()
    give.trigger()
    assert dict(stored(small_project))[ann.id] == cats.categories()[2].id
    win.annotate.canvas.set_selection([])
    assert not cats.build_menu(dog).actions()[0].isEnabled()


def test_duplicate_names_refused_and_rename_merges_only_when_asked(main_window, small_project,
                                                                   monkeypatch):
    win = main_window
    win.open_project(small_project)
    cats = win.annotate.categories
    warnings = []
    monkeypatch.setattr(QMessageBox, "warning", lambda *a, **k: warnings.append(a[2]))
    assert cats.add_category(" Dog ") is None and "already" in warnings[-1]
    with ProjectStore.open(small_project) as s:
        assert [c.name for c in s.categories()] == ["cat", "dog", "bird"]
    bird, dog = cats.categories()[2].id, cats.categories()[1].id
    assert not cats.rename_category(bird, "DOG")
    cats.set_current_category(bird)
    monkeypatch.setattr(QInputDialog, "getText", lambda *a, **k: ("dog", True))
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.No)
    cats.ask_rename()  # declined: nothing changes
    with ProjectStore.open(small_project) as s:
        assert [c.name for c in s.categories()] == ["cat", "dog", "bird"]
    win.state.store.add_annotation(Annotation(image_id=win.state.store.images()[3].id,
                                              category_id=bird, bbox=(1, 1, 5, 5)))
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    cats.set_current_category(bird)
    cats.ask_rename()  # accepted: bird merges into dog
    with ProjectStore.open(small_project) as s:
        assert [c.name for c in s.categories()] == ["cat", "dog"]
        assert sum(a.category_id == dog for a in s.annotations()) == 2


def test_object_counts_follow_an_import(main_window, small_project, coco_dir, qtbot):
    win = main_window
    win.open_project(small_project)
    cats = win.annotate.categories
    counts = lambda: {cats.tree.topLevelItem(i).text(0): cats.tree.topLevelItem(i).text(1)  # noqa: E731
                      for i in range(cats.tree.topLevelItemCount())}
    assert counts()["cat"] == "2"
    store = win.state.store
    cat = cats.categories()[0].id
    store.add_annotations([Annotation(image_id=im.id, category_id=cat, bbox=(1, 1, 4, 4))
                           for im in store.images()[2:5]])  # as an importer writes them
    win.state.imagesChanged.emit()  # what the Import dialog's "imported" leads to
    assert counts()["cat"] == "5"
