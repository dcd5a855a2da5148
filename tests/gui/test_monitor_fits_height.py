"""The Training tab fits the window's height at 1280x800: its word-wrapped metric line
("Best accuracy ... after 1 epoch(s).", "Training failed: <long message>") gave the page a
height-for-width, and the main window's ``QScrollArea`` then made the page as tall as the
tab widget's preferred height, so the tab scrolled vertically. The line is a
:class:`~vision_studio.gui.widgets.wrapped_label.WrappedLabel` now, as the Evaluate
tab's status line (same check as ``test_evaluate_fits_height``)."""
from __future__ import annotations

import json

import pytest
from PySide6.QtWidgets import QApplication

from vision_studio.core.store import ProjectStore
from vision_studio.core.types import RunRecord


def _with_finished_run(project, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.jsonl").write_text(json.dumps({"epoch": 1, "train_loss": 0.5, "val_loss": 0.4,
                                                   "accuracy": 0.9}) + "\n")
    with ProjectStore.open(project) as store:
        rid = store.add_run(RunRecord(name="run", task="classification", out_dir=str(run),
                                      status="finished", best_metric=0.9, metric_name="accuracy"))
    return project, rid


def _settle():
    for _ in range(5):
        QApplication.processEvents()


@pytest.mark.parametrize("size", [(1280, 800), (800, 600)])
def test_training_tab_does_not_scroll_vertically(main_window, small_project, qtbot, tmp_path, size):
    win = main_window
    win.resize(*size)
    project, rid = _with_finished_run(small_project, tmp_path)
    assert win.open_project(project)
    win.tabs.setCurrentWidget(win.monitor)
    monitor = win.monitor
    monitor.show_run(getattr(rid, "id", rid))
    _settle()
    assert monitor.metric_label.text().startswith("Best accuracy")
    vp = win.scroll.viewport().height()
    assert win.scroll.verticalScrollBar().maximum() == 0, (monitor.height(), vp)
    assert monitor.height() <= vp
    # a long message wraps inside the window and is shown whole; still no scrolling
    monitor.metric_label.setText("Training failed: " + "a long reason that has to wrap over several lines " * 6)
    _settle()
    label = monitor.metric_label
    assert label.mapTo(win.scroll.viewport(), label.rect().bottomLeft()).y() <= vp
    assert label.height() >= label.heightForWidth(label.width()) - 2
    assert win.scroll.verticalScrollBar().maximum() == 0
