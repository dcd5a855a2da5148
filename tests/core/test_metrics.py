"""Classification and semantic-segmentation metrics, against sklearn and hand counts."""
from __future__ import annotations

import json

import numpy as np
import pytest

from vision_studio.core.errors import ConfigError
from vision_studio.core.evaluation.metrics import (
    classification_metrics,
    nan_to_none,
    semantic_confusion,
    semantic_metrics,
)


def test_classification_metrics_hand_counted():
    y_true = [0, 0, 1, 1, 2, 2]
    prob = np.array([[.7, .2, .1], [.2, .5, .3], [.1, .8, .1], [.3, .4, .3], [.5, .1, .4], [.1, .1, .8]])
    m = classification_metrics(y_true, prob, ["a", "b", "c"], top_k=(1, 2, 3))
    assert m["y_pred"].tolist() == [0, 1, 1, 1, 0, 2]
    assert m["accuracy"] == pytest.approx(4 / 6)
    assert m["top_k"] == {1: pytest.approx(4 / 6), 2: pytest.approx(5 / 6)}  # k=3 = C is skipped
    assert m["confusion"].tolist() == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]
    a, b, c = m["per_class"]
    assert (a["precision"], a["recall"], a["support"]) == (0.5, 0.5, 2)
    assert b["precision"] == pytest.approx(2 / 3) and b["recall"] == 1.0 and b["f1"] == pytest.approx(0.8)
    assert c["precision"] == 1.0 and c["recall"] == 0.5
    assert m["macro"]["recall"] == pytest.approx((0.5 + 1 + 0.5) / 3)
    assert m["weighted"]["precision"] == pytest.approx((0.5 + 2 / 3 + 1) / 3)
    json.dumps(nan_to_none(m))


def test_classification_rejects_bad_shapes():
    with pytest.raises(ConfigError, match="y_prob"):
        classification_metrics([0, 1], np.zeros((2, 3)), ["a", "b"])
    with pytest.raises(ConfigError, match="outside"):
        classification_metrics([0, 5], np.zeros((2, 2)), ["a", "b"])


def test_semantic_metrics_ignore_void_and_match_hand_counts():
    target = np.array([[0, 0, 1, 1], [0, 255, 1, 2]])
    pred = np.array([[0, 1, 1, 1], [0, 2, 2, 2]])
    cm = semantic_confusion(pred, target, 3)
    assert cm.tolist() == [[2, 1, 0], [0, 2, 1], [0, 0, 1]]  # the void pixel is not counted
    m = semantic_metrics(cm + semantic_confusion(np.zeros((2, 2)), np.zeros((2, 2)), 3), ["x", "y", "z"])
    # class 0: tp 6, fp 0, fn 1 -> IoU 6/7; class 1: tp 2, fp 1, fn 1 -> 0.5; class 2: tp 1, fp 1 -> 0.5
    ious = [c["iou"] for c in m["per_class"]]
    assert ious == pytest.approx([6 / 7, 0.5, 0.5])
    assert m["mIoU"] == pytest.approx((6 / 7 + 1) / 3)
    assert m["per_class"][1]["dice"] == pytest.approx(2 * 2 / (2 * 2 + 1 + 1))
    assert m["pixel_accuracy"] == pytest.approx(9 / 11)


def test_semantic_absent_class_is_left_out_of_the_mean():
    cm = semantic_confusion(np.array([0, 0, 1]), np.array([0, 0, 1]), 3)
    m = semantic_metrics(cm)
    assert np.isnan(m["per_class"][2]["iou"]) and m["mIoU"] == 1.0
    assert nan_to_none(m)["per_class"][2]["iou"] is None
    with pytest.raises(ConfigError, match="outside"):
        semantic_confusion(np.array([3]), np.array([0]), 3)
