"""Slider response of the Evaluation panel with 1,000 images of cached predictions.

Workload (generated, seeded): 1,000 images 416x416 (real PNG files, one grey level
each, hard-linked), 2 categories, ~20 ground-truth boxes per image, ~150 raw candidate detections per
image (jittered ground truth plus random false positives with random scores) saved as the
panel's prediction cache for a fake checkpoint file, so the panel opens them without a
model. Then, on the GUI thread (offscreen):

* ``live``: one score-slider step (``QSlider.setValue``) — TP/FP/FN per class, the
  operating point, the error list and the viewer's overlays of the shown image — timed
  until the call returns, over many steps: p50 / p95;
* ``full``: the deferred part (COCO evaluation of the filtered detections for the AP
  columns, the confusion matrix) when the slider rests;
* ``nms``: an NMS-IoU change (a new base evaluation: filter + COCO evaluation + outcomes);
* baseline in the same run: the plain way — ``RawDetections.filter`` + ``evaluate_coco``
  + its outcomes for each threshold step.

Run: ``python benchmarks/bench_eval_sliders.py [--images 1000] [--steps 40]``.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402


def make_project(folder: Path, n_images: int, seed: int = 0) -> tuple[Path, Path]:
    """Project + fake checkpoint + prediction cache; returns ``(project, checkpoint)``."""
    import torch
    from PIL import Image

    from vision_studio.core.evaluation.predict import RawDetections
    from vision_studio.core.store import ProjectStore
    from vision_studio.core.types import Annotation, ImageRecord
    from vision_studio.gui.panels.evaluate.data import EvalInputs, save_cache

    rng = np.random.default_rng(seed)
    W = H = 416
    (folder / "img").mkdir(parents=True, exist_ok=True)
    for g in range(8):
        Image.fromarray(np.full((H, W, 3), 60 + 20 * g, np.uint8)).save(folder / "img" / f"g{g}.png")
    project = folder / "bench.vsproj"
    store = ProjectStore.create(project, root=folder)
    cats = store.add_categories([("rbc", "#e6194b", ""), ("wbc", "#4363d8", "")])
    for i in range(n_images):  # hard links: 1,000 distinct files, 8 distinct contents
        os.link(folder / "img" / f"g{i % 8}.png", folder / "img" / f"i{i:05d}.png")
    ims = store.add_images(ImageRecord(path=f"img/i{i:05d}.png", width=W, height=H, split="val")
                           for i in range(n_images))
    anns, parts = [], {"img": [], "boxes": [], "scores": [], "labels": []}
    for k, im in enumerate(ims):
        n = int(rng.integers(15, 25))
        xy = rng.uniform(0, W - 60, (n, 2))
        wh = rng.uniform(20, 60, (n, 2))
        lab = (rng.random(n) < 0.1).astype(np.int64)
        for b, l in zip(np.c_[xy, wh], lab):
            anns.append(Annotation(image_id=im.id, category_id=cats[l].id, bbox=tuple(map(float, b))))
        keep = rng.random(n) < 0.85
        jit = np.c_[xy, xy + wh][keep] + rng.normal(0, 4, (keep.sum(), 4))
        fp = rng.uniform(0, W - 40, (150 - keep.sum(), 2))
        fp = np.c_[fp, fp + rng.uniform(15, 50, fp.shape)]
        boxes = np.r_[jit, fp].astype(np.float32)
        scores = np.r_[rng.uniform(0.3, 1.0, keep.sum()), rng.uniform(0.001, 0.7, len(fp))].astype(np.float32)
        labels = np.r_[lab[keep], (rng.random(len(fp)) < 0.2).astype(np.int64)] + 1
        parts["img"].append(np.full(len(boxes), k)); parts["boxes"].append(boxes)
        parts["scores"].append(scores); parts["labels"].append(labels)
    store.add_annotations(anns)
    catd = [{"id": c.id, "name": c.name} for c in cats]
    raw = RawDetections(image_ids=np.array([im.id for im in ims], np.int64),
                        image_sizes=np.tile([H, W], (len(ims), 1)), paths=tuple(im.path for im in ims),
                        categories=catd, label_offset=1,
                        img_index=np.concatenate(parts["img"]).astype(np.int64),
                        boxes=np.concatenate(parts["boxes"]), scores=np.concatenate(parts["scores"]),
                        labels=np.concatenate(parts["labels"]).astype(np.int64), score_floor=0.001)
    run = folder / "run"
    run.mkdir()
    ckpt = run / "best.pt"
    torch.save({"model": {}, "config": {"task": "detection", "arch": "none"}, "categories": catd}, ckpt)
    save_cache(EvalInputs(ckpt, "val", "detection", catd, [c["name"] for c in catd], 0, "ignore", ims, raw))
    store.close()
    return project, ckpt


def pct(xs: list[float], q: float) -> float:
    """Percentile in milliseconds."""
    return float(np.percentile(np.asarray(xs) * 1000, q))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=1000)
    ap.add_argument("--steps", type=int, default=40)
    args = ap.parse_args(argv)
    import torch
    from PySide6.QtWidgets import QApplication

    from vision_studio.core.evaluation.coco_eval import evaluate_coco
    from vision_studio.gui.panels.evaluate.panel import EvaluatePanel
    from vision_studio.gui.state import AppState

    torch.set_num_threads(1)
    app = QApplication.instance() or QApplication(sys.argv)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        project, ckpt = make_project(Path(tmp), args.images)
        print(f"workload: {args.images} images built in {time.perf_counter() - t0:.1f} s")
        state = AppState()
        state.open_project(project)
        panel = EvaluatePanel(state, device="cpu")
        panel.resize(1400, 850)
        panel.show()
        t0 = time.perf_counter()
        assert panel.start(ckpt, "val")
        app.processEvents()
        print(f"open from cache + first full evaluation: {time.perf_counter() - t0:.2f} s; "
              f"{len(panel.inputs.predictions)} raw detections")
        panel.filter.setCurrentIndex(panel.filter.findData("FP"))
        panel.list.selectRow(0)
        app.processEvents()
        raw = panel.inputs.predictions
        values = np.linspace(50, 600, args.steps).astype(int)
        live = []
        for v in values:
            t = time.perf_counter()
            panel.score_slider.setValue(int(v))
            live.append(time.perf_counter() - t)
            app.processEvents()
        shown = len(panel.viewer.pred_items)
        full = []
        for v in values[:: max(1, len(values) // 6)]:
            panel.score_slider.setValue(int(v))
            t = time.perf_counter()
            panel.recompute()
            full.append(time.perf_counter() - t)
        nms = []
        for v in (0.45, 0.6, 0.7):
            t = time.perf_counter()
            panel.set_nms_iou(v)
            nms.append(time.perf_counter() - t)
        base = []
        gt = panel.view.gt
        for v in values[:: max(1, len(values) // 6)]:
            t = time.perf_counter()
            res = raw.to_coco_results(raw.filter(v / 1000, 0.5))
            evaluate_coco(gt, res, "bbox").outcomes.counts()
            base.append(time.perf_counter() - t)
        print(f"score-slider step (counts, operating point, FP list, {shown} overlays on the shown image): "
              f"p50 {pct(live, 50):.1f} ms, p95 {pct(live, 95):.1f} ms over {len(live)} steps")
        print(f"deferred full COCO evaluation + confusion when the slider rests: "
              f"p50 {pct(full, 50):.0f} ms, p95 {pct(full, 95):.0f} ms")
        print(f"NMS-IoU change (new base evaluation): p50 {pct(nms, 50):.0f} ms, max {max(nms) * 1000:.0f} ms")
        print(f"baseline, filter + evaluate_coco + outcomes per step: p50 {pct(base, 50):.0f} ms")
        print(f"ratio baseline / live step (p50): {statistics.median(base) / statistics.median(live):.0f}x")
        panel.shutdown()
        state.close_project()
    return 0


if __name__ == "__main__":
    sys.exit(main())
