"""Storage faults in words: every ``sqlite3`` error of the store becomes a
:class:`~vision_studio.core.errors.StoreError` (or one of its kinds) whose message names
the project file, the likely cause and what the user can do.

SQLite's primary result codes (https://www.sqlite.org/rescode.html) decide the kind;
the message text is the fallback where Python does not expose the code.
"""
from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from vision_studio.core.errors import (
    StoreBusyError,
    StoreClosedError,
    StoreError,
    StoreFullError,
    StoreReadOnlyError,
)

SQLITE_BUSY, SQLITE_LOCKED, SQLITE_READONLY, SQLITE_IOERR = 5, 6, 8, 10
SQLITE_CORRUPT, SQLITE_FULL, SQLITE_CANTOPEN, SQLITE_NOTADB = 11, 13, 14, 26

_BY_TEXT = (("database is locked", SQLITE_BUSY), ("is locked", SQLITE_LOCKED),
            ("readonly database", SQLITE_READONLY), ("disk is full", SQLITE_FULL),
            ("unable to open", SQLITE_CANTOPEN), ("not a database", SQLITE_NOTADB),
            ("malformed", SQLITE_CORRUPT), ("disk I/O error", SQLITE_IOERR))


def primary_code(exc: sqlite3.Error) -> int | None:
    """SQLite's primary result code of ``exc`` (extended codes folded), or ``None``."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF
    text = str(exc)
    return next((c for t, c in _BY_TEXT if t in text), None)


def holders(path: Path, limit: int = 3) -> list[str]:
    """Other processes of this user that have ``path`` (or its ``-wal``) open, as
    ``"PID NAME"``; best effort (``psutil``), empty when it cannot tell."""
    try:
        import psutil
    except ImportError:  # pragma: no cover - a dependency
        return []
    wanted = {os.path.realpath(path), os.path.realpath(f"{path}-wal")}
    found: list[str] = []
    for proc in psutil.process_iter(["pid", "name"]):
        if proc.info["pid"] == os.getpid():
            continue
        try:
            if any(f.path in wanted for f in proc.open_files()):
                found.append(f"{proc.info['pid']} {proc.info['name']}")
        except psutil.Error:
            continue
        if len(found) >= limit:
            break
    return found


def busy_message(path: Path) -> str:
    """Why a project is locked: who holds it, when that can be found out."""
    who = holders(path)
    by = f" (held by process {', '.join(who)})" if who else ""
    return (f"{path}: the project is locked by another program writing to it{by}; most likely "
            "another Vision Studio window or command has it open — close it or let it finish, "
            "then try again")


def translate(exc: sqlite3.Error, path: Path) -> StoreError:
    """The :class:`StoreError` to raise for the ``sqlite3`` error ``exc`` on ``path``."""
    if isinstance(exc, StoreError):
        return exc
    if isinstance(exc, sqlite3.ProgrammingError) and "closed" in str(exc):
        return StoreClosedError(f"{path}: the project is closed")
    code = primary_code(exc)
    if code in (SQLITE_BUSY, SQLITE_LOCKED):
        return StoreBusyError(busy_message(path))
    if code == SQLITE_READONLY:
        return StoreReadOnlyError(
            f"{path}: the project is read-only (the file, its folder or the file system cannot "
            "be written), so the change was not saved; it can still be opened read-only to "
            "view or export it")
    if code == SQLITE_FULL:
        return StoreFullError(
            f"{path}: the disk is full, so the last change was not saved; everything saved "
            "before it is intact — free some space and try again")
    if code in (SQLITE_NOTADB, SQLITE_CORRUPT):
        return StoreError(f"{path}: not a Vision Studio project, or a damaged one ({exc})")
    if code == SQLITE_CANTOPEN:
        return StoreError(f"{path}: cannot open the project file (its folder is missing or "
                          f"not accessible) ({exc})")
    if code == SQLITE_IOERR:
        return StoreError(f"{path}: the disk reported an error reading or writing the project "
                          f"({exc}); check the drive")
    return StoreError(f"{path}: {exc}")
