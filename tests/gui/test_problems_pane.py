"""The Annotate problems pane (issue 12 trap 9), driven through its real buttons in the
main window: problems are listed where the user looks, with a badge on the thumbnail;
dismissing one and removing an image from the project are both undoable, and both are
checked in the project file."""
from __future__ import annotations

from PySide6.QtCore import Qt

from vision_studio.core.store import ProjectStore
from vision_studio.core.types import Problem
from vision_studio.gui.panels.annotate.thumbs import PROBLEM_ROLE


def on_disk(path):
    """(image paths, open problem messages) as stored, read by another connection."""
    with ProjectStore.open(path) as s:
        return [im.path for im in s.images()], [p.message for p in s.problems()]


def badge(win, image_id: int) -> bool:
    model = win.annotate.model
    return model.data(model.index(model.row_of(image_id)), PROBLEM_ROLE)


def test_problems_are_listed_clicked_dismissed_and_undone(main_window, small_project, qtbot):
    win = main_window
    win.open_project(small_project)
    pane = win.annotate.problems
    assert pane.list.count() == 1 and pane.title.text() == "<b>Problems (1)</b>"
    item = pane.list.item(0)
    assert item.text() == "box 9 lies outside the image — img_005.png"
    image_id = item.data(Qt.ItemDataRole.UserRole + 1)
    assert badge(win, image_id)
    qtbot.mouseClick(pane.list.viewport(), Qt.MouseButton.LeftButton,
                     pos=pane.list.visualItemRect(item).center())
    assert win.state.current_image.id == image_id  # a click shows the image
    assert pane.current_image_problems() == ["box 9 lies outside the image"]
    assert pane.dismiss_button.isEnabled()
    qtbot.mouseClick(pane.dismiss_button, Qt.MouseButton.LeftButton)
    assert on_disk(small_project)[1] == []  # dismissed in the file
    assert pane.list.count() == 0 and not badge(win, image_id)
    win.state.undo_stack.undo()
    assert on_disk(small_project)[1] == ["box 9 lies outside the image"]
    assert pane.list.count() == 1 and badge(win, image_id)


def test_an_image_with_a_problem_is_removed_from_the_project_and_undo_puts_it_back(
        main_window, small_project, qtbot):
    with ProjectStore.open(small_project) as s:
        first = s.images()[0]
        s.add_problems([Problem(source=first.path, message="file is truncated",
                                image_id=first.id, kind="decode_error")])
        anns = s.annotations(first.id)
    assert anns
    win = main_window
    win.open_project(small_project)
    pane = win.annotate.problems
    assert [pane.list.item(i).text() for i in range(pane.list.count())] == [
        "box 9 lies outside the image — img_005.png", "file is truncated — img_000.png"]
    assert win.state.current_image.id == first.id
    assert pane.current_image_problems() == ["file is truncated"]
    pane.list.item(1).setSelected(True)
    pane.list.item(0).setSelected(False)
    paths_before, problems_before = on_disk(small_project)
    qtbot.mouseClick(pane.remove_button, Qt.MouseButton.LeftButton)
    paths, problems = on_disk(small_project)
    assert paths == paths_before[1:] and problems == ["box 9 lies outside the image"]
    assert (small_project.parent / first.path).is_file()  # the file stays on disk
    assert win.annotate.filters.count.text() == "5 images"
    assert win.state.current_image.id != first.id and pane.list.count() == 1
    win.state.undo_stack.undo()
    assert on_disk(small_project) == (paths_before, problems_before)
    with ProjectStore.open(small_project) as s:
        assert s.annotations(first.id) == anns  # shapes back under the same ids
    assert win.annotate.filters.count.text() == "6 images" and pane.list.count() == 2
