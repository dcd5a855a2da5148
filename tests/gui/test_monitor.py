"""The Training monitor on a real (tiny) run of the shared engine: live curves and
progress, log, Pause / Stop / Resume buttons, the runs list (rename, notes, compare,
delete with files, use as starting weights), and closing the main window mid-run."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from _train_fixtures import make_cls_project, tiny_config
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QMessageBox

from vision_studio.core.store import ProjectStore
from vision_studio.gui.panels.monitor.panel import MonitorPanel
from vision_studio.gui.state import AppState

TIMEOUT = 120_000


@pytest.fixture
def monitor(qtbot, tmp_path, make_images):
    state = AppState()
    state.engine.torch_threads = 1
    mon = MonitorPanel(state)
    qtbot.addWidget(mon)
    mon.resize(1100, 750)
    mon.show()
    qtbot.waitExposed(mon)
    state.open_project(make_cls_project(tmp_path, make_images))
    yield mon
    assert state.engine.shutdown(TIMEOUT)
    state.close_project()


def _run(qtbot, mon: MonitorPanel, out: Path, **changes):
    with qtbot.waitSignal(mon.engine.runEnded, timeout=TIMEOUT) as b:
        mon.engine.start(mon.state.store.path, tiny_config(out, **changes))
    return b.args[0]


def test_live_curves_progress_log_and_final_metric(qtbot, monitor, tmp_path):
    outcome = _run(qtbot, monitor, tmp_path / "run")
    assert outcome.status == "finished"
    lines = [json.loads(l) for l in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert monitor.last_metrics == lines[-1]
    assert monitor.curves.epochs == lines
    assert monitor.curves.batch_x and monitor.curves.batch_x[-1] == pytest.approx(2.0)
    assert len(monitor.curves.batch_lr) == len(monitor.curves.batch_loss)
    assert monitor.progress.value() == monitor.progress.maximum() == 6
    assert "images/s" in monitor.speed.text() and "ETA" in monitor.speed.text()
    assert "CPU" in monitor.device.text()
    log = monitor.log_view.toPlainText()
    assert "training on cpu" in log and "epoch 2 done" in log and "best checkpoint" in log
    best = max(l["accuracy"] for l in lines)
    assert monitor.best == ("accuracy", best) and f"{best:.4f}" in monitor.metric_label.text()
    assert monitor.runs.table.rowCount() == 1
    assert monitor.runs.table.item(0, 2).text() == "finished"
    assert monitor.runs.table.item(0, 4).text() == "2"


def test_pause_stop_resume_buttons(qtbot, monitor, tmp_path):
    eng, b = monitor.engine, monitor.buttons
    assert not b["pause"].isEnabled() and not b["stop"].isEnabled()
    with qtbot.waitSignal(eng.batchEnded, timeout=TIMEOUT):
        eng.start(monitor.state.store.path, tiny_config(tmp_path / "run", epochs=4))
    qtbot.mouseClick(b["pause"], Qt.MouseButton.LeftButton)
    assert eng.state == "paused" and b["resume"].isEnabled() and not b["pause"].isEnabled()
    qtbot.mouseClick(b["resume"], Qt.MouseButton.LeftButton)  # ends the pause
    assert eng.state == "running"
    with qtbot.waitSignal(eng.runEnded, timeout=TIMEOUT) as stopped:
        qtbot.mouseClick(b["stop"], Qt.MouseButton.LeftButton)
    assert stopped.args[0].status == "stopped" and b["resume"].isEnabled()
    done_epochs = len(monitor.curves.epochs)
    formats: list[str] = []  # the progress bar's text as each resumed epoch starts
    eng.epochStarted.connect(lambda _ev: formats.append(monitor.progress.format()))
    with qtbot.waitSignal(eng.runEnded, timeout=TIMEOUT) as resumed:
        qtbot.mouseClick(b["resume"], Qt.MouseButton.LeftButton)  # continues from last.pt
    assert resumed.args[0].status == "finished"
    assert [e["epoch"] for e in monitor.curves.epochs] == [1, 2, 3, 4]
    assert done_epochs < 4 and not b["resume"].isEnabled()
    assert formats and not any("stopped" in f for f in formats), formats
    assert "run finished after 4 epoch(s)" in monitor.log_view.toPlainText()


def test_runs_rename_notes_compare_weights_delete(qtbot, monitor, tmp_path):
    _run(qtbot, monitor, tmp_path / "a", epochs=1, strategy={"name": "scratch"})
    _run(qtbot, monitor, tmp_path / "b", epochs=2, lr=0.05)
    runs = monitor.runs
    assert runs.table.rowCount() == 2
    store = monitor.state.store
    first, second = store.runs()
    runs.table.item(runs.row_of(first.id), 1).setText("small lr")  # edit the name cell
    assert store.run(first.id).name == "small lr"
    runs.select(first.id)
    runs.notes.setPlainText("baseline")
    qtbot.mouseClick(runs.buttons["notes"], Qt.MouseButton.LeftButton)
    assert store.run(first.id).notes == "baseline"
    runs.set_checked(first.id)
    runs.set_checked(second.id)
    qtbot.mouseClick(runs.buttons["compare"], Qt.MouseButton.LeftButton)
    assert set(monitor.compare.lines) == {"small lr", second.name}
    assert len(monitor.compare.lines["small lr"]) == 1 and len(monitor.compare.lines[second.name]) == 2
    assert monitor.compare_key.currentText() == "accuracy"
    asked: list[str] = []
    monitor.state.startWeightsRequested.connect(asked.append)
    runs.select(second.id)
    qtbot.mouseClick(runs.buttons["weights"], Qt.MouseButton.LeftButton)
    assert asked == [str(tmp_path / "b" / "best.pt")]
    runs.select(first.id)
    assert runs.delete_selected(confirm=False)
    assert not (tmp_path / "a").exists() and (tmp_path / "b" / "best.pt").is_file()
    assert [r.id for r in store.runs()] == [second.id] and runs.table.rowCount() == 1


def test_closing_the_window_during_training_asks_then_stops_cleanly(qtbot, tmp_path, make_images):
    from vision_studio.gui.main_window import MainWindow

    win = MainWindow()
    qtbot.addWidget(win)
    win.show()
    win.state.engine.torch_threads = 1
    assert win.open_project(make_cls_project(tmp_path, make_images))
    with qtbot.waitSignal(win.state.engine.batchEnded, timeout=TIMEOUT):
        win.state.engine.start(win.state.store.path, tiny_config(tmp_path / "run", epochs=100,
                                                                   max_steps_per_epoch=2))
    assert win.tabs.currentWidget() is win.monitor  # the app shows the training tab

    def answer(button: QMessageBox.StandardButton) -> None:
        box = QApplication.activeModalWidget()
        assert isinstance(box, QMessageBox) and "training" in box.text().lower()
        box.button(button).click()

    QTimer.singleShot(200, lambda: answer(QMessageBox.StandardButton.No))
    assert not win.close()  # "No": keeps training
    assert win.state.engine.busy
    QTimer.singleShot(200, lambda: answer(QMessageBox.StandardButton.Yes))
    assert win.close()
    assert not win.state.engine.busy or win.state.engine._thread is None
    assert (tmp_path / "run" / "last.pt").is_file()
    with ProjectStore.open(tmp_path / "cls.vsproj") as store:
        assert store.runs()[-1].status == "stopped"


def test_no_stale_failure_header_or_curves_and_latest_run_on_open(qtbot, monitor, tmp_path,
                                                                  make_images, monkeypatch):
    monkeypatch.setattr(QMessageBox, "warning", lambda *a, **k: QMessageBox.StandardButton.Ok)
    store = monitor.state.store
    _run(qtbot, monitor, tmp_path / "a", epochs=1, name="first")
    monitor.engine.failed.emit("cannot read weights of an earlier try")
    assert "earlier try" in monitor.metric_label.text()
    first = store.runs()[0]
    monitor.runs.select(first.id)  # the user looks at the first run ...
    assert monitor.title.text().startswith("first")
    seen: list[str] = []
    monitor.engine.started.connect(lambda _ev: seen.append(monitor.metric_label.text()))
    _run(qtbot, monitor, tmp_path / "b", epochs=2, name="second")  # ... and starts another
    assert seen and not any("earlier try" in t for t in seen)
    assert "earlier try" not in monitor.metric_label.text()
    second = store.runs()[-1]
    assert monitor.title.text().startswith("second")  # not the run selected before
    assert monitor.runs.selected_id() == second.id
    lines = [json.loads(l) for l in (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()]
    assert monitor.curves.epochs == lines
    # a new window on the same project shows the latest run, not "No training yet."
    state = AppState()
    again = MonitorPanel(state)
    qtbot.addWidget(again)
    again.show()
    state.open_project(store.path)
    assert again.title.text().startswith("second") and "finished" in again.title.text()
    assert again.curves.epochs == lines
    assert again.curves._epoch_curves  # drawn
    state.close_project()
    assert again.title.text() == "No training yet." and not again.curves.epochs
    state.engine.shutdown()


def test_long_failure_does_not_widen_the_window(qtbot, monitor, monkeypatch):
    monkeypatch.setattr(QMessageBox, "warning", lambda *a, **k: QMessageBox.StandardButton.Ok)
    width = monitor.width()
    monitor.engine.failed.emit("error: /" + "very_long_folder/" * 150 + "weights.pth: unreadable")
    monitor.title.setText("run_" * 400)
    QApplication.processEvents()
    assert monitor.minimumSizeHint().width() < 1000 and monitor.sizeHint().width() < 1600
    assert monitor.width() == width
    assert monitor.title.elided_text().endswith("…") and monitor.title.toolTip() == "run_" * 400


def test_curve_axes_start_at_zero_without_si_prefix(qtbot, monitor):
    from vision_studio.core.training.events import BatchEnd

    curves = monitor.curves
    curves.set_span(3)
    curves.add_batch(BatchEnd(epoch=1, step=1, steps=1000, loss=2.0, loss_parts={"loss": 2.0},
                              lr=0.0, images_per_s=1.0, eta_s=1.0))
    curves.add_batch(BatchEnd(epoch=1, step=2, steps=1000, loss=1.5, loss_parts={"loss": 1.5},
                              lr=1e-5, images_per_s=1.0, eta_s=1.0))
    QApplication.processEvents()
    for plot in (curves.loss_plot, curves.lr_plot):
        (x0, _x1), (y0, _y1) = plot.getViewBox().viewRange()
        assert x0 >= 0 and y0 >= 0  # no epoch −400, no negative learning rate
        assert "x0.001" not in plot.getAxis("bottom").labelString()


def test_small_losses_and_learning_rates_are_shown_without_si_prefix(qtbot, monitor):
    """A 0.004 loss read "loss (x0.001)" and a 1e-5 lr "lr (x1e-05)": no axis scales its
    numbers, and after an autorange the lr view starts at 0, not below."""
    from vision_studio.core.training.events import BatchEnd

    curves = monitor.curves
    curves.set_span(2)
    for step, (loss, lr) in enumerate([(0.004, 0.0), (0.003, 2e-6), (0.0025, 1e-5)], 1):
        curves.add_batch(BatchEnd(epoch=1, step=step, steps=3, loss=loss,
                                  loss_parts={"loss": loss}, lr=lr, images_per_s=1.0, eta_s=1.0))
    curves.add_epoch({"epoch": 1, "train_loss": 0.003, "val_loss": 0.002, "lr": 1e-5})
    QApplication.processEvents()
    for plot in (curves.loss_plot, curves.lr_plot, curves.metric_plot):
        plot.getViewBox().autoRange()
        for side in ("left", "bottom"):
            axis = plot.getAxis(side)
            assert axis.autoSIPrefixScale == 1.0 and "(x" not in axis.labelString()
    assert curves.lr_plot.getViewBox().viewRange()[1][0] >= 0.0
    assert curves.loss_plot.getViewBox().viewRange()[1][0] >= 0.0
    assert min(curves.batch_lr) == 0.0 and curves.batch_x[0] > 0
