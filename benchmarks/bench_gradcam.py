"""Heatmap time per image on the CPU (issue 16): Grad-CAM of ResNet-50 at 224 px and
EigenCAM of Faster R-CNN MobileNet-V3-Large-FPN (what ``core/explain/cam.py`` uses for
detectors), each against the plain forward pass of the same model on the same images
(the baseline, measured in the same run, same threads).

Run by hand::

    python benchmarks/bench_gradcam.py [--images 12] [--threads 1] [--det-size 512]

* ResNet-50: ``explain_classification`` (Grad-CAM at ``layer4``, predicted class) on the
  first ``--images`` images of ``hymenoptera/val`` (ants and bees alternately), 224 px
  (validation transform: resize 256, centre crop 224).
* Faster R-CNN MobileNet-V3-Large-FPN: ``explain_detection`` (EigenCAM of the FPN) on
  the first ``--images`` images of ``raccoon_voc/images``, internal resize and input
  ``--det-size`` px (longer side).

Times are per call on one image (one image per call, as ``vision-studio explain`` and
the Evaluate viewer ask), after one warm-up call; mean and 95th percentile (numpy's
linear interpolation) over the images. A CAM call includes what the core does around
it: decoding, the extra no-grad forward that picks the class (classification) or the
boxes (detection), the hooks' setup, the resize of the map back to the image. Weights
are random (``weights=None``, BatchNorm statistics from real images of the same set: 4 for
ResNet-50, 1 for the detector, whose calibration stacks equal-size images): the
time does not depend on their values (same shapes, same operations; a detector's
proposal count is fixed by its RPN settings, not by the scores).

Measured (2026-12-01, shared 2-core CPU with another heavy job running, 1 thread,
defaults: 12 images, detector at 512 px)::

    $ python benchmarks/bench_gradcam.py
    CPU, 1 thread(s), torch 2.14.1+cu130, weights=None (random; BatchNorm statistics from the images)
    | model | heatmap | CAM mean ms | CAM p95 ms | forward mean ms | forward p95 ms | CAM / forward |
    |---|---|---|---|---|---|---|
    | ResNet-50, 224 px, hymenoptera val (12 images) | Grad-CAM (layer4) | 512 | 602 | 113 | 117 | 4.5x |
    | Faster R-CNN MobileNet-V3-Large-FPN, 512 px, raccoon_voc (12 images) | EigenCAM (FPN) | 1118 | 1293 | 554 | 643 | 2.0x |

A ResNet-50 Grad-CAM costs about half a second per 224 px image on one CPU thread (4.5x
its forward pass: the extra no-grad forward that picks the class, a forward with hooks
and a backward to ``layer4``); the detector's EigenCAM about 1.1 s at 512 px (2x its
forward: a second forward and an SVD of the FPN activations, no backward).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DATA = REPO.parent / "shared" / "data"


def _times_ms(fn, items) -> list[float]:
    fn(items[0])  # warm-up: first-call allocations and lazy initialisation
    times = []
    for it in items:
        t = time.perf_counter()
        fn(it)
        times.append(1000 * (time.perf_counter() - t))
    return times


def _row(model: str, method: str, cam: list[float], fwd: list[float]) -> str:
    import numpy as np

    c, f = np.asarray(cam), np.asarray(fwd)
    return (f"| {model} | {method} | {c.mean():.0f} | {np.percentile(c, 95):.0f} | {f.mean():.0f} | "
            f"{np.percentile(f, 95):.0f} | {c.mean() / f.mean():.1f}x |")


def _hymenoptera(n: int) -> list[Path]:
    ants = sorted((DATA / "hymenoptera" / "val" / "ants").glob("*.jpg"))
    bees = sorted((DATA / "hymenoptera" / "val" / "bees").glob("*.jpg"))
    return [p for pair in zip(ants, bees) for p in pair][:n]


def classification(tmp: Path, n: int) -> str:
    import torch

    from tests.core._checkpoints import make_checkpoint
    from vision_studio.core.evaluation.predict import _load, _prepare
    from vision_studio.core.explain.cam import explain_classification
    from vision_studio.core.training.checkpoints import load_checkpoint

    files = _hymenoptera(n)
    ck = make_checkpoint(tmp / "cls", "classification", "resnet50", ["ants", "bees"], image_size=224,
                         images=files[:4])
    built, _, _ = load_checkpoint(ck)
    model = built.model.eval()

    def forward(p):
        with torch.no_grad():
            model(_prepare(_load(p), "classification", 224, built.mean, built.std)[None])

    fwd = _times_ms(forward, files)
    cam = _times_ms(lambda p: explain_classification(built, [p], ["ants", "bees"], 224), files)
    return _row(f"ResNet-50, 224 px, hymenoptera val ({len(files)} images)", "Grad-CAM (layer4)", cam, fwd)


def detection(tmp: Path, n: int, size: int) -> str:
    import torch

    from tests.core._checkpoints import make_checkpoint
    from vision_studio.core.evaluation.predict import _load, _prepare
    from vision_studio.core.explain.cam import explain_detection
    from vision_studio.core.training.checkpoints import load_checkpoint

    files = sorted((DATA / "raccoon_voc" / "images").glob("*.jpg"))[:n]
    ck = make_checkpoint(tmp / "det", "detection", "fasterrcnn_mobilenet_v3_large_fpn", ["raccoon"],
                         image_size=size, images=files[:1])
    built, _, _ = load_checkpoint(ck)
    model = built.model.eval()

    def forward(p):
        with torch.no_grad():
            model([_prepare(_load(p), "detection", size, (0, 0, 0), (1, 1, 1))])

    fwd = _times_ms(forward, files)
    cam = _times_ms(lambda p: explain_detection(built, [p], size), files)
    return _row(f"Faster R-CNN MobileNet-V3-Large-FPN, {size} px, raccoon_voc ({len(files)} images)",
                "EigenCAM (FPN)", cam, fwd)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=12)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--det-size", type=int, default=512)
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    print(f"CPU, {args.threads} thread(s), torch {torch.__version__}, weights=None (random; BatchNorm statistics from the images)")
    print("| model | heatmap | CAM mean ms | CAM p95 ms | forward mean ms | forward p95 ms | CAM / forward |")
    print("|---|---|---|---|---|---|---|", flush=True)
    with tempfile.TemporaryDirectory() as d:
        print(classification(Path(d), args.images), flush=True)
        print(detection(Path(d), args.images, args.det_size), flush=True)


if __name__ == "__main__":
    main()
