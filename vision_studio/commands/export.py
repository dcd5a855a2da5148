"""``vision-studio export-model --checkpoint CKPT --format {onnx,torchscript} --out FILE``:
a trained model as a file that runs without Vision Studio, with a JSON sidecar
(``FILE.json``), checked against PyTorch at once (max |difference| printed and recorded
in the sidecar; exit code 1 when it is above the tolerance — the files are kept for
inspection).

Sample images for the check: ``--samples IMAGE...``, else the first ``--num-samples``
images of ``--split`` of ``--project`` (the project also gives the sidecar the COCO
category ids of ``export --format coco``). Outputs are checked first
(:func:`~vision_studio.core.outputs.check_output`): an existing file needs
``--overwrite``; the checkpoint, the samples and the project's files are never written.
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from vision_studio.core.errors import ConfigError


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``export-model`` sub-command."""
    p = sub.add_parser("export-model", help="export a trained model to ONNX or TorchScript",
                       description="Export a checkpoint to ONNX / TorchScript with a JSON sidecar; the export is "
                                   "checked against PyTorch on sample images.")
    p.add_argument("--checkpoint", required=True, type=Path, help="best.pt / last.pt or a run folder")
    p.add_argument("--format", required=True, choices=("onnx", "torchscript"), dest="fmt")
    p.add_argument("--out", required=True, type=Path, help="model file to write (sidecar: FILE.json)")
    p.add_argument("--project", type=Path, help="the project the model was trained in (sample images, "
                                                "exported COCO category ids)")
    p.add_argument("--split", default="val", help="split of --project the samples come from (default val)")
    p.add_argument("--samples", nargs="+", type=Path, metavar="IMAGE", help="sample images for the check")
    p.add_argument("--num-samples", type=int, default=4, help="samples taken from the project (default 4)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    p.set_defaults(func=run_export)


def _samples(args: argparse.Namespace, store: Any) -> list[Path]:
    if args.samples:
        missing = [str(p) for p in args.samples if not p.is_file()]
        if missing:
            raise ConfigError(f"{missing[0]}: no such image file")
        return list(args.samples)
    if store is None:
        raise ConfigError("give --project (its images are the samples) or --samples IMAGE...")
    images = store.images(split=args.split) or store.images()
    if not images:
        raise ConfigError(f"{args.project}: no images to check the export on")
    return [store.resolve(im) for im in images[:max(1, args.num_samples)]]


def run_export(args: argparse.Namespace) -> int:
    """Run ``export-model``; returns the exit code."""
    from vision_studio.core.export.model_export import export_model
    from vision_studio.core.export.sidecar import sidecar_path
    from vision_studio.core.outputs import check_output, protected_paths
    from vision_studio.core.store import ProjectStore

    store = ProjectStore.open(args.project, readonly=True) if args.project else None
    try:
        protected = set(protected_paths(store)) if store is not None else set()
        protected |= {os.fspath(args.checkpoint), *(os.fspath(p) for p in args.samples or ())}
        for path in (args.out, sidecar_path(args.out)):
            check_output(path, overwrite=args.overwrite, protected=protected)
        samples = _samples(args, store)
        ids = None
        if store is not None:
            from vision_studio.core.io.coco_ids import export_id_maps

            ids = export_id_maps(store).category
        report = export_model(args.checkpoint, args.fmt, args.out, samples, exported_category_ids=ids,
                              protected=protected, progress=lambda m: print(m, flush=True))
    finally:
        if store is not None:
            store.close()
    c = report.check
    diffs = ", ".join(f"{k} {v:.3g}" for k, v in c["max_abs_diff"].items())
    extra = f"; {c['count_mismatch']} of {c['images']} images with other detections" if "count_mismatch" in c else ""
    print(f"max |difference| vs PyTorch on {c['images']} images: {diffs}{extra}")
    print(f"CPU ms per image: PyTorch {c['pytorch_ms']:.1f}, {args.fmt} {c['exported_ms']:.1f}")
    print(f"wrote {report.model_file} and {report.sidecar_file.name} ({report.seconds:.1f} s)")
    if not c["passed"]:
        raise ConfigError(f"{report.model_file}: the export differs from PyTorch beyond the tolerance "
                          f"({diffs}{extra}; tolerance {c['tolerance']}); files kept for inspection")
    return 0
