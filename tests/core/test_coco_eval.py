"""COCO metrics: the textbook ranking case, perfect predictions, and equality with plain
pycocotools run on files, on real data (rbc_coco, brain_tumor_coco_seg)."""
from __future__ import annotations

import contextlib
import io
import json

import numpy as np
import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from tests.core.coco_synth import gt_as_results, load_gt, renumbered, synth_results
from vision_studio.core.errors import ConfigError
from vision_studio.core.evaluation.coco_eval import (
    STAT_NAMES,
    EvaluationError,
    evaluate_coco,
)
from vision_studio.core.evaluation.matching import precision_recall_at_ranks


def _plain_pycocotools(gt_file, res_file, iou_type, cat_ids=None) -> COCOeval:
    """The reference: pycocotools exactly as its README runs it, on files."""
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO(str(gt_file))
        coco_dt = coco_gt.loadRes(str(res_file))
        ev = COCOeval(coco_gt, coco_dt, iou_type)
        if cat_ids is not None:
            ev.params.catIds = cat_ids
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev


def textbook_case():
    """Five objects of one class; six detections ranked by score, correct T,T,F,F,F,T."""
    gt_boxes = [[10 + 60 * i, 10, 40, 40] for i in range(5)]
    gt = {"images": [{"id": 1, "width": 400, "height": 200}],
          "categories": [{"id": 1, "name": "cell"}],
          "annotations": [{"id": i + 1, "image_id": 1, "category_id": 1, "bbox": b, "area": 1600,
                           "iscrowd": 0} for i, b in enumerate(gt_boxes)]}
    far = [[10, 120, 30, 30], [80, 120, 30, 30], [150, 120, 30, 30]]
    boxes = [gt_boxes[0], gt_boxes[1], far[0], far[1], far[2], gt_boxes[2]]
    res = [{"image_id": 1, "category_id": 1, "bbox": b, "score": s}
           for b, s in zip(boxes, [0.9, 0.8, 0.7, 0.6, 0.5, 0.4])]
    return gt, res


EXPECTED_P = [1, 1, 2 / 3, 0.5, 0.4, 0.5]
EXPECTED_R = [0.2, 0.4, 0.4, 0.4, 0.4, 0.6]


def test_textbook_precision_recall_at_each_rank():
    p, r = precision_recall_at_ranks([True, True, False, False, False, True], num_gt=5)
    assert p == pytest.approx(EXPECTED_P) and r == pytest.approx(EXPECTED_R)
    gt, res = textbook_case()
    for backend in ("faster", "pycocotools"):
        result = evaluate_coco(gt, res, "bbox", backend=backend)
        scores, p, r = result.outcomes.ranked_precision_recall(1)
        assert scores.tolist() == [0.9, 0.8, 0.7, 0.6, 0.5, 0.4]
        assert p == pytest.approx(EXPECTED_P) and r == pytest.approx(EXPECTED_R)
        # COCO's interpolated curve: precision 1 up to recall 0.4, then 0.5 up to 0.6, then 0
        rec, prec, _ = result.pr_curve(1, 0.5)
        assert prec[rec <= 0.4].min() == 1.0
        assert np.all(prec[(rec > 0.4) & (rec <= 0.6)] == 0.5) and np.all(prec[rec > 0.6] == 0)
        assert result.per_class[0].ap50 == pytest.approx((41 * 1.0 + 20 * 0.5) / 101)


def test_ground_truth_as_predictions_gives_ap_one(data_dir):
    _, gt = load_gt(data_dir("brain_tumor_coco_seg"))
    gt = renumbered(gt)
    for iou_type in ("bbox", "segm"):
        r = evaluate_coco(gt, gt_as_results(gt, segm=iou_type == "segm"), iou_type)
        assert r.stats["AP"] == pytest.approx(1.0, abs=1e-12)
        assert r.stats["AP50"] == 1.0 and r.stats["AR100"] == 1.0
        assert [c.ap for c in r.per_class if c.num_gt] == [1.0]
        assert r.outcomes.counts() == {"TP": len(gt["annotations"]), "FP": 0, "FN": 0}


@pytest.mark.parametrize("dataset,iou_type", [("rbc_coco", "bbox"), ("brain_tumor_coco_seg", "bbox"),
                                              ("brain_tumor_coco_seg", "segm")])
def test_equals_plain_pycocotools_on_files(data_dir, tmp_path, dataset, iou_type):
    gt_file, gt = load_gt(data_dir(dataset))
    results = synth_results(gt, seed=1, segm=iou_type == "segm")
    res_file = tmp_path / "results.json"
    res_file.write_text(json.dumps(results))
    ref = _plain_pycocotools(gt_file, res_file, iou_type)
    assert ref.stats[0] > 0.05  # a realistic, non-trivial case
    for backend in ("faster", "pycocotools"):
        ours = evaluate_coco(gt, results, iou_type, backend=backend)
        assert list(ours.stats) == list(STAT_NAMES)
        np.testing.assert_allclose(list(ours.stats.values()), ref.stats, rtol=0, atol=1e-9)
        np.testing.assert_allclose(ours.precision, ref.eval["precision"], rtol=0, atol=1e-9)
    assert json.loads(gt_file.read_text()) == gt  # inputs untouched
    # per-class AP equals a COCOeval restricted to that one category
    for c in ours.per_class:
        if c.num_gt == 0:
            assert np.isnan(c.ap)
            continue
        one = _plain_pycocotools(gt_file, res_file, iou_type, cat_ids=[c.category_id])
        assert c.ap == pytest.approx(one.stats[0], abs=1e-9)
        assert c.ap50 == pytest.approx(one.stats[1], abs=1e-9)
        assert c.ap75 == pytest.approx(one.stats[2], abs=1e-9)
        k = ours.class_index(c.category_id)
        rec, prec, score = ours.pr_curve(c.category_id, 0.5)
        ref_p = ref.eval["precision"][0, :, k, 0, -1]
        np.testing.assert_allclose(prec, np.where(ref_p > -1, ref_p, np.nan), atol=1e-12)
        assert rec.shape == (101,) and np.nanmax(score) <= 1.0


def test_result_to_dict_is_json(data_dir):
    _, gt = load_gt(data_dir("rbc_coco"), "test")
    r = evaluate_coco(gt, synth_results(gt, seed=3), "bbox")
    d = json.loads(json.dumps(r.to_dict(), allow_nan=False))
    assert d["stats"]["AP"] == pytest.approx(r.stats["AP"])
    assert len(d["pr_curves"]["1"]["iou50"]) == 101 and d["per_class"][0]["AP"] is None  # unused id 0


def test_empty_results_and_bad_input():
    gt, _ = textbook_case()
    for backend in ("faster", "pycocotools"):
        r = evaluate_coco(gt, [], "bbox", backend=backend)
        assert r.stats["AP"] == 0.0 and r.outcomes.counts() == {"TP": 0, "FP": 0, "FN": 5}
    with pytest.raises(ConfigError, match="backend"):
        evaluate_coco(gt, [], "bbox", backend="torchmetrics")
    with pytest.raises(ConfigError, match="iou_type"):
        evaluate_coco(gt, [], "keypoints")
    with pytest.raises(EvaluationError, match="not in the ground truth"):
        evaluate_coco(gt, [{"image_id": 9, "category_id": 1, "bbox": [0, 0, 1, 1], "score": 1}])
    with pytest.raises(EvaluationError, match="segmentation"):
        evaluate_coco(gt, [{"image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1], "score": 1}], "segm")
    with pytest.raises(EvaluationError, match="annotations"):
        evaluate_coco({"images": []}, [])


def test_a_result_without_a_needed_key_is_named():
    gt = {"images": [{"id": 1, "width": 10, "height": 10}], "annotations": [],
          "categories": [{"id": 1, "name": "a"}]}
    ok = {"image_id": 1, "category_id": 1, "score": 0.5, "bbox": [0, 0, 2, 2]}
    with pytest.raises(EvaluationError, match="result 2 lacks"):
        evaluate_coco(gt, [ok, ok, {k: v for k, v in ok.items() if k != "score"}])
    with pytest.raises(EvaluationError, match="result 0 lacks.*segmentation"):
        evaluate_coco(gt, [ok], "segm")
