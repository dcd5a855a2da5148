"""The shared training engine: the core Trainer in a QThread, events as GUI-thread signals,
pause / stop / resume, failures as readable messages, one run at a time, clean shutdown.

Real Qt thread, real SQLite project, real torchvision model (tiny: 32 px images, a few
steps, one torch thread so the suite stays light on 2 cores).
"""
from __future__ import annotations

import json

import pytest
from _train_fixtures import make_cls_project, tiny_config
from PySide6.QtCore import QThread
from PySide6.QtWidgets import QApplication

from vision_studio.core.store import ProjectStore
from vision_studio.core.training.events import BatchEnd, EpochEnd, TrainFinished, TrainStarted
from vision_studio.gui.engine_adapter import RunOutcome, TrainingBusy, TrainingEngine

TIMEOUT = 120_000


@pytest.fixture
def engine(qtbot):
    eng = TrainingEngine(torch_threads=1)
    yield eng
    assert eng.shutdown(TIMEOUT)


def test_events_arrive_on_gui_thread_and_match_metrics_file(qtbot, engine, tmp_path, make_images):
    project = make_cls_project(tmp_path, make_images)
    seen: list[tuple[str, bool]] = []
    gui = QApplication.instance().thread()
    for name in ("started", "epochStarted", "batchEnded", "epochEnded", "finished"):
        getattr(engine, name).connect(
            lambda ev, name=name: seen.append((name, QThread.currentThread() is gui)))
    epochs: list[EpochEnd] = []
    engine.epochEnded.connect(epochs.append)
    with qtbot.waitSignal(engine.runEnded, timeout=TIMEOUT) as blocker:
        engine.start(project, tiny_config(tmp_path / "run"))
    outcome = blocker.args[0]
    assert isinstance(outcome, RunOutcome) and outcome.status == "finished", outcome
    assert engine.state == "idle" and not engine.busy
    assert all(on_gui for _, on_gui in seen)
    names = [n for n, _ in seen]
    assert names[0] == "started" and names[-1] == "finished"
    assert names.count("epochEnded") == 2 and "batchEnded" in names
    lines = [json.loads(l) for l in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [dict(e.metrics) for e in epochs] == lines
    assert outcome.history == tuple(lines)
    with ProjectStore.open(project) as store:
        assert store.runs()[-1].status == "finished"


def test_pause_stop_resume_finishes_the_run(qtbot, engine, tmp_path, make_images):
    project = make_cls_project(tmp_path, make_images)
    run = tmp_path / "run"
    states: list[str] = []
    engine.stateChanged.connect(states.append)
    first_batch: list[BatchEnd] = []

    def on_batch(ev: BatchEnd) -> None:
        if not first_batch:
            first_batch.append(ev)
            engine.pause()

    engine.batchEnded.connect(on_batch)
    engine.start(project, tiny_config(run, epochs=3))
    qtbot.waitUntil(lambda: engine.state == "paused", timeout=TIMEOUT)
    qtbot.wait(300)  # paused: no epoch may end meanwhile
    assert not (run / "metrics.jsonl").exists() or not (run / "metrics.jsonl").read_text()
    with qtbot.waitSignal(engine.runEnded, timeout=TIMEOUT) as blocker:
        engine.stop()  # ends the pause and stops at the batch boundary
    assert blocker.args[0].status == "stopped"
    assert (run / "last.pt").is_file()
    engine.batchEnded.disconnect(on_batch)
    finished: list[TrainFinished] = []
    engine.finished.connect(finished.append)
    with qtbot.waitSignal(engine.runEnded, timeout=TIMEOUT) as blocker:
        engine.resume_run(project, run)
    assert blocker.args[0].status == "finished", blocker.args[0]
    assert finished[-1].epochs_done == 3
    lines = (run / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(l)["epoch"] for l in lines] == [1, 2, 3]
    assert {"paused", "stopping", "running", "idle"} <= set(states)


def test_one_run_at_a_time_and_failures_are_messages(qtbot, engine, tmp_path, make_images):
    project = make_cls_project(tmp_path, make_images)
    started: list[TrainStarted] = []
    engine.started.connect(started.append)
    engine.start(project, tiny_config(tmp_path / "a", epochs=1))
    with pytest.raises(TrainingBusy):
        engine.start(project, tiny_config(tmp_path / "b", epochs=1))
    qtbot.waitUntil(lambda: not engine.busy, timeout=TIMEOUT)
    assert len(started) == 1 and not (tmp_path / "b").exists()
    # a failure before the run starts (a category id the project does not have)
    with qtbot.waitSignal(engine.failed, timeout=TIMEOUT) as blocker:
        engine.start(project, tiny_config(tmp_path / "c", categories=[99]))
    assert "99" in blocker.args[0] and "Traceback" not in blocker.args[0]
    qtbot.waitUntil(lambda: not engine.busy, timeout=TIMEOUT)
    # a missing project file
    with qtbot.waitSignal(engine.failed, timeout=TIMEOUT) as blocker:
        engine.start(tmp_path / "nope.vsproj", tiny_config(tmp_path / "d"))
    assert "nope.vsproj" in blocker.args[0]


def test_shutdown_during_training_stops_cleanly(qtbot, tmp_path, make_images):
    project = make_cls_project(tmp_path, make_images)
    eng = TrainingEngine(torch_threads=1)
    with qtbot.waitSignal(eng.batchEnded, timeout=TIMEOUT):
        eng.start(project, tiny_config(tmp_path / "run", epochs=50, max_steps_per_epoch=2))
    assert eng.shutdown(TIMEOUT)
    assert (tmp_path / "run" / "last.pt").is_file()  # stopped resumably, not killed
    with ProjectStore.open(project) as store:
        assert store.runs()[-1].status == "stopped"
    del eng
