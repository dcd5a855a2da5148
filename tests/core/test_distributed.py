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


def _probe_config(tmp_path: Path, strategy: dict) -> Path:
    """A config without warm-up or schedule, so that 2 x B and 1 x 2B see the same rates."""
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps({"task": "classification", "arch": "timm:test_resnet", "strategy": strategy,
                               "image_size": 32, "device": "cpu", "num_workers": 0, "epochs": 2, "seed": 0,
                               "scheduler": "none", "warmup_epochs": 0.0, "amp": False}))
    return cfg


@pytest.mark.slow
def test_feature_extraction_under_ddp_equals_one_process(project, tmp_path):
    """Defect found by bench_ddp: DDP was built before the strategy froze the backbone, and
    the first backward of ``feature_extraction`` failed ("Expected to have finished
    reduction in the prior iteration"). Now 2 processes x batch 4 train it, and (backbone
    frozen in eval mode: the same computation) end with the weights of 1 process x batch 8."""
    cfg = _probe_config(tmp_path, {"name": "feature_extraction"})
    common = ["--project", str(project), "--config", str(cfg), "--quiet"]
    two = _train(*common, "--batch-size", "4", "--lr", "0.05", "--out", str(tmp_path / "two"), "--nproc-per-node", "2")
    print(two.stdout, two.stderr[-3000:])
    assert two.returncode == 0 and "status: finished after 2 epoch(s)" in two.stdout
    one = _train(*common, "--batch-size", "8", "--lr", "0.1", "--out", str(tmp_path / "one"))
    assert one.returncode == 0, one.stderr[-3000:]
    a = torch.load(tmp_path / "two" / "last.pt", weights_only=True)["model"]
    b = torch.load(tmp_path / "one" / "last.pt", weights_only=True)["model"]
    assert a.keys() == b.keys()
    diff = {k: (a[k].double() - b[k].double()).abs().max().item() for k in a if a[k].is_floating_point()}
    print("max |diff| 2x4 vs 1x8:", max(diff.values()))
    assert max(diff.values()) < 1e-5
    losses = [json.loads(x)["train_loss"] for x in (tmp_path / "two" / "metrics.jsonl").read_text().splitlines()]
    assert len(losses) == 2 and losses[1] != losses[0]  # the head did train


def _ranks_after_unfreezing(rank: int, world: int, init_file: str, out: str) -> None:
    """Worker of the test below: freeze the first layer for 2 steps, unfreeze it for 2
    (as ``gradual`` does at an epoch start), each rank on its own data."""
    import torch.distributed as dist

    from vision_studio.core.training import distributed as D

    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    ddp = D.wrap_model(model, torch.device("cpu"))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    gen = torch.Generator().manual_seed(rank + 1)
    for frozen in (True, False):
        for p in model[0].parameters():
            p.requires_grad_(not frozen)
        for _ in range(2):
            loss = ddp.module()(torch.randn(5, 4, generator=gen)).square().mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    flat = torch.cat([p.detach().flatten() for p in model.parameters()])
    every = [torch.zeros_like(flat) for _ in range(world)]
    dist.all_gather(every, flat)
    if rank == 0:
        Path(out).write_text(json.dumps({"diff": (every[0] - every[1]).abs().max().item(), "builds": ddp.builds}))
    dist.destroy_process_group()


def test_ddp_follows_the_strategys_trainable_parameters(tmp_path):
    """Frozen parameters are not registered with DDP (no reduction error) and a stage
    unfrozen later is (the wrapper is rebuilt: without it its gradients would stay
    per-process and the ranks' weights would part)."""
    import torch.multiprocessing as mp

    out = tmp_path / "out.json"
    mp.spawn(_ranks_after_unfreezing, args=(2, str(tmp_path / "init"), str(out)), nprocs=2)
    got = json.loads(out.read_text())
    assert got["builds"] == 2 and got["diff"] == 0.0


def test_sync_bn_is_a_model_option():
    from vision_studio.core.errors import ConfigError
    from vision_studio.core.models.registry import build_model

    plain = build_model("timm:test_resnet", "classification", 2)
    synced = build_model("timm:test_resnet", "classification", 2, sync_bn=True)
    assert synced.model.state_dict().keys() == plain.model.state_dict().keys()  # built with plain BatchNorm
    with pytest.raises(ConfigError, match="sync_bn must be true or false"):
        build_model("timm:test_resnet", "classification", 2, sync_bn="yes")


def test_convert_sync_bn_keeps_timm_norm_act_layers():
    """timm's ``BatchNormAct2d`` (BatchNorm + activation in one layer, e.g. EfficientNet)
    becomes ``SyncBatchNormAct`` with its activation; the parameters stay the same tensors."""
    import timm
    from timm.layers import BatchNormAct2d

    from vision_studio.core.training.distributed import convert_sync_bn

    model = timm.create_model("test_efficientnet", pretrained=False, num_classes=2).eval()
    assert any(isinstance(m, BatchNormAct2d) for m in model.modules())
    params = {id(p) for p in model.parameters()}
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        before = model(x)
        converted = convert_sync_bn(model)
        after = converted(x)  # eval: SyncBatchNorm uses the running statistics, no collective
    assert converted is model and {id(p) for p in model.parameters()} == params
    assert not any(type(m) in (torch.nn.BatchNorm2d, BatchNormAct2d) for m in model.modules())
    assert torch.allclose(before, after, atol=1e-6)


@pytest.mark.slow
def test_sync_bn_option_cpu_ddp_error_one_process_and_resume(project, tmp_path):
    """``--sync-bn`` (``model_options.sync_bn``): with 2 CPU processes a clear error before
    anything is written (SyncBatchNorm needs CUDA); with 1 process plain BatchNorm; a
    resume may turn it off."""
    run = tmp_path / "run"
    common = ["--project", str(project), "--task", "classification", "--arch", "timm:test_resnet",
              "--strategy", "scratch", "--image-size", "32", "--batch-size", "4", "--device", "cpu",
              "--num-workers", "0", "--quiet", "--sync-bn"]
    r = _train(*common, "--epochs", "1", "--out", str(run), "--nproc-per-node", "2")
    print(r.stdout, r.stderr[-3000:])
    assert r.returncode != 0 and "SyncBatchNorm needs CUDA GPUs" in r.stderr
    assert not (run / "last.pt").exists()
    with ProjectStore.open(project, readonly=True) as store:
        assert store.runs() == []
    r = _train(*common, "--epochs", "1", "--out", str(run))
    assert r.returncode == 0 and "status: finished after 1 epoch(s)" in r.stdout, r.stderr[-3000:]
    assert torch.load(run / "last.pt", weights_only=True)["config"]["model_options"] == {"sync_bn": True}
    r = _train("--project", str(project), "--resume", str(run), "--epochs", "2", "--quiet", "--no-sync-bn")
    assert r.returncode == 0 and "status: finished after 2 epoch(s)" in r.stdout, r.stderr[-3000:]
    assert torch.load(run / "last.pt", weights_only=True)["config"]["model_options"] == {"sync_bn": False}
