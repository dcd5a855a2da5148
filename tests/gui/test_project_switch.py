"""State belongs to its project (issue 19 item 5): after project A was evaluated, trained
and shown on every tab, opening project B leaves nothing of A on any panel — the
Evaluate image, predictions, metrics and checkpoints, the Training status line, log,
curves and runs, the Model tab's start error and run checkpoints, the Annotate image."""
from __future__ import annotations

import pytest
import torch
from PySide6.QtWidgets import QApplication, QMessageBox

from _eval_fixtures import train_tiny
from vision_studio.core.store import ProjectStore
from vision_studio.core.types import ImageRecord

TIMEOUT = 240_000


@pytest.fixture
def project_a(small_project, tmp_path):
    """small_project with a tiny trained detector (a real run recorded in the project)."""
    ckpt = train_tiny(small_project, tmp_path / "runs_a" / "a_run", "detection",
                      "fasterrcnn_mobilenet_v3_large_320_fpn", image_size=64, steps=1)
    return small_project, ckpt


@pytest.fixture
def project_b(tmp_path, make_images):
    files = make_images(tmp_path / "b_images", 3, size=(40, 30))
    path = tmp_path / "b.vsproj"
    with ProjectStore.create(path) as store:
        store.add_images(ImageRecord(path=f"b_images/{f.name}", width=40, height=30)
                         for f in files)
    return path


def test_opening_another_project_shows_nothing_of_the_first(main_window, project_a, project_b,
                                                            qtbot, monkeypatch):
    monkeypatch.setattr(QMessageBox, "warning", lambda *a, **k: QMessageBox.StandardButton.Ok)
    torch.set_num_threads(1)
    win = main_window
    path_a, ckpt = project_a
    assert win.open_project(path_a)
    ev, mon, model = win.evaluate, win.monitor, win.model_panel
    # A on every tab: an evaluation with its image, a run's curves, a failure line, an error
    win.show_panel("evaluate")
    ev.device = "cpu"
    with qtbot.waitSignal(ev.evaluated, timeout=TIMEOUT):
        assert ev.start(ckpt, "train")
    ev.ui.list.selectRow(0)
    qtbot.waitUntil(lambda: ev.ui.viewer.image_id is not None, timeout=10_000)
    assert ev.ui.list_model.rowCount() > 0 and ev.ui.summary.rowCount() > 0
    assert ev.ui.checkpoint.findData(str(ckpt)) >= 0
    win.show_panel("training")
    assert "a_run" in mon.title.text() and mon.curves.epochs is not None
    mon.engine.failed.emit("weights of project A unreadable")
    mon.log("a line about project A")
    assert "project A" in mon.metric_label.text() and mon.runs.table.rowCount() == 1
    win.show_panel("model")
    model.launcher.show_error("Training did not start: project A's weights")
    model.hyper.w["name"].setText("a_run_name")
    QApplication.processEvents()
    assert model.start_error.isVisibleTo(model)

    assert win.open_project(project_b)
    QApplication.processEvents()
    assert win.state.store.path == project_b
    # Evaluate: no image, no predictions, no metrics, no checkpoint of A
    ui = ev.ui
    assert ui.viewer.image_id is None and ui.viewer.image_item.pixmap().isNull()
    assert ui.viewer.pred_items == {} and ui.viewer.gt_items == []
    assert ui.list_model.rowCount() == 0 and ui.list_info.text() == ""
    assert ui.summary.rowCount() == 0 and ui.classes.rowCount() == 0
    assert ui.confusion.rowCount() == 0 and ui.pr.coco is None
    assert ui.checkpoint.findData(str(ckpt)) < 0 and ev.view is None and ev.inputs is None
    assert "A" not in ui.status.text().replace("Evaluate", "")
    # Training: no status line, log, curves or runs of A
    assert mon.title.text() == "No training yet."
    assert mon.metric_label.text() == "" and mon.speed.text() == ""
    assert mon.log_view.toPlainText() == "" and mon.curves.epochs == []
    assert mon.runs.table.rowCount() == 0 and mon.compare.lines == {}
    # Model: no start error, run checkpoint or run name of A
    win.show_panel("model")
    QApplication.processEvents()
    assert not model.start_error.isVisibleTo(model) and model.launcher.last_error == ""
    weights = [model.arch.weights.itemData(i) for i in range(model.arch.weights.count())]
    assert str(ckpt) not in weights
    assert model.hyper.w["name"].text() != "a_run_name"
    # Annotate: B's images
    assert win.state.current_image.path.startswith("b_images/")
    assert win.annotate.filters.count.text() == "3 images"
