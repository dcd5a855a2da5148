"""How the core is asked to stop long work, and how it reports progress (no Qt).

One convention for prediction, pre-labelling and scoring: a *cancel* is a
``threading.Event`` (set = stop), an object with a ``cancelled`` attribute
(:class:`~vision_studio.core.training.cancel.CancelToken`) or a callable returning True
to stop; ``None`` never stops. Loops check it between batches (sliced inference: between
tile batches) and raise :class:`Cancelled`. A *progress* callback is
``progress(done, total)`` in images; ``done`` may be fractional while one image is
predicted in parts (sliced inference: ``i + parts done / parts of image i``), rises
monotonically and is a whole number when an image is finished.
"""
from __future__ import annotations

import threading
from typing import Any, Callable, Union

from vision_studio.core.errors import VisionStudioError

Progress = Callable[[float, int], None]
"""``progress(done, total)``: images done (fractional within an image predicted in
parts), of ``total``."""
Cancel = Union[Callable[[], bool], threading.Event, Any, None]
"""A ``threading.Event`` (set = cancel), an object with a ``cancelled`` attribute
(:class:`~vision_studio.core.training.cancel.CancelToken`), or a callable returning True
to cancel; ``None`` = never."""


class Cancelled(VisionStudioError):
    """The work was cancelled by its caller; nothing of it was stored."""


def is_cancelled(cancel: Cancel) -> bool:
    """Whether ``cancel`` (see :data:`Cancel`) asks to stop now."""
    if cancel is None:
        return False
    if isinstance(cancel, threading.Event):
        return cancel.is_set()
    if hasattr(cancel, "cancelled"):
        return bool(cancel.cancelled)
    return bool(cancel())


def check_cancel(cancel: Cancel, what: str = "") -> None:
    """Raise :class:`Cancelled` (message ``"cancelled" + what``) when ``cancel`` is set."""
    if is_cancelled(cancel):
        raise Cancelled(f"cancelled{what}")


def images_done(done: float) -> str:
    """``done`` images for a message: ``"3"``, or ``"2.4"`` within an image."""
    return f"{done:.0f}" if float(done).is_integer() else f"{done:.1f}"


def checked_progress(progress: Progress | None, cancel: Cancel) -> Progress:
    """A progress callback that forwards to ``progress`` and raises :class:`Cancelled`
    when ``cancel`` is set (the prediction loops call it after every batch)."""
    def report(done: float, total: int) -> None:
        if progress is not None:
            progress(done, total)
        check_cancel(cancel, f" after {images_done(done)} of {total} images")
    return report
