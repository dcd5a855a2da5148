"""The error types the core raises for bad input. Each message names the file (or the
item) and the problem, in words a user can act on; the CLI prints it on one line and the
GUI shows it in a dialog."""
from __future__ import annotations

import sqlite3


class VisionStudioError(Exception):
    """Base of every error the core raises on purpose (bad input, invalid settings)."""


class FormatError(VisionStudioError):
    """An annotation file (COCO JSON, VOC XML, labelme JSON, mask PNG...) is broken or
    unsafe; the message names the file and what is wrong."""


class ConfigError(VisionStudioError):
    """A training/evaluation setting is invalid; the message names the field."""


class StoreError(VisionStudioError):
    """A project file cannot be opened or written (not a project, locked, read-only, disk
    full...), or an operation on it is invalid; never a raw ``sqlite3`` error."""


class OutputError(VisionStudioError):
    """An output path may not be written; ``path`` is the file or folder concerned.

    Args:
        path: The output path.
        problem: What is wrong, in words (the message is ``"PATH: problem"``).
    """

    def __init__(self, path: object, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem

    def __reduce__(self) -> tuple:  # picklable across processes despite the two arguments
        return (type(self), (self.path, self.problem))


class OutputExistsError(OutputError):
    """The output file exists, or the output folder is not empty, and replacing it was
    not allowed (the CLI's ``--overwrite``; the GUI asks, naming :attr:`path`)."""


class ProtectedPathError(OutputError):
    """The output path is the project file, one of its ``-wal``/``-shm`` companions or
    an image of the project: never written, even when overwriting is allowed."""


class StoreBusyError(StoreError):
    """Another connection held the project's write lock for longer than the store
    waits (busy timeout and retries); usually another window or command has it open."""


class StoreReadOnlyError(StoreError):
    """The project file, its folder or the file system cannot be written; the project
    can still be opened read-only (``ProjectStore.open(path, readonly=True)``)."""


class StoreFullError(StoreError):
    """The disk is full: the change that hit it was rolled back, everything committed
    before is intact."""


class StoreClosedError(StoreError, sqlite3.ProgrammingError):
    """The project was closed (e.g. a late repaint while the window closes). Also a
    ``sqlite3.ProgrammingError``, which older callers catch for this case."""
