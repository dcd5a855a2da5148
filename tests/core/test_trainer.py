"""Trainer.fit on a tiny real model (timm ``test_resnet``) and tiny generated images: events,
run folder, store record, exact resume (after an epoch and mid-epoch), NaN loss, decode
errors mid-epoch, early stopping, schedules with per-group multipliers, config errors."""
from __future__ import annotations

import hashlib
import os
import json

import numpy as np
import pytest
import torch
from PIL import Image

from vision_studio.core.errors import ConfigError
from vision_studio.core.training import (BatchEnd, CancelToken, CheckpointSaved, EpochEnd,
                                         EpochStart, SampleSkipped, TrainConfig, TrainFinished,
                                         TrainStarted)
from vision_studio.core.training.checkpoints import load_checkpoint, read_checkpoint
from vision_studio.core.training.trainer import Trainer, TrainingError
from vision_studio.core.types import ImageRecord

COMPARED = ("train_loss", "val_loss", "accuracy", "lr")


@pytest.fixture(autouse=True)
def one_thread():
    """One intra-op thread: on the shared 2-core test machine OpenMP spinning with 2
    threads was 10-100x slower (measured); restored afterwards."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def _make_project(new_store):
    """24 train + 8 val 32x32 images of two noisy colours, tagged red / blue."""
    rng = np.random.default_rng(0)
    red, blue = new_store.add_category("red"), new_store.add_category("blue")
    tags = []
    for i in range(32):
        cat = red if i % 2 else blue
        base = np.array([200, 40, 40] if cat is red else [40, 40, 200], float)
        arr = np.clip(base + rng.normal(0, 40, (32, 32, 3)), 0, 255).astype(np.uint8)
        name = f"img{i:02d}.png"
        Image.fromarray(arr).save(new_store.root / name)
        im = new_store.add_image(ImageRecord(path=name, width=32, height=32,
                                             split="train" if i < 24 else "val"))
        tags.append((im.id, cat.id))
    new_store.add_image_tags(tags)
    return new_store


@pytest.fixture(scope="module")
def tiny_project(tmp_path_factory):
    """The tiny project, shared by the tests of this module (each writes its own runs)."""
    from vision_studio.core.store import ProjectStore

    store = _make_project(ProjectStore.create(tmp_path_factory.mktemp("tiny") / "p.vsproj"))
    yield store
    store.close()


@pytest.fixture(scope="module")
def full_run(tiny_project, tmp_path_factory):
    """An uninterrupted 2-epoch run, the reference of the resume tests."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    result = Trainer(tiny_project).fit(_config(tmp_path_factory.mktemp("full")))
    torch.set_num_threads(old)
    return result


def _config(tmp_path, name="run", **kw) -> TrainConfig:
    base = dict(task="classification", arch="timm:test_resnet", strategy="scratch", epochs=2,
                batch_size=8, lr=0.05, image_size=32, device="cpu", seed=7,
                out_dir=str(tmp_path / name), augmentation={"scale": [0.6, 1.0]})
    base.update(kw)
    return TrainConfig.from_dict(base)


def _metrics(line: dict) -> dict:
    return {k: line[k] for k in COMPARED if k in line}


def test_events_run_folder_and_store_record(tmp_path, tiny_project):
    events = []
    result = Trainer(tiny_project).fit(_config(tmp_path), callbacks=[events.append])
    assert [l["train_loss"] for l in result.history][-1] < result.history[0]["train_loss"]
    kinds = [type(e) for e in events]
    assert kinds[0] is TrainStarted and kinds[-1] is TrainFinished
    assert kinds.count(EpochStart) == 2 and kinds.count(EpochEnd) == 2
    assert kinds.count(BatchEnd) == 6  # 24 images / batch 8, two epochs
    batch = next(e for e in events if isinstance(e, BatchEnd))
    assert batch.steps == 3 and batch.loss > 0 and batch.images_per_s > 0 and batch.lr > 0
    saved = [e.kind for e in events if isinstance(e, CheckpointSaved)]
    assert saved.count("last") == 2 and "best" in saved
    lines = [json.loads(l) for l in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [l["epoch"] for l in lines] == [1, 2] and lines == result.history
    assert {"train_loss", "val_loss", "accuracy", "lr", "train_images_per_s"} <= set(lines[0])
    assert result.status == "finished" and result.metric_name == "accuracy"
    assert result.best_metric == max(l["accuracy"] for l in lines)
    run = tiny_project.runs()[-1]
    assert (run.status, run.best_metric, run.metric_name) == ("finished", result.best_metric,
                                                              "accuracy")
    assert TrainConfig.load(tmp_path / "run" / "config.json").arch == "timm:test_resnet"
    state = read_checkpoint(tmp_path / "run" / "last.pt")
    assert state["epoch"] == 2 and state["categories"] == [
        {"id": c.id, "name": c.name} for c in tiny_project.categories()]
    built, cfg, cats = load_checkpoint(tmp_path / "run")
    assert cfg.seed == 7 and [c["name"] for c in cats] == ["red", "blue"]
    assert built.model(torch.zeros(1, 3, 32, 32)).shape == (1, 2)


def test_stop_after_epoch_one_and_resume_matches_an_uninterrupted_run(tmp_path, tiny_project,
                                                                      full_run):
    full = full_run
    cancel = CancelToken()

    def stop_after_first_epoch(event):
        if isinstance(event, EpochEnd) and event.epoch == 1:
            cancel.cancel()

    part = Trainer(tiny_project).fit(_config(tmp_path, "part"), [stop_after_first_epoch], cancel)
    assert part.status == "stopped" and part.epochs_done == 1
    assert tiny_project.runs()[-1].status == "stopped"
    runs_before = len(tiny_project.runs())
    resumed = Trainer(tiny_project).fit(resume=tmp_path / "part")
    assert resumed.status == "finished" and len(resumed.history) == 2
    for a, b in zip(full.history, resumed.history):
        assert _metrics(a) == pytest.approx(_metrics(b), rel=1e-5, abs=1e-6)
    assert len(tiny_project.runs()) == runs_before  # the resumed run is the same record
    assert tiny_project.runs()[-1].status == "finished"


def test_cancel_mid_epoch_writes_a_checkpoint_that_resumes_exactly(tmp_path, tiny_project,
                                                                   full_run):
    full = full_run
    cancel = CancelToken()

    def stop_mid_epoch_two(event):
        if isinstance(event, BatchEnd) and event.epoch == 2 and event.step == 1:
            cancel.cancel()

    part = Trainer(tiny_project).fit(_config(tmp_path, "part"), [stop_mid_epoch_two], cancel)
    state = read_checkpoint(tmp_path / "part" / "last.pt")
    assert part.status == "stopped" and (state["epoch"], state["step"]) == (1, 1)
    resumed = Trainer(tiny_project).fit(resume=tmp_path / "part" / "last.pt")
    assert _metrics(full.history[-1]) == pytest.approx(_metrics(resumed.history[-1]),
                                                       rel=1e-5, abs=1e-6)


def test_nan_loss_stops_with_a_clear_message_and_keeps_the_last_good_checkpoint(tmp_path,
                                                                              tiny_project):
    Trainer(tiny_project).fit(_config(tmp_path, epochs=1))
    last = tmp_path / "run" / "last.pt"
    digest = hashlib.sha1(last.read_bytes()).hexdigest()
    bad = _config(tmp_path, epochs=2, lr=1e30)
    failed = []
    with pytest.raises(TrainingError, match=r"loss became (NaN|infinite) at epoch 2 step \d+: "
                                            r"the training diverged\. Lower the learning rate "
                                            r".* or turn on 'Gradient clipping' on the Model tab"):
        Trainer(tiny_project).fit(bad, callbacks=[failed.append], resume=tmp_path / "run")
    assert "last good checkpoint" in failed[-1].message
    assert hashlib.sha1(last.read_bytes()).hexdigest() == digest
    assert tiny_project.runs()[-1].status == "failed"


def test_a_corrupt_image_mid_epoch_is_skipped_reported_and_training_goes_on(tmp_path,
                                                                            new_store):
    tiny_project = _make_project(new_store)
    victim = tiny_project.images(split="train")[3]
    (tiny_project.root / victim.path).write_bytes(b"garbage, not a PNG")
    events = []
    result = Trainer(tiny_project).fit(_config(tmp_path, epochs=1), callbacks=[events.append])
    skipped = [e for e in events if isinstance(e, SampleSkipped)]
    assert result.status == "finished" and [e.source for e in skipped] == [victim.path]
    assert result.history[0]["skipped"] == 1 and result.history[0]["train_images"] == 23
    problems = tiny_project.problems(victim.id)
    assert problems and problems[0].kind == "decode_error"


def test_early_stopping_and_nothing_written_on_config_errors(tmp_path, tiny_project):
    from vision_studio.core.store import ProjectStore

    # a frozen backbone (BatchNorm statistics too) and a ~zero learning rate: the
    # validation metric cannot improve after epoch 1, so patience 1 stops after epoch 2
    result = Trainer(tiny_project).fit(_config(tmp_path, epochs=6, lr=1e-9,
                                               strategy="feature_extraction",
                                               early_stopping_patience=1,
                                               augmentation={"enabled": False}))
    assert result.status == "early_stopped" and result.epochs_done == 2
    with ProjectStore.create(tmp_path / "other" / "p.vsproj") as empty_store, \
            pytest.raises(ConfigError, match="no labelled images"):
        Trainer(empty_store).fit(_config(tmp_path, "empty"))
    assert not (tmp_path / "empty").exists()
    with pytest.raises(ConfigError, match="out_dir: .* already holds a run"):
        Trainer(tiny_project).fit(_config(tmp_path))


def test_schedule_warmup_cosine_and_per_group_multipliers(tmp_path, tiny_project):
    from vision_studio.core.training.setup import schedule_factor

    cfg = _config(tmp_path, epochs=4, warmup_epochs=1, scheduler="cosine")
    assert [schedule_factor(s, 10, cfg) for s in (0, 4, 9)] == pytest.approx([0.1, 0.5, 1.0])
    assert schedule_factor(10, 10, cfg) == pytest.approx(1.0)
    assert schedule_factor(25, 10, cfg) == pytest.approx(0.5)
    step = _config(tmp_path, scheduler="step", step_size=2, gamma=0.1, epochs=5,
                   warmup_epochs=0)
    assert [schedule_factor(e * 10, 10, step) for e in range(5)] == pytest.approx(
        [1, 1, 0.1, 0.1, 0.01])
    events = []
    Trainer(tiny_project).fit(_config(tmp_path, epochs=3, scheduler="none",
                                      strategy={"name": "gradual", "freeze_epochs": 1,
                                                "backbone_lr_mult": 0.1}),
                              callbacks=[events.append])
    starts = [e for e in events if isinstance(e, EpochStart)]
    first, second = dict((n, (t, lr)) for n, t, lr in starts[0].groups), \
        dict((n, (t, lr)) for n, t, lr in starts[1].groups)
    assert first["head"] == (True, 0.05) and first["stage4"] == (False, 0.0)
    assert second["stage4"] == (True, pytest.approx(0.005)) and second["stage3"][0] is False


def test_train_command_runs_resumes_and_reports_errors_in_one_line(tmp_path, tiny_project,
                                                                   capsys):
    from vision_studio.cli import main

    project = str(tiny_project.path)
    common = ["train", "--project", project, "--task", "classification", "--arch",
              "timm:test_resnet", "--strategy", "scratch", "--image-size", "32",
              "--batch-size", "8", "--device", "cpu", "--quiet"]
    assert main(common + ["--epochs", "1", "--out", str(tmp_path / "cli")]) == 0
    out = capsys.readouterr().out
    assert "status: finished after 1 epoch(s)" in out and "best accuracy:" in out
    assert main(["train", "--project", project, "--resume", str(tmp_path / "cli"),
                 "--epochs", "2", "--quiet"]) == 0
    assert "status: finished after 2 epoch(s)" in capsys.readouterr().out
    assert main(common + ["--lr", "-1"]) == 1
    assert capsys.readouterr().err.strip() == "error: lr: must be > 0, got -1.0"
    assert main(common + ["--epochs", "1", "--strategy", "feature_extraction", "--lr", "0.5",
                          "--out", str(tmp_path / "frozen")]) == 0
    err = capsys.readouterr().err
    assert "check error: Feature extraction (train the head only) freezes backbone layers, " \
           "but the weights are random" in err
    assert "check warning: learning rate 0.5 is high for timm:test_resnet at batch size 8" in err
    for value in ("inf", "nan", "-inf"):  # issue 13 item 10: refused, one error line
        assert main(common + [f"--lr={value}"]) == 1
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: lr: must be a finite number, got ") and "\n" not in err
    bad = tmp_path / "bad.json"
    bad.write_text('{"epochs": "many"}')
    assert main(["train", "--project", project, "--config", str(bad)]) == 1
    assert "bad.json: epochs: must be a number" in capsys.readouterr().err


def test_pause_blocks_before_the_next_batch_until_resumed(tmp_path, tiny_project):
    import threading
    import time

    cancel, marks = CancelToken(), {}

    def pause_once(event):
        if isinstance(event, BatchEnd) and event.epoch == 1 and event.step == 1:
            cancel.pause()
            assert cancel.paused
            marks["paused"] = time.perf_counter()
            threading.Timer(0.5, cancel.resume).start()
        elif isinstance(event, BatchEnd) and event.epoch == 1 and event.step == 2:
            marks["gap"] = time.perf_counter() - marks["paused"]

    result = Trainer(tiny_project).fit(_config(tmp_path, epochs=1), [pause_once], cancel)
    assert result.status == "finished" and marks["gap"] >= 0.5 and not cancel.paused


def test_data_workers_give_the_same_run_as_loading_in_the_training_thread(tmp_path,
                                                                          tiny_project):
    """Each sample's augmentation has its own seed: 0 or 2 persistent worker processes
    (started with fork on Linux) load the very same batches."""
    from vision_studio.core.training.setup import resolve_workers

    assert resolve_workers(None) == max(0, min(4, (os.cpu_count() or 1) - 1))
    runs = [Trainer(tiny_project).fit(_config(tmp_path, f"w{n}", epochs=2, num_workers=n,
                                              max_steps_per_epoch=2))
            for n in (0, 2)]
    assert [_metrics(l) for l in runs[0].history] == [_metrics(l) for l in runs[1].history]
    assert runs[0].history[0]["train_loss"] != runs[0].history[1]["train_loss"]
