"""Uncertainty scores for the Label-next queue (pure NumPy; higher = label sooner).

Classification, from the softmax ``p`` of an image (Settles, *Active Learning Literature
Survey*, 2009, section 3.1):

* ``entropy``: ``H(p) = -sum_c p_c ln p_c`` (nats; 0 .. ln C);
* ``margin``: ``1 - (p_(1) - p_(2))``, one minus the gap between the two most probable
  classes (0 .. 1; the survey's margin sampling takes the smallest gap first);
* ``least_confident``: ``1 - p_(1)`` (0 .. 1 - 1/C).

Detection / instance segmentation, from an image's detection scores ``s`` (each the
probability that the box holds its object, after class-wise NMS): the image score is the
mean over its ``k`` highest-scored detections of a per-detection binary uncertainty —
binary entropy ``-s ln s - (1 - s) ln(1 - s)`` for ``entropy``, ``1 - |2s - 1|`` for
``margin`` and ``1 - max(s, 1 - s)`` for ``least_confident``. Mean aggregation of
per-detection entropies is one of the image-level aggregations compared by Haussmann et
al., *Scalable Active Learning for Object Detection* (IEEE IV 2020); top-k keeps many
near-zero background candidates from diluting it. An image without any detection above
the floor scores 0 (the model sees nothing there to doubt).

Semantic segmentation: the same three quantities per pixel, averaged over the image
(mean pixel entropy for ``entropy``).

Diversity: :func:`k_center_greedy` (Sener & Savarese, *Active Learning for Convolutional
Neural Networks: A Core-Set Approach*, ICLR 2018, Algorithm 1); uncertainty with
diversity: :func:`uncertain_k_center` (k-center greedy over the ``beta * n`` most
uncertain, the filter-then-diversify scheme of Zhdanov, *Diverse mini-batch Active
Learning*, 2019, with k-center in place of its weighted k-means); typicality for low
budgets: :func:`typiclust` (Hacohen, Dekel & Weinshall, *Active Learning on a Budget:
Opposite Strategies Suit High and Low Budgets*, ICML 2022, "TypiClust").
"""
from __future__ import annotations

import numpy as np

UNCERTAINTY = ("entropy", "margin", "least_confident")
STRATEGIES = UNCERTAINTY + ("coreset", "typiclust", "random")
DEFAULT_STRATEGY = "typiclust"
"""The queue's default: TypiClust (Hacohen et al. 2022), model-free and the best of these
in ``benchmarks/bench_active_learning.py`` on hymenoptera (linear probe, 20 seeds):
never more than ~1 point below random at a query of 20, while entropy fell 3-6 points
below it on average (some seeds stuck querying near a wrong boundary: the sampling bias
of uncertainty sampling from a few labels)."""
TOP_K = 10
"""Detections per image whose uncertainties are averaged."""


def _check(strategy: str) -> None:
    if strategy not in UNCERTAINTY:
        raise ValueError(f"unknown uncertainty {strategy!r} (one of {', '.join(UNCERTAINTY)})")


def softmax_uncertainty(probs: np.ndarray, strategy: str) -> np.ndarray:
    """Per-row uncertainty of softmax probabilities.

    Args:
        probs: [N, C] probabilities (rows sum to 1), or [C, H, W] per-pixel
            probabilities (then the result is [H, W]).
        strategy: ``"entropy"``, ``"margin"`` or ``"least_confident"``.

    Returns:
        float64 scores, [N] (or [H, W]).

    Raises:
        ValueError: an unknown strategy, or fewer than 2 classes for ``margin``.
    """
    _check(strategy)
    p = np.asarray(probs, dtype=np.float64)
    axis = 1 if p.ndim == 2 else 0
    if strategy == "entropy":
        logp = np.log(np.clip(p, 1e-12, 1.0))
        return -(p * logp).sum(axis=axis)
    top = np.sort(p, axis=axis)
    if strategy == "least_confident":
        return 1.0 - np.take(top, -1, axis=axis)
    if p.shape[axis] < 2:
        raise ValueError("margin needs at least 2 classes")
    return 1.0 - (np.take(top, -1, axis=axis) - np.take(top, -2, axis=axis))


def binary_uncertainty(scores: np.ndarray, strategy: str) -> np.ndarray:
    """Per-detection uncertainty of detection scores in [0, 1] (see the module)."""
    _check(strategy)
    s = np.clip(np.asarray(scores, dtype=np.float64), 0.0, 1.0)
    if strategy == "entropy":
        a, b = np.clip(s, 1e-12, 1.0), np.clip(1.0 - s, 1e-12, 1.0)
        return -(s * np.log(a) + (1.0 - s) * np.log(b))
    if strategy == "margin":
        return 1.0 - np.abs(2.0 * s - 1.0)
    return 1.0 - np.maximum(s, 1.0 - s)


def detection_image_scores(img_index: np.ndarray, scores: np.ndarray, n_images: int,
                           strategy: str, k: int = TOP_K) -> np.ndarray:
    """Image scores from detections: the mean of :func:`binary_uncertainty` over each
    image's ``k`` highest scores (0 for an image without detections).

    Args:
        img_index: [N] int image index (0 .. n_images - 1) of each detection.
        scores: [N] detection scores in [0, 1].
        n_images: Number of images.
        strategy: ``"entropy"``, ``"margin"`` or ``"least_confident"``.
        k: Detections per image taken into account.

    Returns:
        [n_images] float64.
    """
    img = np.asarray(img_index, dtype=np.int64)
    s = np.asarray(scores, dtype=np.float64)
    out = np.zeros(n_images, dtype=np.float64)
    if s.size == 0:
        return out
    order = np.lexsort((-s, img))  # by image, then by descending score
    img, s = img[order], s[order]
    starts = np.searchsorted(img, img, side="left")
    top = (np.arange(s.size) - starts) < k
    u = binary_uncertainty(s[top], strategy)
    sums = np.bincount(img[top], weights=u, minlength=n_images)
    counts = np.bincount(img[top], minlength=n_images)
    np.divide(sums, counts, out=out, where=counts > 0)
    return out


def pixel_uncertainty(probs: np.ndarray, strategy: str) -> float:
    """Mean over pixels of the per-pixel uncertainty of [C, H, W] softmax probabilities
    (``entropy`` = mean pixel entropy, nats)."""
    return float(softmax_uncertainty(probs, strategy).mean())


def nearest_sq_distance(x: np.ndarray, centres: np.ndarray, chunk: int = 1024) -> np.ndarray:
    """[N] squared Euclidean distance of each row of ``x`` [N, D] to its nearest row of
    ``centres`` [M, D] (M >= 1), computed in chunks of ``chunk`` centres."""
    x = np.asarray(x, dtype=np.float64)
    sq = (x * x).sum(1)
    d2 = np.full(x.shape[0], np.inf)
    for i in range(0, centres.shape[0], chunk):
        cc = centres[i:i + chunk]
        d2 = np.minimum(d2, (sq[:, None] - 2.0 * x @ cc.T + (cc * cc).sum(1)[None, :]).min(1))
    return np.maximum(d2, 0.0)


def k_center_greedy(pool: np.ndarray, labelled: np.ndarray | None = None,
                    n: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """k-center greedy selection (Sener & Savarese 2018, Algorithm 1) in Euclidean
    feature space.

    Starting from the labelled points as centres, repeatedly pick the pool point farthest
    from its nearest centre, and make it a centre. With no labelled point the first pick
    is the pool point farthest from the pool's mean (deterministic).

    Args:
        pool: [N, D] features of the candidates.
        labelled: [M, D] features of the already labelled images, or ``None``.
        n: Points to pick (default all N).

    Returns:
        ``(order, distance)``: [n] int64 pool indices in pick order and [n] float64 the
        distance of each pick to its nearest centre when it was picked (non-increasing
        after the first pick: the queue's score).
    """
    x = np.asarray(pool, dtype=np.float64)
    n_pick = x.shape[0] if n is None else min(int(n), x.shape[0])
    sq = (x * x).sum(1)
    if labelled is not None and len(labelled):
        d2 = nearest_sq_distance(x, np.asarray(labelled, dtype=np.float64))
    else:
        d2 = ((x - x.mean(0)) ** 2).sum(1)
    order = np.zeros(n_pick, dtype=np.int64)
    dist = np.zeros(n_pick, dtype=np.float64)
    for t in range(n_pick):
        j = int(np.argmax(d2))
        order[t], dist[t] = j, float(np.sqrt(max(d2[j], 0.0)))
        d2 = np.minimum(d2, np.maximum(sq - 2.0 * x @ x[j] + sq[j], 0.0))
        d2[j] = -1.0  # picked: never again
    return order, dist


def _rank_scores(order: np.ndarray, n_total: int) -> np.ndarray:
    """[n_total] scores that sort as ``order`` (first pick highest), the rest -inf."""
    scores = np.full(n_total, -np.inf)
    scores[order] = np.arange(len(order), 0, -1, dtype=np.float64)
    return scores


def uncertain_k_center(uncertainty: np.ndarray, pool: np.ndarray, labelled: np.ndarray | None,
                       n: int, beta: float = 3.0) -> np.ndarray:
    """Scores of a batch of ``n``: k-center greedy (:func:`k_center_greedy`, labelled
    points as centres) among the ``ceil(beta * n)`` pool points of highest uncertainty.

    Args:
        uncertainty: [N] pool uncertainties (higher = less sure).
        pool: [N, D] pool features.
        labelled: [M, D] labelled features, or ``None``.
        n: Batch size.
        beta: Candidate pool as a multiple of ``n`` (``beta <= 1``: plain uncertainty).

    Returns:
        [N] float64: the batch in pick order scores ``n .. 1``; every other point
        scores ``-1, -2, ...`` in descending uncertainty (the queue stays total).
    """
    u = np.asarray(uncertainty, dtype=np.float64)
    by_u = np.lexsort((np.arange(u.size), -u))
    n = min(n, u.size)
    cand = by_u[:max(int(np.ceil(beta * n)), n)]
    picked = cand[k_center_greedy(np.asarray(pool)[cand], labelled, n=n)[0]] if n else cand
    rest = by_u[~np.isin(by_u, picked)]
    scores = np.empty(u.size, dtype=np.float64)
    scores[rest] = -1.0 - np.arange(rest.size)
    scores[picked] = np.arange(len(picked), 0, -1, dtype=np.float64)
    return scores


def typicality(x: np.ndarray, k: int = 20) -> np.ndarray:
    """[N] typicality ``1 / mean Euclidean distance to the k nearest other points``
    (Hacohen et al. 2022, eq. 3); ``k`` is capped at ``N - 1`` (a single point scores 1).
    Neighbours by scikit-learn's ``NearestNeighbors`` (memory linear in N)."""
    from sklearn.neighbors import NearestNeighbors

    x = np.asarray(x, dtype=np.float64)
    if x.shape[0] < 2:
        return np.ones(x.shape[0])
    k = min(k, x.shape[0] - 1)
    dist, _ = NearestNeighbors(n_neighbors=k + 1).fit(x).kneighbors(x)
    return 1.0 / np.maximum(dist[:, 1:].mean(1), 1e-12)  # column 0: the point itself


def typiclust(pool: np.ndarray, labelled: np.ndarray | None, n: int, *, seed: int = 0, k: int = 20,
              max_clusters: int = 500, max_picks: int | None = None) -> np.ndarray:
    """TypiClust (Hacohen et al. 2022, Algorithm 1) scores of the pool, for batches of ``n``.

    All points (labelled and pool, features L2-normalised) are clustered by k-means into
    ``min(M + n, max_clusters)`` clusters and each point gets its :func:`typicality`
    within its cluster; then, pick after pick, the cluster with the fewest labelled or
    picked points (ties: the most pool points) gives its most typical unpicked pool point.
    The first ``n`` picks are the paper's batch; later picks continue the same rounds
    over the same clusters, so the queue is total.

    Args:
        pool: [N, D] pool features.
        labelled: [M, D] labelled features, or ``None``.
        n: Batch size the clusters are made for (``M + n`` clusters).
        seed: k-means seed.
        k: Neighbours of the typicality.
        max_clusters: Cap on the clusters (the paper's 500).
        max_picks: Greedy picks (default all N); the rest follow by typicality.

    Returns:
        [N] float64, higher = label sooner: picks score ``1 + picks left`` (>= 1) in pick
        order, the rest their typicality scaled into ``[0, 1)``.
    """
    from sklearn.cluster import KMeans

    px = np.asarray(pool, dtype=np.float64)
    n_pool = px.shape[0]
    lx = np.zeros((0, px.shape[1])) if labelled is None else np.asarray(labelled, dtype=np.float64)
    allx = np.concatenate([lx, px])
    if n_pool == 0:
        return np.zeros(0)
    allx = allx / np.maximum(np.linalg.norm(allx, axis=1, keepdims=True), 1e-12)
    n_clusters = max(1, min(lx.shape[0] + max(n, 1), max_clusters, allx.shape[0]))
    assign = KMeans(n_clusters, n_init=1, random_state=seed).fit_predict(allx)
    typ = np.zeros(allx.shape[0])
    for c in range(n_clusters):
        members = np.flatnonzero(assign == c)
        typ[members] = typicality(allx[members], k)
    covered = np.bincount(assign[:lx.shape[0]], minlength=n_clusters)
    pool_assign, pool_typ = assign[lx.shape[0]:], typ[lx.shape[0]:]
    size = np.bincount(pool_assign, minlength=n_clusters)
    queues = {c: list(np.flatnonzero(pool_assign == c)[np.argsort(-pool_typ[pool_assign == c], kind="stable")])
              for c in range(n_clusters)}
    picks = n_pool if max_picks is None else min(int(max_picks), n_pool)
    order: list[int] = []
    for _ in range(picks):
        cand = np.array([c for c in range(n_clusters) if queues[c]])
        c = int(cand[np.lexsort((-size[cand], covered[cand]))[0]])
        order.append(int(queues[c].pop(0)))
        covered[c] += 1
    scores = pool_typ / (pool_typ.max() * (1 + 1e-9))
    scores[order] = 1.0 + np.arange(len(order), 0, -1)
    return scores
