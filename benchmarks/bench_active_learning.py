"""Benchmark: the Label-next queue in a simulated labelling loop on an ImageFolder data
set (``train/<class>/`` is the pool, ``val/<class>/`` the held-out test), every strategy
against ``random`` measured in the same run.

The loop, per seed and strategy, runs through the product's store and queue: the data
set is imported with the ImageFolder importer into a project; every pool image's tag is
removed except ``--seed-per-class`` random ones per class; then for ``--rounds`` rounds:
fit the classifier on the images tagged in the store, measure its accuracy on the val
images, score the untagged pool images (:mod:`vision_studio.core.assist.uncertainty` —
entropy / margin / least_confident of the softmax, k-center greedy ``coreset`` with the
labelled images as centres, or uniform ``random``), store the scores with
``set_queue_scores`` and take the first ``--query`` of ``queue_scores`` — and "label"
them: tag them in the store with their folder's class.

Strategies: the product's (``entropy``, ``margin``, ``least_confident``, ``coreset``,
``typiclust`` — :mod:`vision_studio.core.assist.uncertainty`), ``<uncertainty>_kcenter``
(k-center greedy over the ``--beta`` x query most uncertain: uncertainty with
diversity) and ``random``. With two classes entropy, margin and least_confident rank
images identically (all are monotone in the top probability; so is any temperature
calibration of the probe), so their curves coincide.

Classifier: the linear probe's recipe (:mod:`vision_studio.core.models.linear_probe`:
``StandardScaler`` + ``LogisticRegression(C=1, lbfgs)``, ``--C`` to vary it) on the
pooled features of timm ``tf_efficientnet_lite0`` with the ImageNet weights
(``--weights``), computed once by the dataset-health feature cache
(:func:`vision_studio.core.health.features.compute_features`, kept beside the project in
``--work``) — a round takes well under a second.

Prints, per strategy, the mean and standard deviation over seeds of the val accuracy at
each round (labels = seed labels + round x query), the whole-pool accuracy (the
ceiling), and the labels each needs to reach random's final mean accuracy: on the mean
curve at the round grid and linearly interpolated between rounds, that as a saving
against random's own first arrival, the median over seeds of the same saving seed by
seed, the saving when the target is one test image lower (the noise floor), the
largest mean deficit below random at any round, and the mean largest class share of
a query (0.5 = balanced with two classes).

Run by hand (through /work/heavy on the shared machine; figures below)::

    OMP_NUM_THREADS=1 python benchmarks/bench_active_learning.py --data ../shared/data/hymenoptera \
        --seeds 20 --strategies entropy,coreset,entropy_kcenter,typiclust,random
    ... the same with --query 5 --rounds 24;  with --C 0.1;  with --seed-per-class 1 --query 4 --rounds 15

Measured (shared 2-core CPU; hymenoptera: pool = train 245, test = val 153, so one test
image = 0.65 points; 20 seeds; 45-135 s a run after the one-off features). Whole pool
labelled: 0.948. Mean val accuracy, 5 per class + 6 x 20:

    labels            10     30     50     70     90    110    130
    entropy        0.794  0.887  0.919  0.935  0.940  0.942  0.943
    coreset        0.794  0.910  0.934  0.936  0.939  0.941  0.942
    entropy_kcenter 0.794 0.887  0.913  0.923  0.925  0.935  0.941
    typiclust      0.794  0.916  0.939  0.942  0.947  0.943  0.942
    random         0.794  0.913  0.937  0.940  0.944  0.943  0.944   (std 0.008-0.018)

Random's final accuracy (0.944) is 0.4 points (under one test image) below the
whole-pool ceiling; random's mean curve is within one test image of it at 52 labels and
first reaches it at 90. Labels to reach 0.944 (interpolated) / saving against random's
first arrival / per-seed median / deficit: typiclust 78.6 / +13 % / -9 % / 0.2 points;
entropy, coreset, entropy_kcenter never (deficits 2.5, 0.5, 2.5 points). Query 5 (x 24):
typiclust 69.5 labels vs random 82.1, +15 %, per seed -1 %, deficit 1.1 points; entropy
3.7. ``--C 0.1``: typiclust +10 %, deficit 0.0; entropy reaches it only at 130 (deficit
2.3). Cold start (1 per class + 15 x 4): random's final 0.938 at 50 labels; typiclust
55.5 (-11 %), deficit 0.9 points, ahead of random by 1-3 points from 6 to 38 labels;
entropy never (deficit 3.6). Entropy queries are less balanced (largest class share
0.62-0.72 against random's 0.59-0.69) and some seeds stay stuck (std 0.04-0.06 at 30-50
labels: uncertainty sampling from 10 labels keeps querying near a wrong boundary).

Regime switch and density (this stop; 20 seeds, 5 per class + 6 x 20; ``--strategies
"typiclust,typiclust>margin@30,typiclust>margin@50,typiclust>margin_kcenter@50,margin_density,probcover,random"``,
44 s): handing over from TypiClust to margin at 30 or 50 labels costs accuracy at once
(0.928 at 50 and 0.934 at 70 against TypiClust's 0.939 / 0.942) and reaches 0.944 only
at 119 / 125 labels (-32 % / -39 %); with k-center diversity after the switch, never
(deficit 0.2 points). Information density (margin x typicality) never reaches it
(deficit 2.8 points, std 0.046 at 50 labels: the same stuck seeds as entropy). ProbCover
never (deficit 3.3 points; its queries are unbalanced, largest class share 0.75). None
beats TypiClust, the default.

Target (the default strategy >= 30 % fewer labels than random to reach random's final
accuracy, never > 1 point below it): NOT met on hymenoptera. The default is now
``typiclust``, the only strategy that is never (query 20) more than 0.2 points below
random, but its saving is 10-15 % on the mean curve and about zero seed by seed: the
linear probe saturates at ~50 labels, so random's final accuracy is the ceiling and
"labels to reach it" is decided by fractions of one test image.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vision_studio.core.assist.uncertainty import (STRATEGIES, UNCERTAINTY, k_center_greedy,  # noqa: E402
                                                   softmax_uncertainty, typicality, typiclust,
                                                   uncertain_k_center)
from vision_studio.core.store import ProjectStore  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared"
WEIGHTS = SHARED / "weights" / "tf_efficientnet_lite0_in1k_converted.pth"
HYBRID = tuple(f"{u}_kcenter" for u in UNCERTAINTY)
"""Uncertainty + diversity: k-center greedy over the ``--beta`` x query most uncertain."""
SWITCH = ("typiclust>margin@30", "typiclust>margin@50", "typiclust>margin_kcenter@50")
"""TypiClust while fewer than N images are labelled, then the uncertainty (low budget ->
high budget, the regime change Hacohen et al. 2022 describe)."""
EXTRA = SWITCH + ("margin_density", "probcover")
"""``margin_density``: information density, margin uncertainty x pool typicality (Settles &
Craven 2008); ``probcover``: ProbCover (Yehuda et al. 2022), greedy max coverage of
delta-balls, delta the largest with 2-means purity >= 0.95."""
ALL = UNCERTAINTY + ("coreset",) + HYBRID + ("typiclust", "random") + EXTRA


def open_project(data: Path, work: Path, weights: Path):
    """The project of ``data`` in ``work`` (imported once) and its cached features."""
    from vision_studio.core.health.features import compute_features
    from vision_studio.core.io.imagefolder import read_imagefolder

    work.mkdir(parents=True, exist_ok=True)
    path = work / f"{data.name}.vsproj"
    store = ProjectStore.open_or_create(path, root=data)
    if store.image_count() == 0:
        read_imagefolder(store, data)
    oracle = store.get_setting("bench_oracle")  # the folders' classes, saved at the first run
    if not oracle:
        oracle = {i: t[0] for i, t in store.all_image_tags().items()}
        store.set_setting("bench_oracle", oracle)
    oracle = {int(k): int(v) for k, v in oracle.items()}
    t = time.perf_counter()
    feats = compute_features(store, weights=str(weights), image_ids=sorted(oracle))
    print(f"features of {len(feats.image_ids)} images ready in {time.perf_counter() - t:.1f} s")
    return store, oracle, feats


def fit_probe(x: np.ndarray, y: np.ndarray, C: float = 1.0):
    """The linear probe's recipe on features (see the module docstring); ``C`` its inverse
    L2 strength (the product's is 1)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(x)
    scaler.scale_[scaler.scale_ == 0] = 1.0
    clf = LogisticRegression(C=C, max_iter=2000).fit(scaler.transform(x), y)
    return lambda z: clf.predict_proba(scaler.transform(z)), clf.classes_


def query(store: ProjectStore, strategy: str, pool: list[int], labelled: list[int], x: np.ndarray,
          rows: dict[int, int], predict, n: int, rng: np.random.Generator, round_: int,
          beta: float = 3.0) -> list[int]:
    """Score the pool, store the scores as the queue, return its first ``n`` ids."""
    px = x[[rows[i] for i in pool]]
    lx = x[[rows[i] for i in labelled]]
    if strategy in SWITCH:
        first, rest = strategy.split("@")[0].split(">")
        strategy = first if len(labelled) < int(strategy.split("@")[1]) else rest
    if strategy == "margin_density":
        u = softmax_uncertainty(predict(px), "margin")
        t = typicality(px / np.linalg.norm(px, axis=1, keepdims=True))
        scores = (u - u.min() + 1e-9) * t / t.max()
    elif strategy == "probcover":
        scores = probcover(px, lx, n, seed=round_)
    elif strategy in UNCERTAINTY:
        scores = softmax_uncertainty(predict(px), strategy)
    elif strategy in HYBRID:
        u = softmax_uncertainty(predict(px), strategy.removesuffix("_kcenter"))
        scores = uncertain_k_center(u, px, lx, n, beta)
    elif strategy == "typiclust":
        scores = typiclust(px, lx, n, seed=round_, max_picks=n)
    elif strategy == "coreset":
        order, dist = k_center_greedy(px, lx)
        scores = np.empty(len(pool))
        scores[order] = dist
    else:
        scores = rng.random(len(pool))
    scores = np.where(np.isfinite(scores), scores, -1e300)  # SQLite REAL has no -inf guarantee
    store.set_queue_scores(strategy, f"bench-round-{round_}", dict(zip(pool, scores.tolist())))
    return list(store.queue_scores(strategy))[:n]


def probcover(pool: np.ndarray, labelled: np.ndarray, n: int, purity: float = 0.95, seed: int = 0) -> np.ndarray:
    """ProbCover (Yehuda et al. 2022) picks of ``n`` from ``pool`` [N, D] given ``labelled``
    [M, D]: on L2-normalised features, delta = the largest (step 0.025) whose balls are
    2-means pure for >= ``purity`` of the points; then greedily the pool point whose
    delta-ball covers the most uncovered points. Scores: picks ``n..1``, the rest -1.
    Memory O((N + M)^2): a benchmark-sized pool only."""
    from sklearn.cluster import KMeans

    allx = np.concatenate([labelled, pool])
    allx = allx / np.maximum(np.linalg.norm(allx, axis=1, keepdims=True), 1e-12)
    d = np.sqrt(np.maximum((allx ** 2).sum(1)[:, None] + (allx ** 2).sum(1)[None] - 2 * allx @ allx.T, 0))
    lab = KMeans(2, n_init=3, random_state=0).fit_predict(allx)
    delta = 0.05
    for cand in np.arange(0.05, 1.5, 0.025):
        adj = d < cand
        if np.mean([np.all(lab[adj[i]] == lab[i]) for i in range(len(lab))]) < purity:
            break
        delta = cand
    adj, m = d < delta, labelled.shape[0]
    covered = adj[:m].any(0)
    avail = np.r_[np.zeros(m, bool), np.ones(pool.shape[0], bool)]
    rng = np.random.default_rng(seed)
    scores = np.full(pool.shape[0], -1.0)
    for r in range(min(n, pool.shape[0])):
        deg = np.where(avail, (adj & ~covered[None]).sum(1), -1)
        i = int(np.argmax(deg)) if deg.max() > 0 else int(rng.choice(np.flatnonzero(avail)))
        scores[i - m], avail[i] = n - r, False
        covered |= adj[i]
    return scores


def simulate(store, oracle, feats, strategy: str, seed: int, args) -> tuple[list[float], list[float]]:
    """Val accuracy after each round 0..rounds of one labelling loop, and the largest class
    share of each round's query (1 / classes = balanced)."""
    rows = feats.index_of()
    x = feats.features
    train = [int(i) for i, s in zip(feats.image_ids, feats.splits) if s == "train"]
    val = [int(i) for i, s in zip(feats.image_ids, feats.splits) if s == "val"]
    rng = np.random.default_rng(seed)
    seeds = [i for c in sorted(set(oracle[t] for t in train))
             for i in rng.choice([t for t in train if oracle[t] == c], args.seed_per_class,
                                 replace=False).tolist()]
    with store.transaction():
        for i in train:
            store.set_image_tags(i, [oracle[i]] if i in seeds else [])
    xv, yv = x[[rows[i] for i in val]], np.array([oracle[i] for i in val])
    acc, share = [], []
    for r in range(args.rounds + 1):
        tags = store.all_image_tags()
        labelled = [i for i in train if i in tags]
        predict, classes = fit_probe(x[[rows[i] for i in labelled]], np.array([tags[i][0] for i in labelled]),
                                     args.C)
        acc.append(float(np.mean(classes[predict(xv).argmax(1)] == yv)))
        if r == args.rounds:
            break
        pool = [i for i in train if i not in tags]
        picked = query(store, strategy, pool, labelled, x, rows, predict, args.query, rng, r, args.beta)
        share.append(max(np.bincount([oracle[i] for i in picked]).tolist()) / len(picked))
        with store.transaction():
            for i in picked:
                store.set_image_tags(i, [oracle[i]])
    return acc, share


def ceiling(oracle, feats, C: float) -> float:
    """Val accuracy of the probe on the whole pool labelled."""
    rows, x = feats.index_of(), feats.features
    tr = [int(i) for i, s in zip(feats.image_ids, feats.splits) if s == "train"]
    va = [int(i) for i, s in zip(feats.image_ids, feats.splits) if s == "val"]
    predict, classes = fit_probe(x[[rows[i] for i in tr]], np.array([oracle[i] for i in tr]), C)
    return float(np.mean(classes[predict(x[[rows[i] for i in va]]).argmax(1)] == np.array([oracle[i] for i in va])))


def labels_to_reach(curve: np.ndarray, target: float, labels: list[int], interpolate: bool = False) -> float | None:
    """Labels at which ``curve`` (accuracy per round) first reaches ``target``: the round's
    labels, or (``interpolate``) linearly interpolated between it and the round before."""
    hit = np.flatnonzero(curve >= target - 1e-12)
    if not hit.size:
        return None
    i = int(hit[0])
    if not interpolate or i == 0:
        return float(labels[i])
    a0, a1 = float(curve[i - 1]), float(curve[i])
    return labels[i - 1] + (target - a0) / (a1 - a0) * (labels[i] - labels[i - 1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, type=Path, help="ImageFolder root with train/ and val/")
    ap.add_argument("--seed-per-class", type=int, default=5)
    ap.add_argument("--query", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--C", type=float, default=1.0, help="the probe's inverse L2 strength (product: 1)")
    ap.add_argument("--beta", type=float, default=3.0, help="*_kcenter: candidates as a multiple of --query")
    ap.add_argument("--weights", type=Path, default=WEIGHTS, help="lite0 ImageNet weights (.pth)")
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "vs-bench-active-learning",
                    help="folder of the project and its feature cache (reused)")
    ap.add_argument("--strategies", default=",".join(ALL), help=f"comma-separated, of {', '.join(ALL)}")
    args = ap.parse_args()
    names = args.strategies.split(",")
    bad = [n for n in names if n not in ALL]
    if bad or "random" not in names:
        sys.exit(f"error: --strategies: {', '.join(bad) or 'random is needed'} (of {', '.join(ALL)})")
    store, oracle, feats = open_project(args.data.resolve(), args.work, args.weights)
    labels = [args.seed_per_class * len(set(oracle.values())) + r * args.query for r in range(args.rounds + 1)]
    curves: dict[str, np.ndarray] = {}
    shares: dict[str, float] = {}
    t = time.perf_counter()
    try:
        for strategy in names:
            runs = [simulate(store, oracle, feats, strategy, s, args) for s in range(args.seeds)]
            curves[strategy] = np.array([a for a, _ in runs])
            shares[strategy] = float(np.mean([sh for _, sh in runs]))
    finally:
        with store.transaction():  # leave the project fully labelled again
            for i, c in oracle.items():
                store.set_image_tags(i, [c])
        store.close()
    print(f"{len(curves)} strategies x {args.seeds} seeds in {time.perf_counter() - t:.1f} s; probe C={args.C}; "
          f"whole pool labelled: val accuracy {ceiling(oracle, feats, args.C):.3f}")
    report(curves, shares, labels, 1 / sum(1 for sp in feats.splits if sp == "val"))


def report(curves: dict[str, np.ndarray], shares: dict[str, float], labels: list[int], slack: float) -> None:
    print("val accuracy, mean ± std over seeds, by labels: " + "  ".join(f"{n:>11}" for n in labels))
    for name, c in curves.items():
        cells = "  ".join(f"{m:.3f}±{s:.3f}" for m, s in zip(c.mean(0), c.std(0)))
        print(f"  {name:<22} {cells}")
    rnd = curves["random"]
    base = rnd.mean(0)
    target = float(base[-1])
    grid_r = labels_to_reach(base, target, labels)
    lin_r = labels_to_reach(base, target, labels, interpolate=True)
    print(f"random's final mean accuracy {target:.3f} (budget {labels[-1]} labels); random's mean curve first "
          f"reaches it at {grid_r:.0f} labels (interpolated {lin_r:.1f}); query class share (max) random "
          f"{shares['random']:.2f}")
    near_r = labels_to_reach(base, target - slack, labels, interpolate=True)
    print(f"random's mean curve is within one test image ({100 * slack:.2f} points) of it at {near_r:.1f} labels")
    print(f"  {'strategy':<22} {'labels':>6} {'interp':>7} {'vs random':>10} {'per seed':>9} {'-1 image':>9} "
          f"{'deficit':>8} {'share':>6}")
    for name, c in curves.items():
        if name == "random":
            continue
        grid = labels_to_reach(c.mean(0), target, labels)
        lin = labels_to_reach(c.mean(0), target, labels, interpolate=True)
        per_seed = []  # per seed: its own random run's final accuracy and first arrival
        for s in range(len(c)):
            mine = labels_to_reach(c[s], float(rnd[s, -1]), labels, interpolate=True)
            theirs = labels_to_reach(rnd[s], float(rnd[s, -1]), labels, interpolate=True)
            per_seed.append(1 - (mine if mine is not None else 2 * labels[-1]) / theirs)
        deficit = 100 * max(float(np.max(base - c.mean(0))), 0.0)
        near = labels_to_reach(c.mean(0), target - slack, labels, interpolate=True)
        near_s = "never" if near is None else f"{1 - near / near_r:+.0%}"
        fmt = (lambda v: "never" if v is None else f"{v:.0f}")
        saving = "" if lin is None else f"{1 - lin / lin_r:+.0%}"
        print(f"  {name:<22} {fmt(grid):>6} {'never' if lin is None else f'{lin:.1f}':>7} {saving:>10} "
              f"{np.median(per_seed):+9.0%} {near_s:>9} {deficit:7.1f}p {shares[name]:6.2f}")
    print("  labels/interp: labels to reach random's final mean accuracy on the mean curve (round grid / "
          "linear between rounds); vs random: interpolated saving against random's own first arrival "
          "(+ = fewer); per seed: median over seeds of that saving against the same seed's random run "
          "(never = counted as twice the budget); -1 image: the saving when the target is one test image lower "
          "(the noise floor); deficit: largest mean shortfall below random at any round, "
          "points; share: mean largest class share of a query")


if __name__ == "__main__":
    main()
