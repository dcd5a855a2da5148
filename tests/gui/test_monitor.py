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
    with qtbot.waitSignal(eng.runEnded, timeout=TIMEOUT) as resumed:
        qtbot.mouseClick(b["resume"], Qt.MouseButton.LeftButton)  # continues from last.pt
    assert resumed.args[0].status == "finished"
    assert [e["epoch"] for e in monitor.curves.epochs] == [1, 2, 3, 4]
    assert done_epochs < 4 and not b["resume"].isEnabled()
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
