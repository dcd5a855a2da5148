"""Training through the GUI on real data, driven through the panels' widgets: the Model
panel picks the architecture, weights and strategy and starts the run on the shared
engine; epoch events arrive on the GUI thread; the monitor's Stop and Resume buttons stop
the run (resumable) and finish it; the monitor's final metric equals the run's
``metrics.jsonl`` and what ``vision-studio train`` gives with the saved config and seed.

hymenoptera (classification, with the real EfficientNet-Lite0 ImageNet weights) runs in
the default suite (tiny images, 3 steps per epoch); the rbc_coco detection run is slow.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from PySide6.QtCore import Qt, QThread
from PySide6.QtWidgets import QApplication

from vision_studio.cli import main
from vision_studio.core.store import ProjectStore
from vision_studio.gui.panels.model.panel import ModelPanel
from vision_studio.gui.panels.monitor.panel import MonitorPanel
from vision_studio.gui.state import AppState

TIMEOUT = 300_000


@pytest.fixture
def gui(qtbot):
    """An AppState with the Model panel and the monitor, shown; the engine is shut
    down after the test."""
    torch.set_num_threads(1)
    state = AppState()
    state.engine.torch_threads = 1
    model, monitor = ModelPanel(state), MonitorPanel(state)
    for w in (model, monitor):
        qtbot.addWidget(w)
        w.resize(1200, 800)
        w.show()
    qtbot.waitExposed(model)
    yield state, model, monitor
    assert state.engine.shutdown(TIMEOUT)
    state.close_project()


def _choose(combo, value) -> None:
    i = combo.findData(value)
    assert i >= 0, f"{value!r} not offered"
    combo.setCurrentIndex(i)


def _set(panel: ModelPanel, **values) -> None:
    for key, value in values.items():
        w = panel.hyper.w[key]
        w.setCurrentText(value) if hasattr(w, "setCurrentText") else w.setValue(value)


def _lines(run: Path) -> list[dict]:
    return [json.loads(l) for l in (run / "metrics.jsonl").read_text().splitlines()]


def _train_stop_resume(qtbot, state, model, monitor, metric: str) -> tuple[Path, list[str]]:
    """Start with the Start button, pause after epoch 1 (from the GUI thread), Stop,
    Resume, and wait for the end. Returns the run folder and the events' threads."""
    engine, on_gui = state.engine, []
    gui_thread = QApplication.instance().thread()
    engine.epochEnded.connect(lambda ev: on_gui.append(QThread.currentThread() is gui_thread))

    def pause_after_first(ev) -> None:
        if ev.epoch == 1:
            monitor.buttons["pause"].click()

    engine.epochEnded.connect(pause_after_first)
    with qtbot.waitSignal(engine.epochEnded, timeout=TIMEOUT) as first:
        qtbot.mouseClick(model.start, Qt.MouseButton.LeftButton)
    assert first.args[0].epoch == 1 and metric in first.args[0].metrics
    qtbot.waitUntil(lambda: engine.state == "paused", timeout=TIMEOUT)
    assert monitor.buttons["stop"].isEnabled()
    with qtbot.waitSignal(engine.runEnded, timeout=TIMEOUT) as stopped:
        qtbot.mouseClick(monitor.buttons["stop"], Qt.MouseButton.LeftButton)
    assert stopped.args[0].status == "stopped"
    run = Path(engine.run_dir)
    assert (run / "last.pt").is_file() and len(_lines(run)) == 1
    engine.epochEnded.disconnect(pause_after_first)
    qtbot.waitUntil(lambda: monitor.buttons["resume"].isEnabled(), timeout=5000)
    with qtbot.waitSignal(engine.runEnded, timeout=TIMEOUT) as done:
        qtbot.mouseClick(monitor.buttons["resume"], Qt.MouseButton.LeftButton)
    assert done.args[0].status == "finished", done.args[0]
    assert on_gui and all(on_gui)
    return run, on_gui


def test_hymenoptera_through_the_panels_matches_metrics_file_and_cli(
        qtbot, gui, tmp_path, data_dir, lite0_weights):
    from vision_studio.core.io.imagefolder import read_imagefolder

    state, model, monitor = gui
    project = tmp_path / "h.vsproj"
    with ProjectStore.create(project) as store:
        read_imagefolder(store, data_dir("hymenoptera"))
    state.open_project(project)
    assert model.arch.current_task() == "classification"  # from the image tags
    _choose(model.arch.arch, "timm:tf_efficientnet_lite0")
    model.arch.set_weights(str(lite0_weights))  # what "Use a weights file…" does
    _choose(model.strategy.strategy, "fine_tune")
    assert "tenth of the head's learning rate" in model.strategy.explain.text()
    _set(model, epochs=3, batch_size=8, lr=0.01, image_size=64, seed=7, device="cpu",
         max_steps_per_epoch=3, max_val_batches=2)
    assert model.update_warnings() == []
    saved = model.save_config(tmp_path / "train.json")
    run, _ = _train_stop_resume(qtbot, state, model, monitor, "accuracy")

    lines = _lines(run)
    assert [l["epoch"] for l in lines] == [1, 2, 3]
    assert monitor.last_metrics == lines[-1]
    best = max(l["accuracy"] for l in lines)
    assert monitor.best == ("accuracy", best)
    assert f"{best:.4f}" in monitor.metric_label.text()
    monitor.runs.refresh()
    assert monitor.runs.table.rowCount() == 1 and f"{best:.4f}" in monitor.runs.table.item(0, 3).text()

    cli_run = tmp_path / "cli_run"
    assert main(["train", "--project", str(project), "--config", str(saved), "--out",
                 str(cli_run), "--quiet"]) == 0
    cli = _lines(cli_run)
    for key in ("accuracy", "val_loss", "train_loss"):  # stop/resume is exact: same numbers
        assert [l[key] for l in cli] == [l[key] for l in lines], key
    assert max(l["accuracy"] for l in cli) == monitor.best[1]


@pytest.mark.slow
def test_rbc_detection_through_the_panels(qtbot, gui, tmp_path, data_dir):
    from vision_studio.core.io.coco import read_coco

    state, model, monitor = gui
    root = data_dir("rbc_coco")
    project = tmp_path / "d.vsproj"
    with ProjectStore.create(project) as store:
        read_coco(store, root / "train" / "_annotations.coco.json", split="train")
        read_coco(store, root / "valid" / "_annotations.coco.json", split="val")
    state.open_project(project)
    assert model.arch.current_task() == "detection"  # boxes only
    _choose(model.arch.arch, "fasterrcnn_mobilenet_v3_large_320_fpn")
    _choose(model.arch.weights, None)
    _choose(model.strategy.strategy, "scratch")
    assert model.preview.items and len(model.preview.items[0].boxes) > 0  # boxes transformed
    _set(model, epochs=3, batch_size=2, lr=0.01, image_size=320, seed=1, device="cpu",
         max_steps_per_epoch=3, max_val_batches=1, warmup_epochs=0.0)
    saved = model.save_config(tmp_path / "det.json")
    run, _ = _train_stop_resume(qtbot, state, model, monitor, "mAP")
    lines = _lines(run)
    assert [l["epoch"] for l in lines] == [1, 2, 3] and "loss_objectness" in lines[-1]
    assert monitor.last_metrics == lines[-1]
    assert monitor.best[0] == "mAP"
    assert "loss_classifier" in {k for (_, k) in monitor.curves._epoch_curves}
    cli_run = tmp_path / "cli_run"
    assert main(["train", "--project", str(project), "--config", str(saved), "--out",
                 str(cli_run), "--quiet"]) == 0
    cli = _lines(cli_run)
    assert [l["train_loss"] for l in cli] == pytest.approx([l["train_loss"] for l in lines],
                                                           rel=1e-4)
