"""Realistic synthetic COCO data (shared by the evaluation and COCO IO tests), seeded:

* :func:`synth_results`: results made from ground truth — GT boxes / polygons jittered,
  some dropped, some relabelled, false positives added, random scores.
* :func:`make_coco`: a ground-truth file shaped like COCO 2017's instances files — the
  80 categories with their real ids (gaps at 12, 26, 29, 30, 45, 66, 68, 69, 71, 83),
  large non-contiguous image and annotation ids, the image fields ``license`` /
  ``coco_url`` / ``flickr_url`` / ``date_captured``, top-level ``info`` / ``licenses``,
  polygon objects (some in two pieces) whose ``area`` is the exact polygon area rather
  than pycocotools' rasterised one (as COCO's official areas differ from it), sizes
  across COCOeval's small / medium / large ranges (a quarter within 3 % of their
  limits, where the two areas put an object in different ranges), and crowd regions with uncompressed
  RLE ``counts`` lists.
"""
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
        if segm and isinstance(a.get("segmentation"), list) and a["segmentation"]:
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


COCO_CATEGORY_IDS = [i for i in range(1, 91)
                     if i not in (12, 26, 29, 30, 45, 66, 68, 69, 71, 83)]
"""The 80 category ids of COCO 2017 (1..90 with ten gaps)."""

_SIZES = ((640, 480), (480, 640), (640, 427), (500, 375), (612, 612))


def _star(rng: np.random.Generator, cx: float, cy: float, r: float, n: int) -> list[float]:
    """A star-shaped polygon of ``n`` points around ``(cx, cy)`` (radius ~``r`` px)."""
    angles = np.sort(rng.uniform(0, 2 * np.pi, n))
    radii = r * rng.uniform(0.55, 1.0, n)
    pts = np.stack([cx + radii * np.cos(angles), cy + radii * np.sin(angles)], 1)
    return [round(float(v), 2) for v in pts.ravel()]


def _shoelace(p: list[float]) -> float:
    x, y = np.asarray(p[0::2]), np.asarray(p[1::2])
    return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2)


def _uncompressed(mask: np.ndarray) -> list[int]:
    """COCO uncompressed RLE counts of a mask (column-major runs, zeros first)."""
    flat = mask.flatten(order="F").astype(np.int8)
    change = np.flatnonzero(np.diff(flat)) + 1
    bounds = np.concatenate(([0], change, [flat.size]))
    runs = np.diff(bounds).tolist()
    return ([0] + runs) if flat[0] == 1 else runs


def _object(rng: np.random.Generator, w: int, h: int) -> tuple[list[list[float]], float]:
    """Polygons (one or two pieces, inside the image) and their exact area."""
    r = float(np.exp(rng.uniform(np.log(3), np.log(min(w, h) / 2.5))))  # small..large
    cx, cy = rng.uniform(r, w - r), rng.uniform(r, h - r)
    polys = [_star(rng, cx, cy, r, int(rng.integers(5, 14)))]
    if rng.random() < 0.25:  # sized to within 3 % of COCOeval's 32² / 96² area limits
        target = (32.0 if rng.random() < 0.5 else 96.0) ** 2 * rng.uniform(0.97, 1.03)
        scale = float(np.sqrt(target / max(_shoelace(polys[0]), 1e-9)))
        p = np.asarray(polys[0]).reshape(-1, 2)
        p = np.clip((p - [cx, cy]) * scale + [cx, cy], 0, [w - 1, h - 1])
        polys = [[round(float(v), 2) for v in p.ravel()]]
    if rng.random() < 0.15:  # an occluded object in two pieces
        polys.append(_star(rng, min(w - r / 3, cx + r * 1.2), cy, r / 3, 6))
    return polys, sum(_shoelace(p) for p in polys)


def _crowd(rng: np.random.Generator, w: int, h: int) -> tuple[dict, float, list[float]]:
    """A crowd region: an uncompressed RLE of a union of blobs, its area and bbox."""
    polys = [_star(rng, rng.uniform(40, w - 40), rng.uniform(40, h - 40), 35, 9)
             for _ in range(3)]
    rle = mask_utils.merge(mask_utils.frPyObjects(polys, h, w))
    mask = mask_utils.decode(rle)
    return ({"size": [h, w], "counts": _uncompressed(mask)}, float(mask.sum()),
            [float(v) for v in mask_utils.toBbox(rle)])


def make_coco(n_images: int = 40, seed: int = 0, objects_per_image: float = 7.0,
              crowd_fraction: float = 0.2) -> dict[str, Any]:
    """A COCO-2017-like ground-truth document (see the module docstring).

    Args:
        n_images: Number of images (their files do not exist: import with
            ``check_images=False``).
        seed: Random seed.
        objects_per_image: Mean of the Poisson number of polygon objects per image.
        crowd_fraction: Share of images with one crowd region.
    """
    rng = np.random.default_rng(seed)
    cats = [{"supercategory": f"super{cid // 10}", "id": cid, "name": f"class{cid}"}
            for cid in COCO_CATEGORY_IDS]
    image_ids = rng.choice(np.arange(1, 600_000), n_images, replace=False)
    ann_ids = iter(rng.choice(np.arange(1, 2_300_000), n_images * 60, replace=False))
    images, anns = [], []
    for iid in image_ids:
        w, h = _SIZES[int(rng.integers(len(_SIZES)))]
        images.append({"license": int(rng.integers(1, 9)), "file_name": f"{iid:012d}.jpg",
                       "coco_url": f"http://images.cocodataset.org/val2017/{iid:012d}.jpg",
                       "height": h, "width": w, "date_captured": "2013-11-14 17:02:52",
                       "flickr_url": f"http://farm{iid % 9}.staticflickr.com/{iid}_z.jpg",
                       "id": int(iid)})
        for _ in range(max(1, int(rng.poisson(objects_per_image)))):
            polys, area = _object(rng, w, h)
            rle = mask_utils.merge(mask_utils.frPyObjects(polys, h, w))
            anns.append({"segmentation": polys, "area": area, "iscrowd": 0,
                         "image_id": int(iid),
                         "bbox": [round(float(v), 2) for v in mask_utils.toBbox(rle)],
                         "category_id": int(rng.choice(COCO_CATEGORY_IDS[:20])),
                         "id": int(next(ann_ids))})
        if rng.random() < crowd_fraction:
            seg, area, bbox = _crowd(rng, w, h)
            anns.append({"segmentation": seg, "area": area, "iscrowd": 1, "image_id": int(iid),
                         "bbox": bbox, "category_id": int(rng.choice(COCO_CATEGORY_IDS[:20])),
                         "id": 900_000_000_000 + int(next(ann_ids))})
    anns = [a for a in anns if a["bbox"][2] > 0 and a["bbox"][3] > 0]
    rng.shuffle(anns)
    return {"info": {"description": "COCO-like synthetic dataset", "url": "http://cocodataset.org",
                     "version": "1.0", "year": 2017, "contributor": "COCO Consortium",
                     "date_created": "2017/09/01"},
            "licenses": [{"url": f"http://creativecommons.org/licenses/by/{k}/", "id": k,
                          "name": f"License {k}"} for k in range(1, 9)],
            "images": images, "annotations": anns, "categories": cats}
