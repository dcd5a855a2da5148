"""Full verification of the project's images after an import (run in a background task).

An import reads image headers only, so a truncated JPEG gets in unnoticed and its
training samples are skipped every epoch. :func:`verify_images` runs the core's
:func:`vision_studio.core.io.common.verify_project_images` — the same check, cache and
problem kind (``bad_image``) as the CLI's — and adds what the import dialog reports: how
many images were decoded and how many were skipped as unchanged (``ImageRecord.check_key``
equal to the file's ``"<size>:<mtime_ns>"``). Qt-free: the dialog runs it in a
:class:`~vision_studio.gui.dialogs.worker.StoreTask`.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Callable

from vision_studio.core.images import file_check_key
from vision_studio.core.io.common import verify_project_images
from vision_studio.core.store import ProjectStore
from vision_studio.core.types import Problem

log = logging.getLogger(__name__)

KIND = "bad_image"
"""The problem kind recorded for an image that does not decode in full (the core's)."""


@dataclass
class VerifyResult:
    """What :func:`verify_images` found.

    Attributes:
        checked: Images decoded in this call.
        cached: Images skipped because their file had not changed since the last
            full verification.
        problems: The new ``bad_image`` problems recorded (one per bad image).
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
    verified (by :func:`~vision_studio.core.io.common.verify_project_images`).

    Args:
        store: The project (its own connection: this runs in a worker thread).
        progress: ``progress(done, total)`` after each image. When it raises (the
            task's cancel), the check stops at the next image, what was checked so far
            is recorded, and the exception is raised again.

    Returns:
        The :class:`VerifyResult`.
    """
    images = store.images()
    cached = sum(1 for im in images
                 if im.check_key and file_check_key(store.resolve(im)) == im.check_key)
    before = {p.id for p in store.problems(include_dismissed=True)}
    stop: list[BaseException] = []

    def report(done: int, total: int) -> None:
        if progress is None or stop:
            return
        try:
            progress(done, total)
        except Exception as exc:  # the cancel: stop at the next image, keep what was done
            stop.append(exc)

    verify_project_images(store, images, progress=report, cancelled=lambda: bool(stop))
    if stop:
        raise stop[0]
    new = [p for p in store.problems(include_dismissed=True)
           if p.id not in before and p.kind == KIND]
    return VerifyResult(checked=len(images) - cached, cached=cached, problems=new)
