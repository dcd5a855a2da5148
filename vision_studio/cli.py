"""The ``vision-studio`` command: the headless face of the same core the GUI uses.

Each sub-command lives in a module of :mod:`vision_studio.commands` that defines
``register(subparsers)``; the module adds its parser and sets ``func`` (a callable
taking the parsed ``argparse.Namespace`` and returning an exit code). This file imports
no Qt: ``gui`` and ``screenshot`` import the GUI lazily when run.

Exit codes: 0 success; 1 a clear failure (one line on stderr: ``error: ...``; an
unexpected exception also writes its traceback to the log file the line names); 2 bad
command-line usage (argparse); 130 interrupted (Ctrl-C).
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
    "vision_studio.commands.assist",
    "vision_studio.commands.export",
    "vision_studio.commands.explain",
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
    """Run the CLI; returns the process exit code.

    Nothing reaches the terminal as a traceback: a :class:`VisionStudioError` (bad input,
    a storage fault) is one line ``error: FILE: problem`` and exit code 1; any other
    exception is one ``error:`` line naming the log file that got its traceback
    (:func:`vision_studio.logging_setup.record_crash`), also exit code 1; Ctrl-C exits
    with 130 without a message. argparse's own usage errors keep exit code 2.
    """
    try:
        return _run(argv)
    except KeyboardInterrupt:
        return 130
    except VisionStudioError as exc:
        print(f"error: {_one_line(exc)}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # `vision-studio info ... | head`: the reader went away
        _silence_stdout()
        return 1
    except Exception as exc:  # noqa: BLE001 - the last guard: no traceback on the terminal
        return _unexpected(exc, argv)


def _run(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # e.g. to start it again in more processes
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return int(args.func(args) or 0)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 2000 else text[:2000] + "…"


def _unexpected(exc: Exception, argv: Sequence[str] | None) -> int:
    from vision_studio.logging_setup import record_crash

    command = "vision-studio " + " ".join(sys.argv[1:] if argv is None else argv)
    try:
        where = record_crash(exc, command)
    except Exception:  # noqa: BLE001 - never let the report itself raise
        where = None
    detail = f"the details are in {where}" if where else "no log file could be written"
    print(f"error: unexpected {type(exc).__name__}: {_one_line(exc)} (this is a bug; {detail})",
          file=sys.stderr)
    return 1


def _silence_stdout() -> None:
    """Point stdout at devnull so that the interpreter's final flush does not raise."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
