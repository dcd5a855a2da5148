"""``python -m vision_studio [PROJECT]``: open the desktop app (on a project file).

``python -m vision_studio COMMAND ...`` with a sub-command of the ``vision-studio`` CLI
(``train``, ``export-model``...) runs that command instead, so that launchers that take
a module, such as ``torchrun -m vision_studio train ...``, run the CLI.
"""
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
    if args_list and _is_command(args_list[0]):
        from vision_studio.cli import main as cli_main

        return cli_main(args_list)
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


def _is_command(word: str) -> bool:
    """Whether ``word`` names a CLI sub-command (and is not a project file there)."""
    if word.startswith("-") or Path(word).exists():
        return False
    from vision_studio.cli import build_parser

    sub = next(a for a in build_parser()._subparsers._group_actions)  # noqa: SLF001 - argparse has no API
    return word in sub.choices


if __name__ == "__main__":
    sys.exit(main())
