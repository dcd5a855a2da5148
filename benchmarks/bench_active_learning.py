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

Classifier: the linear probe's recipe (:mod:`vision_studio.core.models.linear_probe`:
``StandardScaler`` + ``LogisticRegression(C=1, lbfgs)``) on the pooled features of timm
``tf_efficientnet_lite0`` with the ImageNet weights (``--weights``), computed once by the
dataset-health feature cache (:func:`vision_studio.core.health.features.compute_features`,
kept beside the project in ``--work``) — a round takes well under a second.

Prints, per strategy, the mean and standard deviation over seeds of the val accuracy at
each round (labels = seed labels + round x query), the labels each needs to reach
random's final mean accuracy (the first round whose mean accuracy is at least that),
compared with random's whole budget and with the round where random's own mean curve
first gets there, and the largest deficit below random at any round. With two classes
entropy, margin and least_confident rank images identically (all are monotone in the
top probability), so their curves coincide.

Run by hand:  OMP_NUM_THREADS=1 python benchmarks/bench_active_learning.py
              --data ../shared/data/hymenoptera [--seed-per-class 5] [--query 20]
              [--rounds 6] [--seeds 3]

Measured (shared 2-core CPU, hymenoptera: pool = train 245, test = val 153; 5 per class
+ 6 x 20, lite0 features from the shared weights; ``--seeds 5``; 104 s after the
one-off 234 s of features): mean val accuracy at 10 / 30 / 50 / 70 / 90 / 110 / 130
labels — entropy (= margin = least_confident with 2 classes) 0.807 0.905 0.933 0.939
0.946 0.946 0.946; coreset 0.807 0.897 0.928 0.939 0.936 0.939 0.941; random 0.807 0.911
0.931 0.945 0.945 0.945 0.945. Random's final accuracy (0.945) is reached by entropy at
90 labels — 31 % fewer than random's 130, but random's own mean curve is there already
at 70 (it saturates early: a linear probe on ImageNet features separates ants from bees
with few labels), so on this data set uncertainty sampling does NOT beat random; it is
never more than 0.7 points below it (coreset: 1.4 points, never reaches 0.945). With
``--seeds 3`` the figures are the same within 0.01.
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
                                                   softmax_uncertainty)
from vision_studio.core.store import ProjectStore  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared"
WEIGHTS = SHARED / "weights" / "tf_efficientnet_lite0_in1k_converted.pth"


def open_project(data: Path, work: Path, weights: Path):
    """The project of ``data`` in ``work`` (imported once) and its cached features."""
    from vision_studio.core.health.features import compute_features
    from vision_studio.core.io.imagefolder import read_imagefolder

    work.mkdir(parents=True, exist_ok=True)
    path = work / f"{data.name}.vsproj"
    store = ProjectStore.open_or_create(path, root=data)
    if store.image_count() == 0:
        read_imagefolder(store, data)
    oracle = {i: t[0] for i, t in store.all_image_tags().items()} or store.get_setting("bench_oracle")
    oracle = {int(k): int(v) for k, v in oracle.items()}
    store.set_setting("bench_oracle", oracle)
    t = time.perf_counter()
    feats = compute_features(store, weights=str(weights), image_ids=sorted(oracle))
    print(f"features of {len(feats.image_ids)} images ready in {time.perf_counter() - t:.1f} s")
    return store, oracle, feats


def fit_probe(x: np.ndarray, y: np.ndarray):
    """The linear probe's recipe on features (see the module docstring)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(x)
    scaler.scale_[scaler.scale_ == 0] = 1.0
    clf = LogisticRegression(C=1.0, max_iter=2000).fit(scaler.transform(x), y)
    return lambda z: clf.predict_proba(scaler.transform(z)), clf.classes_


def query(store: ProjectStore, strategy: str, pool: list[int], labelled: list[int], x: np.ndarray,
          rows: dict[int, int], predict, n: int, rng: np.random.Generator, round_: int) -> list[int]:
    """Score the pool, store the scores as the queue, return its first ``n`` ids."""
    px = x[[rows[i] for i in pool]]
    if strategy in UNCERTAINTY:
        scores = softmax_uncertainty(predict(px), strategy)
    elif strategy == "coreset":
        order, dist = k_center_greedy(px, x[[rows[i] for i in labelled]])
        scores = np.empty(len(pool))
        scores[order] = dist
    else:
        scores = rng.random(len(pool))
    store.set_queue_scores(strategy, f"bench-round-{round_}", dict(zip(pool, scores.tolist())))
    return list(store.queue_scores(strategy))[:n]


def simulate(store, oracle, feats, strategy: str, seed: int, per_class: int, n_query: int,
             rounds: int) -> list[float]:
    """Val accuracy after each round 0..rounds of one labelling loop."""
    rows = feats.index_of()
    x = feats.features
    train = [int(i) for i, s in zip(feats.image_ids, feats.splits) if s == "train"]
    val = [int(i) for i, s in zip(feats.image_ids, feats.splits) if s == "val"]
    rng = np.random.default_rng(seed)
    seeds = [i for c in sorted(set(oracle[t] for t in train))
             for i in rng.choice([t for t in train if oracle[t] == c], per_class, replace=False).tolist()]
    with store.transaction():
        for i in train:
            store.set_image_tags(i, [oracle[i]] if i in seeds else [])
    xv, yv = x[[rows[i] for i in val]], np.array([oracle[i] for i in val])
    acc = []
    for r in range(rounds + 1):
        tags = store.all_image_tags()
        labelled = [i for i in train if i in tags]
        predict, classes = fit_probe(x[[rows[i] for i in labelled]], np.array([tags[i][0] for i in labelled]))
        acc.append(float(np.mean(classes[predict(xv).argmax(1)] == yv)))
        if r == rounds:
            break
        pool = [i for i in train if i not in tags]
        picked = query(store, strategy, pool, labelled, x, rows, predict, n_query, rng, r)
        with store.transaction():
            for i in picked:
                store.set_image_tags(i, [oracle[i]])
    return acc


def labels_to_reach(mean: np.ndarray, target: float, labels: list[int]) -> int | None:
    hit = np.flatnonzero(mean >= target - 1e-12)
    return labels[int(hit[0])] if hit.size else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, type=Path, help="ImageFolder root with train/ and val/")
    ap.add_argument("--seed-per-class", type=int, default=5)
    ap.add_argument("--query", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--weights", type=Path, default=WEIGHTS, help="lite0 ImageNet weights (.pth)")
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "vs-bench-active-learning",
                    help="folder of the project and its feature cache (reused)")
    ap.add_argument("--strategies", default=",".join(STRATEGIES))
    args = ap.parse_args()
    store, oracle, feats = open_project(args.data.resolve(), args.work, args.weights)
    labels = [args.seed_per_class * len(set(oracle.values())) + r * args.query for r in range(args.rounds + 1)]
    curves: dict[str, np.ndarray] = {}
    t = time.perf_counter()
    try:
        for strategy in args.strategies.split(","):
            curves[strategy] = np.array([simulate(store, oracle, feats, strategy, s, args.seed_per_class,
                                                  args.query, args.rounds) for s in range(args.seeds)])
    finally:
        with store.transaction():  # leave the project fully labelled again
            for i, c in oracle.items():
                store.set_image_tags(i, [c])
        store.close()
    print(f"{len(curves)} strategies x {args.seeds} seeds in {time.perf_counter() - t:.1f} s")
    report(curves, labels)


def report(curves: dict[str, np.ndarray], labels: list[int]) -> None:
    print("val accuracy, mean ± std over seeds, by labels: " + "  ".join(f"{n:>11}" for n in labels))
    for name, c in curves.items():
        cells = "  ".join(f"{m:.3f}±{s:.3f}" for m, s in zip(c.mean(0), c.std(0)))
        print(f"  {name:<16} {cells}")
    base = curves["random"].mean(0)
    target = float(base[-1])
    need_random = labels_to_reach(base, target, labels)
    budget = labels[-1]
    print(f"random's final mean accuracy {target:.3f} (at {budget} labels); random's mean curve first "
          f"reaches it at {need_random} labels")
    for name, c in curves.items():
        if name == "random":
            continue
        need = labels_to_reach(c.mean(0), target, labels)
        deficit = float(np.max(base - c.mean(0)))
        if need is None:
            saving = f"never reaches it within {budget} labels"
        else:
            saving = (f"reaches it at {need} labels: {_fewer(need, budget)} than random's budget, "
                      f"{_fewer(need, need_random)} than random's first arrival")
        print(f"  {name:<16} {saving}; largest deficit below random {100 * max(deficit, 0):.1f} points")


def _fewer(need: int, other: int) -> str:
    frac = 1 - need / other
    return f"{frac:.0%} fewer" if frac >= 0 else f"{-frac:.0%} more"


if __name__ == "__main__":
    main()
