"""Helpers shared by the labelme, semantic-mask and ImageFolder importers.

:class:`ImportLog` collects what an import skipped (and raises at the first skip in
strict mode), records per-file problems in the store and builds the
:class:`~vision_studio.core.io.report.ImportReport` at the end.
:func:`category_ids` finds or creates categories by name.
"""
from __future__ import annotations

import os
from typing import Iterable

from vision_studio.core.io.report import ImportReport, ProgressCallback
from vision_studio.core.store import ProjectStore
from vision_studio.core.types import Problem

Progress = ProgressCallback

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"})
"""File extensions (lower case) read as photos; GIF is not among them on purpose."""


class ImportLog:
    """What an import added and skipped: an :class:`ImportReport` plus the problems to
    record in the store.

    Args:
        store: The project being imported into (problems are recorded there).
        strict: Raise :class:`FormatError` at the first skip instead of reporting it.
        fmt: Format name (``"labelme"``, ``"masks"``, ``"imagefolder"``); the recorded
            ``Problem.kind`` is ``"import_<fmt>"``.
    """

    def __init__(self, store: ProjectStore, strict: bool, fmt: str) -> None:
        self.store = store
        self.strict = strict
        self.kind = f"import_{fmt}"
        self.result = ImportReport(format=fmt, strict=strict)
        self._problems: list[Problem] = []

    def skip(self, source: str | os.PathLike, reason: str, kind: str = "",
             image_id: int | None = None) -> None:
        """Report that ``source`` (a file, or ``file#shapeN``) was not (fully) imported.

        Raises:
            FormatError: in strict mode, naming the source and the reason.
        """
        src = str(source)
        self.result.skip(src, reason, kind)
        self._problems.append(Problem(source=src, message=reason, image_id=image_id,
                                      kind=kind or self.kind))

    def flush_problems(self) -> None:
        """Write the problems collected so far to the store (one batch)."""
        if self._problems:
            self.store.add_problems(self._problems)
            self._problems = []

    def report(self) -> ImportReport:
        """The :class:`ImportReport` of everything logged (flushes problems first)."""
        self.flush_problems()
        return self.result


def category_ids(store: ProjectStore, names: Iterable[str], log: ImportLog | None = None) -> dict[str, int]:
    """``{name: category id}`` for ``names``, creating the categories that do not exist.

    An existing category with the same name (first by id) is reused; new ones are added
    in the order of ``names`` (so a class table's order becomes the category order).
    """
    existing: dict[str, int] = {}
    for c in store.categories():
        existing.setdefault(c.name, c.id)
    wanted = [n for n in dict.fromkeys(n.strip() for n in names) if n and n not in existing]
    for cat in store.add_categories([(n, None, "") for n in wanted]):
        existing[cat.name] = cat.id
    if log is not None:
        log.result.categories += len(wanted)
    return existing


def call_progress(progress: Progress | None, done: int, total: int) -> None:
    """Call the progress callback when there is one."""
    if progress is not None:
        progress(done, total)
