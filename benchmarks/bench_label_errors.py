"""Label-error finder against the "sort by the model's loss" baseline, on real data with
injected errors.

Classification (default)::

    python benchmarks/bench_label_errors.py --data ../shared/data/hymenoptera --noise 0.05 --seeds 3

imports the ImageFolder ``--data`` into a temporary project (the images are only read),
then per seed flips the labels of a random ``--noise`` share of the images to another
class (in that project), runs the finder (:func:`vision_studio.core.health.find_issues`:
cleanlab on 5-fold out-of-fold linear probes of lite0 ImageNet features from the shared
weights file) and prints the recall and precision of the flipped images within the top-k
of its ranking (label quality, worst first) for k = 1x and 2x the number flipped, and
the same for the baseline: the cross-entropy of the given label under one probe fitted
on *all* images (the latest model's loss; ``labels.loss_ranking_baseline``), on the same
features. It also prints cleanlab's own verdict (flagged images: recall / precision).
The original labels are taken as right: real label errors of the set count against
precision.

Detection (``--task detection``, default data ``../shared/data/rbc_coco``): see
:func:`detection_main`.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vision_studio.core.health import classification_labels, find_issues  # noqa: E402
from vision_studio.core.health.labels import loss_ranking_baseline  # noqa: E402
from vision_studio.core.io.imagefolder import read_imagefolder  # noqa: E402
from vision_studio.core.store import ProjectStore  # noqa: E402

SHARED = ROOT.parent / "shared"
WEIGHTS = SHARED / "weights" / "tf_efficientnet_lite0_in1k_converted.pth"


def flip_labels(store, fraction: float, seed: int, original: dict[int, int]) -> set[int]:
    """Restore ``original`` tags, then give a random ``fraction`` of the images another
    category. Returns the flipped image ids."""
    rng = np.random.default_rng(seed)
    cats = sorted({c for c in original.values()})
    ids = sorted(original)
    for iid in ids:
        store.set_image_tags(iid, [original[iid]])
    n = max(1, round(fraction * len(ids)))
    flipped = {int(i) for i in rng.choice(ids, size=n, replace=False)}
    for iid in flipped:
        others = [c for c in cats if c != original[iid]]
        store.set_image_tags(iid, [int(rng.choice(others))])
    return flipped


def at_k(ranked: list[int], truth: set[int], k: int) -> tuple[float, float]:
    """(recall, precision) of ``truth`` within the first ``k`` of ``ranked``."""
    hit = len(set(ranked[:k]) & truth)
    return hit / len(truth), hit / k


def one_seed(store, seed: int, noise: float, original: dict[int, int], folds: int
             ) -> dict[str, float]:
    flipped = flip_labels(store, noise, seed, original)
    t = time.perf_counter()
    report = find_issues(store, duplicates=False, folds=folds, weights=WEIGHTS)
    t_finder = time.perf_counter() - t
    f, rows = report.label_findings, report.label_rows
    ids = [int(report.features.image_ids[r]) for r in rows]
    finder = [ids[i] for i in np.argsort(f.quality, kind="stable")]
    y, _, _ = classification_labels(store, report.features)
    t = time.perf_counter()
    loss = loss_ranking_baseline(report.features.features[rows], y)
    t_base = time.perf_counter() - t
    baseline = [ids[i] for i in np.argsort(-loss, kind="stable")]
    n = len(flipped)
    out = {"n": n, "images": len(ids), "t_finder": t_finder, "t_base": t_base}
    for name, ranked in (("finder", finder), ("baseline", baseline)):
        for mult in (1, 2):
            out[f"{name}_r{mult}"], out[f"{name}_p{mult}"] = at_k(ranked, flipped, mult * n)
    flagged = {ids[i] for i in np.flatnonzero(f.is_issue)}
    out["flagged"] = len(flagged)
    out["flag_r"] = len(flagged & flipped) / n
    out["flag_p"] = len(flagged & flipped) / max(1, len(flagged))
    return out


def classification_main(args: argparse.Namespace) -> int:
    data = args.data or SHARED / "data" / "hymenoptera"
    if not data.is_dir() or not WEIGHTS.is_file():
        print(f"error: {data if not data.is_dir() else WEIGHTS}: not found", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="bench_lbl_") as tmp:
        with ProjectStore.create(Path(tmp) / "b.vsproj", root=data) as store:
            read_imagefolder(store, data)
            original = {iid: tags[0] for iid, tags in store.all_image_tags().items() if tags}
            results = [one_seed(store, seed, args.noise, original, args.folds)
                       for seed in range(args.seeds)]
    first = results[0]
    print(f"data: {data}: {first['images']} labelled images, {args.noise:.0%} flipped "
          f"({first['n']} per seed), {args.seeds} seed(s); features: lite0 ImageNet "
          f"({WEIGHTS.name})")
    print(f"{'seed':<6}{'ranking':<34}{'recall@1x':>10}{'prec@1x':>9}{'recall@2x':>10}{'prec@2x':>9}")
    for seed, r in enumerate(results):
        for name, label in (("finder", f"finder (cleanlab, {args.folds}-fold OOF)"),
                            ("baseline", "baseline (loss of a probe on all)")):
            print(f"{seed:<6}{label:<34}" + "".join(
                f"{100 * r[f'{name}_{m}']:>{w}.1f}" for m, w in
                (("r1", 10), ("p1", 9), ("r2", 10), ("p2", 9))))
        print(f"{seed:<6}{'cleanlab flagged ' + str(r['flagged']):<34}{100 * r['flag_r']:>10.1f}"
              f"{100 * r['flag_p']:>9.1f}")
    for name in ("finder", "baseline"):
        r2 = [r[f"{name}_r2"] for r in results]
        print(f"mean recall within 2x, {name}: {100 * np.mean(r2):.1f} % "
              f"(min {100 * min(r2):.1f} %)")
    ratio = np.mean([r["finder_r2"] for r in results]) / max(
        1e-9, np.mean([r["baseline_r2"] for r in results]))
    print(f"finder / baseline recall within 2x: {ratio:.2f}x; time of the finder (last seed, "
          f"features cached): {results[-1]['t_finder']:.1f} s, of the baseline probe: "
          f"{results[-1]['t_base']:.1f} s; target: finder recall within 2x >= 70 %")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--task", choices=("classification", "detection"), default="classification")
    ap.add_argument("--data", type=Path, help="ImageFolder root (classification) or a COCO "
                    "folder with train/valid/test (detection)")
    ap.add_argument("--noise", type=float, default=0.05, help="share of labels made wrong")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--folds", type=int, default=5)
    args = ap.parse_args()
    if args.task == "detection":
        from bench_label_errors_detection import detection_main  # noqa: PLC0415

        return detection_main(args)
    return classification_main(args)


if __name__ == "__main__":
    sys.exit(main())
