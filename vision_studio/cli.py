"""The ``vision-studio`` command: the headless face of the same core the GUI uses.

Each sub-command lives in a module of :mod:`vision_studio.commands` that defines
``register(subparsers)``; the module adds its parser and sets ``func`` (a callable
taking the parsed ``argparse.Namespace`` and returning an exit code). This file imports
no Qt: ``gui`` and ``screenshot`` import the GUI lazily when run.

Exit codes: 0 success; 1 a clear failure (one line on stderr: ``error: ...``); 2 bad
command-line usage (argparse).
"""
from __future__ import annotations

import argparse
import importlib
import logging
import sys
from typing import Sequence

from vision_studio import __version__
from vision_studio.core.errors import VisionStudioError

# One module per group of sub-commands; add yours here.
COMMAND_MODULES = (
    "vision_studio.commands.project",
    "vision_studio.commands.io",
    "vision_studio.commands.gui",
    "vision_studio.commands.train",
    "vision_studio.commands.models",
    "vision_studio.commands.evaluate",
    "vision_studio.commands.health",
)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every registered sub-command."""
    parser = argparse.ArgumentParser(
        prog="vision-studio",
        description="Label images, train CNNs with transfer learning, review the model's errors.")
    parser.add_argument("--version", action="version", version=f"vision-studio {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except VisionStudioError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
