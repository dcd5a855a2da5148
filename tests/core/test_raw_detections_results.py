"""``RawDetections.to_coco_results`` (numpy gathers) gives exactly the COCO result dicts
of the straightforward per-detection conversion: same order, same rounding (Python's
``round`` on float64 values of the float32 boxes/scores), labels without a category
left out, masks attached."""
from __future__ import annotations

import numpy as np
import pytest

from vision_studio.core.evaluation.predict import RawDetections


def _raw(n: int, masks: bool = False) -> RawDetections:
    rng = np.random.default_rng(3)
    xy = rng.uniform(0, 300, (n, 2))
    boxes = np.c_[xy, xy + rng.uniform(1, 80, (n, 2))].astype(np.float32)
    m = [{"size": [4, 4], "counts": f"{k}"} for k in range(n)] if masks else None
    return RawDetections(image_ids=np.array([7, 11, 13], np.int64), image_sizes=np.tile([400, 400], (3, 1)),
                         paths=("a.png", "b.png", "c.png"), categories=[{"id": 5, "name": "x"}, {"id": 9, "name": "y"}],
                         label_offset=1, img_index=rng.integers(0, 3, n), boxes=boxes,
                         scores=rng.random(n).astype(np.float32), labels=rng.integers(0, 4, n), masks=m,
                         score_floor=0.001)


def _reference(raw: RawDetections, idx: np.ndarray, with_masks: bool) -> list[dict]:
    cats = raw.category_ids()
    out = []
    for i in idx:
        if cats[i] < 0:
            continue
        x1, y1, x2, y2 = (float(v) for v in raw.boxes[i])
        r = {"image_id": int(raw.image_ids[raw.img_index[i]]), "category_id": int(cats[i]),
             "bbox": [round(x1, 2), round(y1, 2), round(x2 - x1, 2), round(y2 - y1, 2)],
             "score": round(float(raw.scores[i]), 5)}
        if with_masks and raw.masks is not None:
            r["segmentation"] = dict(raw.masks[i])
        out.append(r)
    return out


def test_results_equal_the_per_detection_conversion():
    raw = _raw(2000)
    keep = np.random.default_rng(0).permutation(2000)[:1500]
    got = raw.to_coco_results(keep)
    assert got == _reference(raw, keep, True)
    assert raw.to_coco_results() == _reference(raw, np.arange(2000), True)
    assert {r["category_id"] for r in got} == {5, 9} and len(got) < 1500  # label 0 and 3: no category
    assert all(type(v) is float for r in got for v in r["bbox"]) and all(type(r["image_id"]) is int for r in got)


def test_results_carry_masks_and_handle_empty_selections():
    raw = _raw(50, masks=True)
    keep = np.arange(50)[::-1]
    assert raw.to_coco_results(keep) == _reference(raw, keep, True)
    assert all("segmentation" not in r for r in raw.to_coco_results(keep, with_masks=False))
    assert raw.to_coco_results(np.zeros(0, np.int64)) == []


def test_result_is_frozen_plain_data_without_a_live_evaluator():
    import dataclasses
    import pickle

    from vision_studio.core.evaluation.coco_eval import EvaluationError, evaluate_coco

    raw = _raw(300)
    gt = {"images": [{"id": int(i), "width": 400, "height": 400} for i in raw.image_ids],
          "categories": [{"id": 5, "name": "x"}, {"id": 9, "name": "y"}],
          "annotations": [{"id": k + 1, "image_id": r["image_id"], "category_id": r["category_id"],
                           "bbox": r["bbox"], "area": r["bbox"][2] * r["bbox"][3], "iscrowd": 0}
                          for k, r in enumerate(raw.to_coco_results(np.arange(0, 300, 3)))]}
    res = raw.to_coco_results(raw.filter(0.0, 0.5))
    a, b = evaluate_coco(gt, res), evaluate_coco(gt, res, with_outcomes=False)
    counts = a.outcomes.counts()
    assert counts["TP"] > 0 and a.stats == b.stats and np.array_equal(a.precision, b.precision)
    assert np.isfinite(b.pr_curve(5, 0.5)[1]).any()
    with pytest.raises(EvaluationError):
        b.outcomes  # noqa: B018  (not asked for)
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.stats = {}  # type: ignore[misc]
    with pytest.raises(ValueError):
        a.precision[0, 0, 0, 0, 0] = 2.0  # read-only
    with pytest.raises(ValueError):
        a.outcomes.dt_kind[0] = "FP"
    c = pickle.loads(pickle.dumps(a))  # plain values: no COCOeval inside
    assert c.stats == a.stats and c.outcomes.counts() == counts
    with pytest.raises(ValueError):
        raw.scores[0] = 1.0  # raw detections are read-only too
