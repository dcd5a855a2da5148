"""Pre-label with model (issue 14): the dialog offers the project's checkpoints, the job
runs a real (tiny) checkpoint in the background with its own store connection, its
proposals then appear on the canvas and are reviewed there; Cancel stores nothing."""
from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QPushButton

from _assist_fixtures import cls_project_with_run
from vision_studio.core.store import ProjectStore
from vision_studio.gui.panels.annotate.prelabel_job import PrelabelDialog, PrelabelRequest

TIMEOUT = 120_000
pytest.importorskip("vision_studio.core.assist.prelabel", reason="core.assist (branch a14c) not merged yet")


@pytest.fixture
def cls_run(tmp_path, make_images) -> tuple[Path, Path, list[int]]:
    return cls_project_with_run(tmp_path, make_images)


def test_dialog_offers_the_runs_checkpoints_and_images(main_window, cls_run, qtbot):
    project, ckpt, _ = cls_run
    main_window.open_project(project)
    dlg = PrelabelDialog(main_window.state.store, main_window)
    qtbot.addWidget(dlg)
    paths = [dlg.checkpoint.itemData(i) for i in range(dlg.checkpoint.count())]
    assert str(ckpt) in paths
    assert [dlg.images.itemData(i) for i in range(dlg.images.count())][:2] == ["unlabelled", "all"]
    dlg.score.setValue(0.25)
    req = dlg.request()
    assert req.images == "unlabelled" and req.score == pytest.approx(0.25)
    assert Path(req.checkpoint).is_file()


def test_prelabel_in_the_background_then_review(main_window, cls_run, qtbot):
    project, ckpt, unl = cls_run
    win = main_window
    win.open_project(project)
    ctl = win.annotate.assist.prelabel
    progress = []
    with qtbot.waitSignal(ctl.proposalsAdded, timeout=TIMEOUT) as sig:
        job = ctl.start(PrelabelRequest(ckpt, "unlabelled", 0.0))
        job.progress.connect(lambda d, t: progress.append((d, t)))
        assert ctl.running and ctl.progress is not None and ctl.progress.isVisible()
    assert sig.args == [5]  # one tag proposal per unlabelled image (single-label)
    assert progress and progress[-1][0] == progress[-1][1] == 5
    assert ctl.progress is None  # the progress dialog closed
    props = win.state.store.proposals()
    assert sorted(p.image_id for p in props) == sorted(unl) and {p.kind for p in props} == {"tag"}
    # the proposal of the first unlabelled image shows on the canvas; Enter accepts it
    win.annotate.assist.score_slider.setValue(0)
    assert win.annotate.show_image_id(unl[0])
    review = win.annotate.assist.review
    assert len(review.items) == 1 and review.selected_id
    p = review.items[review.selected_id].proposal
    win.annotate.canvas.setFocus()
    qtbot.keyClick(win.annotate.canvas, Qt.Key.Key_Return)
    with ProjectStore.open(project) as s:
        assert s.image_tags(unl[0]) == (p.category_id,)
        assert s.image_tag_sources(unl[0]) == {p.category_id: f"model:{p.run}"}
        assert not s.proposals(unl[0])


def test_cancel_stores_nothing(main_window, cls_run, qtbot):
    project, ckpt, _ = cls_run
    win = main_window
    win.open_project(project)
    ctl = win.annotate.assist.prelabel
    with qtbot.waitSignal(ctl.failed, timeout=TIMEOUT) as sig:
        ctl.start(PrelabelRequest(ckpt, "all", 0.0))
        ctl.progress.findChild(QPushButton).click()  # the progress dialog's Cancel button
    assert sig.args == ["cancelled"]
    assert win.state.store.proposals() == []
    # the status line says so (it said "Pre-labelling made 0 proposal(s)", and before that
    # "the images done so far keep their proposals", which they do not)
    assert win.statusBar().currentMessage() == "Pre-labelling cancelled: no proposal was stored"


def test_the_progress_dialog_moves_within_a_large_image(main_window, cls_run, qtbot, tmp_path):
    """Sliced inference reports ``done`` fractional after every tile batch: the job's
    signal carries it and the dialog's bar moves (100 steps per image)."""
    from PySide6.QtWidgets import QProgressDialog

    from vision_studio.gui.panels.annotate.assist_job import AssistJob

    project, _, _ = cls_run
    main_window.open_project(project)
    got = []
    job = AssistJob(project, lambda store, progress, cancelled: None)
    job.progress.connect(lambda d, t: got.append((d, t)), Qt.ConnectionType.DirectConnection)
    job.progress.emit(1.25, 3)
    assert got == [(1.25, 3)]
    ctl = main_window.annotate.assist.prelabel
    ctl.progress = QProgressDialog("", "Cancel", 0, 0, main_window)
    try:
        ctl._on_progress(1.25, 3)
        assert (ctl.progress.maximum(), ctl.progress.value()) == (300, 125)
        assert ctl.progress.labelText() == "Pre-labelling: image 2 of 3 (tiles: 25%)"
        ctl._on_progress(2, 3)
        assert ctl.progress.value() == 200 and ctl.progress.labelText() == "Pre-labelling: image 2 of 3"
    finally:
        ctl._close_progress()
