"""Label next in the Annotate panel (issue 14): the browser's score order and chip, the
jump to the most uncertain unlabelled image, and the scoring in the background with a
real (tiny) checkpoint, on demand and after a finished run."""
from __future__ import annotations

import math
from pathlib import Path

import pytest

from _assist_fixtures import cls_project_with_run
from _eval_fixtures import train_tiny
from vision_studio.core.store import ProjectStore
from vision_studio.gui.panels.annotate.thumbs import SCORE_ROLE

TIMEOUT = 120_000


def test_score_order_chip_and_label_next_jump(main_window, small_project):
    with ProjectStore.open(small_project) as s:
        ids = [im.id for im in s.images()]  # 0, 1 boxes; 2 tagged; 3, 4, 5 unlabelled
        s.set_queue_scores("entropy", "r1", {ids[0]: 0.99, ids[3]: 0.2, ids[4]: 0.9, ids[5]: 0.5})
    win = main_window
    assert win.open_project(small_project)
    panel, queue = win.annotate, win.annotate.assist.queue
    assert panel.model.image_ids() == ids  # project order until asked
    idx = panel.model.index(panel.model.row_of(ids[4]))
    assert panel.model.data(idx, SCORE_ROLE) == pytest.approx(0.9)
    assert "Label-next score: 0.900" in panel.model.data(idx, 3)  # ToolTipRole
    queue.set_ordered(True)
    assert panel.model.image_ids() == [ids[0], ids[4], ids[5], ids[3], ids[1], ids[2]]
    assert panel.model.row_of(ids[5]) == 2
    assert queue.label_next()
    assert win.state.current_image.id == ids[4]  # the labelled ids[0] is skipped
    panel.step(1)  # Next follows the score order
    assert win.state.current_image.id == ids[5]
    queue.set_ordered(False)
    assert panel.model.image_ids() == ids


def test_label_next_without_scores_says_so(main_window, small_project):
    win = main_window
    win.open_project(small_project)
    messages = []
    win.state.statusMessage.connect(messages.append)
    assert not win.annotate.assist.queue.label_next()
    assert "Score unlabelled images" in messages[-1]


def entropy(p: list[float]) -> float:
    return -sum(q * math.log(q) for q in p if q > 0)


@pytest.fixture
def cls_run(tmp_path, make_images) -> tuple[Path, Path, list[int]]:
    pytest.importorskip("vision_studio.core.assist.queue", reason="core.assist (branch a14c) not merged yet")
    return cls_project_with_run(tmp_path, make_images)


def test_scoring_in_the_background_orders_the_browser(main_window, cls_run, qtbot):
    project, ckpt, unl = cls_run
    win = main_window
    win.open_project(project)
    queue = win.annotate.assist.queue
    with qtbot.waitSignal(queue.scored, timeout=TIMEOUT) as sig:
        assert queue.start(ckpt, "entropy") is not None
        assert queue.running
    assert sig.args == [5]
    scores = win.state.store.queue_scores("entropy")
    assert sorted(scores) == sorted(unl)  # the unlabelled images only
    # the same ranking from the checkpoint's own softmax, computed here
    from vision_studio.core.assist.inference import load_model, run_classification

    with ProjectStore.open(project) as s:
        model = load_model(s, ckpt, "cpu")
        preds = run_classification(model, s, [s.image(i) for i in unl])
    mine = {int(i): entropy(list(map(float, row))) for i, row in zip(preds.image_ids, preds.probs)}
    assert sorted(unl, key=lambda i: -scores[i]) == sorted(unl, key=lambda i: -mine[i])
    top = max(unl, key=lambda i: (mine[i], -i))
    assert win.annotate.model.image_ids()[0] == top  # ordered by the score now
    assert queue.label_next() and win.state.current_image.id == top


def test_a_finished_run_scores_the_unlabelled_images(main_window, cls_run, qtbot, tmp_path):
    project, ckpt, unl = cls_run
    win = main_window
    win.open_project(project)
    queue = win.annotate.assist.queue
    assert not win.state.store.queue_scores()  # the run before opening is not scored again
    train_tiny(project, tmp_path / "run2", "classification", "mobilenet_v3_small",
               image_size=32, steps=1, batch_size=4)
    with qtbot.waitSignal(queue.scored, timeout=TIMEOUT):
        win.state.runsChanged.emit()  # as the Model panel does when a run ends
    assert sorted(win.state.store.queue_scores()) == sorted(unl)


def test_scoring_shows_its_progress_and_cancel_stops_it(main_window, cls_run, qtbot):
    """Scoring takes minutes on a CPU: the Label-next row shows "Scoring n / N" while it
    runs (seen under Xvfb: nothing showed that it ran, nor how to stop it) and its
    Cancel button stops it."""
    project, ckpt, unl = cls_run
    win = main_window
    win.open_project(project)
    queue = win.annotate.assist.queue
    with qtbot.waitSignal(queue.scored, timeout=TIMEOUT):
        queue.start(ckpt, "entropy")
        assert not queue.progress_row.isHidden()
    assert queue.progress_row.isHidden()
    assert queue.progress.maximum() == len(unl) and queue.progress.value() == len(unl)
    messages = []
    win.state.statusMessage.connect(messages.append)
    queue.start(ckpt, "entropy")
    queue.cancel_button.click()
    qtbot.waitUntil(lambda: not queue.running, timeout=TIMEOUT)
    qtbot.waitUntil(lambda: queue.progress_row.isHidden(), timeout=5000)
    assert messages[-1] == "Label-next scoring cancelled"


def test_label_next_button_gives_the_keys_to_the_canvas(main_window, small_project, qtbot):
    """After a click on "Label next" the review keys act on the image it shows (seen
    under Xvfb: Enter after the click accepted nothing, the keys stayed in the browser)."""
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QApplication, QToolButton

    with ProjectStore.open(small_project) as s:
        ids = [im.id for im in s.images()]
        s.set_queue_scores("entropy", "r1", {ids[3]: 0.2, ids[4]: 0.9})
    win = main_window
    assert win.open_project(small_project)
    panel, queue = win.annotate, win.annotate.assist.queue
    win.activateWindow()
    panel.browser.setFocus()  # the reviewer clicked a thumbnail before
    qtbot.waitUntil(lambda: QApplication.focusWidget() is panel.browser)
    button = next(b for b in queue.widget.findChildren(QToolButton)
                  if b.defaultAction() is panel.assist.actions["label_next"])
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert win.state.current_image.id == ids[4]
    assert QApplication.focusWidget() is panel.canvas


def test_the_label_next_order_is_kept_when_the_project_is_opened_again(main_window, small_project):
    """Quit and reopen: the browser was back in project order although the reviewer had
    chosen Label next (seen under Xvfb); the choice now lives in the project."""
    with ProjectStore.open(small_project) as s:
        ids = [im.id for im in s.images()]
        s.set_queue_scores("entropy", "r1", {ids[3]: 0.2, ids[4]: 0.9, ids[5]: 0.5})
    win = main_window
    assert win.open_project(small_project)
    queue = win.annotate.assist.queue
    queue.set_ordered(True)
    win.state.close_project()
    queue.set_ordered(False)  # as in a new session (no project open: nothing is saved)
    assert win.open_project(small_project)
    assert queue.order.currentData() == 1  # ORDER_SCORE
    assert win.annotate.model.image_ids()[:3] == [ids[4], ids[5], ids[3]]
    queue.set_ordered(False)
    win.state.close_project()
    assert win.open_project(small_project)
    assert win.annotate.model.image_ids() == ids


def test_the_scoring_dialog_offers_every_queue_strategy_with_the_core_default_chosen(main_window, small_project):
    from vision_studio.core.assist.uncertainty import DEFAULT_STRATEGY, STRATEGIES
    from vision_studio.gui.panels.annotate.label_next import QueueDialog

    main_window.open_project(small_project)
    dlg = QueueDialog(main_window.state.store, auto=True, parent=main_window)
    offered = [dlg.strategy.itemData(i) for i in range(dlg.strategy.count())]
    assert offered == list(STRATEGIES) and "typiclust" in offered
    assert dlg.strategy.currentData() == DEFAULT_STRATEGY == "typiclust"
    dlg.deleteLater()
