"""``vision-studio prelabel`` and ``vision-studio queue``: model-assisted labelling.

``prelabel`` runs a checkpoint of the project on chosen images and stores its predictions
as proposals to review in Annotate (or, with ``--accept``, as annotations with
``source = model:<run>``). ``queue`` scores images by the model's uncertainty (or
diversity, or at random), stores the scores as the Label-next column and prints (or
writes as JSON) the first ``--n`` image paths with their scores.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

from vision_studio.core.errors import ConfigError
from vision_studio.core.types import Task

STRATEGIES = ("entropy", "margin", "least_confident", "coreset", "random")


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``prelabel`` and ``queue`` sub-commands."""
    p = sub.add_parser("prelabel", help="store a checkpoint's predictions as proposals to review",
                       description="Run a checkpoint of the project on images and store its boxes, "
                       "polygons, tags or mask polygons as proposals (not annotations: export and "
                       "training ignore them until accepted).")
    p.add_argument("--project", required=True, type=Path, help="project file (.vsproj)")
    p.add_argument("--checkpoint", required=True, type=Path, help="best.pt / last.pt or a run folder")
    p.add_argument("--images", default="unlabelled",
                   help="unlabelled (default), all, or a split name (train, val, ...)")
    p.add_argument("--score", type=float, default=0.5, help="lowest score kept (0.5)")
    p.add_argument("--tolerance", type=float, default=1.0,
                   help="polygon simplification in pixels (approxPolyDP epsilon, 1.0)")
    p.add_argument("--accept", action="store_true",
                   help="accept every proposal at once (annotations with source model:<run>)")
    p.add_argument("--device", default="auto", help="auto (GPU when present), cpu, cuda, mps")
    p.add_argument("--slice", default="auto", metavar="auto|off|TILE",
                   help="detectors: sliced inference over overlapping tiles for large images (SAHI). 'auto' "
                        "(default) slices images above 2000 px and twice the model input; 'off' resizes every "
                        "image whole; a number slices every image larger than tiles of that many pixels")
    p.set_defaults(func=run_prelabel)

    q = sub.add_parser("queue", help="order images to label next by model uncertainty",
                       description="Score images (default: the unlabelled ones) for the "
                       "Label-next queue, store the scores in the project and print the first N.")
    q.add_argument("--project", required=True, type=Path, help="project file (.vsproj)")
    q.add_argument("--checkpoint", type=Path,
                   help="best.pt / last.pt or a run folder (needed by entropy, margin, least_confident)")
    q.add_argument("--n", type=int, default=20, help="images to list (20)")
    q.add_argument("--strategy", choices=STRATEGIES + ("typiclust",), default="typiclust", help="ordering (typiclust)")
    q.add_argument("--images", default="unlabelled", help="unlabelled (default), all, or a split name")
    q.add_argument("--weights", default="in1k",
                   help="coreset: backbone weights of the feature cache, timm tag (in1k) or a .pth file")
    q.add_argument("--seed", type=int, default=0, help="random: the seed (0)")
    q.add_argument("--device", default="auto", help="auto (GPU when present), cpu, cuda, mps")
    q.add_argument("--json", type=Path, help="also write the first N as JSON here")
    q.add_argument("--overwrite", action="store_true", help="replace an existing --json file")
    q.set_defaults(func=run_queue)


def _check_files(args: argparse.Namespace) -> None:
    if not args.project.is_file():
        raise ConfigError(f"{args.project}: no such project file")
    if args.checkpoint is not None and not args.checkpoint.exists():
        raise ConfigError(f"{args.checkpoint}: no such checkpoint")


def run_prelabel(args: argparse.Namespace) -> int:
    """Run ``prelabel``; returns the exit code."""
    from vision_studio.commands._console import progress_printer
    from vision_studio.core.assist.inference import slice_settings
    from vision_studio.core.assist.prelabel import prelabel
    from vision_studio.core.store import ProjectStore

    _check_files(args)
    if not 0.0 <= args.score <= 1.0:
        raise ConfigError(f"--score: a score is in [0, 1], got {args.score}")
    try:
        slicing = slice_settings(args.slice)
    except ConfigError as exc:
        raise ConfigError(str(exc).replace("slicing:", "--slice:", 1)) from None
    with ProjectStore.open(args.project) as store:
        result = prelabel(store, args.checkpoint, images=args.images, score=args.score,
                          tolerance=args.tolerance, accept=args.accept, device=args.device,
                          progress=progress_printer("prelabel"), slicing=slicing)
    if result.slicing:
        print(f"sliced inference on {result.sliced} of {result.images} images: "
              + ", ".join(f"{k}={v}" for k, v in result.slicing.items()))
    elif result.task in (Task.DETECTION, Task.INSTANCE_SEGMENTATION):
        print(f"whole-image inference (--slice {args.slice})")
    kinds = Counter(p.kind for p in result.proposals)
    detail = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())) or "none"
    verb = "accepted as annotations" if args.accept else "stored as proposals"
    print(f"{len(result.proposals)} predictions of run {result.run} ({result.task}) on "
          f"{result.images} images {verb}: {detail}")
    if result.replaced:
        print(f"{result.replaced} earlier proposals of run {result.run} on these images replaced")
    return 0


def run_queue(args: argparse.Namespace) -> int:
    """Run ``queue``; returns the exit code."""
    from vision_studio.commands._console import progress_printer
    from vision_studio.core.assist.queue import score_images
    from vision_studio.core.outputs import atomic_write_text, check_output, protected_paths
    from vision_studio.core.store import ProjectStore

    _check_files(args)
    if args.n < 1:
        raise ConfigError(f"--n: must be at least 1, got {args.n}")
    with ProjectStore.open(args.project) as store:
        protected = protected_paths(store)
        if args.json:
            check_output(args.json, overwrite=args.overwrite, protected=protected)
        result = score_images(store, args.strategy, args.checkpoint, images=args.images,
                              device=args.device, weights=args.weights, seed=args.seed,
                              progress=progress_printer("queue"))
        paths = {im.id: im.path for im in store.images()}
    rows = [{"image_id": i, "path": paths[i], "score": s} for i, s in result.top(args.n)]
    if not rows:
        print("no image to score", file=sys.stderr)
    for r in rows:
        print(f"{r['score']:.6f}  {r['path']}")
    print(f"{len(result.image_ids)} images scored by {args.strategy}"
          + (f" (run {result.run})" if result.run else ""), file=sys.stderr)
    if args.json:
        payload = {"strategy": args.strategy, "run": result.run, "images": rows}
        atomic_write_text(args.json, json.dumps(payload, indent=1), protected=protected)
        print(f"wrote {args.json}", file=sys.stderr)
    return 0
