"""Benchmark: the Label-next queue for detection in a simulated labelling loop on a Pascal
VOC data set (``raccoon_voc``), queue strategies against ``random`` in the same run, on a
small CPU budget.

The loop, per seed, runs through the product's importer, store, trainer and queue: the
data set is imported with the VOC importer into a project; a fixed ``--test`` images
(seed 1234) get the split ``test`` and are never trained on; of the others (at most
``--pool``), ``--seed-images`` random ones (per seed) get the split ``train``
(labelled), the rest the split ``pool`` (the trainer reads only ``train``), and every
image not labelled has its boxes removed from the store (kept aside: the queue and its
feature-based strategies see it as unlabelled, as in a real project) until it is
"labelled". Round 0 trains a fresh ``fasterrcnn_timm:tf_efficientnet_lite0`` from the
ImageNet weights (``--weights``; ``feature_extraction``: frozen backbone) with the
product's :class:`~vision_studio.core.training.trainer.Trainer` on the seed images —
once per seed, shared by every strategy (the same model, so the strategies' differences
are paired) — and measures its COCO mAP / AP50 on the test images
(:func:`vision_studio.core.training.coco_gt.coco_metrics`, pycocotools). Each strategy
then, per round, scores the pool with :func:`vision_studio.core.assist.queue.score_images`
(``typiclust``, the queue's default
:data:`~vision_studio.core.assist.uncertainty.DEFAULT_STRATEGY`, on the lite0 ImageNet
features; the uncertainties on the current model's top-10 detection scores), "labels"
the queue's first ``--query`` images (their VOC boxes restored, split ``train``),
trains a fresh detector and measures it.

Training budget per round: ``--epochs`` passes over the labelled images at batch 4,
raised to whole epochs of at least ``--min-steps`` steps (so steps grow with the labels
once ``epochs x labels / 4`` passes the floor), at ``--size`` px. On the CPU the box
head and the RoIAlign backward over the sampled RoIs were ~70 % of a step (torch
profiler), so the benchmark builds Faster R-CNN with ``--roi-samples`` 128 sampled RoIs
per training image (torchvision 512) and ``--proposals`` 300 RPN proposals per test
image (1000): a benchmark-only change (:func:`rcnn_budget`), the product trains with
torchvision's.

Prints per strategy the mean ± std over seeds of the test mAP and AP50 at each round,
the ratio of the mean mAP to random's, the mean ± std of the per-seed (paired)
difference to random, and the labels each needs to reach random's final mean mAP
(:func:`bench_active_learning.labels_to_reach`, interpolated).

Run by hand (through /work/heavy on the shared machine)::

    OMP_NUM_THREADS=1 /work/heavy python benchmarks/bench_active_learning_det.py
        --data ../shared/data/raccoon_voc [--seed-images 10] [--query 30] [--rounds 1]
        [--seeds 3] [--epochs 5] [--min-steps 50] [--size 256] [--strategies typiclust,random]

Check first (random, one seed, 40 test images): 10 labels / 30 steps mAP 0.177 AP50
0.556; 40 labels / 60 steps 0.278 / 0.764; but 10 labels / 60 steps 0.265 / 0.637. At
these budgets the detector is limited by steps more than by labels: at equal steps 30
more labels add ~1 mAP point and ~13 AP50 points. Hence the measured budget keeps the
steps equal (~50) at 10 and 40 labels (5 epochs of 40 labels = the 50-step floor), so
the rounds differ by their labels only; a round took 120-240 s (the shared machine's
load varied), so 3 seeds x 1 query round is what fits 45 minutes.

Measured (2026-12-01, shared 2-core CPU, one thread; the defaults: 100 pool images of
raccoon_voc's 200, 40 test images, 10 seed images, one query of 30, 3 seeds, 51 / 50
steps at 256 px; 1765 s in the loop, 29 min 28 s wall)::

    test mAP, mean ± std over seeds, by labels:     10            40
      typiclust                               0.235±0.033  0.293±0.057
      random                                  0.235±0.033  0.270±0.017
    test AP50:
      typiclust                               0.660±0.044  0.764±0.045
      random                                  0.660±0.044  0.735±0.009
    typiclust / random, mean mAP at 40 labels: 1.09; paired difference +2.3 ± 7.3 points
    (per seed +12.4, -0.9, -4.6); typiclust reaches random's final mean mAP (0.270) at 28
    labels interpolated (+30 %), on a two-point curve.

The same with ``--strategies entropy,random`` (the Label-next panel's default; 1550 s in
the loop, 30 min 13 s wall; round 0 and random read the same figures to the digit, so a
run is reproducible)::

    test mAP, by labels:    10            40          AP50:   10            40
      entropy          0.235±0.033  0.307±0.033            0.660±0.044  0.748±0.078
      random           0.235±0.033  0.270±0.017            0.660±0.044  0.735±0.009
    entropy / random at 40 labels: 1.14; paired difference +3.7 ± 4.1 points (per seed
    +7.3, -2.0, +5.9); random's final mean mAP reached at 24.4 labels interpolated.

Reading: random gains 3.5 mAP points (7.5 AP50) from 10 to 40 labels at equal steps,
about one seed-std of round 0 (3.3): the detector improves with labels, but little at
this budget. TypiClust is ahead on the mean (+2.3 mAP, +2.9 AP50 points) only because
of seed 0 (+12.4); on seeds 1 and 2 it is behind (-0.9, -4.6): the paired difference
(+2.3 ± 7.3) is well within the seed spread, so this run does not show that the default
beats random for detection, nor the reverse. Entropy is ahead on 2 of 3 seeds (+3.7 ±
4.1): closer to a signal, still under one paired std from zero on 3 seeds. The "+30 % labels" is an interpolation
between two rounds of a noisy curve, not a saving. Telling them apart needs many more
seeds (with a paired std of ~7 points, a 3-point effect needs ~25 seeds to stand two
standard errors clear) and a detector that is not step-limited (hundreds of steps a
round): a GPU, or a cheaper model.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import logging
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vision_studio.core.assist.uncertainty import DEFAULT_STRATEGY, STRATEGIES, UNCERTAINTY  # noqa: E402
from vision_studio.core.store import ProjectStore  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared"
WEIGHTS = SHARED / "weights" / "tf_efficientnet_lite0_in1k_converted.pth"
ARCH = "fasterrcnn_timm:tf_efficientnet_lite0"
"""Trained with the ``feature_extraction`` transfer strategy (frozen ImageNet backbone:
FPN, RPN and box head learn), the cheapest on a CPU."""


def open_project(data: Path, work: Path, n_test: int, n_pool: int) -> tuple[ProjectStore, list[int], list[int]]:
    """The project of ``data`` in ``work`` (imported afresh): ``(store, test ids, pool ids)``;
    both drawn with seed 1234, the pool at most ``n_pool`` of the other images."""
    from vision_studio.core.io.voc import read_voc

    # Imported afresh on every run: the loop removes the boxes of unlabelled images from the
    # store, so a project left by an interrupted run has lost ground truth (a reused one
    # read mAP 0.000 everywhere).
    work.mkdir(parents=True, exist_ok=True)
    path = work / f"{data.name}.vsproj"
    for stale in work.glob(f"{data.name}.vsproj*"):
        stale.unlink()
    store = ProjectStore.open_or_create(path, root=data)
    read_voc(store, data / "annotations", data / "images", split="train")
    ids = sorted(im.id for im in store.images())
    drawn = np.random.default_rng(1234).permutation(ids).tolist()
    return store, sorted(drawn[:n_test]), sorted(drawn[n_test:n_test + n_pool])


def store_ids(store: ProjectStore) -> list[int]:
    """Every image id of the project."""
    return [im.id for im in store.images()]


def ground_truth(store: ProjectStore, ids: list[int]) -> dict:
    """COCO ground truth (xywh pixels) of the images ``ids``."""
    by_image = store.annotations_by_image(ids)
    images = {im.id: im for im in store.images()}
    anns = [dict(id=a.id, image_id=i, category_id=a.category_id, bbox=list(a.bbox), iscrowd=0,
                 area=float(a.bbox[2] * a.bbox[3])) for i in ids for a in by_image.get(i, []) if a.bbox]
    return dict(images=[dict(id=i, width=images[i].width, height=images[i].height) for i in ids],
                annotations=anns, categories=[dict(id=c.id, name=c.name) for c in store.categories()])


def steps_for(n_labelled: int, args) -> tuple[int, int]:
    """``(epochs, steps)`` of a round with ``n_labelled`` images: ``--epochs`` passes over
    them (batch 4), more when that is under ``--min-steps``."""
    per_epoch = math.ceil(n_labelled / 4)
    epochs = max(args.epochs, math.ceil(args.min_steps / per_epoch))
    return epochs, epochs * per_epoch


@contextlib.contextmanager
def rcnn_budget(roi_samples: int, proposals: int):
    """Build every Faster R-CNN with ``roi_samples`` sampled RoIs per training image
    (torchvision: 512) and ``proposals`` RPN proposals per test image (1000). The box head
    and the RoIAlign backward over the sampled RoIs are most of a CPU step (profiled: ~70 %
    at 512), so 128 / 300 make a round about 2-3x cheaper; a benchmark-only change."""
    from torchvision.models.detection.faster_rcnn import FasterRCNN

    init = FasterRCNN.__init__

    def patched(self, *a, **kw):
        kw.setdefault("box_batch_size_per_image", roi_samples)
        kw.setdefault("rpn_pre_nms_top_n_test", proposals)
        kw.setdefault("rpn_post_nms_top_n_test", proposals)
        init(self, *a, **kw)

    FasterRCNN.__init__ = patched
    try:
        yield
    finally:
        FasterRCNN.__init__ = init


def train(store: ProjectStore, out: Path, args, seed: int, n_labelled: int) -> Path:
    """Train a fresh detector on the ``train`` images (:func:`steps_for`)."""
    from vision_studio.core.training import TrainConfig
    from vision_studio.core.training.trainer import Trainer

    epochs, _ = steps_for(n_labelled, args)
    cfg = TrainConfig.from_dict(dict(task="detection", arch=ARCH, weights=str(args.weights), epochs=epochs,
                                     batch_size=4, image_size=args.size, val_split=0, max_val_batches=0,
                                     strategy={"name": "feature_extraction"}, device="cpu", tiles="off",
                                     include_empty=False, seed=seed, amp=False,
                                     num_workers=0, out_dir=str(out)))
    result = Trainer(store).fit(cfg)
    if result.last_checkpoint is None:
        raise RuntimeError(f"training failed: {result.status}")
    return Path(result.last_checkpoint)


def evaluate(store: ProjectStore, model, test: list[int], gt: dict) -> tuple[float, float]:
    """(mAP, AP50) of ``model`` on the test images."""
    from vision_studio.core.assist.inference import run_detections
    from vision_studio.core.training.coco_gt import coco_metrics

    records = [store.image(i) for i in test]
    raw = run_detections(model, store, records)
    keep = raw.filter(score_threshold=0.001, nms_iou=0.5, max_per_image=100)
    with contextlib.redirect_stdout(io.StringIO()):
        m = coco_metrics(gt, raw.to_coco_results(keep, with_masks=False), "detection")
    return m.get("mAP", 0.0), m.get("AP50", 0.0)


def round_(store: ProjectStore, test: list[int], gt: dict, n: int, args, seed: int, out: Path, tag: str):
    """Train on the ``train`` images, load the model, measure it: ``(model, (mAP, AP50))``."""
    from vision_studio.core.assist.inference import load_model

    t = time.perf_counter()
    model = load_model(store, train(store, out, args, seed, n), "cpu")
    m = evaluate(store, model, test, gt)
    print(f"    {tag}: {n} labels, {steps_for(n, args)[1]} steps, mAP {m[0]:.3f} AP50 {m[1]:.3f} "
          f"({time.perf_counter() - t:.0f} s)", flush=True)
    return model, m


def simulate_seed(store: ProjectStore, test: list[int], pool_ids: list[int], gt: dict, names: list[str],
                  seed: int, args, tmp: Path) -> dict[str, list[tuple[float, float]]]:
    """(mAP, AP50) after each round 0..rounds of one labelling loop per strategy, all from
    the same ``--seed-images`` and the same round-0 model (trained once: the strategies
    share it)."""
    rng = np.random.default_rng(seed)
    labelled0 = set(rng.choice(pool_ids, args.seed_images, replace=False).tolist())
    store.set_splits({**{i: "test" for i in store_ids(store) if i not in set(pool_ids)},
                      **{i: ("train" if i in labelled0 else "pool") for i in pool_ids}})
    hidden = hide(store, [i for i in store_ids(store) if i not in labelled0])
    try:
        model0, m0 = round_(store, test, gt, len(labelled0), args, seed, tmp / f"{seed}-0", f"seed {seed} round 0")
        return {name: [m0] + loop(store, test, pool_ids, gt, name, seed, args, tmp, model0, labelled0, hidden)
                for name in names}
    finally:
        store.restore_annotations([a for anns in hidden.values() for a in anns])


def loop(store: ProjectStore, test: list[int], pool_ids: list[int], gt: dict, strategy: str, seed: int,
         args, tmp: Path, model, labelled0: set[int], hidden: dict[int, list]) -> list[tuple[float, float]]:
    """Rounds 1..rounds of ``strategy`` from the round-0 ``model``; leaves the store as it
    found it (the queried images unlabelled again, in the ``pool`` split)."""
    from vision_studio.core.assist.queue import score_images

    labelled, out = set(labelled0), []
    try:
        for r in range(1, args.rounds + 1):
            pool = [store.image(i) for i in pool_ids if i not in labelled]
            result = score_images(store, strategy, model=model if strategy in UNCERTAINTY else None,
                                  image_records=pool, seed=seed * 100 + r, device="cpu",
                                  weights=str(args.weights), batch=args.query)
            picked = [i for i, _ in result.top(args.query)]
            labelled |= set(picked)
            store.restore_annotations([a for i in picked for a in hidden[i]])  # "label" them
            store.set_splits({i: "train" for i in picked})
            model, m = round_(store, test, gt, len(labelled), args, seed, tmp / f"{strategy}-{seed}-{r}",
                              f"{strategy} seed {seed} round {r}")
            out.append(m)
    finally:
        queried = sorted(labelled - labelled0)
        store.delete_annotations([a.id for i in queried for a in hidden[i]])
        store.set_splits({i: "pool" for i in queried})
    return out


def hide(store: ProjectStore, ids: list[int]) -> dict[int, list]:
    """Delete the annotations of ``ids`` (the images become unlabelled, as the queue
    sees them); returns them by image, to restore when an image is "labelled"."""
    by_image = store.annotations_by_image(ids)
    store.delete_annotations([a.id for i in ids for a in by_image.get(i, [])])
    return {i: list(by_image.get(i, [])) for i in ids}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, type=Path, help="VOC root with annotations/ and images/")
    ap.add_argument("--seed-images", type=int, default=10)
    ap.add_argument("--query", type=int, default=30)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--test", type=int, default=40, help="held-out test images")
    ap.add_argument("--pool", type=int, default=100, help="pool images (seed images included)")
    ap.add_argument("--epochs", type=int, default=5, help="passes over the labelled images per round")
    ap.add_argument("--min-steps", type=int, default=50, help="floor on the SGD steps (batch 4) of a round")
    ap.add_argument("--roi-samples", type=int, default=128, help="sampled RoIs per training image (torchvision 512)")
    ap.add_argument("--proposals", type=int, default=300, help="RPN proposals per test image (torchvision 1000)")
    ap.add_argument("--size", type=int, default=256, help="longer image side, px")
    ap.add_argument("--weights", type=Path, default=WEIGHTS)
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "vs-bench-active-learning-det")
    ap.add_argument("--strategies", default=f"{DEFAULT_STRATEGY},random",
                    help=f"comma-separated, of {', '.join(STRATEGIES)} (default: the queue's default and random)")
    args = ap.parse_args()
    names = args.strategies.split(",")
    bad = [n for n in names if n not in STRATEGIES]
    if bad or "random" not in names:
        sys.exit(f"error: --strategies: {', '.join(bad) or 'random is needed'} (of {', '.join(STRATEGIES)})")
    if not (args.data / "annotations").is_dir():
        sys.exit(f"error: {args.data}: no annotations/ folder (a VOC root is needed)")
    logging.disable(logging.WARNING)
    store, test, pool_ids = open_project(args.data.resolve(), args.work, args.test, args.pool)
    unused = [i for i in store_ids(store) if i not in set(test) | set(pool_ids)]
    gt = ground_truth(store, test)
    labels = [args.seed_images + r * args.query for r in range(args.rounds + 1)]
    runs: list[dict[str, list[tuple[float, float]]]] = []
    t = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory() as tmp, rcnn_budget(args.roi_samples, args.proposals):
            for s in range(args.seeds):
                runs.append(simulate_seed(store, test, pool_ids, gt, names, s, args, Path(tmp)))
    finally:
        store.set_splits({i: "train" for i in pool_ids + test + unused})
        store.close()
    curves = {name: np.array([run[name] for run in runs]) for name in names}  # [seed, round, (mAP, AP50)]
    steps = [steps_for(n, args)[1] for n in labels]
    print(f"{len(names)} strategies x {args.seeds} seeds, {args.rounds} query rounds, in "
          f"{time.perf_counter() - t:.0f} s; steps by round {steps} (batch 4, {args.size} px, "
          f"{args.roi_samples} RoIs, {args.proposals} proposals); {len(test)} test images")
    report(curves, labels)


def report(curves: dict[str, np.ndarray], labels: list[int]) -> None:
    """Mean ± std over seeds per round, ratios and paired differences against random, and
    the labels to reach random's final mean mAP (``bench_active_learning.labels_to_reach``)."""
    from bench_active_learning import labels_to_reach

    for k, metric in enumerate(("mAP", "AP50")):
        print(f"test {metric}, mean ± std over seeds, by labels: " + "  ".join(f"{n:>11}" for n in labels))
        for name, c in curves.items():
            cells = "  ".join(f"{m:.3f}±{s:.3f}" for m, s in zip(c[:, :, k].mean(0), c[:, :, k].std(0)))
            print(f"  {name:<16} {cells}")
    rnd = curves["random"][:, :, 0]
    target = float(rnd.mean(0)[-1])
    lin_r = labels_to_reach(rnd.mean(0), target, labels, interpolate=True)
    print(f"random's final mean mAP {target:.3f} at {labels[-1]} labels (its mean curve first reaches it at "
          f"{lin_r:.1f}, interpolated)")
    for name, c in curves.items():
        if name == "random":
            continue
        m = c[:, :, 0]
        diff = 100 * (m - rnd)  # paired: the same seed images and round-0 model
        lin = labels_to_reach(m.mean(0), target, labels, interpolate=True)
        print(f"  {name} / random, mean mAP by round: " + " ".join(f"{a / b:.2f}" for a, b in
                                                                    zip(m.mean(0), rnd.mean(0))))
        print(f"  {name} - random, mAP points, mean ± std of the per-seed (paired) difference by round: "
              + " ".join(f"{d:+.1f}±{s:.1f}" for d, s in zip(diff.mean(0), diff.std(0))))
        print(f"  {name}: labels to reach random's final mean mAP: "
              + ("never" if lin is None else f"{lin:.1f} ({1 - lin / lin_r:+.0%} against random)"))


if __name__ == "__main__":
    main()
