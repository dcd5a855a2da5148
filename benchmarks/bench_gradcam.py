"""Heatmap time per image on the CPU (issue 16): Grad-CAM of ResNet-50 at 224 px and
EigenCAM of Faster R-CNN MobileNet-V3-Large-FPN (320 px), against the plain forward pass
of the same model on the same images (the baseline, measured in the same run).

Run by hand::

    python benchmarks/bench_gradcam.py [--images 6] [--threads 2]

Weights are random (``weights=None``; the time does not depend on them) with BatchNorm
statistics from the images. Images: hymenoptera val (classification), rbc_coco valid
(detection). Prints the median ms per image of the CAM and of the forward pass, and
their ratio.
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
DATA = REPO.parent / "shared" / "data"


def _median_ms(fn, items) -> float:
    fn(items[0])  # warm-up
    times = []
    for it in items:
        t = time.perf_counter()
        fn(it)
        times.append(time.perf_counter() - t)
    return 1000 * statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=6)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    import torch

    from tests.core._checkpoints import make_checkpoint
    from vision_studio.core.evaluation.predict import _load, _prepare
    from vision_studio.core.explain.cam import explain_classification, explain_detection
    from vision_studio.core.training.checkpoints import load_checkpoint

    torch.set_num_threads(args.threads)
    hym = sorted((DATA / "hymenoptera" / "val" / "bees").glob("*.jpg"))[:args.images]
    rbc = sorted((DATA / "rbc_coco" / "valid").glob("*.jpg"))[:args.images]
    with tempfile.TemporaryDirectory() as d:
        ck = make_checkpoint(Path(d) / "cls", "classification", "resnet50", ["ants", "bees"], image_size=224,
                             images=hym[:4])
        built, _, _ = load_checkpoint(ck)
        arrays = [_load(p) for p in hym]

        def forward_cls(a):
            with torch.no_grad():
                built.model(_prepare(a, "classification", 224, built.mean, built.std)[None])

        f = _median_ms(forward_cls, arrays)
        c = _median_ms(lambda a: explain_classification(built, [a], ["ants", "bees"], 224), arrays)
        print(f"ResNet-50 224 px, Grad-CAM: {c:.0f} ms/image; forward pass {f:.0f} ms; ratio {c / f:.1f}x "
              f"({len(arrays)} images, {args.threads} threads)")
        ck = make_checkpoint(Path(d) / "det", "detection", "fasterrcnn_mobilenet_v3_large_fpn", ["rbc", "wbc"],
                             image_size=320, images=rbc[:2])
        built, cfg, _ = load_checkpoint(ck)
        arrays = [_load(p) for p in rbc]

        def forward_det(a):
            with torch.no_grad():
                built.model([_prepare(a, "detection", 320, (0, 0, 0), (1, 1, 1))])

        f = _median_ms(forward_det, arrays)
        c = _median_ms(lambda a: explain_detection(built, [a], 320), arrays)
        print(f"Faster R-CNN MobileNet-V3-Large-FPN 320 px, EigenCAM: {c:.0f} ms/image; forward pass {f:.0f} ms; "
              f"ratio {c / f:.1f}x")


if __name__ == "__main__":
    main()
