"""Evaluation report folders: ``metrics.json`` and PNG pictures drawn with matplotlib.

Pictures are drawn on ``matplotlib.figure.Figure`` with the Agg canvas (no pyplot global
state, no GUI toolkit), so this runs in worker threads and on headless machines.
Contents: one precision–recall PNG per category (IoU 0.50, 0.75 and the mean over
.50:.95, COCO's 101-point interpolated curves), a confusion-matrix PNG, an IoU histogram
of the matched pairs, and overlays of predictions on images (filled masks / solid boxes
with category and score) with the ground truth in another style (dashed white boxes,
outlined masks).
"""
from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from vision_studio.core.evaluation.metrics import nan_to_none
from vision_studio.core.outputs import atomic_output, atomic_write_text

log = logging.getLogger(__name__)

PALETTE = ("#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6",
           "#bfef45", "#469990", "#9a6324", "#800000", "#808000", "#000075")


def _figure(w: float, h: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(w, h), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Any, path: Path) -> None:
    """``fig.savefig`` through a temporary file renamed into place (never half a PNG)."""
    with atomic_output(path) as tmp:
        fig.savefig(tmp, format="png")


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "class"


def write_metrics_json(path: str | Path, payload: Mapping[str, Any]) -> Path:
    """Write ``payload`` as strict JSON (NaN → null, arrays → lists), atomically
    (:func:`~vision_studio.core.outputs.atomic_write_text`)."""
    path = Path(path)
    return atomic_write_text(path, json.dumps(nan_to_none(dict(payload)), indent=2, allow_nan=False))


def save_pr_curves(result: Any, out_dir: str | Path, prefix: str = "pr") -> list[Path]:
    """One PNG per category with ground truth: COCO precision–recall curves.

    Args:
        result: A :class:`~vision_studio.core.evaluation.coco_eval.CocoEvalResult`.
        out_dir: Folder (created).
        prefix: File name prefix (``pr_<k>_<name>.png``).

    Returns:
        The written paths.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for k, c in enumerate(result.per_class):
        if c.num_gt == 0:
            continue
        fig = _figure(5, 4)
        ax = fig.add_subplot(1, 1, 1)
        for iou, label, style in ((0.5, f"IoU 0.50 (AP50 {c.ap50:.3f})", "-"),
                                  (0.75, f"IoU 0.75 (AP75 {c.ap75:.3f})", "--"),
                                  ("mean", f"mean .50:.95 (AP {c.ap:.3f})", ":")):
            rec, prec, _ = result.pr_curve(c.category_id, iou)
            ax.plot(rec, prec, style, label=label)
        ax.set(xlim=(0, 1), ylim=(0, 1.02), xlabel="recall", ylabel="precision",
               title=f"{c.name} ({result.iou_type}, {c.num_gt} objects)")
        ax.grid(alpha=0.3)
        ax.legend(loc="lower left", fontsize=8)
        fig.tight_layout()
        path = out_dir / f"{prefix}_{k:02d}_{_safe(c.name)}.png"
        _save(fig, path)
        paths.append(path)
    return paths


def save_confusion_matrix(cm: np.ndarray, names: Sequence[str], path: str | Path,
                          title: str = "Confusion matrix", normalize: bool = False) -> Path:
    """Confusion-matrix PNG (rows = ground truth, columns = prediction) with counts
    written in the cells; ``normalize`` shows each row as fractions."""
    cm = np.asarray(cm)
    n = len(names)
    shown = cm / np.maximum(cm.sum(1, keepdims=True), 1) if normalize else cm
    size = max(4.0, 0.55 * n + 2)
    fig = _figure(size, size * 0.9)
    ax = fig.add_subplot(1, 1, 1)
    im = ax.imshow(shown, cmap="Blues")
    fig.colorbar(im, ax=ax, fraction=0.046)
    ax.set_xticks(range(n), names, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(n), names, fontsize=8)
    ax.set(xlabel="predicted", ylabel="ground truth", title=title)
    if n <= 30:
        top = shown.max() if shown.size else 0
        for i in range(n):
            for j in range(n):
                txt = f"{shown[i, j]:.2f}" if normalize else str(int(cm[i, j]))
                ax.text(j, i, txt, ha="center", va="center", fontsize=7,
                        color="white" if shown[i, j] > top / 2 else "black")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _save(fig, path)
    return path


def save_iou_histogram(ious: np.ndarray, path: str | Path, title: str = "IoU of matched pairs") -> Path:
    """Histogram PNG of the IoU of true-positive (detection, ground truth) pairs."""
    fig = _figure(5, 3.5)
    ax = fig.add_subplot(1, 1, 1)
    ax.hist(np.asarray(ious, dtype=float), bins=np.linspace(0.5, 1.0, 26), color="#4363d8")
    ax.set(xlabel="IoU", ylabel="pairs", title=f"{title} (n={len(ious)})")
    fig.tight_layout()
    path = Path(path)
    _save(fig, path)
    return path


def _mask(seg: Any, h: int, w: int) -> np.ndarray:
    from pycocotools import mask as mask_utils

    if isinstance(seg, list):
        rle = mask_utils.merge(mask_utils.frPyObjects(seg, h, w))
    else:
        rle = dict(seg)
        if isinstance(rle.get("counts"), list):
            rle = mask_utils.frPyObjects(rle, h, w)
        elif isinstance(rle.get("counts"), str):
            rle["counts"] = rle["counts"].encode("ascii")
    return mask_utils.decode(rle).astype(bool)


def save_overlay(image: np.ndarray, ground_truth: Sequence[Mapping[str, Any]],
                 predictions: Sequence[Mapping[str, Any]], names: Mapping[int, str],
                 path: str | Path, title: str = "") -> Path:
    """Draw predictions and ground truth on an image and save it as PNG.

    Args:
        image: HxWx3 uint8 RGB.
        ground_truth: COCO annotations (``bbox`` [x, y, w, h], optional ``segmentation``):
            dashed white boxes, mask outlines.
        predictions: COCO results (``bbox``, ``score``, optional ``segmentation``):
            boxes and translucent masks in the category's colour, labelled "name score".
        names: Category id → name.
        path: The PNG to write.
    """
    from matplotlib.patches import Rectangle

    h, w = image.shape[:2]
    fig = _figure(max(3.0, w / 100), max(3.0, h / 100) + 0.3)
    ax = fig.add_axes((0, 0, 1, 1 - 0.3 / (max(3.0, h / 100) + 0.3)))
    ax.imshow(image)
    ax.set_axis_off()
    ids = sorted(names)
    colour = {c: PALETTE[i % len(PALETTE)] for i, c in enumerate(ids)}
    overlay = np.zeros((h, w, 4), dtype=np.float32)
    for p in predictions:
        if p.get("segmentation") is not None:
            from matplotlib.colors import to_rgb

            m = _mask(p["segmentation"], h, w)
            overlay[m, :3] = to_rgb(colour.get(p["category_id"], "#ffffff"))
            overlay[m, 3] = 0.4
    for g in ground_truth:
        if g.get("segmentation"):
            ax.contour(_mask(g["segmentation"], h, w), levels=[0.5], colors="white", linewidths=1)
    if overlay[..., 3].any():
        ax.imshow(overlay)
    for g in ground_truth:
        x, y, bw, bh = g["bbox"]
        ax.add_patch(Rectangle((x, y), bw, bh, fill=False, ec="white", lw=1.2, ls="--"))
    for p in predictions:
        x, y, bw, bh = p["bbox"]
        c = colour.get(p["category_id"], "#ffffff")
        ax.add_patch(Rectangle((x, y), bw, bh, fill=False, ec=c, lw=1.5))
        ax.text(x, y, f"{names.get(p['category_id'], p['category_id'])} {p['score']:.2f}", fontsize=7,
                color="white", va="bottom", bbox={"facecolor": c, "alpha": 0.7, "pad": 1, "lw": 0})
    fig.suptitle(title or "predictions (solid) / ground truth (dashed white)", fontsize=8, y=0.995)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _save(fig, path)
    return path
