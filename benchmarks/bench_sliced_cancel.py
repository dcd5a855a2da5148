"""Cancel latency and progress rate of sliced inference on one 8000 x 6000 photo.

Run by hand (one thread; ``/work/heavy`` on the shared machine)::

    python benchmarks/bench_sliced_cancel.py [--cancel-at 10] [--what evaluate|prelabel|both]

A raccoon_voc photo enlarged to 8000 x 6000 px (JPEG) is the one image of a new project;
the checkpoint is ``fasterrcnn_mobilenet_v3_large_320_fpn`` with random weights and a
640-px input, so the automatic rule slices it into 192 tiles of 640 px (overlap 0.2),
96 batches of 2, plus the whole-image pass. The prediction runs in a worker thread as
the GUI runs it — the Evaluate tab's :func:`predict_inputs` (``cancelled()`` polled) and
the Pre-label job's :func:`prelabel` (``cancel``) — and the "Cancel click" sets the flag
``--cancel-at`` seconds after the start. Printed: the seconds from the click until the
call raised (the Cancel latency), the progress callbacks seen before the click and the
longest gap between two of them (how long the bar stands still).

The same script measures the code before the per-tile-batch change: put a checkout of
that commit first on ``PYTHONPATH`` (the script prints which ``vision_studio`` it ran).

Measured (2026-12-01, shared 2-core CPU, one thread, ``--cancel-at 10``, under
``/work/heavy``; the whole image is 193 forward passes)::

    before (d5c86f1: progress and the cancel check once per image)
      evaluate  clicked 10.0 s, stopped 30.6 s: latency 20.6 s; 0 progress calls before the click
      prelabel  clicked 10.0 s, stopped 26.5 s: latency 16.5 s; 0 progress calls before the click
      (an earlier run of the same code on a busier machine: 36.1 s and 30.5 s)
    after (per tile batch)
      evaluate  clicked 10.0 s, stopped 10.1 s: latency 0.1 s; 38 progress calls (done 0.392), longest gap 1.4 s
      prelabel  clicked 10.0 s, stopped 10.1 s: latency 0.1 s; 32 progress calls (done 0.330), longest gap 1.2 s
    both: 0 proposals stored by the cancelled pre-labelling

Before, the latency is whatever remains of the image being predicted (up to the whole
image: half a minute here with a tiny MobileNet, minutes with a 640-px EfficientNet
detector); after, at most one tile batch plus its progress call.
"""
from __future__ import annotations

import argparse
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
PHOTO = ROOT.parent / "shared" / "data" / "raccoon_voc" / "images" / "raccoon-1.jpg"
SIZE = (8000, 6000)


def _project(folder: Path) -> tuple[Path, Path]:
    import torch
    from PIL import Image

    from vision_studio.core.models.registry import build_model
    from vision_studio.core.store import ProjectStore
    from vision_studio.core.training.checkpoints import save_checkpoint
    from vision_studio.core.training.config import TrainConfig
    from vision_studio.core.types import ImageRecord

    Image.open(PHOTO).convert("RGB").resize(SIZE, Image.BILINEAR).save(folder / "big.jpg", quality=90)
    project = folder / "p.vsproj"
    with ProjectStore.create(project, root=folder) as store:
        cats = [store.add_category("raccoon")]
        store.add_images([ImageRecord(path="big.jpg", width=SIZE[0], height=SIZE[1], split="val")])
    categories = [{"id": c.id, "name": c.name} for c in cats]
    torch.manual_seed(0)
    arch = "fasterrcnn_mobilenet_v3_large_320_fpn"
    built = build_model(arch, "detection", 1, weights=None)
    config = TrainConfig(task="detection", arch=arch, weights=None, image_size=640, device="cpu")
    ckpt = folder / "run" / "best.pt"
    ckpt.parent.mkdir()
    save_checkpoint(ckpt, {"model": built.model.state_dict(), "config": config.to_dict(),
                           "num_classes": 1, "categories": categories, "class_names": ["raccoon"],
                           "epoch": 1, "build_options": dict(built.options)})
    return project, ckpt


def _measure(name: str, run, cancel_at: float) -> None:
    """``run(progress, flag)`` in a thread; the flag is set ``cancel_at`` s after the start."""
    flag = threading.Event()
    ticks: list[tuple[float, float]] = []
    ended: list[float] = []
    t0 = time.perf_counter()

    def work() -> None:
        try:
            run(lambda d, t: ticks.append((time.perf_counter() - t0, d)), flag)
            ended.append(-1.0)  # finished without noticing the cancel
        except Exception as exc:  # the cancellation exception of either path
            ended.append(time.perf_counter() - t0)
            print(f"  {name}: raised {type(exc).__name__}: {exc}")

    th = threading.Thread(target=work)
    th.start()
    th.join(cancel_at)
    clicked = time.perf_counter() - t0
    flag.set()
    th.join()
    before = [t for t, _ in ticks if t <= clicked]
    gaps = np.diff([0.0, *before]) if before else np.array([clicked])
    print(f"  {name}: cancel clicked at {clicked:.1f} s, raised at {ended[0]:.1f} s: "
          f"latency {ended[0] - clicked:.1f} s; {len(before)} progress calls before the click "
          f"(last done={ticks[len(before) - 1][1] if before else 0:.3f}), longest gap {gaps.max():.1f} s")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cancel-at", type=float, default=10.0)
    ap.add_argument("--what", choices=("evaluate", "prelabel", "both"), default="both")
    args = ap.parse_args()
    import torch

    import vision_studio

    torch.set_num_threads(1)
    print(f"vision_studio from {Path(vision_studio.__file__).parent}")
    from vision_studio.core.evaluation.session import predict_inputs, prepare_inputs
    from vision_studio.core.store import ProjectStore

    with tempfile.TemporaryDirectory() as tmp:
        project, ckpt = _project(Path(tmp))
        with ProjectStore.open(project) as store:
            inputs = prepare_inputs(store, ckpt, "val", use_cache=False)
            paths = [store.resolve(im) for im in inputs.images]
        if args.what in ("evaluate", "both"):
            _measure("evaluate predict_inputs",
                     lambda progress, flag: predict_inputs(inputs, paths, progress=progress,
                                                           cancelled=flag.is_set, device="cpu"),
                     args.cancel_at)
        if args.what in ("prelabel", "both"):
            from vision_studio.core.assist.prelabel import prelabel

            def run(progress, flag) -> None:
                with ProjectStore.open(project) as s:
                    prelabel(s, ckpt, images="all", score=0.5, device="cpu", progress=progress,
                             cancel=flag, slicing="auto")
                    print(f"  prelabel: {len(s.proposals())} proposals stored")

            _measure("prelabel", run, args.cancel_at)
            with ProjectStore.open(project) as s:
                print(f"  prelabel: {len(s.proposals())} proposals in the store after the cancel")


if __name__ == "__main__":
    main()
