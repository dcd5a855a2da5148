"""``vision-studio explain --checkpoint CKPT IMAGES... --out DIR``: class-activation
heatmaps (Grad-CAM for classifiers, EigenCAM for detectors; :mod:`vision_studio.core.
explain.cam`) blended over each image, written as ``DIR/<image stem>_cam.png`` (with
the detections' boxes drawn for detectors) and a ``DIR/explain.json`` listing what each
overlay explains.

The folder is checked first (:func:`~vision_studio.core.outputs.check_output`): a
non-empty folder needs ``--overwrite``; the checkpoint and the images are never written.
"""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from vision_studio.core.errors import ConfigError


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``explain`` sub-command."""
    p = sub.add_parser("explain", help="heatmaps of what a model looked at (Grad-CAM / EigenCAM)",
                       description="Write class-activation heatmap overlays for images.")
    p.add_argument("--checkpoint", required=True, type=Path, help="best.pt / last.pt or a run folder")
    p.add_argument("images", nargs="+", type=Path, help="image files")
    p.add_argument("--out", required=True, type=Path, help="folder for the overlay PNGs")
    p.add_argument("--class", dest="target", help="classification: the class to explain (default: predicted)")
    p.add_argument("--method", choices=("gradcam", "gradcam++", "eigencam"),
                   help="classification: gradcam (default), gradcam++ or eigencam; detectors: eigencam")
    p.add_argument("--opacity", type=float, default=0.5, help="heatmap weight in the overlay, 0-1 (default 0.5)")
    p.add_argument("--score-threshold", type=float, default=0.5, help="detections drawn (default 0.5)")
    p.add_argument("--overwrite", action="store_true", help="write into a non-empty folder")
    p.set_defaults(func=run_explain)


def run_explain(args: argparse.Namespace) -> int:
    """Run ``explain``; returns the exit code."""
    from PIL import Image, ImageDraw

    from vision_studio.core.explain.cam import explain_checkpoint, overlay
    from vision_studio.core.images import read_image
    from vision_studio.core.outputs import atomic_output, atomic_write_text, check_output

    missing = [str(p) for p in args.images if not p.is_file()]
    if missing:
        raise ConfigError(f"{missing[0]}: no such image file")
    if not 0.0 <= args.opacity <= 1.0:
        raise ConfigError(f"--opacity must be between 0 and 1, got {args.opacity}")
    protected = {os.fspath(args.checkpoint), *(os.fspath(p) for p in args.images)}
    check_output(args.out, overwrite=args.overwrite, protected=protected)
    names = [f"{p.stem}_cam.png" for p in args.images]
    if len(set(names)) < len(names):
        names = [f"{k:04d}_{n}" for k, n in enumerate(names)]
    heatmaps = explain_checkpoint(args.checkpoint, args.images, target=args.target, method=args.method,
                                  score_threshold=args.score_threshold)
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for path, name, h in zip(args.images, names, heatmaps):
        img = Image.fromarray(overlay(read_image(path), h.cam, args.opacity))
        draw = ImageDraw.Draw(img)
        for box in h.boxes.tolist():
            draw.rectangle(box, outline=(255, 255, 255), width=2)
        with atomic_output(args.out / name, protected=protected) as tmp:
            img.save(tmp, format="PNG")
        rows.append({"image": str(path), "overlay": name, "method": h.method, "explains": h.label,
                     "score": round(h.score, 5), "boxes": len(h.boxes)})
        print(f"{path.name}: {h.method} for {h.label} ({h.score:.3f}) -> {name}")
    atomic_write_text(args.out / "explain.json", json.dumps(rows, indent=1), protected=protected)
    print(f"{len(rows)} overlays -> {args.out}")
    return 0
