"""Trainer overhead: images/second of ``Trainer.fit`` against a bare hand-written torch
loop over the same model, data, transforms and batch size, in the same run.

Run by hand::

    python benchmarks/bench_trainer.py                    # ../shared/data/hymenoptera, CPU
    python benchmarks/bench_trainer.py --arch resnet18 --image-size 112 --steps 12 --rounds 3

Both sides build the model from the registry with the same seed, read the same project
snapshot through the same ``VisionDataset`` / ``DataLoader`` (augmentation included, 0
workers) and take SGD steps on cross-entropy. The bare loop is the textbook loop
(``for x, y in loader: loss = CE(model(x), y); zero_grad; backward; step``) with no
events, cancel checks, scheduler, metrics or NaN checks. Throughput is measured from the
end of warm-up step ``--warmup`` to the last step (steady state: model building,
validation and checkpoint writing are outside the window for both). Each round runs
both sides, alternating which goes first, to share the machine's load fairly; the
medians over rounds are compared, both in wall-clock images/s and in images per CPU
second of the process (robust on a shared, loaded machine; with one intra-op thread and
0 workers it measures the work each side does per image). Target:
trainer / bare >= 0.95 on the CPU. With CUDA, ``--device cuda`` also measures AMP
(the trainer's ``amp`` on; the bare loop with the same autocast + GradScaler).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import torch  # noqa: E402

from vision_studio.core.data import take_snapshot  # noqa: E402
from vision_studio.core.data.split import assign_splits  # noqa: E402
from vision_studio.core.store import ProjectStore  # noqa: E402
from vision_studio.core.training import BatchEnd, TrainConfig  # noqa: E402
from vision_studio.core.training import setup as su  # noqa: E402
from vision_studio.core.training.trainer import Trainer  # noqa: E402


def _project(folder: Path, data: Path) -> ProjectStore:
    from vision_studio.core.io.imagefolder import read_imagefolder

    store = ProjectStore.create(folder / "bench.vsproj")
    read_imagefolder(store, data)
    return store


def _config(args: argparse.Namespace, out: Path) -> TrainConfig:
    return TrainConfig.from_dict(dict(
        task="classification", arch=args.arch, strategy="scratch", epochs=1,
        batch_size=args.batch_size, lr=0.01, scheduler="none", image_size=args.image_size,
        device=args.device, amp=args.device == "cuda", seed=0, num_workers=args.workers,
        max_steps_per_epoch=args.steps, max_val_batches=0, out_dir=str(out)))


def _clock() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def _rates(marks: list[tuple[float, float]], images: int) -> tuple[float, float]:
    """(images per wall-clock second, images per CPU second of this process)."""
    (w0, c0), (w1, c1) = marks[0], marks[-1]
    return images / (w1 - w0), images / max(c1 - c0, 1e-9)


def trainer_ips(store: ProjectStore, cfg: TrainConfig, warmup: int) -> tuple[float, float]:
    """Steady-state images/s of ``Trainer.fit`` (BatchEnd timestamps)."""
    marks: list[tuple[float, float]] = []

    def cb(e: object) -> None:
        if isinstance(e, BatchEnd):
            marks.append(_clock())

    Trainer(store).fit(cfg, callbacks=[cb])
    marks = marks[warmup - 1:]
    return _rates(marks, (len(marks) - 1) * cfg.batch_size)


def bare_ips(store: ProjectStore, cfg: TrainConfig, warmup: int) -> tuple[float, float]:
    """Steady-state images/s of a hand-written loop over the same model and data."""
    snap = take_snapshot(store, "classification")
    train, _, _ = assign_splits(snap, 0.0, 0)
    su.seed_everything(cfg.seed)
    device = su.resolve_device(cfg.device)
    built = su.build(cfg, snap)
    model = built.model.to(device)
    loader = su.make_loader(snap, train, cfg, built, True, device)
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=0.9, weight_decay=1e-4)
    amp = cfg.amp and device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=amp)
    model.train()
    times = []
    for step, batch in enumerate(loader, 1):
        x, y = batch.images.to(device), batch.targets.to(device)
        with torch.autocast(device.type, enabled=amp):
            loss = torch.nn.functional.cross_entropy(model(x).float(), y)
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        float(loss.detach())  # the trainer reads the loss every step too (events, NaN check)
        times.append(_clock())
        if step == cfg.max_steps_per_epoch:
            break
    su.shutdown_loaders(loader)
    marks = times[warmup - 1:]
    return _rates(marks, (len(marks) - 1) * cfg.batch_size)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "hymenoptera")
    p.add_argument("--arch", default="resnet18")
    p.add_argument("--image-size", type=int, default=112)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--steps", type=int, default=12)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--workers", type=int, default=0,
                   help="DataLoader worker processes (persistent, as in the trainer)")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch default)")
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda", "mps"))
    args = p.parse_args()
    if not args.data.is_dir():
        print(f"dataset not found: {args.data}", file=sys.stderr)
        return 1
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"{args.arch} {args.image_size}px batch {args.batch_size}, {args.steps} steps "
          f"({args.warmup} warm-up), {args.rounds} rounds, device {args.device}, "
          f"{torch.get_num_threads()} threads, {args.workers} workers")
    with tempfile.TemporaryDirectory() as tmp:
        store = _project(Path(tmp), args.data)
        tr, bare = [], []
        for r in range(args.rounds):
            cfg = _config(args, Path(tmp) / f"run{r}")
            if r % 2:  # alternate which side goes first
                bare.append(bare_ips(store, cfg, args.warmup))
                tr.append(trainer_ips(store, cfg, args.warmup))
            else:
                tr.append(trainer_ips(store, cfg, args.warmup))
                bare.append(bare_ips(store, cfg, args.warmup))
            print(f"round {r + 1}: trainer {tr[-1][0]:.2f} img/s ({tr[-1][1]:.2f} per CPU-s), "
                  f"bare loop {bare[-1][0]:.2f} img/s ({bare[-1][1]:.2f} per CPU-s)")
        store.close()
    for i, name in ((0, "wall-clock images/s"), (1, "images per CPU second")):
        t, b = statistics.median(x[i] for x in tr), statistics.median(x[i] for x in bare)
        print(f"median {name}: trainer {t:.2f}, bare loop {b:.2f}, ratio {t / b:.3f} "
              f"(target >= 0.95)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
