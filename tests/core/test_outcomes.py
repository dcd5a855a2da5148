"""Per-detection outcomes follow COCOeval's matching; detection confusion matrix."""
from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from tests.core.coco_synth import load_gt, synth_results
from vision_studio.core.evaluation.coco_eval import evaluate_coco
from vision_studio.core.evaluation.outcomes import detection_confusion_matrix, greedy_match


def _eval_imgs_counts(gt, results, iou_type):
    """TP / FP / FN implied by pycocotools' evalImgs at IoU 0.50, area all, 100 dets."""
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = {k: [dict(x) for x in v] for k, v in gt.items() if isinstance(v, list)}
        coco_gt.createIndex()
        ev = COCOeval(coco_gt, coco_gt.loadRes([dict(r) for r in results]), iou_type)
        ev.evaluate()
    tp = fp = fn = 0
    for e in ev.evalImgs:
        if e is None or e["aRng"] != ev.params.areaRng[0]:
            continue
        dm, dig = e["dtMatches"][0], e["dtIgnore"][0].astype(bool)
        tp += int(((dm > 0) & ~dig).sum())
        fp += int(((dm == 0) & ~dig).sum())
        fn += int(((e["gtMatches"][0] == 0) & ~e["gtIgnore"].astype(bool)).sum())
    return {"TP": tp, "FP": fp, "FN": fn}


@pytest.mark.parametrize("dataset,iou_type", [("rbc_coco", "bbox"), ("brain_tumor_coco_seg", "segm")])
def test_outcomes_add_up_to_eval_imgs_counts(data_dir, dataset, iou_type):
    _, gt = load_gt(data_dir(dataset))
    gt["annotations"][3]["iscrowd"] = 1  # a crowd region: matches to it are ignored
    results = synth_results(gt, seed=2, segm=iou_type == "segm")
    expected = _eval_imgs_counts(gt, results, iou_type)
    assert expected["TP"] > 50 and expected["FP"] > 20 and expected["FN"] > 10
    by_backend = {}
    for backend in ("faster", "pycocotools"):
        o = evaluate_coco(gt, results, iou_type, backend=backend).outcomes
        assert o.counts() == expected
        assert len(o.dt_kind) == len(results) and len(o.gt_kind) == len(gt["annotations"])
        by_backend[backend] = o
    a, b = by_backend["faster"], by_backend["pycocotools"]
    for f in ("dt_kind", "dt_gt_id", "gt_kind", "gt_dt_id"):  # identical, detection by detection
        np.testing.assert_array_equal(getattr(a, f), getattr(b, f))
    np.testing.assert_allclose(a.dt_iou, b.dt_iou, equal_nan=True)
    ious = a.matched_ious()
    assert ious.size == expected["TP"] and ious.min() >= 0.5 and ious.max() <= 1.0
    assert a.gt_kind[3] == "ignored"
    tp = a.dt_kind == "TP"  # a TP's matched ground truth points back at it
    back = dict(zip(a.gt_id.tolist(), a.gt_dt_id.tolist()))
    assert all(back[g] == d for g, d in zip(a.dt_gt_id[tp].tolist(), a.dt_id[tp].tolist()))


def test_greedy_match_prefers_regular_ground_truth_and_respects_order():
    ious = np.array([[0.6, 0.9, 0.4],    # best regular: col 0 (0.6), though crowd col 1 has 0.9
                     [0.55, 0.8, 0.3],   # col 0 taken, col 2 below 0.5 -> the crowd region
                     [0.7, 0.6, 0.45],   # a crowd region can take several detections
                     [0.2, 0.1, 0.3]])   # nothing >= 0.5 -> unmatched
    ig = np.array([False, True, False])
    crowd = np.array([False, True, False])
    assert greedy_match(ious, ig, crowd, 0.5).tolist() == [0, 1, 1, -1]


def test_detection_confusion_matrix_hand_case():
    gt = {"images": [{"id": 1, "width": 100, "height": 100}],
          "categories": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}],
          "annotations": [
              {"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 10], "iscrowd": 0},
              {"id": 2, "image_id": 1, "category_id": 2, "bbox": [20, 0, 10, 10], "iscrowd": 0},
              {"id": 3, "image_id": 1, "category_id": 2, "bbox": [40, 0, 10, 10], "iscrowd": 0},
              {"id": 4, "image_id": 1, "category_id": 1, "bbox": [60, 60, 30, 30], "iscrowd": 1}]}
    res = [{"image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 10], "score": 0.9},   # a -> a
           {"image_id": 1, "category_id": 1, "bbox": [20, 0, 10, 10], "score": 0.8},  # b -> a
           {"image_id": 1, "category_id": 2, "bbox": [70, 10, 10, 10], "score": 0.7},  # background
           {"image_id": 1, "category_id": 2, "bbox": [65, 65, 10, 10], "score": 0.9},  # in crowd: left out
           {"image_id": 1, "category_id": 2, "bbox": [40, 0, 10, 10], "score": 0.1}]  # below score threshold
    cm = detection_confusion_matrix(gt, res, [1, 2], "bbox", score_threshold=0.5)
    assert cm.tolist() == [[1, 0, 0], [1, 0, 1], [0, 1, 0]]


def test_confusion_matrix_on_real_data_is_consistent(data_dir):
    _, gt = load_gt(data_dir("brain_tumor_coco_seg"))
    res = synth_results(gt, seed=4, segm=True)
    cm = detection_confusion_matrix(gt, res, [0, 1], "segm", score_threshold=0.0)
    assert cm[:2].sum() == len(gt["annotations"])  # every ground truth lands in its row
    assert cm[:, :2].sum() == len(res)  # every detection in its column
    assert cm[1, 1] > 0.5 * len(gt["annotations"])
