"""Realistic synthetic COCO results made from real ground truth (shared by the
evaluation tests): GT boxes / polygons jittered, some dropped, some relabelled, false
positives added, random scores; seeded."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from pycocotools import mask as mask_utils


def load_gt(dataset_dir: Path, split: str = "valid") -> tuple[Path, dict[str, Any]]:
    path = dataset_dir / split / "_annotations.coco.json"
    return path, json.loads(path.read_text())


def _jitter_polygon(poly: list[float], rng: np.random.Generator, scale: float) -> list[float]:
    pts = np.asarray(poly, dtype=np.float64).reshape(-1, 2)
    centre = pts.mean(0)
    pts = centre + (pts - centre) * rng.uniform(0.8, 1.2) + rng.normal(0, scale, pts.shape)
    return pts.ravel().tolist()


def synth_results(gt: dict[str, Any], seed: int = 0, segm: bool = False, drop: float = 0.15,
                  fp_per_image: float = 2.0) -> list[dict[str, Any]]:
    """Results for ``gt``: each non-dropped object jittered (boxes by ~8 % of their size,
    polygons by ~3 px), 10 % with a wrong category, plus Poisson(fp_per_image) random
    false positives per image; scores uniform. ``segm`` adds an RLE ``segmentation``."""
    rng = np.random.default_rng(seed)
    cat_ids = [c["id"] for c in gt["categories"]]
    used = sorted({a["category_id"] for a in gt["annotations"]}) or cat_ids
    imgs = {i["id"]: i for i in gt["images"]}
    out = []
    for a in gt["annotations"]:
        if rng.random() < drop:
            continue
        img = imgs[a["image_id"]]
        h, w = img["height"], img["width"]
        cat = a["category_id"] if rng.random() > 0.1 else int(rng.choice(used))
        r: dict[str, Any] = {"image_id": a["image_id"], "category_id": cat, "score": float(rng.random())}
        if segm and a.get("segmentation"):
            polys = [_jitter_polygon(p, rng, 3.0) for p in a["segmentation"]]
            rle = mask_utils.merge(mask_utils.frPyObjects(polys, h, w))
            r["segmentation"] = {"size": rle["size"], "counts": rle["counts"].decode("ascii")}
            r["bbox"] = [float(v) for v in mask_utils.toBbox(rle)]
        else:
            x, y, bw, bh = a["bbox"]
            j = rng.normal(0, 0.08, 4) * [bw, bh, bw, bh]
            r["bbox"] = [x + j[0], y + j[1], max(1.0, bw + j[2]), max(1.0, bh + j[3])]
        out.append(r)
    for img in gt["images"]:
        for _ in range(rng.poisson(fp_per_image)):
            h, w = img["height"], img["width"]
            bw, bh = rng.uniform(8, w / 3), rng.uniform(8, h / 3)
            x, y = rng.uniform(0, w - bw), rng.uniform(0, h - bh)
            r = {"image_id": img["id"], "category_id": int(rng.choice(used)), "score": float(rng.random()),
                 "bbox": [x, y, bw, bh]}
            if segm:
                poly = [x, y, x + bw, y, x + bw / 2, y + bh]
                rle = mask_utils.merge(mask_utils.frPyObjects([poly], h, w))
                r["segmentation"] = {"size": rle["size"], "counts": rle["counts"].decode("ascii")}
            out.append(r)
    return out


def renumbered(gt: dict[str, Any]) -> dict[str, Any]:
    """``gt`` with annotation ids 1..N (COCOeval cannot match an annotation with id 0)."""
    anns = [dict(a, id=k + 1) for k, a in enumerate(gt["annotations"])]
    return dict(gt, annotations=anns)


def gt_as_results(gt: dict[str, Any], segm: bool = False) -> list[dict[str, Any]]:
    out = []
    for a in gt["annotations"]:
        r = {"image_id": a["image_id"], "category_id": a["category_id"], "score": 1.0,
             "bbox": list(a["bbox"])}
        if segm:
            r["segmentation"] = a["segmentation"]
        out.append(r)
    return out
