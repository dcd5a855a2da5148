"""``python -m vision_studio [PROJECT]``: open the desktop app (on a project file)."""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    """Parse ``[PROJECT]`` and run the GUI; returns the exit code.

    ``--smoke PROJECT`` runs the app's self-test instead (see :mod:`vision_studio.smoke`).
    """
    args_list = sys.argv[1:] if argv is None else list(argv)
    if "--smoke" in args_list:
        from vision_studio.smoke import main as smoke_main

        return smoke_main(args_list)
    parser = argparse.ArgumentParser(prog="python -m vision_studio",
                                     description="Open the Vision Studio desktop app.")
    parser.add_argument("project", nargs="?", type=Path, help="a .vsproj project file to open")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    from vision_studio.gui.app import run_app

    return run_app(args.project)


if __name__ == "__main__":
    sys.exit(main())
