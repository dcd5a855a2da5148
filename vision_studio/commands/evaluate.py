"""``vision-studio evaluate`` and ``vision-studio predict``.

``evaluate`` runs a checkpoint on a split of a project, prints the metrics (the COCO
summary and a per-class table for detection / instance segmentation) and writes a report
folder: ``metrics.json``, PR-curve PNGs, a confusion-matrix PNG, an IoU histogram and
overlays of predictions on images. ``predict`` runs a checkpoint on image files and
writes COCO results JSON (detection / instance segmentation) or per-image predictions
(classification / semantic segmentation), with overlay PNGs on request.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from vision_studio.core.errors import ConfigError
from vision_studio.core.types import Task


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``evaluate`` and ``predict`` sub-commands."""
    p = sub.add_parser("evaluate", help="evaluate a checkpoint on a split of a project",
                       description="Evaluate a trained checkpoint; print metrics; write a report folder.")
    p.add_argument("--project", required=True, type=Path, help="project file (.vsproj)")
    p.add_argument("--checkpoint", required=True, type=Path, help="best.pt / last.pt or a run folder")
    p.add_argument("--split", default="val", help="split to evaluate (default: val)")
    p.add_argument("--out", type=Path, help="report folder (default: <checkpoint folder>/eval_<split>)")
    p.add_argument("--backend", choices=("faster", "pycocotools"),
                   help="COCO evaluation backend (default: the project setting "
                        "'evaluation_backend', else faster)")
    _common(p)
    p.add_argument("--overlays", type=int, default=12, help="overlay PNGs to write (default 12)")
    p.set_defaults(func=run_evaluate)

    q = sub.add_parser("predict", help="run a checkpoint on image files",
                       description="Predict with a trained checkpoint; write COCO results JSON.")
    q.add_argument("--checkpoint", required=True, type=Path, help="best.pt / last.pt or a run folder")
    q.add_argument("images", nargs="+", type=Path, help="image files")
    q.add_argument("--out", required=True, type=Path, help="results JSON file to write")
    q.add_argument("--overlays", type=Path, metavar="DIR", help="also write overlay PNGs here")
    _common(q)
    q.set_defaults(func=run_predict)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--score-threshold", type=float, default=0.05,
                   help="keep detections scoring above this (default 0.05, as torchvision)")
    p.add_argument("--nms-iou", type=float, default=0.5, help="class-wise NMS IoU threshold (default 0.5)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or mps")
    p.add_argument("--batch-size", type=int, help="images per forward pass")


def _progress(label: str):
    def report(done: int, total: int) -> None:
        print(f"\r{label}: {done}/{total} images", end="" if done < total else "\n", file=sys.stderr)
    return report


def _detection_payload(pred: Any, args: argparse.Namespace) -> tuple[np.ndarray, list[dict]]:
    keep = pred.filter(args.score_threshold, args.nms_iou)
    return keep, pred.to_coco_results(keep)


def run_evaluate(args: argparse.Namespace) -> int:
    from vision_studio.core.evaluation.predict import predict_checkpoint
    from vision_studio.core.store import ProjectStore

    store = ProjectStore.open(args.project)
    try:
        images = store.images(split=args.split)
        if not images:
            raise ConfigError(f"{args.project}: split {args.split!r} has no images "
                              f"(splits: {', '.join(f'{k or chr(34) * 2}={v}' for k, v in store.splits().items())})")
        out = args.out or (args.checkpoint if args.checkpoint.is_dir() else args.checkpoint.parent) / f"eval_{args.split}"
        out.mkdir(parents=True, exist_ok=True)
        pred, config, categories = predict_checkpoint(
            args.checkpoint, [store.resolve(im) for im in images], image_ids=[im.id for im in images],
            device=args.device, batch_size=args.batch_size, progress=_progress("predict"))
        backend = args.backend or store.get_setting("evaluation_backend", "faster")
        if config.task in (Task.DETECTION, Task.INSTANCE_SEGMENTATION):
            _evaluate_detection(store, images, pred, categories, config.task, backend, args, out)
        elif config.task == Task.CLASSIFICATION:
            _evaluate_classification(store, images, pred, categories, out)
        else:
            _evaluate_semantic(store, images, pred, categories, out)
        print(f"report: {out}")
    finally:
        store.close()
    return 0


def _evaluate_detection(store: Any, images: list, pred: Any, categories: list[dict], task: str,
                        backend: str, args: argparse.Namespace, out: Path) -> None:
    from vision_studio.core.evaluation import report
    from vision_studio.core.evaluation.coco_eval import evaluate_coco, ground_truth_from_store
    from vision_studio.core.evaluation.outcomes import detection_confusion_matrix

    masks = task == Task.INSTANCE_SEGMENTATION and pred.masks is not None
    gt = ground_truth_from_store(store, images, categories, with_masks=masks)
    _, results = _detection_payload(pred, args)
    (out / "results.json").write_text(json.dumps(results))
    payload: dict[str, Any] = {"task": task, "checkpoint": str(args.checkpoint), "split": args.split,
                               "score_threshold": args.score_threshold, "nms_iou": args.nms_iou}
    names = [c["name"] for c in categories]
    for iou_type in ("bbox", "segm") if masks else ("bbox",):
        res = evaluate_coco(gt, results, iou_type, backend=backend)
        _print_coco(res)
        counts = res.outcomes.counts()
        payload[iou_type] = dict(res.to_dict(), outcomes=counts)
        report.save_pr_curves(res, out / "pr_curves", prefix=f"pr_{iou_type}")
        report.save_iou_histogram(res.outcomes.matched_ious(), out / f"iou_hist_{iou_type}.png")
        cm = detection_confusion_matrix(gt, results, [c["id"] for c in categories], iou_type,
                                        score_threshold=max(args.score_threshold, 0.5))
        payload[iou_type]["confusion_matrix"] = cm
        report.save_confusion_matrix(cm, names + ["background"], out / f"confusion_{iou_type}.png",
                                     title=f"Detection confusion ({iou_type}, IoU 0.5, score >= "
                                           f"{max(args.score_threshold, 0.5):.2f})")
    payload["confusion_labels"] = names + ["background"]
    report.write_metrics_json(out / "metrics.json", payload)
    _overlays(store, images, gt, results, categories, out / "overlays", args.overlays)


def _overlays(store: Any, images: list, gt: dict, results: list[dict], categories: list[dict],
              out: Path, limit: int, min_score: float = 0.5) -> None:
    from vision_studio.core.evaluation.report import save_overlay
    from vision_studio.core.images import read_image

    names = {int(c["id"]): c["name"] for c in categories}
    for im in images[:limit]:
        g = [a for a in gt["annotations"] if a["image_id"] == im.id]
        p = [r for r in results if r["image_id"] == im.id and r["score"] >= min_score]
        save_overlay(read_image(store.resolve(im)), g, p, names, out / f"{im.id:06d}.png",
                     title=f"{im.path}: {len(p)} predictions (score >= {min_score}, solid), "
                           f"{len(g)} ground truth (dashed)")


def _print_coco(res: Any) -> None:
    print(f"\nCOCO {res.iou_type} ({res.backend})")
    for name, value in res.stats.items():
        print(f"  {name:6s} {value:7.4f}")
    print(f"  {'category':24s} {'objects':>7s} {'AP':>7s} {'AP50':>7s} {'AP75':>7s}")
    for c in res.per_class:
        print(f"  {c.name[:24]:24s} {c.num_gt:7d} {c.ap:7.4f} {c.ap50:7.4f} {c.ap75:7.4f}")
    print(f"  outcomes at IoU 0.5: {res.outcomes.counts()}")


def _evaluate_classification(store: Any, images: list, pred: Any, categories: list[dict], out: Path) -> None:
    from vision_studio.core.evaluation import report
    from vision_studio.core.evaluation.metrics import classification_metrics

    index = {int(c["id"]): k for k, c in enumerate(categories)}
    tags = store.all_image_tags()
    rows = [i for i, im in enumerate(images) if any(t in index for t in tags.get(im.id, ()))]
    if not rows:
        raise ConfigError("no image of the split has a category tag of this model")
    y_true = [index[next(t for t in tags[images[i].id] if t in index)] for i in rows]
    names = [c["name"] for c in categories]
    m = classification_metrics(y_true, pred.probs[rows], names)
    print(f"accuracy {m['accuracy']:.4f}  " + "  ".join(f"top-{k} {v:.4f}" for k, v in m["top_k"].items()))
    print(f"  {'class':24s} {'prec':>7s} {'recall':>7s} {'F1':>7s} {'support':>7s}")
    for c in m["per_class"]:
        print(f"  {c['name'][:24]:24s} {c['precision']:7.4f} {c['recall']:7.4f} {c['f1']:7.4f} {c['support']:7d}")
    m["images"] = [{"image_id": int(images[i].id), "path": images[i].path, "true": int(t),
                    "probs": pred.probs[i]} for i, t in zip(rows, y_true)]
    report.write_metrics_json(out / "metrics.json", {"task": Task.CLASSIFICATION, **m})
    report.save_confusion_matrix(m["confusion"], names, out / "confusion.png")


def _evaluate_semantic(store: Any, images: list, pred: Any, categories: list[dict], out: Path) -> None:
    from vision_studio.core.data.datasets import decode_mask
    from vision_studio.core.evaluation import report
    from vision_studio.core.evaluation.metrics import semantic_confusion, semantic_metrics

    offset = len(pred.class_names) - len(categories)  # 1 when the model has a background class
    label = {int(c["id"]): k + offset for k, c in enumerate(categories)}
    n = len(pred.class_names)
    cm = np.zeros((n, n), dtype=np.int64)
    by_image = store.annotations_by_image([im.id for im in images])
    for im, lab_map in zip(images, pred.label_maps):
        target = np.full((im.height, im.width), 0 if offset else 255, dtype=np.uint8)
        for a in by_image.get(im.id, []):
            if a.category_id in label:
                target[decode_mask(a, im.height, im.width) > 0] = label[a.category_id]
        cm += semantic_confusion(lab_map, target, n)
    m = semantic_metrics(cm, pred.class_names)
    print(f"mIoU {m['mIoU']:.4f}  pixel accuracy {m['pixel_accuracy']:.4f}  mean Dice {m['mean_dice']:.4f}")
    for c in m["per_class"]:
        print(f"  {c['name'][:24]:24s} IoU {c['iou']:7.4f} Dice {c['dice']:7.4f}")
    report.write_metrics_json(out / "metrics.json", {"task": Task.SEMANTIC_SEGMENTATION, **m, "confusion": cm})
    report.save_confusion_matrix(cm, pred.class_names, out / "confusion.png", normalize=True,
                                 title="Pixel confusion (row-normalised)")


def run_predict(args: argparse.Namespace) -> int:
    from vision_studio.core.evaluation.predict import predict_checkpoint
    from vision_studio.core.evaluation.report import save_overlay
    from vision_studio.core.images import read_image

    missing = [str(p) for p in args.images if not p.is_file()]
    if missing:
        raise ConfigError(f"no such image file: {', '.join(missing[:5])}")
    pred, config, categories = predict_checkpoint(args.checkpoint, args.images, device=args.device,
                                                  batch_size=args.batch_size, progress=_progress("predict"))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if config.task in (Task.DETECTION, Task.INSTANCE_SEGMENTATION):
        _, results = _detection_payload(pred, args)
        images = [{"id": int(i), "file_name": str(p)} for i, p in zip(pred.image_ids, args.images)]
        args.out.write_text(json.dumps(results))
        (args.out.with_suffix(".images.json")).write_text(json.dumps(images, indent=1))
        print(f"{len(results)} detections on {len(args.images)} images -> {args.out} "
              f"(image ids in {args.out.with_suffix('.images.json').name})")
        if args.overlays:
            names = {int(c["id"]): c["name"] for c in categories}
            for i, p in zip(pred.image_ids, args.images):
                save_overlay(read_image(p), [], [r for r in results if r["image_id"] == i], names,
                             args.overlays / f"{Path(p).stem}.png", title=str(p))
    elif config.task == Task.CLASSIFICATION:
        rows = [{"file": str(p), "class": pred.class_names[int(pr.argmax())], "probs": pr.tolist()}
                for p, pr in zip(args.images, pred.probs)]
        args.out.write_text(json.dumps({"class_names": pred.class_names, "images": rows}, indent=1))
        print(f"{len(rows)} images classified -> {args.out}")
    else:
        npz = args.out.with_suffix(".npz")
        np.savez_compressed(npz, **{f"image_{k}": m for k, m in enumerate(pred.label_maps)})
        args.out.write_text(json.dumps({"class_names": pred.class_names, "label_maps": npz.name,
                                        "files": [str(p) for p in args.images]}, indent=1))
        print(f"{len(args.images)} label maps -> {npz}")
    return 0
