"""Logging of the desktop app: a rotating log file in the user's data folder.

The installed app has no console on Windows, so a log file is the only trace of what
went wrong: ``<user_data_dir>/logs/vision-studio.log`` (see
:func:`vision_studio.core.paths.user_data_dir`), rotated at 2 MB with 5 old files kept.
Messages also go to stderr when the process has one. No Qt here: the CLI may use it too.
"""
from __future__ import annotations

import logging
import logging.handlers
import sys
from pathlib import Path

from vision_studio.core.paths import user_data_dir

LOG_NAME = "vision-studio.log"
MAX_BYTES = 2 * 1024 * 1024
BACKUPS = 5
FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
_MARK = "_vision_studio_handler"  # set on the handlers installed here (idempotence)

log = logging.getLogger(__name__)


def log_dir() -> Path:
    """The folder of the log files: ``<user_data_dir>/logs``."""
    return user_data_dir() / "logs"


def setup_logging(level: int = logging.INFO, *, directory: Path | None = None,
                  console_level: int = logging.WARNING,
                  max_bytes: int = MAX_BYTES, backups: int = BACKUPS) -> Path | None:
    """Send log records to the rotating log file (and to stderr when there is one).

    Calling it again replaces the handlers it installed before (no duplicate lines); a
    console handler installed earlier (``logging.basicConfig``) is kept, at the level it
    had, instead of adding a second one. Python warnings are routed to the log too.

    Args:
        level: Lowest level written to the file (and the root logger's level).
        directory: Folder of the log file; default :func:`log_dir`.
        console_level: Lowest level written to stderr.
        max_bytes: Size at which the file is rotated (``vision-studio.log.1`` ...).
        backups: Rotated files kept.

    Returns:
        The log file's path, or ``None`` when the folder cannot be written (then only
        stderr gets the messages; the app still starts).
    """
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, _MARK, False)]:
        root.removeHandler(handler)
        handler.close()
    # Handlers set up before (e.g. logging.basicConfig in the entry point) keep printing
    # what they printed: pin them to the root level they were made for.
    for handler in root.handlers:
        if handler.level == logging.NOTSET:
            handler.setLevel(root.level)
    root.setLevel(min(level, console_level, root.level))
    formatter = logging.Formatter(FORMAT)
    has_console = any(isinstance(h, logging.StreamHandler)
                      and not isinstance(h, logging.FileHandler) for h in root.handlers)
    if sys.stderr is not None and not has_console:  # None in a windowed Windows exe
        stream = logging.StreamHandler(sys.stderr)
        stream.setLevel(console_level)
        stream.setFormatter(formatter)
        setattr(stream, _MARK, True)
        root.addHandler(stream)
    path: Path | None = (directory or log_dir()) / LOG_NAME
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        file_handler = logging.handlers.RotatingFileHandler(
            path, maxBytes=max_bytes, backupCount=backups, encoding="utf-8")
    except OSError as exc:
        log.warning("no log file (%s): %s", path, exc)
        path = None
    else:
        file_handler.setLevel(level)
        file_handler.setFormatter(formatter)
        setattr(file_handler, _MARK, True)
        root.addHandler(file_handler)
    logging.captureWarnings(True)
    return path


def record_crash(exc: BaseException, context: str = "", *,
                 directory: Path | None = None) -> Path | None:
    """Append an unexpected exception's traceback to the log file, for a bug report.

    Used by the CLI's ``main`` (which then prints one ``error:`` line naming the file) so
    that no traceback reaches the terminal. The record goes to the same rotating file as
    :func:`setup_logging` (``<log_dir>/vision-studio.log``); when that folder cannot be
    written, to ``vision-studio.log`` in the system's temporary folder.

    Args:
        exc: The exception (its ``__traceback__`` is written).
        context: What was running, e.g. the command line.
        directory: Folder of the log file; default :func:`log_dir`.

    Returns:
        The file written, or ``None`` when no folder could be written.
    """
    import tempfile

    for folder in (directory or log_dir(), Path(tempfile.gettempdir())):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            handler = logging.handlers.RotatingFileHandler(
                folder / LOG_NAME, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8")
        except OSError:
            continue
        handler.setFormatter(logging.Formatter(FORMAT))
        record = logging.LogRecord("vision_studio.crash", logging.ERROR, __file__, 0,
                                   "unexpected error%s", (f" in: {context}" if context else "",),
                                   (type(exc), exc, exc.__traceback__))
        try:
            handler.emit(record)
        finally:
            handler.close()
        return folder / LOG_NAME
    return None
