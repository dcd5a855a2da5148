"""Reviewing model proposals in the Annotate panel (issue 14), driven with real keys and
mouse drags on the main window (offscreen): proposals appear dashed with their score,
the score slider hides low ones, Enter / Shift+Enter / Backspace / Shift+Backspace accept /
accept all / reject / reject all, dragging a proposal accepts it as edited, everything is undoable, and every
step is checked in the project file through a second connection."""
from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, QPointF, Qt

from _assist_fixtures import drag
from vision_studio.core.store import ProjectStore
from vision_studio.core.types import ImageStatus, Proposal
from vision_studio.gui.widgets.proposal_items import ProposalItem

LEFT, NOMOD = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
SHIFT, CTRL = Qt.KeyboardModifier.ShiftModifier, Qt.KeyboardModifier.ControlModifier


@pytest.fixture
def project(small_project: Path) -> Path:
    """small_project with proposals of run "r1" on img_003 (unlabelled): cat 0.9 box, cat
    0.8 polygon, dog 0.7 box, bird 0.3 box; and one on img_004."""
    with ProjectStore.open(small_project) as s:
        cat, dog, bird = (c.id for c in s.categories())
        im3, im4 = s.images()[3].id, s.images()[4].id
        s.add_proposals([
            Proposal(0, im3, cat, "bbox", (10, 8, 20, 12), None, 0.9, "r1"),
            Proposal(0, im3, cat, "polygon", None, [[40, 5, 60, 5, 60, 25, 40, 25]], 0.8, "r1"),
            Proposal(0, im3, dog, "bbox", (30, 28, 10, 10), None, 0.7, "r1"),
            Proposal(0, im3, bird, "bbox", (2, 30, 8, 8), None, 0.3, "r1"),
            Proposal(0, im4, dog, "bbox", (5, 5, 10, 10), None, 0.95, "r1"),
        ])
    return small_project


def on_disk(path: Path, image_id: int):
    with ProjectStore.open(path) as s:
        return s.annotations(image_id), s.proposals(image_id), s.image(image_id)


def opened(win, path: Path, row: int = 3):
    assert win.open_project(path)
    panel = win.annotate
    image_id = panel.model.image_ids()[row]
    assert panel.show_image_id(image_id)
    return panel, panel.canvas, panel.assist.review, image_id


def key(qtbot, canvas, k, mods=NOMOD):
    canvas.setFocus()
    qtbot.keyClick(canvas, k, mods)


def test_proposals_appear_dashed_with_score_and_the_slider_hides(main_window, project):
    panel, canvas, review, image_id = opened(main_window, project)
    items = review.items
    assert len(items) == 4 and all(isinstance(i, ProposalItem) for i in items.values())
    assert all(i.scene() is canvas.scene() for i in items.values())
    assert all(i.pen().style() == Qt.PenStyle.DashLine for i in items.values())
    labels = sorted(i.label.text for i in items.values())
    assert labels == ["bird 0.30", "cat 0.80", "cat 0.90", "dog 0.70"]
    shown = {items[i].label.text for i in review.shown_ids()}
    assert shown == {"cat 0.90", "cat 0.80", "dog 0.70"}  # default score 0.5
    assert not [i for i in items.values() if i.label.text == "bird 0.30"][0].isVisible()
    assert items[review.selected_id].label.text == "cat 0.90"  # the best one is selected
    assert "3 proposals shown (1 below the score)" in panel.assist.count_label.text()
    panel.assist.score_slider.setValue(75)
    assert {items[i].label.text for i in review.shown_ids()} == {"cat 0.90", "cat 0.80"}
    panel.assist.score_slider.setValue(10)
    assert len(review.shown_ids()) == 4
    # proposals are not annotations: nothing is stored as one, the canvas has no shape
    assert on_disk(project, image_id)[0] == [] and canvas.shape_items == {}


def test_enter_accepts_then_undo_redo(main_window, project, qtbot):
    panel, canvas, review, image_id = opened(main_window, project)
    best = review.items[review.selected_id].proposal
    key(qtbot, canvas, Qt.Key.Key_Return)
    anns, props, image = on_disk(project, image_id)
    assert [(a.bbox, a.source, a.category_id) for a in anns] == [((10, 8, 20, 12), "model:r1", best.category_id)]
    assert best.id not in {p.id for p in props} and len(props) == 3
    assert review.items[review.selected_id].label.text == "cat 0.80"  # the next one
    assert image.status != ImageStatus.DONE  # two shown proposals are left
    shape = canvas.shape_items[anns[0].id]
    assert shape.label.text == "cat · model"  # provenance shows on the canvas
    key(qtbot, canvas, Qt.Key.Key_Z, CTRL)
    anns2, props2, _ = on_disk(project, image_id)
    assert anns2 == [] and best in props2 and len(review.items) == 4
    key(qtbot, canvas, Qt.Key.Key_Z, CTRL | SHIFT)
    assert on_disk(project, image_id)[0] == anns  # the same id again


def test_backspace_rejects_then_undo(main_window, project, qtbot):
    panel, canvas, review, image_id = opened(main_window, project)
    first = review.items[review.selected_id].proposal
    key(qtbot, canvas, Qt.Key.Key_Backspace)
    anns, props, _ = on_disk(project, image_id)
    assert anns == [] and first not in props and len(props) == 3
    assert first.id not in review.items
    key(qtbot, canvas, Qt.Key.Key_Z, CTRL)
    assert first in on_disk(project, image_id)[1] and first.id in review.items
    review.select(first.id)
    key(qtbot, canvas, Qt.Key.Key_Delete)  # Del (the panel's Delete action) rejects too
    assert first not in on_disk(project, image_id)[1]


def test_shift_enter_accepts_all_shown_and_marks_the_image_done(main_window, project, qtbot):
    panel, canvas, review, image_id = opened(main_window, project)
    key(qtbot, canvas, Qt.Key.Key_Return, SHIFT)
    anns, props, image = on_disk(project, image_id)
    assert sorted(a.source for a in anns) == ["model:r1"] * 3
    polygon = [a for a in anns if a.polygons]
    assert len(polygon) == 1 and polygon[0].polygons == ((40, 5, 60, 5, 60, 25, 40, 25),)
    assert [p.score for p in props] == [0.3]  # hidden by the slider: not accepted
    assert image.status == ImageStatus.DONE  # nothing left at or above the score
    assert main_window.state.undo_stack.count() == 1  # one command
    key(qtbot, canvas, Qt.Key.Key_Z, CTRL)
    anns, props, image = on_disk(project, image_id)
    assert anns == [] and len(props) == 4 and image.status == ImageStatus.NEW


def test_shift_backspace_rejects_the_rest_after_accepting_and_marks_the_image_done(main_window, project, qtbot):
    """Enter the good proposal, Shift+Backspace the rest (one key for all the false ones):
    the image is done; undo brings the rejected back and the old status."""
    panel, canvas, review, image_id = opened(main_window, project)
    key(qtbot, canvas, Qt.Key.Key_Return)  # cat 0.9 is right
    key(qtbot, canvas, Qt.Key.Key_Backspace, SHIFT)  # cat 0.8 and dog 0.7 are wrong
    anns, props, image = on_disk(project, image_id)
    assert [a.bbox for a in anns] == [(10, 8, 20, 12)]
    assert [p.score for p in props] == [0.3]  # hidden by the slider: kept
    assert image.status == ImageStatus.DONE
    assert main_window.state.undo_stack.count() == 2  # accept, reject the rest
    key(qtbot, canvas, Qt.Key.Key_Z, CTRL)
    anns, props, image = on_disk(project, image_id)
    assert len(anns) == 1 and sorted(p.score for p in props) == [0.3, 0.7, 0.8]
    assert image.status == ImageStatus.NEW


def test_rejecting_everything_on_an_unlabelled_image_leaves_it_to_draw(main_window, project, qtbot):
    panel, canvas, review, image_id = opened(main_window, project)
    review.reject_shown()
    anns, props, image = on_disk(project, image_id)
    assert anns == [] and [p.score for p in props] == [0.3]
    assert image.status == ImageStatus.NEW  # nothing labelled: not done
    assert panel.assist.actions["reject_all_proposals"] in panel.assist.toolbar.actions()


def test_dragging_a_proposal_accepts_it_as_edited(main_window, project, qtbot):
    panel, canvas, review, image_id = opened(main_window, project)
    drag(qtbot, canvas, (20, 14), (25, 17))  # the body of the cat 0.9 box: move by (5, 3)
    anns, props, _ = on_disk(project, image_id)
    assert len(anns) == 1 and anns[0].source == "model:r1:edited"
    assert anns[0].bbox == pytest.approx((15, 11, 20, 12), abs=0.6)
    assert canvas.shape_items[anns[0].id].label.text == "cat · model, edited"
    # resize the dog box by its bottom-right handle (select it first with a click)
    dog = [i for i in review.items.values() if i.label.text == "dog 0.70"][0]
    qtbot.mouseClick(canvas.viewport(), LEFT, NOMOD, canvas.mapFromScene(QPointF(35, 33)))
    assert review.selected_id == dog.proposal.id
    drag(qtbot, canvas, (40, 38), (44, 44))
    anns, props, _ = on_disk(project, image_id)
    dog_ann = [a for a in anns if a.category_id == dog.proposal.category_id]
    assert dog_ann[0].bbox == pytest.approx((30, 28, 14, 16), abs=0.6)
    assert dog_ann[0].source == "model:r1:edited"
    # a polygon vertex: drag (60, 25) to (62, 30)
    poly = [i for i in review.items.values() if i.polygons][0]
    review.select(poly.proposal.id)
    drag(qtbot, canvas, (60, 25), (62, 30))
    anns, props, _ = on_disk(project, image_id)
    p = [a for a in anns if a.polygons][0]
    assert p.source == "model:r1:edited"
    assert p.polygons[0] == pytest.approx((40, 5, 60, 5, 62, 30, 40, 25), abs=0.6)
    for _ in range(3):
        key(qtbot, canvas, Qt.Key.Key_Z, CTRL)
    anns, props, _ = on_disk(project, image_id)
    assert anns == [] and len(props) == 4


def test_keys_fall_through_without_proposals(main_window, project, qtbot):
    """Backspace still deletes a selected shape and Enter still closes a polygon where
    there is no proposal to act on."""
    panel, canvas, review, image_id = opened(main_window, project, row=0)  # img_000: 2 boxes
    assert review.items == {}
    first = sorted(canvas.shape_items)[0]
    canvas.set_selection([first])
    key(qtbot, canvas, Qt.Key.Key_Backspace)
    assert first not in {a.id for a in on_disk(project, image_id)[0]}


def test_number_key_accepts_the_selected_proposal_under_that_category(main_window, project, qtbot):
    """1-9 on a selected proposal: accepted as category n (edited when the model said
    another), the next one selected, one undo command, in the file at once."""
    panel, canvas, review, image_id = opened(main_window, project)
    cat, dog, bird = (c.id for c in main_window.state.store.categories())
    best = review.items[review.selected_id].proposal
    assert best.category_id == cat
    key(qtbot, canvas, Qt.Key.Key_2)  # dog
    anns, props, _ = on_disk(project, image_id)
    assert [(a.category_id, a.bbox, a.source) for a in anns] == [(dog, (10, 8, 20, 12), "model:r1:edited")]
    assert best.id not in {p.id for p in props}
    assert review.items[review.selected_id].label.text == "cat 0.80"  # the next one
    assert canvas.shape_items[anns[0].id].label.text == "dog · model, edited"
    assert main_window.state.undo_stack.undoText() == "Accept cat 0.90 as dog (edited)"
    key(qtbot, canvas, Qt.Key.Key_1)  # the polygon is a cat: accepted as it is
    anns, props, _ = on_disk(project, image_id)
    assert sorted((a.category_id, a.source) for a in anns) == sorted(
        [(dog, "model:r1:edited"), (cat, "model:r1")])
    assert main_window.state.undo_stack.count() == 2
    key(qtbot, canvas, Qt.Key.Key_Z, CTRL)
    key(qtbot, canvas, Qt.Key.Key_Z, CTRL)
    anns, props, _ = on_disk(project, image_id)
    assert anns == [] and best in props and len(props) == 4  # back under its own category
    key(qtbot, canvas, Qt.Key.Key_Z, CTRL | SHIFT)
    assert [(a.category_id, a.source) for a in on_disk(project, image_id)[0]] == [(dog, "model:r1:edited")]


def test_number_key_with_a_shape_selected_recategorises_the_shape(main_window, project, qtbot):
    panel, canvas, review, image_id = opened(main_window, project)
    cat, dog, bird = (c.id for c in main_window.state.store.categories())
    key(qtbot, canvas, Qt.Key.Key_Return)  # the cat box becomes an annotation
    ann = on_disk(project, image_id)[0][0]
    assert review.selected_id  # the next proposal
    qtbot.mouseClick(canvas.viewport(), LEFT, NOMOD, canvas.mapFromScene(QPointF(12, 19)))
    assert canvas.selected_ids == [ann.id] and review.selected_id == 0  # one thing selected
    key(qtbot, canvas, Qt.Key.Key_3)
    anns, props, _ = on_disk(project, image_id)
    assert [(a.id, a.category_id) for a in anns] == [(ann.id, bird)]
    assert len(props) == 3 and all(p.category_id != bird or p.score == 0.3 for p in props)


def test_moving_the_score_slider_leaves_the_keys_on_the_canvas(main_window, project, qtbot):
    """A reviewer drags the slider, then presses Enter: the proposal is accepted (the
    slider used to keep the keyboard focus and swallow Enter)."""
    from PySide6.QtWidgets import QApplication

    panel, canvas, review, image_id = opened(main_window, project)
    canvas.setFocus()
    slider = panel.assist.score_slider
    main_window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.focusWidget() is canvas)
    qtbot.mouseClick(slider, LEFT, NOMOD, slider.rect().center())
    qtbot.keyClick(QApplication.focusWidget() or main_window, Qt.Key.Key_Return)
    assert len(on_disk(project, image_id)[0]) == 1
    before = slider.value()  # a click on the groove: a page step down, then Enter again
    qtbot.mouseClick(slider, LEFT, NOMOD, slider.rect().center() - QPoint(slider.width() // 3, 0))
    assert slider.value() < before
    qtbot.keyClick(QApplication.focusWidget() or main_window, Qt.Key.Key_Return)
    assert len(on_disk(project, image_id)[0]) == 2


def test_number_key_on_a_tag_proposal_tags_the_image_and_moves_on(main_window, small_project, qtbot):
    """A classification project (tags, no shapes: number keys tag images): the model's
    tag of the image is selected; a number key accepts it as that class (edited when
    another) and, with nothing left to review, the next image is shown."""
    with ProjectStore.open(small_project) as s:
        s.delete_annotations([a.id for a in s.annotations()])
        cat, dog, bird = (c.id for c in s.categories())
        im3, im4 = s.images()[3].id, s.images()[4].id
        s.add_proposals([Proposal(0, im3, dog, "tag", None, None, 0.8, "r1")])
    panel, canvas, review, image_id = opened(main_window, small_project)
    assert image_id == im3 and panel.tags.keys_tag and panel.tags.advance
    assert review.items[review.selected_id].proposal.kind == "tag"
    key(qtbot, canvas, Qt.Key.Key_3)  # bird, not dog
    with ProjectStore.open(small_project) as s:
        assert s.image_tag_sources(im3) == {bird: "model:r1:edited"} and s.proposals() == []
    assert main_window.state.current_image.id == im4  # moved on


@pytest.mark.parametrize("action", ["next", "next_unlabelled"])
def test_after_a_click_on_a_tool_bar_button_the_keys_go_to_the_canvas(main_window, project, qtbot, action):
    """A reviewer clicks "Next ▶" / "Unlabelled ▶" in the tool bar, then presses Enter:
    the best proposal of the image shown is accepted (seen under Xvfb: the click left the
    keyboard focus off the canvas, and Enter / Shift+Enter / Backspace did nothing)."""
    from PySide6.QtWidgets import QApplication, QToolBar

    panel, canvas, review, _ = opened(main_window, project, row=2)
    image_id = panel.model.image_ids()[3]
    main_window.activateWindow()
    canvas.setFocus()
    qtbot.waitUntil(lambda: QApplication.focusWidget() is canvas)
    bar = next(b for b in panel.findChildren(QToolBar) if b.widgetForAction(panel.actions[action]))
    button = bar.widgetForAction(panel.actions[action])
    qtbot.mouseClick(button, LEFT, NOMOD, button.rect().center())
    assert panel.state.current_image.id == image_id
    qtbot.keyClick(QApplication.focusWidget() or main_window, Qt.Key.Key_Return)
    anns = on_disk(project, image_id)[0]
    assert [a.source for a in anns] == ["model:r1"]


def test_the_selected_proposal_stays_highlighted_after_a_reload(main_window, project):
    """The image is shown again (Label-next scores arrived, another panel's undo): the
    selected proposal is still the highlighted one, drawn above the others with its
    label (seen under Xvfb: the selection was kept but drawn like the others, and the
    label of a box sharing its corner covered its score)."""
    panel, canvas, review, image_id = opened(main_window, project)
    second = review.shown_ids()[1]
    review.select(second)
    review.reload()
    assert review.selected_id == second
    items = review.items
    assert items[second].brush().style() != Qt.BrushStyle.NoBrush  # the highlight's fill
    assert all(items[second].zValue() > it.zValue() for i, it in items.items() if i != second)
    panel.assist.queue.apply()  # as when Label-next scores arrive
    items = review.items
    assert review.selected_id == second
    assert all(items[second].zValue() > it.zValue() for i, it in items.items() if i != second)


def test_the_browser_shows_how_many_proposals_each_image_has_to_review(main_window, project, qtbot):
    """After pre-labelling, nothing in the browser said which images had proposals
    waiting (seen under Xvfb: every thumbnail read "0 objects"); each now says
    "n proposals", kept up to date as they are accepted or rejected."""
    from vision_studio.gui.panels.annotate.thumbs import PROPOSALS_ROLE

    panel, canvas, review, image_id = opened(main_window, project)
    model = panel.model

    def count(iid):
        return model.data(model.index(model.row_of(iid)), PROPOSALS_ROLE)

    ids = model.image_ids()
    assert count(image_id) == 4 and count(ids[4]) == 1 and count(ids[0]) == 0
    assert "4 model proposal(s)" in model.data(model.index(model.row_of(image_id)), Qt.ItemDataRole.ToolTipRole)
    key(qtbot, canvas, Qt.Key.Key_Return)
    assert count(image_id) == 3
    key(qtbot, canvas, Qt.Key.Key_Backspace)
    assert count(image_id) == 2
    key(qtbot, canvas, Qt.Key.Key_Z, CTRL)
    assert count(image_id) == 3


def test_the_tool_bar_buttons_stay_put_while_proposals_are_reviewed(main_window, project, qtbot):
    """The proposal count's width changed with its text, so Accept / Reject moved under
    the mouse after every accept (seen under Xvfb)."""
    main_window.resize(1600, 900)  # the buttons on the bar, not in its overflow menu
    panel, canvas, review, image_id = opened(main_window, project, row=4)  # one proposal
    bar = panel.assist.toolbar
    button = bar.widgetForAction(panel.assist.actions["reject_proposal"])
    assert "1 proposal shown" in panel.assist.count_label.text()
    qtbot.wait(50)
    bar.layout().activate()
    assert button.isVisible()
    before = button.geometry().x()
    key(qtbot, canvas, Qt.Key.Key_Return)
    assert "no proposals" in panel.assist.count_label.text()
    qtbot.wait(50)
    bar.layout().activate()
    assert button.geometry().x() == before
