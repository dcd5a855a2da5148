"""LeanCOCOeval (our faster-coco-eval path without the per-annotation Python) gives the
numbers of plain pycocotools and the IoU matrices of faster-coco-eval's own
COCOeval_faster, on awkward inputs: COCO-like ground truth (non-contiguous ids, polygon
objects in pieces, crowd regions as uncompressed RLE), results mixing compressed RLE
(str and bytes counts), polygons and uncompressed RLE, tied scores, more than 100
detections in one (image, category), detections of categories absent from an image."""
from __future__ import annotations

import contextlib
import copy
import io

import numpy as np
import pytest
from faster_coco_eval import COCO as FCOCO
from faster_coco_eval import COCOeval_faster
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from tests.core.coco_synth import make_coco, synth_results
from vision_studio.core.evaluation.coco_eval import evaluate_coco
from vision_studio.core.evaluation.coco_lean import LeanCOCOeval, load_results


def _mixed_results(gt: dict, seed: int) -> list[dict]:
    """synth_results (compressed RLE, str counts) with some results re-encoded as bytes
    counts, uncompressed RLE and polygons, ties in score, and a burst of 130 detections
    of one category on one image."""
    rng = np.random.default_rng(seed)
    res = synth_results(gt, seed=seed, segm=True)
    imgs = {i["id"]: i for i in gt["images"]}
    for k, r in enumerate(res):
        h, w = imgs[r["image_id"]]["height"], imgs[r["image_id"]]["width"]
        if "segmentation" not in r:  # a crowd region's result: a box polygon
            x, y, bw, bh = r["bbox"]
            r["segmentation"] = [[x, y, x + bw, y, x + bw, y + bh, x, y + bh]]
        elif k % 7 == 1:
            r["segmentation"] = dict(r["segmentation"], counts=r["segmentation"]["counts"].encode())
        elif k % 7 == 2:
            m = mask_utils.decode(dict(r["segmentation"], counts=r["segmentation"]["counts"].encode()))
            flat = m.flatten(order="F").astype(np.int8)
            bounds = np.concatenate(([0], np.flatnonzero(np.diff(flat)) + 1, [flat.size]))
            runs = np.diff(bounds).tolist()
            r["segmentation"] = {"size": [h, w], "counts": [0] + runs if flat[0] else runs}
        if k % 5 == 0:
            r["score"] = 0.5  # ties: the stable order must be kept
    a = gt["annotations"][0]
    for j in range(130):
        x, y, bw, bh = a["bbox"]
        dx, dy = rng.normal(0, 2, 2)
        poly = [x + dx, y + dy, x + bw + dx, y + dy, x + bw + dx, y + bh + dy, x + dx, y + bh + dy]
        res.append({"image_id": a["image_id"], "category_id": a["category_id"], "score": float(j % 9) / 9,
                    "bbox": [x + dx, y + dy, bw, bh], "segmentation": [poly]})
    return res


def _pycocotools(gt: dict, res: list[dict], iou_type: str) -> COCOeval:
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = copy.deepcopy(gt)
        coco_gt.createIndex()
        ev = COCOeval(coco_gt, coco_gt.loadRes(copy.deepcopy(res)), iou_type)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev


@pytest.mark.parametrize("iou_type", ["segm", "bbox"])
def test_lean_equals_pycocotools_on_awkward_input(iou_type):
    gt = make_coco(n_images=30, seed=3)
    res = _mixed_results(gt, seed=5)
    ref = _pycocotools(gt, res, iou_type)
    assert ref.stats[0] > 0.05
    ours = evaluate_coco(gt, res, iou_type, backend="faster")
    # last-bit differences only: pycocotools divides by tp + fp + eps, the C++ does not
    np.testing.assert_allclose(list(ours.stats.values()), ref.stats, rtol=0, atol=1e-12)
    np.testing.assert_allclose(ours.precision, ref.eval["precision"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(ours.recall, ref.eval["recall"], rtol=0, atol=1e-12)
    np.testing.assert_array_equal(ours.scores, ref.eval["scores"])
    slow = evaluate_coco(gt, res, iou_type, backend="pycocotools")
    o, s = ours.outcomes, slow.outcomes
    for field in ("dt_id", "dt_kind", "dt_gt_id", "gt_id", "gt_kind", "gt_dt_id"):
        np.testing.assert_array_equal(getattr(o, field), getattr(s, field))


def test_lean_iou_matrices_equal_cocoeval_faster():
    gt = make_coco(n_images=20, seed=8)
    res = _mixed_results(gt, seed=9)
    evs = []
    for lean in (True, False):
        with contextlib.redirect_stdout(io.StringIO()):
            coco_gt = FCOCO(copy.deepcopy(gt))
            dts = copy.deepcopy(res)
            coco_dt = load_results(coco_gt, dts) if lean else coco_gt.loadRes(dts)
            cls = LeanCOCOeval if lean else COCOeval_faster
            ev = cls(coco_gt, coco_dt, "segm", rle_iou_max_workers=1)
            ev.evaluate()
            ev.accumulate()
        evs.append(ev)
    lean, ref = evs
    computed = [k for k, v in ref.ious.items() if len(v)]
    assert len(computed) > 20
    assert {k for k, v in lean.ious.items() if len(v)} == set(computed)
    for key in computed:
        np.testing.assert_array_equal(np.asarray(lean.ious[key]), np.asarray(ref.ious[key]))
    np.testing.assert_array_equal(lean.eval["precision"], ref.eval["precision"])
