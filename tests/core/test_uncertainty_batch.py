"""Batch strategies of the queue on known point sets: typicality, TypiClust (one pick per
uncovered cluster, the densest point of each) and uncertainty filtered by k-center."""
from __future__ import annotations

import numpy as np
import pytest

from vision_studio.core.assist.uncertainty import typicality, typiclust, uncertain_k_center


def _blobs(rng: np.random.Generator, centres: list[list[float]], n: int, spread: float) -> np.ndarray:
    return np.concatenate([np.asarray(c) + spread * rng.normal(size=(n, len(c))) for c in centres])


def test_typicality_is_the_inverse_mean_knn_distance():
    x = np.array([[0.0], [1.0], [3.0]])
    t = typicality(x, k=1)
    np.testing.assert_allclose(t, [1.0, 1.0, 0.5])  # nearest: 1, 1, 2
    t2 = typicality(x, k=5)  # capped at N - 1 = 2 neighbours
    np.testing.assert_allclose(t2, [1 / 2.0, 1 / 1.5, 1 / 2.5])
    assert typicality(np.zeros((1, 3))).tolist() == [1.0]
    assert typicality(x, k=1)[0] == typicality(x[[2, 0, 1]], k=1)[1]  # order does not matter


def test_typiclust_takes_one_typical_point_from_each_uncovered_cluster():
    rng = np.random.default_rng(0)
    dirs = [[1, 0, 0], [0, 1, 0], [0, 0, 1], [-1, 0, 0]]  # directions: features are L2-normalised
    pool = _blobs(rng, dirs, 30, 0.05)
    blob = np.repeat(np.arange(4), 30)
    labelled = np.array([[1.0, 0.0, 0.0]])  # blob 0 already covered
    scores = typiclust(pool, labelled, 3, seed=0)
    picked = np.argsort(-scores)[:3]
    assert (scores >= 1).sum() == 120 and scores.max() == 121  # a total order: every pool point is picked
    assert sorted(blob[picked].tolist()) == [1, 2, 3]  # the three uncovered blobs, not blob 0
    for j in picked:  # each the most typical of its blob (densest, near the blob's centre)
        members = np.flatnonzero(blob == blob[j])
        unit = pool[members] / np.linalg.norm(pool[members], axis=1, keepdims=True)
        assert j == members[int(np.argmax(typicality(unit)))]


def test_typiclust_more_picks_than_clusters_revisits_the_least_covered():
    rng = np.random.default_rng(1)
    pool = _blobs(rng, [[1, 0], [0, 1]], 20, 0.05)
    scores = typiclust(pool, None, 4, seed=0, max_clusters=2)
    picked = np.argsort(-scores)[:4]
    assert np.bincount(picked // 20, minlength=2).tolist() == [2, 2]
    assert len(set(picked.tolist())) == 4
    capped = typiclust(pool, None, 4, seed=0, max_clusters=2, max_picks=4)
    assert np.argsort(-capped)[:4].tolist() == picked.tolist()
    assert (capped >= 1).sum() == 4 and (capped[capped < 1] >= 0).all()  # the rest by typicality


def test_uncertain_k_center_diversifies_among_the_most_uncertain():
    # six uncertain points: four nearly identical at 0, one at 5, one at 10; the rest sure
    pool = np.array([[0.0], [0.01], [0.02], [0.03], [5.0], [10.0], [20.0], [30.0]])
    u = np.array([0.9, 0.91, 0.92, 0.93, 0.8, 0.7, 0.1, 0.0])
    scores = uncertain_k_center(u, pool, labelled=np.array([[0.0]]), n=2, beta=3.0)
    order = np.argsort(-scores)
    assert order[:2].tolist() == [5, 4]  # k-center over the 6 most uncertain: 10, then 5
    assert order[2:].tolist() == [3, 2, 1, 0, 6, 7]  # the rest by uncertainty
    assert scores[order[:2]].tolist() == [2.0, 1.0]
    plain = uncertain_k_center(u, pool, np.array([[0.0]]), n=2, beta=1.0)
    assert set(np.argsort(-plain)[:2].tolist()) == {2, 3}  # beta 1: the two most uncertain


@pytest.mark.parametrize("n", [0, 1, 50])
def test_batch_strategies_cope_with_any_batch_size(n):
    rng = np.random.default_rng(2)
    pool = rng.normal(size=(12, 4))
    s = typiclust(pool, rng.normal(size=(2, 4)), n)
    assert s.shape == (12,) and sorted(np.argsort(-s).tolist()) == list(range(12))
    assert typiclust(pool[:0], None, n).shape == (0,)
    s = uncertain_k_center(rng.random(12), pool, None, n)
    assert s.shape == (12,) and np.isfinite(s).all()
