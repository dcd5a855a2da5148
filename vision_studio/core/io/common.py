"""Helpers shared by the COCO and VOC importers/exporters: split names from folder
names, JSON/XML file loading with clear errors, category matching, and fast
project-relative paths."""
from __future__ import annotations

import json
import os
import posixpath
import re
from pathlib import Path
from typing import Any, Iterable

from vision_studio.core.errors import FormatError
from vision_studio.core.gcpause import gc_paused  # noqa: F401 (re-exported)
from vision_studio.core.store import ProjectStore
from vision_studio.core.types import Category, Split

try:  # optional fast JSON parser (a dependency; the standard library is the fallback)
    import orjson as _orjson
except ImportError:  # pragma: no cover - depends on the environment
    _orjson = None

_SPLIT_WORDS = {
    "train": Split.TRAIN, "training": Split.TRAIN,
    "val": Split.VAL, "valid": Split.VAL, "validation": Split.VAL,
    "test": Split.TEST, "testing": Split.TEST,
}

CHUNK = 20_000
"""Rows per batched insert."""


def split_from_path(path: str | os.PathLike) -> str:
    """Guess a split name from a file's folder name, then from its file name.

    ``train``/``training`` → ``"train"``, ``val``/``valid``/``validation`` → ``"val"``,
    ``test``/``testing`` → ``"test"``; the file name is split into words on
    non-letters, so ``instances_val2017.json`` → ``"val"``. ``""`` when nothing matches.
    """
    path = Path(path)
    candidates = [path.parent.name] if path.suffix else [path.name]
    candidates.append(path.stem if path.suffix else "")
    for text in candidates:
        if text.lower() in _SPLIT_WORDS:
            return _SPLIT_WORDS[text.lower()]
        for word in re.split(r"[^a-z]+", text.lower()):
            if word in _SPLIT_WORDS:
                return _SPLIT_WORDS[word]
    return Split.UNASSIGNED


_DIGITS = bytes(48 if 48 <= i <= 57 else 32 for i in range(256))  # digit -> "0", else " "
_LONG_DIGIT_RUN = b"0" * 19  # 19 digits: the shortest integer that may not fit in 64 bits


def _has_long_digit_run(raw: bytes, step: int = 1 << 20) -> bool:
    """True when ``raw`` holds 19 or more consecutive digits (scanned in ``step``-byte
    pieces that overlap by 18 bytes; about 0.15 s of CPU for 164 MB)."""
    return any(_LONG_DIGIT_RUN in raw[max(0, i - 18):i + step].translate(_DIGITS)
               for i in range(0, len(raw), step))


def _parse(raw: bytes) -> Any:
    """JSON text -> Python values, exactly as :func:`json.loads` gives them.

    ``orjson`` (when installed) parses the common case, about 2.5x faster. The standard
    library parses the rest and then decides: text ``orjson`` refuses but ``json``
    accepts (``NaN``/``Infinity``, ``1e400``, a UTF-8 byte-order mark, UTF-16/32, lone
    surrogates), and text with 19 or more consecutive digits, since ``orjson`` turns an
    integer beyond 64 bits into a float where ``json`` keeps an exact ``int``. Syntax
    errors are therefore always worded by ``json`` (with line and column).
    """
    if _orjson is not None and not _has_long_digit_run(raw):
        try:
            return _orjson.loads(raw)
        except _orjson.JSONDecodeError:
            pass
    return json.loads(raw)


def load_json(path: str | os.PathLike, what: str = "JSON") -> Any:
    """Parse a JSON file (``orjson`` when installed, see :func:`_parse`), with the
    garbage collector paused (:func:`gc_paused`).

    Raises:
        FormatError: missing/unreadable file or invalid JSON, naming the file and the
            position of the syntax error.
    """
    path = Path(path)
    try:
        with open(path, "rb") as f:
            raw = f.read()
        with gc_paused():
            return _parse(raw)
    except FileNotFoundError:
        raise FormatError(f"{path}: {what} file not found") from None
    except IsADirectoryError:
        raise FormatError(f"{path}: is a folder, expected a {what} file") from None
    except json.JSONDecodeError as exc:
        raise FormatError(f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}: "
                          f"{exc.msg})") from None
    except UnicodeDecodeError as exc:
        raise FormatError(f"{path}: not valid JSON (not UTF-8 text: {exc.reason})") from None
    except OSError as exc:
        raise FormatError(f"{path}: cannot read ({exc.strerror or exc})") from None


class RelativePaths:
    """Project-relative POSIX paths of files under one folder, computed with string
    operations only (no file-system calls per file, which matters at 100k images).

    Args:
        store: The project (its :attr:`~ProjectStore.root`).
        folder: The folder the names are relative to.
    """

    def __init__(self, store: ProjectStore, folder: str | os.PathLike) -> None:
        self.folder = Path(folder).resolve()
        try:
            base = os.path.relpath(self.folder, store.root)
        except ValueError:  # another drive on Windows: keep absolute
            base = str(self.folder)
        self.base = Path(base).as_posix()

    def __call__(self, name: str) -> str:
        """``name`` (relative to the folder, ``/`` or ``\\`` separated) → project path."""
        return posixpath.normpath(posixpath.join(self.base, name.replace("\\", "/")))

    def absolute(self, name: str) -> Path:
        """The file's absolute path."""
        return self.folder / name.replace("\\", "/")


def match_categories(store: ProjectStore, wanted: Iterable[tuple[str, str]],
                     exclude: Iterable[int] = ()) -> tuple[list[Category], int]:
    """Map ``(name, supercategory)`` pairs to store categories, creating missing ones.

    Each wanted pair reuses, in order of preference, an existing category whose name is
    equal and is not yet used by an earlier pair of the same call; otherwise a new
    category is created. Duplicate names in ``wanted`` therefore map to distinct
    categories (real datasets repeat names).

    Args:
        store: The project.
        wanted: ``(name, supercategory)`` pairs.
        exclude: Store category ids that must not be reused (already matched).

    Returns:
        ``(categories in the order of wanted, number created)``.
    """
    existing = store.categories()
    used: set[int] = set(exclude)
    out: list[Category | None] = []
    to_create: list[tuple[int, str, str]] = []
    for i, (name, sc) in enumerate(wanted):
        name = name.strip()
        hit = next((c for c in existing if c.name == name and c.id not in used), None)
        if hit is None:
            to_create.append((i, name, sc))
            out.append(None)
        else:
            used.add(hit.id)
            out.append(hit)
    created = store.add_categories([(n, None, sc) for _, n, sc in to_create]) if to_create else []
    for (i, _, _), cat in zip(to_create, created):
        out[i] = cat
    return [c for c in out if c is not None], len(created)
