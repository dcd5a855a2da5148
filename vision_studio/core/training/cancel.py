"""A cooperative stop / pause flag shared by the GUI (or CLI) and the training loop."""
from __future__ import annotations

import threading


class CancelToken:
    """Checked by the trainer before every batch.

    ``cancel()`` stops the run at the next batch boundary (a resumable ``last.pt`` is
    written); ``pause()`` blocks the loop before its next batch until ``resume()`` or
    ``cancel()``. Thread-safe: call it from any thread.
    """

    def __init__(self) -> None:
        self._cancelled = threading.Event()
        self._running = threading.Event()
        self._running.set()

    def cancel(self) -> None:
        """Ask the run to stop (also ends a pause)."""
        self._cancelled.set()
        self._running.set()

    def pause(self) -> None:
        """Ask the run to wait before its next batch."""
        self._running.clear()

    def resume(self) -> None:
        """End a pause."""
        self._running.set()

    @property
    def cancelled(self) -> bool:
        """True once :meth:`cancel` was called."""
        return self._cancelled.is_set()

    @property
    def paused(self) -> bool:
        """True between :meth:`pause` and :meth:`resume`."""
        return not self._running.is_set()

    def wait_while_paused(self, poll_s: float = 0.2) -> None:
        """Block while paused (returns at once otherwise, or when cancelled)."""
        while not self._running.wait(poll_s):
            pass
