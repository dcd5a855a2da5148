"""``vision-studio gui [PROJECT]`` and ``vision-studio screenshot`` (Qt imported lazily,
inside the commands: ``cli.py`` stays Qt-free)."""
from __future__ import annotations

import argparse
from pathlib import Path

from vision_studio.core.errors import VisionStudioError


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"size must be WIDTHxHEIGHT, got {text!r}") from exc
    if w < 200 or h < 150:
        raise argparse.ArgumentTypeError("size must be at least 200x150")
    return w, h


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``gui`` and ``screenshot`` sub-commands."""
    p = sub.add_parser("gui", help="open the desktop app (optionally on a project file)")
    p.add_argument("project", nargs="?", type=Path, help="a .vsproj project file")
    p.set_defaults(func=_gui)

    p = sub.add_parser("screenshot", help="render a panel of the app on a project to a PNG, "
                                          "without a display (offscreen)")
    p.add_argument("--project", required=True, type=Path, help="project file (.vsproj)")
    p.add_argument("--panel", default="annotate",
                   choices=("annotate", "model", "training", "evaluate", "health", "health-map"),
                   help="panel to show (health: runs Find problems first)")
    p.add_argument("--out", required=True, type=Path, help="PNG file to write")
    p.add_argument("--image", type=int, default=None,
                   help="id of the image to show (default: the first one)")
    p.add_argument("--size", type=_size, default=(1400, 850), help="window size WxH (1400x850)")
    p.set_defaults(func=_screenshot)


def _gui(args: argparse.Namespace) -> int:
    if args.project is not None and not args.project.is_file():
        raise VisionStudioError(f"{args.project}: no such project file")
    from vision_studio.gui.app import run_app

    return run_app(args.project)


def _screenshot(args: argparse.Namespace) -> int:
    from vision_studio.gui.screenshot import render_screenshot

    out = render_screenshot(args.project, args.panel, args.out, args.image, args.size)
    print(f"wrote {out}")
    return 0
