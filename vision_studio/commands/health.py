"""``vision-studio find-errors``: likely label errors, near-duplicates and leakage."""
from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

from vision_studio.core.errors import ConfigError


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``find-errors`` sub-command."""
    p = sub.add_parser("find-errors", help="find likely label errors, near-duplicates and "
                       "train/val leakage in a project",
                       description="Dataset health: label errors (cleanlab on out-of-fold "
                       "linear probes), near-duplicates and leaks (phash + embeddings).")
    p.add_argument("--project", required=True, type=Path, help="project file (.vsproj)")
    p.add_argument("--checkpoint", type=Path,
                   help="detection: run whose predictions to check (not implemented yet)")
    p.add_argument("--labels", action="store_true", help="look for label errors")
    p.add_argument("--duplicates", action="store_true", help="look for duplicates and leaks")
    p.add_argument("--folds", type=int, default=5, help="folds of the out-of-fold probes (5)")
    p.add_argument("--weights", default="in1k",
                   help="backbone weights: timm tag (in1k) or a .pth file")
    p.add_argument("--json", type=Path, help="write the issues here (JSON list)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --json file")
    p.set_defaults(func=run_find_errors)


def run_find_errors(args: argparse.Namespace) -> int:
    from vision_studio.core.health import find_issues
    from vision_studio.core.outputs import atomic_write_text, check_output, protected_paths
    from vision_studio.core.store import ProjectStore

    if args.checkpoint is not None:
        raise ConfigError(f"{args.checkpoint}: box issues from a checkpoint (ObjectLab) are "
                          "not implemented yet; run without --checkpoint")
    if args.folds < 2:
        raise ConfigError(f"--folds: must be at least 2, got {args.folds}")
    both = not (args.labels or args.duplicates)
    store = ProjectStore.open(args.project)
    try:
        protected = protected_paths(store)
        if args.json:
            check_output(args.json, overwrite=args.overwrite, protected=protected)
        report = find_issues(store, labels=args.labels or both,
                             duplicates=args.duplicates or both, folds=args.folds,
                             weights=args.weights)
    finally:
        store.close()
    for note in report.notes:
        print(f"note: {note}", file=sys.stderr)
    counts = Counter(i.kind for i in report.issues)
    print(f"{'kind':<16}{'issues':>8}")
    for kind in ("label", "duplicate", "leak"):
        print(f"{kind:<16}{counts.get(kind, 0):>8}")
    print(f"{len(report.features.image_ids)} images examined")
    for issue in report.issues[:10]:
        extra = (f"{issue.given} -> {issue.suggested}" if issue.kind == "label"
                 else f"~ {issue.other_file_name}")
        print(f"  {issue.score:.3f} {issue.kind:<10} {issue.file_name}  {extra}")
    if args.json:
        atomic_write_text(args.json, json.dumps([i.to_json() for i in report.issues], indent=1),
                          protected=protected)
        print(f"wrote {args.json}")
    return 0
