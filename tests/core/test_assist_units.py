"""The assist core's parts on known inputs: uncertainty formulas, k-center greedy, masks
to polygons (holes dropped), predictions to proposals, image choice and cancellation."""
from __future__ import annotations

import math
import threading

import numpy as np
import pytest

from vision_studio.core.assist.common import Cancelled, checked_progress, is_cancelled, select_images
from vision_studio.core.assist.polygons import mask_iou, mask_to_polygons, polygons_mask
from vision_studio.core.assist.prelabel import semantic_proposals, tag_proposals
from vision_studio.core.assist.uncertainty import (binary_uncertainty, detection_image_scores,
                                                   k_center_greedy, pixel_uncertainty,
                                                   softmax_uncertainty)
from vision_studio.core.errors import ConfigError
from vision_studio.core.types import Annotation, ImageRecord


def test_softmax_uncertainties_by_hand():
    p = np.array([[0.7, 0.2, 0.1], [1 / 3, 1 / 3, 1 / 3], [1.0, 0.0, 0.0]])
    h = softmax_uncertainty(p, "entropy")
    assert h[0] == pytest.approx(-(0.7 * math.log(0.7) + 0.2 * math.log(0.2) + 0.1 * math.log(0.1)))
    assert h[1] == pytest.approx(math.log(3)) and h[2] == pytest.approx(0.0, abs=1e-9)
    np.testing.assert_allclose(softmax_uncertainty(p, "margin"), [1 - 0.5, 1.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(softmax_uncertainty(p, "least_confident"), [0.3, 2 / 3, 0.0], atol=1e-12)
    with pytest.raises(ValueError):
        softmax_uncertainty(p, "coreset")


def test_pixel_uncertainty_is_the_mean_over_pixels():
    probs = np.zeros((2, 2, 2))
    probs[0] = [[0.5, 1.0], [1.0, 1.0]]
    probs[1] = 1.0 - probs[0]
    assert pixel_uncertainty(probs, "entropy") == pytest.approx(math.log(2) / 4)
    assert pixel_uncertainty(probs, "least_confident") == pytest.approx(0.5 / 4)


def test_detection_image_score_is_the_mean_binary_entropy_of_the_top_k():
    img = np.array([0, 0, 0, 2, 0])
    s = np.array([0.9, 0.5, 0.1, 0.99, 0.01])
    out = detection_image_scores(img, s, 3, "entropy", k=2)
    hb = binary_uncertainty(np.array([0.9, 0.5]), "entropy")
    assert out[0] == pytest.approx(hb.mean())  # image 0: top-2 are 0.9 and 0.5
    assert out[1] == 0.0  # no detection
    assert out[2] == pytest.approx(-(0.99 * math.log(0.99) + 0.01 * math.log(0.01)))
    np.testing.assert_allclose(binary_uncertainty(np.array([0.5, 0.9]), "margin"), [1.0, 0.2])
    np.testing.assert_allclose(binary_uncertainty(np.array([0.5, 0.9]), "least_confident"), [0.5, 0.1])


def test_k_center_greedy_picks_the_farthest_point_each_time():
    pool = np.array([[0.0, 0.0], [0.1, 0.0], [10.0, 0.0], [5.0, 0.0]])
    order, dist = k_center_greedy(pool, labelled=np.array([[0.0, 0.0]]))
    assert order.tolist() == [2, 3, 1, 0]
    np.testing.assert_allclose(dist, [10.0, 5.0, 0.1, 0.0], atol=1e-9)
    order, _ = k_center_greedy(pool, None, n=2)  # no labels: farthest from the mean first
    assert order.tolist() == [2, 0]


def test_mask_to_polygons_traces_pieces_and_drops_holes():
    m = np.zeros((60, 80), np.uint8)
    m[10:40, 10:40] = 1
    m[20:30, 20:30] = 0  # a hole
    m[45:55, 60:75] = 1  # a second piece
    polys = mask_to_polygons(m, tolerance=1.0)
    assert len(polys) == 2 and all(len(p) >= 6 for p in polys)
    filled = np.zeros_like(m)
    filled[10:40, 10:40] = 1
    back = polygons_mask(polys[:1], 60, 80)
    assert mask_iou(back, filled) > 0.9  # the outline, hole filled in
    assert back[25, 25] == 1
    assert mask_to_polygons(np.zeros((5, 5))) == []
    assert len(mask_to_polygons(m, tolerance=0.0)[0]) > len(polys[0])  # simplification drops vertices


def test_tag_and_semantic_proposals():
    cats = [{"id": 7, "name": "ant"}, {"id": 9, "name": "bee"}]
    tags = tag_proposals([1, 2], np.array([[0.8, 0.2], [0.45, 0.55]]), cats, 0.6, "r")
    assert [(t.image_id, t.category_id, t.kind, round(t.score, 6)) for t in tags] == [(1, 7, "tag", 0.8)]
    lab = np.zeros((20, 20), np.uint8)
    lab[5:15, 5:15] = 2
    props = semantic_proposals(3, lab, {0: 0.9, 2: 0.7}, cats, 1, 0.5, "r")
    assert len(props) == 1  # label 0 is the background class
    p = props[0]
    assert (p.kind, p.category_id, p.score, p.bbox) == ("mask", 9, 0.7, (5.0, 5.0, 9.0, 9.0))


def test_select_images_and_cancel(new_store):
    a, b, c = new_store.add_images([ImageRecord("a.png", 9, 9, "train"), ImageRecord("b.png", 9, 9, "val"),
                                    ImageRecord("c.png", 9, 9, "val")])
    cat = new_store.add_category("x")
    new_store.add_annotation(Annotation(a.id, cat.id, (1, 1, 2, 2)))
    new_store.set_image_tags(b.id, [cat.id])
    assert [i.id for i in select_images(new_store, "unlabelled")] == [c.id]
    assert [i.id for i in select_images(new_store, "all")] == [a.id, b.id, c.id]
    assert [i.id for i in select_images(new_store, "val")] == [b.id, c.id]
    with pytest.raises(ConfigError, match="no image in split 'test'"):
        select_images(new_store, "test")
    ev = threading.Event()
    seen = []
    report = checked_progress(lambda d, t: seen.append(d), ev)
    report(1, 3)
    ev.set()
    with pytest.raises(Cancelled):
        report(2, 3)
    assert seen == [1, 2] and is_cancelled(lambda: True) and not is_cancelled(None)


def test_a_capped_greedy_pass_keeps_the_greedy_order_for_the_rest():
    from vision_studio.core.assist.uncertainty import nearest_sq_distance

    rng = np.random.default_rng(0)
    x, c = rng.normal(size=(300, 8)), rng.normal(size=(5, 8))
    order, dist = k_center_greedy(x, c)
    assert np.all(np.diff(dist) <= 1e-9)  # the score never rises along the picks
    head, head_dist = k_center_greedy(x, c, n=50)
    assert head.tolist() == order[:50].tolist()
    rest = np.setdiff1d(np.arange(300), head)
    left = np.sqrt(nearest_sq_distance(x[rest], np.concatenate([c, x[head]])))
    assert left.max() <= head_dist[-1] + 1e-9
    assert left.max() == pytest.approx(dist[50])  # the next greedy pick is the farthest of the rest
