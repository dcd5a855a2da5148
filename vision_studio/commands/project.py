"""``vision-studio info`` and ``vision-studio demo``."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``info`` and ``demo`` sub-commands."""
    p = sub.add_parser("info", help="summarise a project: images, annotations, tags, problems")
    p.add_argument("--project", required=True, type=Path, help="project file (.vsproj)")
    p.set_defaults(func=_info)

    p = sub.add_parser("demo", help="build the demo project from scikit-image's sample photos, "
                                    "summarise it and open it in the app")
    p.add_argument("--folder", type=Path, default=None,
                   help="where to build it (default: the per-user data folder)")
    p.add_argument("--rebuild", action="store_true", help="rebuild it even if it exists")
    p.add_argument("--no-gui", action="store_true", help="only print the summary")
    p.set_defaults(func=_demo)


def _info(args: argparse.Namespace) -> int:
    from vision_studio.core.summary import project_summary

    with open_for_reading(args.project) as store:
        print(project_summary(store))
    return 0


def open_for_reading(path: Path) -> Any:
    """Open a project to read it: read-write (so that an older schema is migrated and
    runs whose process died are marked), or read-only with a note on stderr when the
    file, its folder or the file system cannot be written.

    Raises:
        StoreError: the file is not a project (or cannot be opened at all).
    """
    from vision_studio.core.errors import StoreReadOnlyError
    from vision_studio.core.store import ProjectStore

    try:
        return ProjectStore.open(path)
    except StoreReadOnlyError:
        print(f"note: {path}: the project is read-only; opened read-only", file=sys.stderr)
        return ProjectStore.open(path, readonly=True)


def _demo(args: argparse.Namespace) -> int:
    from vision_studio.core.demo import build_demo_project
    from vision_studio.core.paths import demo_dir
    from vision_studio.core.store import ProjectStore
    from vision_studio.core.summary import project_summary

    project = build_demo_project(args.folder or demo_dir(), overwrite=args.rebuild)
    with ProjectStore.open(project) as store:
        print(project_summary(store))
    if args.no_gui:
        return 0
    if not _has_display():
        print("\nNo display found, so the app was not opened. On a desktop, run "
              "`vision-studio demo` again; without one, `vision-studio screenshot --project "
              f"{project} --panel annotate --out annotate.png` renders a panel to a PNG.")
        return 0
    from vision_studio.gui.app import run_app

    return run_app(project)


def _has_display() -> bool:
    """False on Linux/BSD without X11/Wayland (unless Qt is told to render offscreen)."""
    import os
    import sys

    if sys.platform in ("win32", "darwin") or os.environ.get("QT_QPA_PLATFORM"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
