"""Small objects in large images: whole-image resizing versus sliced inference (SAHI).

Run by hand::

    python benchmarks/bench_sliced.py                       # trains a detector first
    python benchmarks/bench_sliced.py --checkpoint RUN/best.pt

1. A detector (``fasterrcnn_timm:tf_efficientnet_lite0`` on the ImageNet weights of
   ``../shared/weights``) is trained on ``rbc_coco``'s train split at its native 416 px
   (``--epochs``), unless ``--checkpoint`` gives one.
2. Mosaics of 4 x 4 ``rbc_coco`` test+valid images are built (objects keep their pixel
   size; the image becomes 1664 x 1664) with their ground truth shifted.
3. The same detector predicts each mosaic (a) the usual way — the whole image resized to
   the model's 416 px input — and (b) by sliced inference
   (:func:`vision_studio.core.evaluation.sliced.predict_sliced`, 416-px tiles, 0.2 overlap,
   plus the whole-image pass, greedy NMM by IoS 0.5); COCO AP / AP50 / APs of both
   (pycocotools, maxDets 1000: a mosaic holds ~370 cells) and the gains are printed; both
   merges are run: greedy NMM by IoS (SAHI's default) and NMS by IoU. Also the single 416-px images' AP, the
   ceiling. Target: sliced >= +5 AP over resizing.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve()
DATA = HERE.parents[2] / "shared" / "data" / "rbc_coco"
WEIGHTS = HERE.parents[2] / "shared" / "weights" / "tf_efficientnet_lite0_in1k_converted.pth"


def train(tmp: Path, epochs: int) -> Path:
    from vision_studio.core.io.coco import read_coco
    from vision_studio.core.store import ProjectStore
    from vision_studio.core.training import TrainConfig
    from vision_studio.core.training.trainer import Trainer

    tmp.mkdir(parents=True, exist_ok=True)
    store = ProjectStore.create(tmp / "rbc.vsproj", root=DATA)
    read_coco(store, DATA / "train" / "_annotations.coco.json", split="train", check_images=False)
    cfg = TrainConfig.from_dict(dict(task="detection", arch="fasterrcnn_timm:tf_efficientnet_lite0",
                                     weights=str(WEIGHTS), epochs=epochs, batch_size=4, image_size=416,
                                     val_split=0, max_val_batches=0, device="auto", tiles="off",
                                     out_dir=str(tmp / "run")))
    t0 = time.perf_counter()
    result = Trainer(store).fit(cfg, callbacks=[lambda e: print("  ", e) if type(e).__name__ == "EpochEnd" else None])
    print(f"trained {epochs} epochs in {time.perf_counter() - t0:.0f} s: {result.status}")
    store.close()
    return Path(result.last_checkpoint)


def mosaics(tmp: Path, grid: int) -> tuple[list[str], dict, list[str], dict]:
    """Mosaic files + COCO GT, and the single images + their COCO GT."""
    from vision_studio.core.images import read_image

    imgs, anns, cats = [], [], None
    for split in ("test", "valid"):
        d = json.loads((DATA / split / "_annotations.coco.json").read_text())
        cats = d["categories"]
        off = len(imgs)
        by = {im["id"]: off + k for k, im in enumerate(d["images"])}
        imgs += [str(DATA / split / im["file_name"]) for im in d["images"]]
        anns += [dict(a, image_id=by[a["image_id"]]) for a in d["annotations"]]
    single = {"images": [{"id": i + 1, "width": 416, "height": 416, "file_name": f} for i, f in enumerate(imgs)],
              "annotations": [dict(a, id=k + 1, image_id=a["image_id"] + 1, iscrowd=0) for k, a in enumerate(anns)],
              "categories": cats}
    n = grid * grid
    files, gt_imgs, gt_anns = [], [], []
    for m in range(len(imgs) // n + (1 if len(imgs) % n else 0)):
        chosen = [(m * n + k) % len(imgs) for k in range(n)]
        canvas = np.zeros((416 * grid, 416 * grid, 3), np.uint8)
        for k, idx in enumerate(chosen):
            y, x = (k // grid) * 416, (k % grid) * 416
            canvas[y:y + 416, x:x + 416] = read_image(imgs[idx])[:416, :416]
            for a in anns:
                if a["image_id"] == idx:
                    bx, by_, bw, bh = a["bbox"]
                    gt_anns.append({"id": len(gt_anns) + 1, "image_id": m + 1, "category_id": a["category_id"],
                                    "bbox": [bx + x, by_ + y, bw, bh], "area": bw * bh, "iscrowd": 0})
        path = tmp / f"mosaic_{m}.png"
        from PIL import Image

        Image.fromarray(canvas).save(path)
        files.append(str(path))
        gt_imgs.append({"id": m + 1, "width": 416 * grid, "height": 416 * grid, "file_name": path.name})
    return files, {"images": gt_imgs, "annotations": gt_anns, "categories": cats}, imgs, single


def coco_ap(gt: dict, results: list[dict]) -> tuple[float, float, float]:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        g = COCO()
        g.dataset = gt
        g.createIndex()
        if not results:
            return 0.0, 0.0, 0.0
        d = g.loadRes(results)
        e = COCOeval(g, d, "bbox")
        e.params.maxDets = [1, 10, 1000]  # a mosaic holds ~370 cells: COCO's 100 would cap recall
        e.evaluate()
        e.accumulate()
    prec = e.eval["precision"]  # [IoU thresholds, recall, category, area, maxDets]; -1 = none

    def mean(p: np.ndarray) -> float:
        return float(p[p > -1].mean()) * 100 if (p > -1).any() else float("nan")

    # AP, AP50 and APs at maxDets 1000 (pycocotools' summarize looks for maxDets 100)
    return mean(prec[:, :, :, 0, -1]), mean(prec[0, :, :, 0, -1]), mean(prec[:, :, :, 1, -1])


def results_of(raw, categories, gt: dict) -> list[dict]:
    """COCO results with the ground truth's category ids (the model's categories are
    the project's, matched to the JSON's by name)."""
    keep = raw.filter(score_threshold=0.01, nms_iou=0.5, max_per_image=500)
    by_name = {c["name"]: c["id"] for c in gt["categories"]}
    to_gt = {c["id"]: by_name[c["name"]] for c in categories}
    return [dict(r, category_id=to_gt[int(r["category_id"])]) for r in raw.to_coco_results(keep, with_masks=False)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--checkpoint", type=Path, help="a trained rbc_coco detector (else one is trained)")
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--grid", type=int, default=4)
    ap.add_argument("--keep", type=Path, help="train into this folder (kept) instead of a temporary one")
    args = ap.parse_args()
    if not DATA.is_dir():
        sys.exit(f"dataset not found: {DATA}")
    from vision_studio.core.evaluation.predict import predict_detections
    from vision_studio.core.evaluation.sliced import SliceSettings, predict_sliced
    from vision_studio.core.training.checkpoints import load_checkpoint

    with tempfile.TemporaryDirectory() as t:
        tmp = Path(t)
        ckpt = args.checkpoint or train(args.keep or tmp, args.epochs)
        built, config, categories = load_checkpoint(ckpt)
        files, gt, singles, single_gt = mosaics(tmp, args.grid)
        size = config.image_size
        print(f"{len(files)} mosaics of {args.grid}x{args.grid} images ({416 * args.grid} px), "
              f"{len(gt['annotations'])} boxes; model input {size} px")
        ids = list(range(1, len(files) + 1))
        t0 = time.perf_counter()
        one = predict_detections(built.model, singles, categories, image_ids=list(range(1, len(singles) + 1)),
                                 image_size=size, score_floor=0.01)
        ceiling = coco_ap(single_gt, results_of(one, categories, single_gt))
        t1 = time.perf_counter()
        whole = predict_detections(built.model, files, categories, image_ids=ids, image_size=size, score_floor=0.01)
        resized = coco_ap(gt, results_of(whole, categories, gt))
        t2 = time.perf_counter()
        print(f"  single 416-px images (ceiling)   AP {ceiling[0]:5.1f}  AP50 {ceiling[1]:5.1f}  APs {ceiling[2]:5.1f}"
              f"   {t1 - t0:5.1f} s")
        print(f"  mosaic, whole image resized      AP {resized[0]:5.1f}  AP50 {resized[1]:5.1f}  APs {resized[2]:5.1f}"
              f"   {t2 - t1:5.1f} s")
        best = None
        for merge, metric in (("nmm", "IOS"), ("nms", "IOU")):
            settings = SliceSettings(tile=size, overlap=0.2, include_full=True, merge=merge, match_metric=metric,
                                     match_threshold=0.5)
            t2 = time.perf_counter()
            sliced_raw = predict_sliced(built.model, files, categories, settings=settings, image_ids=ids,
                                        image_size=size, score_floor=0.01)
            got = coco_ap(gt, results_of(sliced_raw, categories, gt))
            print(f"  mosaic, sliced ({merge} by {metric} 0.5)   AP {got[0]:5.1f}  AP50 {got[1]:5.1f}  "
                  f"APs {got[2]:5.1f}   {time.perf_counter() - t2:5.1f} s")
            best = got if best is None or got[0] > best[0] else best
        sliced = best
        gain = sliced[0] - resized[0]
        print(f"  gain of sliced inference (better merge): AP {gain:+.1f}, AP50 {sliced[1] - resized[1]:+.1f}, "
              f"APs {sliced[2] - resized[2]:+.1f}   target >= +5 AP: {'met' if gain >= 5 else 'NOT met'}")


if __name__ == "__main__":
    main()
