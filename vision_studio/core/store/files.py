"""The project file on disk: connections (read-write and read-only), atomic creation,
initialising an empty file, migrations, and runs whose process is gone.

Creation is atomic: the new file is built complete under a temporary name in the same
folder (``.<stem>.vs-tmp-<pid>-<hex>.vsproj``) and then linked to its final name, which
fails rather than replacing a file that appeared meanwhile. A kill leaves either no
project or a complete one; the temporary file of a killed creator is removed by the next
creation in that folder. An existing SQLite file without any table (what an older
version left when killed inside creation) holds nothing, and is initialised on open.
"""
from __future__ import annotations

import logging
import os
import sqlite3
from pathlib import Path
from urllib.parse import quote

from vision_studio.core.errors import StoreError, StoreReadOnlyError
from vision_studio.core.liveness import process_alive, this_host
from vision_studio.core.outputs import clean_stale_temps, release_temp, reserve_temp
from vision_studio.core.store.faults import SQLITE_CANTOPEN, SQLITE_READONLY, primary_code, translate
from vision_studio.core.store.schema import _SCHEMA_V1, MIGRATIONS, SCHEMA_VERSION

log = logging.getLogger("vision_studio.core.store")

BUSY_TIMEOUT_S = 5.0
"""How long one statement waits for another connection's write lock (SQLite's
``busy_timeout``); :class:`~vision_studio.core.store.ProjectStore` retries a blocked
write :data:`BUSY_RETRIES` more times before giving up with a
:class:`~vision_studio.core.errors.StoreBusyError`."""
BUSY_RETRIES = 1


def full_schema() -> str:
    """SQL that makes the current schema in an empty file: schema 1, then every migration
    (one path for new and migrated files, so they cannot drift apart)."""
    return _SCHEMA_V1 + "".join(MIGRATIONS[v] for v in range(1, SCHEMA_VERSION))


def statements(script: str) -> list[str]:
    """Split an SQL script into complete statements (``sqlite3.complete_statement``), so
    that it can run inside a transaction this module controls (``executescript`` would
    commit a pending one first)."""
    out, buf = [], ""
    for line in script.splitlines(keepends=True):
        buf += line
        if sqlite3.complete_statement(buf):
            out.append(buf.strip())
            buf = ""
    if buf.strip():
        out.append(buf.strip())
    return out


def connect(path: Path, busy_timeout_s: float = BUSY_TIMEOUT_S) -> sqlite3.Connection:
    """A read-write connection in WAL mode (``synchronous=NORMAL``, foreign keys on)."""
    conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False,
                           timeout=busy_timeout_s)
    try:
        conn.execute(f"PRAGMA busy_timeout={int(busy_timeout_s * 1000)}")
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
    except sqlite3.Error:
        conn.close()
        raise
    return conn


def connect_readonly(path: Path) -> sqlite3.Connection:
    """A connection that never writes the project's data (``PRAGMA query_only``).

    Where the file and its folder can be written, it is a normal connection made
    query-only, so that it sees the commits still in the WAL of a killed writer (a
    ``mode=ro`` connection cannot replay that WAL). Otherwise ``mode=ro``; and on a
    read-only folder or file system where SQLite cannot create the WAL's shared-memory
    file, ``immutable`` (nothing can write such media meanwhile).
    """
    if not cannot_write(Path(path)):
        conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA query_only=1")
        return conn
    uri = "file:" + quote(str(Path(path).resolve())) + "?mode=ro"
    for extra in ("", "&immutable=1"):
        conn = sqlite3.connect(uri + extra, uri=True, isolation_level=None,
                               check_same_thread=False)
        try:
            conn.execute("PRAGMA query_only=1")
            conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
            return conn
        except sqlite3.OperationalError as exc:
            conn.close()
            if extra or primary_code(exc) not in (SQLITE_CANTOPEN, SQLITE_READONLY):
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def cannot_write(path: Path) -> bool:
    """True when ``path`` or its folder cannot be written (read-only file, folder or file
    system; ``os.access`` honours a read-only mount even for root)."""
    return not (os.access(path, os.W_OK) and os.access(path.parent, os.W_OK | os.X_OK))


def readonly_error(path: Path) -> StoreReadOnlyError:
    """The error for opening a read-only project for writing."""
    return StoreReadOnlyError(
        f"{path}: the project is read-only (the file, its folder or the file system cannot be "
        "written); open it read-only to view or export it")


def create_file(path: Path, root_setting: str | None) -> None:
    """Build a complete, empty project at ``path`` atomically (see the module docstring).

    Args:
        path: The project file to create; must not exist.
        root_setting: The JSON text of the ``root`` setting, or ``None`` for none.

    Raises:
        StoreError: ``path`` exists (also when it appears during the build), or the
            folder cannot be written (:class:`StoreReadOnlyError`, disk full...).
    """
    tmp = prepare_temp(path)
    try:
        write_new_file(tmp, path, root_setting)
        link_into_place(tmp, path)
    finally:
        discard_temp(tmp)


def prepare_temp(path: Path) -> Path:
    """Check that ``path`` is free, make its folder, clean killed creators' leftovers
    there and reserve a temporary name beside it (see :func:`outputs.reserve_temp`).

    Raises:
        StoreError: ``path`` exists or its folder cannot be made.
    """
    if path.exists() or path.is_symlink():
        raise StoreError(f"{path}: a file already exists there")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"{path}: cannot create its folder ({exc})") from None
    clean_stale_temps(path.parent)  # of creators and writers killed before
    return reserve_temp(path)


def discard_temp(tmp: Path) -> None:
    """Remove a temporary project (if still there) with its companions; release it."""
    try:
        for leftover in (tmp, *(Path(f"{tmp}{s}") for s in ("-journal", "-wal", "-shm"))):
            if leftover.exists():
                leftover.unlink()
    finally:
        release_temp(tmp)


def write_new_file(tmp: Path, path: Path, root_setting: str | None) -> None:
    """Write a complete, empty project into the new file ``tmp`` (errors name ``path``)."""
    try:
        conn = sqlite3.connect(str(tmp), isolation_level=None)
        try:  # rollback journal + synchronous=FULL (the defaults): durable at COMMIT
            conn.execute("BEGIN IMMEDIATE")
            for sql in statements(full_schema()):
                conn.execute(sql)
            if root_setting is not None:
                conn.execute("INSERT INTO settings(key, value) VALUES('root', ?)", (root_setting,))
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            conn.execute("COMMIT")
        finally:
            conn.close()
    except (sqlite3.Error, OSError) as exc:
        if not os.access(path.parent, os.W_OK | os.X_OK):
            raise StoreReadOnlyError(f"{path}: cannot create the project: its folder is "
                                     "read-only") from None
        if isinstance(exc, sqlite3.Error):
            raise translate(exc, path) from None
        raise StoreError(f"{path}: cannot create the project ({exc})") from None


def link_into_place(tmp: Path, path: Path) -> None:
    """Give ``tmp`` the name ``path`` without ever replacing an existing ``path``.

    Raises:
        StoreError: ``path`` exists, or the rename failed.
    """
    try:
        os.link(tmp, path)  # atomic and exclusive on POSIX file systems
    except FileExistsError:
        raise StoreError(f"{path}: a file already exists there") from None
    except OSError:  # no hard links here (FAT, some network shares): exists-check + rename
        if path.exists():
            raise StoreError(f"{path}: a file already exists there") from None
        try:
            os.rename(tmp, path)  # Windows refuses to rename over an existing file
        except OSError as exc:
            raise StoreError(f"{path}: cannot create the project ({exc})") from None
    if os.name == "posix":
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def is_blank(path: Path) -> bool:
    """True when ``path`` is a regular file that holds nothing: zero bytes, or a SQLite
    file without any table (a creation killed by an older version left those)."""
    try:
        if not path.is_file():
            return False
        if path.stat().st_size == 0:
            return True
        with open(path, "rb") as f:
            if f.read(16) != b"SQLite format 3\x00":
                return False
        # a plain connection: it may replay a WAL left by a killed writer, which a
        # read-only one cannot (and an immutable one would ignore the WAL's tables)
        conn = sqlite3.connect(str(path), isolation_level=None)
    except (OSError, sqlite3.Error):
        return False
    try:
        return conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()[0] == 0
    except sqlite3.Error:
        return False
    finally:
        conn.close()


def initialise_if_empty(conn: sqlite3.Connection) -> bool:
    """Make the schema in a SQLite file with no table at all (nothing to lose); returns
    True when it did. Safe against a second process doing the same at once."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        if conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()[0]:
            conn.execute("ROLLBACK")
            return False
        for sql in statements(full_schema()):
            conn.execute(sql)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
        return True
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def migrate(conn: sqlite3.Connection, path: Path) -> None:
    """Upgrade the file to :data:`SCHEMA_VERSION`, one migration per transaction (the
    version is re-read under the write lock, so two processes never migrate twice)."""
    while True:
        conn.execute("BEGIN IMMEDIATE")
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version >= SCHEMA_VERSION:
                conn.execute("ROLLBACK")
                return
            for sql in statements(MIGRATIONS[version]):
                conn.execute(sql)
            conn.execute(f"PRAGMA user_version = {version + 1}")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        log.info("%s: migrated to schema %d", path, version + 1)


def migrated_copy(conn: sqlite3.Connection, path: Path) -> sqlite3.Connection:
    """An in-memory copy of a read-only, older-schema project, migrated (the file is
    left as it is); ``conn`` is closed."""
    mem = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
    conn.backup(mem)
    conn.close()
    migrate(mem, path)
    mem.execute("PRAGMA query_only=1")
    return mem


def mark_interrupted_runs(conn: sqlite3.Connection) -> list[int]:
    """Runs left ``running`` by a process of this host that is gone become
    ``interrupted``; returns their ids. Runs of another host, or with an unknown process
    (pid 0, recorded before schema 2), are left alone: nothing here can tell."""
    host = this_host()
    rows = conn.execute("SELECT id, pid FROM runs WHERE status = 'running' AND host = ?",
                        (host,)).fetchall()
    dead = [run_id for run_id, pid in rows if pid and not process_alive(pid)]
    if not dead:
        return []
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:  # another writer: the next open marks them
        log.info("runs %s not marked interrupted now (%s)", dead, exc)
        return []
    try:
        conn.executemany("UPDATE runs SET status = 'interrupted' WHERE id = ? AND status = 'running'",
                         [(i,) for i in dead])
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    log.warning("runs %s were left running by a process that is gone: marked interrupted", dead)
    return dead
