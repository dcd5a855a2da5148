"""Issue 19 item 3: number keys tag the current image of a classification project (single-
or multi-label as the project says) and move on; "next unlabelled image"; 200 fast keys
give 200 tags; a just-closed box or polygon is selected so that 1–9 recategorise it."""
from __future__ import annotations

import pytest
from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QApplication

from vision_studio.core.store import ProjectStore
from vision_studio.core.types import ImageRecord

LEFT, NOMOD = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
KEYS = (Qt.Key.Key_1, Qt.Key.Key_2, Qt.Key.Key_3)


@pytest.fixture
def tag_project(tmp_path, make_images):
    """A classification project: 205 real 16×12 PNGs, categories ants / bees / wasps, the
    first image tagged "ants" and no shapes."""
    files = make_images(tmp_path / "images", 205, size=(16, 12))
    path = tmp_path / "tags.vsproj"
    with ProjectStore.create(path) as store:
        cats = store.add_categories([("ants", None, ""), ("bees", None, ""), ("wasps", None, "")])
        ims = store.add_images(ImageRecord(path=f"images/{f.name}", width=16, height=12) for f in files)
        store.add_image_tags([(ims[0].id, cats[0].id)])
    return path


def tags_on_disk(path):
    with ProjectStore.open(path) as s:
        return s.all_image_tags()


def post_keys(widget, keys):
    """Queue every key press and release before any is handled (typing faster than the
    app draws), then let the event loop deliver them."""
    for k in keys:
        QApplication.postEvent(widget, QKeyEvent(QEvent.Type.KeyPress, k, NOMOD, chr(k)))
        QApplication.postEvent(widget, QKeyEvent(QEvent.Type.KeyRelease, k, NOMOD, chr(k)))
    QApplication.processEvents()


def test_200_fast_number_keys_give_200_tags_in_the_store(main_window, tag_project, qtbot):
    win = main_window
    win.open_project(tag_project)
    tags = win.annotate.tags
    assert tags.keys_tag and tags.advance and tags.exclusive  # a single-label classification project
    ids = [im.id for im in win.state.store.images()]
    cats = [c.id for c in win.state.store.categories()]
    win.annotate.browser.select_row(1)  # image 0 is tagged already
    keys = [KEYS[i % 3] for i in range(200)]
    post_keys(win.annotate.canvas, keys)
    qtbot.waitUntil(lambda: win.state.current_image.id == ids[201], timeout=60000)
    on_disk = tags_on_disk(tag_project)
    assert len(on_disk) == 201  # image 0 plus the 200 keyed ones
    assert [on_disk[ids[1 + i]] for i in range(200)] == [(cats[i % 3],) for i in range(200)]
    assert ids[201] not in on_disk
    win.state.undo_stack.undo()  # one key, one undo step
    assert ids[200] not in tags_on_disk(tag_project)


def test_multi_label_keys_toggle_without_moving_and_next_unlabelled(main_window, tag_project, qtbot):
    win = main_window
    win.open_project(tag_project)
    tags = win.annotate.tags
    tags.set_exclusive(False)
    tags.advance_box.setChecked(False)
    with ProjectStore.open(tag_project) as s:  # the choices belong to the project
        assert s.get_setting("tagging") == {"multi_label": True, "keys_tag": True, "advance": False}
    canvas = win.annotate.canvas
    first = win.state.current_image.id
    for k in (Qt.Key.Key_2, Qt.Key.Key_3, Qt.Key.Key_1):  # ants off, bees and wasps on
        qtbot.keyClick(canvas, k)
    cats = [c.id for c in win.state.store.categories()]
    assert tags_on_disk(tag_project)[first] == (cats[1], cats[2])
    assert win.state.current_image.id == first
    qtbot.keyClick(canvas, Qt.Key.Key_9)  # no ninth category: nothing happens
    assert tags_on_disk(tag_project)[first] == (cats[1], cats[2])
    ids = [im.id for im in win.state.store.images()]
    win.state.store.add_image_tags([(ids[1], cats[0]), (ids[2], cats[0])])
    qtbot.keyClick(canvas, Qt.Key.Key_N)  # next unlabelled: skips images 1 and 2
    assert win.state.current_image.id == ids[3]


def test_project_settings_decide_the_mode_when_reopened(main_window, tag_project, small_project):
    win = main_window
    win.open_project(small_project)  # boxes: number keys pick the drawing category
    assert not win.annotate.tags.keys_tag
    win.open_project(tag_project)
    win.annotate.tags.set_exclusive(False)
    win.open_project(small_project)
    win.open_project(tag_project)
    assert not win.annotate.tags.exclusive and win.annotate.tags.keys_tag


def test_a_just_closed_polygon_and_box_are_selected_and_keys_recategorise_them(
        main_window, small_project, qtbot):
    win = main_window
    win.open_project(small_project)
    canvas = win.annotate.canvas
    v = canvas.viewport()
    qtbot.keyClick(canvas, Qt.Key.Key_P)
    for x, y in ((40, 5), (60, 5), (60, 20)):
        qtbot.mouseClick(v, LEFT, NOMOD, canvas.mapFromScene(QPointF(x, y)))
    qtbot.keyClick(canvas, Qt.Key.Key_Return)
    assert len(canvas.selected_ids) == 1
    poly = canvas.selected_ids[0]
    qtbot.keyClick(canvas, Qt.Key.Key_3)
    cats = [c.id for c in win.state.store.categories()]
    with ProjectStore.open(small_project) as s:
        assert s.annotation(poly).category_id == cats[2] and s.annotation(poly).polygons
    qtbot.keyClick(canvas, Qt.Key.Key_W)
    qtbot.mousePress(v, LEFT, NOMOD, canvas.mapFromScene(QPointF(2, 30)))
    qtbot.mouseMove(v, canvas.mapFromScene(QPointF(10, 40)))
    qtbot.mouseRelease(v, LEFT, NOMOD, canvas.mapFromScene(QPointF(12, 44)))
    box = canvas.selected_ids[0]
    assert box != poly
    qtbot.keyClick(canvas, Qt.Key.Key_2)
    with ProjectStore.open(small_project) as s:
        assert s.annotation(box).category_id == cats[1]
        assert s.annotation(poly).category_id == cats[2]
