"""Distributed data-parallel training (issue 16 item 1): ``vision-studio train
--nproc-per-node 2`` on the CPU (gloo; tiny model, tiny images) as a user runs it, in a
subprocess: rank-0-only outputs, one run record, the linear scaling rule, and resume
with one process; the sharded sampler's global batches equal a single process's."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from vision_studio.core.store import ProjectStore

REPO = Path(__file__).resolve().parents[2]


def _train(*args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    env.pop("LOCAL_RANK", None)
    return subprocess.run([sys.executable, "-m", "vision_studio", "train", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def project(tmp_path):
    from tests.core.test_trainer import _make_project

    path = tmp_path / "p.vsproj"
    _make_project(ProjectStore.create(path)).close()
    return path


def test_sharded_sampler_global_batches_equal_one_process():
    from vision_studio.core.training.distributed import ShardedEpochSampler
    from vision_studio.core.training.setup import EpochSampler

    single = EpochSampler(21, seed=3)
    shards = [ShardedEpochSampler(EpochSampler(21, seed=3), r, 2) for r in range(2)]
    for epoch in (1, 2):
        single.set_epoch(epoch)
        for s in shards:
            s.set_epoch(epoch)
        one = list(single)
        parts = [list(s) for s in shards]
        assert len(parts[0]) == len(parts[1]) == 11  # padded by wrapping, as DistributedSampler
        b = 4  # per process; global batch 8 = one process's batch of 8
        for t in range(2):
            glob = sorted(parts[0][t * b:(t + 1) * b] + parts[1][t * b:(t + 1) * b])
            assert glob == sorted(one[t * 2 * b:(t + 1) * 2 * b])  # same images, same augmentation seeds


@pytest.mark.slow
def test_two_processes_rank0_outputs_and_resume_with_one(project, tmp_path):
    run = tmp_path / "run"
    common = ["--project", str(project), "--task", "classification", "--arch", "timm:test_resnet",
              "--strategy", "scratch", "--image-size", "32", "--batch-size", "4", "--device", "cpu",
              "--num-workers", "0", "--lr", "0.02", "--quiet"]
    r = _train(*common, "--epochs", "1", "--out", str(run), "--nproc-per-node", "2")
    print(r.stdout, r.stderr[-3000:])
    assert r.returncode == 0
    assert r.stdout.count("status: finished after 1 epoch(s)") == 1  # rank 0 prints, rank 1 does not
    assert sorted(p.name for p in run.iterdir()) == ["best.pt", "config.json", "last.pt", "metrics.jsonl"]
    lines = (run / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["epoch"] == 1
    state = torch.load(run / "last.pt", weights_only=True)
    assert state["world_size"] == 2 and state["config"]["lr"] == 0.02
    assert state["lr_scheduler"]["base_lrs"] == pytest.approx([0.04] * len(state["lr_scheduler"]["base_lrs"]))
    with ProjectStore.open(project, readonly=True) as store:
        runs = store.runs()
    assert [(x.status, Path(x.out_dir).name) for x in runs] == [("finished", "run")]

    r = _train("--project", str(project), "--resume", str(run), "--epochs", "2", "--quiet", "--num-workers", "0")
    print(r.stdout, r.stderr[-2000:])
    assert r.returncode == 0 and "status: finished after 2 epoch(s)" in r.stdout
    state = torch.load(run / "last.pt", weights_only=True)
    assert state["world_size"] == 1 and state["epoch"] == 2
    assert state["lr_scheduler"]["base_lrs"] == pytest.approx([0.02] * len(state["lr_scheduler"]["base_lrs"]))
    assert len((run / "metrics.jsonl").read_text().splitlines()) == 2
    with ProjectStore.open(project, readonly=True) as store:
        assert [x.id for x in store.runs()] == [runs[0].id]  # the same record, resumed


@pytest.mark.slow
def test_sigterm_stops_every_rank_and_leaves_a_resumable_last_pt(project, tmp_path):
    import signal
    import time

    run = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "vision_studio", "train", "--project", str(project), "--task", "classification",
           "--arch", "timm:test_resnet", "--strategy", "scratch", "--image-size", "32", "--batch-size", "2",
           "--device", "cpu", "--num-workers", "0", "--epochs", "50", "--quiet", "--out", str(run),
           "--nproc-per-node", "2"]
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while not (run / "metrics.jsonl").is_file() and time.time() < deadline:  # the end of epoch 1
        time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=300)
    print(out, err[-3000:])
    assert proc.returncode == 130
    state = torch.load(run / "last.pt", weights_only=True)
    assert state["world_size"] == 2 and 1 <= state["epoch"] < 50
    with ProjectStore.open(project, readonly=True) as store:
        assert [x.status for x in store.runs()] == ["stopped"]
    r = _train("--project", str(project), "--resume", str(run), "--epochs", str(state["epoch"] + 1), "--quiet",
               "--num-workers", "0")
    assert r.returncode == 0 and f"status: finished after {state['epoch'] + 1} epoch(s)" in r.stdout
