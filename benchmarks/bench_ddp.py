"""DDP on this CPU (issue 16): 2 processes x batch 8 against 1 process x batch 16 on
``hymenoptera`` (same seed, same global batch, the same global order of images: the
sharded sampler gives each step the single process's batch), ResNet-18 from scratch,
128 px, plain SGD without augmentation so that the steps are comparable.

Run by hand::

    python benchmarks/bench_ddp.py [--steps 6] [--epochs 1] [--image-size 128]

Prints the mean training loss of the epoch (of rank 0 in the 2-process run: the loss on
its half of each global batch), the validation accuracy of both and the training
throughput (images/s, wall clock including the start). Expected agreement: not bitwise — BatchNorm
normalises each process's 8 images with their own statistics (no SyncBatchNorm), so the
half-batch loss of rank 0 differs from the full-batch loss by the sampling noise of 8
vs 16 images; the gradients are averaged, so the trajectories stay close.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"


def _run(project: Path, out: Path, nproc: int, batch: int, args: argparse.Namespace) -> tuple[float, dict]:
    cmd = [sys.executable, "-m", "vision_studio", "train", "--project", str(project), "--task", "classification",
           "--arch", "resnet18", "--strategy", "scratch", "--image-size", str(args.image_size), "--batch-size",
           str(batch), "--epochs", str(args.epochs), "--max-steps-per-epoch", str(args.steps), "--device", "cpu",
           "--num-workers", "0", "--lr", str(0.01 * batch / 16), "--seed", "0", "--quiet", "--out", str(out),
           "--max-val-batches", "10"]
    if nproc > 1:
        cmd += ["--nproc-per-node", str(nproc)]
    env = {**os.environ, "OMP_NUM_THREADS": str(max(1, args.threads // nproc)), "PYTHONPATH": str(REPO)}
    t = time.perf_counter()
    r = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t
    if r.returncode:
        sys.exit(f"run failed: {r.stderr[-2000:]}")
    lines = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    return wall, lines[-1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--image-size", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    sys.path.insert(0, str(REPO))
    from vision_studio.core.io.imagefolder import read_imagefolder
    from vision_studio.core.store import ProjectStore

    with tempfile.TemporaryDirectory() as d:
        project = Path(d) / "hym.vsproj"
        with ProjectStore.create(project) as store:
            read_imagefolder(store, DATA / "hymenoptera")
        results = {}
        for nproc, batch in ((1, 16), (2, 8)):
            wall, last = _run(project, Path(d) / f"run{nproc}", nproc, batch, args)
            images = args.steps * args.epochs * 16
            results[nproc] = (wall, last)
            print(f"{nproc} process(es) x batch {batch}: train_loss {last['train_loss']:.4f}, accuracy "
                  f"{last.get('accuracy', float('nan')):.4f}, {images / wall:.1f} images/s (wall clock incl. start)")
        a, b = results[1][1], results[2][1]
        print(f"|train_loss difference| {abs(a['train_loss'] - b['train_loss']):.4f}; accuracy difference "
              f"{100 * abs(a.get('accuracy', 0) - b.get('accuracy', 0)):.1f} points; throughput ratio 2p/1p "
              f"{results[1][0] / results[2][0]:.2f}")


if __name__ == "__main__":
    main()
