"""The Evaluate tab fits the window's height (seen under Xvfb at 1600×1000): the page
scrolled vertically and the image viewer, its buttons and the status line were cut off
below the window, before any evaluation.

Why: the main window's ``QScrollArea`` (widget resizable) gives a page whose layout has a
height-for-width at least the tab widget's *preferred* height — the tallest preferred
height of all tabs (the Training tab's, 1366 px) — instead of the page's minimum. The
word-wrapped status line (and the PR plot's hint) gave the Evaluate layout a
height-for-width; they now take their text's height as their minimum instead."""
from __future__ import annotations

import json

import pytest
from PySide6.QtWidgets import QApplication

from vision_studio.core.store import ProjectStore
from vision_studio.core.types import RunRecord


def _with_finished_run(project, tmp_path):
    """A finished classification run: the Training tab then shows its word-wrapped
    "Best accuracy ..." line, i.e. a page with a height-for-width (1366 px preferred)."""
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.jsonl").write_text(json.dumps({"epoch": 1, "train_loss": 0.5, "val_loss": 0.4,
                                                   "accuracy": 0.9}) + "\n")
    with ProjectStore.open(project) as store:
        store.add_run(RunRecord(name="run", task="classification", out_dir=str(run), status="finished",
                                best_metric=0.9, metric_name="accuracy"))
    return project


@pytest.mark.parametrize("size", [(1200, 800), (800, 600)])
def test_evaluate_tab_does_not_scroll_vertically(main_window, small_project, qtbot, tmp_path, size):
    win = main_window
    win.resize(*size)
    assert win.open_project(_with_finished_run(small_project, tmp_path))
    win.tabs.setCurrentWidget(win.evaluate)
    for _ in range(5):
        QApplication.processEvents()
    vp = win.scroll.viewport().height()
    assert win.scroll.verticalScrollBar().maximum() == 0, (win.evaluate.height(), vp)
    assert win.evaluate.height() <= vp
    # the status line is inside the window and shows its whole (wrapped) message
    status = win.evaluate.ui.status
    long = "Not evaluated: " + "a long reason that has to wrap over several lines " * 6
    status.setText(long)
    for _ in range(5):
        QApplication.processEvents()
    bottom = status.mapTo(win.scroll.viewport(), status.rect().bottomLeft()).y()
    assert bottom <= vp
    assert status.height() >= status.heightForWidth(status.width()) - 2
    assert win.scroll.verticalScrollBar().maximum() == 0
