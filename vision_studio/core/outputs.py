"""Safe output files: never write over the user's data without being asked.

Every file or folder the program writes for the user (exports, predictions, reports)
goes through two steps:

1. :func:`check_output` before any work: the project file, its ``-wal`` / ``-shm`` /
   ``-journal`` companions and every image of the project are refused even with
   ``overwrite`` (:class:`ProtectedPathError`); an existing file or a non-empty folder is
   refused unless ``overwrite`` is given (:class:`OutputExistsError`; the GUI asks the
   user, naming :attr:`OutputExistsError.path`, and retries with ``overwrite=True``).
2. :func:`atomic_output` / :func:`atomic_write_text` / :func:`atomic_write_bytes` to
   write: the data goes to a temporary file in the same folder
   (``.<stem>.vs-tmp-<pid>-<random><suffix>``, hidden, same extension so writers that
   pick the format from the name still work), is flushed to disk (``fsync``) and renamed
   over the target with :func:`os.replace` (atomic on POSIX and Windows within one
   file system). A kill leaves either the old file or the new one, never half of one; a
   temporary file left by a killed process is removed the next time that folder is
   checked or written (:func:`clean_stale_temps`).

For a folder output, check the folder once with :func:`check_output` and write each
file in it with the atomic helpers, passing ``protected`` so that a file of the project
that happens to live there is still never replaced.
"""
from __future__ import annotations

import os
import re
import secrets
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Collection, Iterator

from vision_studio.core.errors import OutputExistsError, ProtectedPathError
from vision_studio.core.liveness import process_alive

if TYPE_CHECKING:
    from vision_studio.core.store import ProjectStore

TMP_MARK = ".vs-tmp-"
"""Marks a temporary output file: ``.<stem>.vs-tmp-<pid>-<hex><suffix>``."""

_TMP_RE = re.compile(r"^\..*" + re.escape(TMP_MARK) + r"(\d+)-[0-9a-f]+")
_COMPANIONS = ("-wal", "-shm", "-journal")


def _key(path: str | os.PathLike) -> str:
    """Comparable form of a path: absolute, symlinks resolved, case folded where the
    platform's file names are case-insensitive (``os.path.normcase``)."""
    return os.path.normcase(os.path.realpath(os.fspath(path)))


class ProtectedPaths(frozenset):
    """A set of resolved paths (see :func:`_key`) that outputs never replace."""


def protected_paths(store: ProjectStore) -> ProtectedPaths:
    """Paths no output may replace: the project file, its SQLite companions (``-wal``,
    ``-shm``, ``-journal``) and every image of the project.

    Args:
        store: The open project.

    Returns:
        Resolved paths (symlinked folders followed, ``os.path.normcase``-d), as
        strings; pass them as ``protected`` to :func:`check_output` and the atomic
        writers. Each image folder is resolved once (an image that is itself a symlink
        is protected under its own name, which is what an output would replace).
    """
    project = os.path.realpath(os.fspath(store.path))
    out = {os.path.normcase(project + s) for s in ("", *_COMPANIONS)}
    root = os.fspath(store.root)
    folders: dict[str, str] = {}  # each image folder resolved once, not each image
    for rel in store.image_paths():
        folder, name = os.path.split(os.path.normpath(os.path.join(root, rel)))
        real = folders.get(folder)
        if real is None:
            real = folders[folder] = os.path.realpath(folder)
        out.add(os.path.normcase(os.path.join(real, name)))
    return ProtectedPaths(out)


def _refuse_protected(path: Path, protected: Collection[str | os.PathLike]) -> None:
    keys = protected if isinstance(protected, ProtectedPaths) else {_key(p) for p in protected}
    if _key(path) in keys:
        raise ProtectedPathError(path, "is part of the project (the project file or one of "
                                       "its images) and is never written over")


def check_output(path: str | os.PathLike, *, overwrite: bool,
                 protected: Collection[str | os.PathLike] = ()) -> Path:
    """Check that ``path`` may be written as an output file or folder.

    Stale temporary files of killed writers next to ``path`` (in its folder, and inside
    it for a folder) are removed first; they do not make a folder count as non-empty.

    Args:
        path: The output file or folder (need not exist).
        overwrite: The user agreed to replace an existing file / fill a non-empty folder.
        protected: Paths never to replace, as :func:`protected_paths` returns them
            (other paths are resolved here).

    Returns:
        ``path`` as given, as a :class:`~pathlib.Path`.

    Raises:
        ProtectedPathError: ``path`` is the project file, one of its companions or an
            image of the project (whatever ``overwrite`` says).
        OutputExistsError: ``path`` exists (a file, or a folder with something in it)
            and ``overwrite`` is false.
    """
    path = Path(path)
    _refuse_protected(path, protected)
    if path.parent.is_dir():
        clean_stale_temps(path.parent)
    if path.is_dir():
        clean_stale_temps(path)
        if not overwrite and any(True for _ in path.iterdir()):
            raise OutputExistsError(path, "is a folder that is not empty; choose another or "
                                          "allow replacing its files (--overwrite)")
    elif (path.exists() or path.is_symlink()) and not overwrite:
        raise OutputExistsError(path, "already exists; choose another name or allow "
                                      "replacing it (--overwrite)")
    return path


def reserve_temp(target: str | os.PathLike) -> Path:
    """A fresh temporary path next to ``target``, ``.<stem>.vs-tmp-<pid>-<hex><suffix>``
    (nothing is created), protected from :func:`clean_stale_temps` (with any
    ``-wal``/``-journal`` companion) until :func:`release_temp`."""
    target = Path(target)
    stem, suffix = (target.stem, target.suffix) if target.suffix else (target.name, "")
    tmp = target.with_name(f".{stem}{TMP_MARK}{os.getpid()}-{secrets.token_hex(4)}{suffix}")
    _LIVE.add(tmp.name)
    return tmp


def release_temp(tmp: Path) -> None:
    """End the protection of a path from :func:`reserve_temp` (the file is left as is)."""
    _LIVE.discard(tmp.name)


def clean_stale_temps(folder: str | os.PathLike, name: str | None = None) -> int:
    """Delete temporary output files in ``folder`` left by processes that are gone.

    Args:
        folder: The folder to clean (not recursive).
        name: Only the temporaries of this target file name; ``None`` = all.

    Returns:
        The number of files removed. Files of live processes are left alone.
    """
    folder = Path(folder)
    prefix = None
    if name is not None:
        target = Path(name)
        prefix = "." + (target.stem if target.suffix else target.name) + TMP_MARK
    removed = 0
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return 0
    for entry in entries:
        m = _TMP_RE.match(entry.name)
        if not m or (prefix and not entry.name.startswith(prefix)):
            continue
        if int(m.group(1)) != os.getpid() and process_alive(int(m.group(1))):
            continue
        if int(m.group(1)) == os.getpid() and any(entry.name.startswith(n) for n in _LIVE):
            continue
        try:
            if entry.is_file(follow_symlinks=False):
                os.unlink(entry.path)
                removed += 1
        except OSError:
            pass
    return removed


_LIVE: set[str] = set()  # names of this process's temporaries being written now


def _fsync_dir(folder: Path) -> None:
    """Make a rename durable (POSIX); folders cannot be opened for this on Windows."""
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def atomic_output(path: str | os.PathLike, *,
                  protected: Collection[str | os.PathLike] = ()) -> Iterator[Path]:
    """Write a file all at once: yields a temporary path in the same folder; when the
    block ends without an exception that file is synced and renamed over ``path``,
    otherwise it is deleted and ``path`` is untouched.

    Call :func:`check_output` first: this does not ask about replacing ``path``.

    Args:
        path: The final file. Its folder is created if missing.
        protected: Paths never to replace (see :func:`protected_paths`).

    Yields:
        The temporary file's path (same suffix as ``path``); write it completely, e.g.
        ``image.save(tmp)`` or ``tmp.write_bytes(...)``, and close it inside the block.

    Raises:
        ProtectedPathError: ``path`` is protected.
        OSError: the folder cannot be written (the temporary file is removed).
    """
    target = Path(path)
    _refuse_protected(target, protected)
    target.parent.mkdir(parents=True, exist_ok=True)
    clean_stale_temps(target.parent, target.name)
    tmp = reserve_temp(target)
    try:
        yield tmp
        fd = os.open(tmp, os.O_RDONLY)  # the writer closed it; flush what it wrote
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, target)
        _fsync_dir(target.parent)
    finally:
        release_temp(tmp)
        if tmp.exists():
            tmp.unlink()


def atomic_write_bytes(path: str | os.PathLike, data: bytes, *,
                       protected: Collection[str | os.PathLike] = ()) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_output`); returns ``path``."""
    with atomic_output(path, protected=protected) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
    return Path(path)


def atomic_write_text(path: str | os.PathLike, text: str, *, encoding: str = "utf-8",
                      protected: Collection[str | os.PathLike] = ()) -> Path:
    """Write ``text`` to ``path`` atomically in ``encoding`` (UTF-8 by default, ``\\n``
    line ends kept as given); returns ``path``."""
    return atomic_write_bytes(path, text.encode(encoding), protected=protected)
