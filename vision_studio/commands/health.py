"""``vision-studio find-errors``: likely label errors, near-duplicates and leakage."""
from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

from typing import Any

import numpy as np

from vision_studio.core.errors import ConfigError
from vision_studio.core.health.issues import KINDS


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``find-errors`` sub-command."""
    p = sub.add_parser("find-errors", help="find likely label errors, near-duplicates and "
                       "train/val leakage in a project",
                       description="Dataset health: label errors (cleanlab on out-of-fold "
                       "linear probes), near-duplicates and leaks (phash + embeddings).")
    p.add_argument("--project", required=True, type=Path, help="project file (.vsproj)")
    p.add_argument("--checkpoint", type=Path,
                   help="detection / segmentation: a run's checkpoint (or run folder) whose "
                        "predictions on the images it did not train on are checked against "
                        "the labels (ObjectLab boxes; cleanlab.segmentation masks)")
    p.add_argument("--device", default="auto", help="where the checkpoint runs (auto)")
    p.add_argument("--labels", action="store_true", help="look for label errors")
    p.add_argument("--duplicates", action="store_true", help="look for duplicates and leaks")
    p.add_argument("--folds", type=int, default=5, help="folds of the out-of-fold probes (5)")
    p.add_argument("--weights", default="in1k",
                   help="backbone weights: timm tag (in1k) or a .pth file")
    p.add_argument("--json", type=Path, help="write the issues here (JSON list)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --json file")
    p.set_defaults(func=run_find_errors)


def run_find_errors(args: argparse.Namespace) -> int:
    from vision_studio.core.outputs import atomic_write_text, check_output, protected_paths
    from vision_studio.core.store import ProjectStore

    if args.folds < 2:
        raise ConfigError(f"--folds: must be at least 2, got {args.folds}")
    both = not (args.labels or args.duplicates)
    store = ProjectStore.open(args.project)
    try:
        protected = protected_paths(store)
        if args.json:
            check_output(args.json, overwrite=args.overwrite, protected=protected)
        report = _report(store, args, both)
    finally:
        store.close()
    for note in report.notes:
        print(f"note: {note}", file=sys.stderr)
    if args.checkpoint is not None and report.notes:
        print(f"box/mask issues from {report.notes[0]}")
    counts = Counter(i.kind for i in report.issues)
    print(f"{'kind':<16}{'issues':>8}")
    kinds = ("label", "duplicate", "leak") if args.checkpoint is None else KINDS
    for kind in kinds:
        print(f"{kind:<16}{counts.get(kind, 0):>8}")
    print(f"{len(report.features.image_ids)} images examined")
    for issue in report.issues[:10]:
        extra = (f"~ {issue.other_file_name}" if issue.other_file_name else
                 f"{issue.given or '-'} -> {issue.suggested or '-'}"
                 + (f" box {list(issue.bbox)}" if issue.bbox else "")
                 + (f" suggested box {list(issue.suggested_bbox)}"
                    if issue.suggested_bbox else ""))
        print(f"  {issue.score:.3f} {issue.kind:<10} {issue.file_name}  {extra}")
    if args.json:
        atomic_write_text(args.json, json.dumps([i.to_json() for i in report.issues], indent=1),
                          protected=protected)
        print(f"wrote {args.json}")
    return 0


def _report(store: Any, args: argparse.Namespace, both: bool) -> Any:
    """The finders the options ask for: without ``--checkpoint`` labels and duplicates
    (both when neither is named); with it the checkpoint's findings, plus the others
    only when named."""
    from vision_studio.core.health import HealthReport, find_issues, sort_issues
    from vision_studio.core.health.features import ImageFeatures
    from vision_studio.core.health.from_checkpoint import checkpoint_issues

    if args.checkpoint is None:
        return find_issues(store, labels=args.labels or both,
                           duplicates=args.duplicates or both, folds=args.folds,
                           weights=args.weights)
    found = checkpoint_issues(store, args.checkpoint, device=args.device)
    if args.labels or args.duplicates:
        report = find_issues(store, labels=args.labels, duplicates=args.duplicates,
                             folds=args.folds, weights=args.weights)
    else:
        report = HealthReport(issues=[], features=ImageFeatures(
            image_ids=np.array(found.image_ids, np.int64), paths=[], splits=[],
            phashes=np.zeros(len(found.image_ids), np.uint64)))
    report.issues = sort_issues(report.issues + found.issues)
    report.notes = [f"{found.task}: {found.source}"] + found.notes + report.notes
    return report
