"""Full verification of the project's images after an import (run in a background task).

An import reads image headers only, so a truncated JPEG gets in unnoticed and its
training samples are skipped every epoch. :func:`verify_images` decodes every image not
yet verified in its current state (``ImageRecord.check_key`` differs from the file's
``"<size>:<mtime_ns>"``, :func:`vision_studio.core.images.file_check_key`), records a
``decode_error`` problem for each that does not decode in full, and stores the key of
each that does, so an unchanged file is never decoded twice. Qt-free: the dialog runs it
in a :class:`~vision_studio.gui.dialogs.worker.StoreTask`.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Callable

from vision_studio.core.images import file_check_key, verify_image
from vision_studio.core.store import ProjectStore
from vision_studio.core.types import Problem

log = logging.getLogger(__name__)

BATCH = 64
"""Images verified between two writes of the results (a cancel keeps what was done)."""

KIND = "decode_error"


@dataclass
class VerifyResult:
    """What :func:`verify_images` found.

    Attributes:
        checked: Images decoded in this call.
        cached: Images skipped because their file had not changed since the last
            full verification.
        problems: The new ``decode_error`` problems recorded (one per bad image).
    """

    checked: int = 0
    cached: int = 0
    problems: list[Problem] = field(default_factory=list)

    def summary(self) -> str:
        """One line for the import report."""
        bad = len(self.problems)
        head = (f"{bad} image(s) do not decode in full (listed under Problems)" if bad
                else "every image decodes in full")
        return f"Images verified in full: {self.checked} checked, {self.cached} unchanged; {head}."


def verify_images(store: ProjectStore, progress: Callable[[int, int], None] | None = None,
                  ) -> VerifyResult:
    """Decode in full every image of ``store`` whose file changed since it was last
    verified; record the failures as problems and the successes' check keys.

    Args:
        store: The project (its own connection: this runs in a worker thread).
        progress: ``progress(done, total)`` after each image; raising from it (cancel)
            stops the run, keeping the results of the batches already written.

    Returns:
        The :class:`VerifyResult`.
    """
    result = VerifyResult()
    todo = []
    for im in store.images():
        key = file_check_key(store.resolve(im))
        if key and key == im.check_key:
            result.cached += 1
        else:
            todo.append((im, key))
    known = {(p.image_id, p.message) for p in store.problems(include_dismissed=True)}
    ok: dict[int, str] = {}
    bad: list[Problem] = []
    try:
        for n, (im, key) in enumerate(todo, 1):
            message = verify_image(store.resolve(im), key) if key else "file not found"
            result.checked += 1
            if message is None:
                ok[im.id] = key
            elif (im.id, message) not in known:
                bad.append(Problem(source=im.path, message=message, image_id=im.id, kind=KIND))
            if n % BATCH == 0:
                _write(store, ok, bad, result)
            if progress is not None:
                progress(n, len(todo))
    finally:
        _write(store, ok, bad, result)
    return result


def _write(store: ProjectStore, ok: dict[int, str], bad: list[Problem], result: VerifyResult) -> None:
    if ok:
        store.set_check_keys(ok)
    if bad:
        store.add_problems(bad)
        result.problems += bad
    ok.clear()
    bad.clear()
