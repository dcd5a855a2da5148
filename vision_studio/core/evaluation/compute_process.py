"""The slow steps of a detection session in a child process, so that they never hold
the caller's GIL.

faster-coco-eval's C++ evaluation and pycocotools' mask code keep the GIL while they run
(150–450 ms at 1,000 images), so in a worker *thread* they freeze the GUI thread for
that long. :class:`ComputeProcess` runs :func:`~.detection_base.compute_base` /
:func:`~.detection_base.compute_full` in one spawned child process instead: the frozen
:class:`~.detection_base.DetectionSource` is pickled to the child once (keyed by its
``token``; ~20 ms at 20,000 objects) and kept there; each step sends only thresholds
and gets back frozen results (numpy arrays, small dicts). :class:`InThread` has the same
methods and computes in the calling thread (the CLI, scripts, tests).
"""
from __future__ import annotations

import atexit
import logging
import multiprocessing as mp
import os
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from cachetools import LRUCache

from vision_studio.core.child_guard import exit_with_parent
from vision_studio.core.evaluation.detection_base import Base, DetectionSource, FullResult, compute_base, compute_full

log = logging.getLogger(__name__)

_SOURCES: LRUCache = LRUCache(maxsize=3)  # in the child: token -> DetectionSource


class SourceMissing(Exception):
    """The child does not hold this source (it was restarted or evicted it): resend."""


def _child_step(token: str, src: DetectionSource | None, what: str, args: tuple) -> Base | FullResult:
    if src is not None:
        _SOURCES[token] = src
    src = _SOURCES.get(token)
    if src is None:
        raise SourceMissing(token)
    return compute_base(src, *args) if what == "base" else compute_full(src, *args)


def _child_warm_up() -> int:
    """Import what the steps need (seconds, once) while nothing waits for it."""
    import torch

    import vision_studio.core.evaluation.coco_eval  # noqa: F401
    import faster_coco_eval  # noqa: F401
    import torchvision.ops  # noqa: F401

    torch.set_num_threads(1)
    return os.getpid()


class InThread:
    """The steps computed in the calling thread."""

    def base(self, src: DetectionSource, nms: float) -> Base:
        """:func:`~.detection_base.compute_base`."""
        return compute_base(src, nms)

    def full(self, src: DetectionSource, score: float, nms: float) -> FullResult:
        """:func:`~.detection_base.compute_full` with the confusion matrix."""
        return compute_full(src, score, nms)


class ComputeProcess(InThread):
    """The steps computed in one spawned child process (started on first use or by
    :meth:`start`; restarted when it dies). Calls are serialised: one step at a time.
    When the child cannot be started at all (the program's ``__main__`` is not guarded,
    or a frozen app lacks ``multiprocessing.freeze_support()``), the steps run in the
    calling thread instead."""

    def __init__(self) -> None:
        self._pool: ProcessPoolExecutor | None = None
        self._sent: set[str] = set()
        self._lock = threading.Lock()
        self._broken = False

    def start(self) -> None:
        """Start the child and its imports now (returns at once)."""
        with self._lock:
            self._ensure()

    def _ensure(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(max_workers=1, mp_context=mp.get_context("spawn"),
                                             initializer=exit_with_parent)
            self._sent.clear()
            self._pool.submit(_child_warm_up)
        return self._pool

    def base(self, src: DetectionSource, nms: float) -> Base:  # noqa: D102
        return self._call(src, "base", (nms,))

    def full(self, src: DetectionSource, score: float, nms: float) -> FullResult:  # noqa: D102
        return self._call(src, "full", (score, nms))

    def _call(self, src: DetectionSource, what: str, args: tuple) -> Any:
        with self._lock:
            if self._broken:
                return InThread.base(self, src, *args) if what == "base" else InThread.full(self, src, *args)
            for attempt in range(3):
                send = src.token not in self._sent
                try:
                    out = self._ensure().submit(_child_step, src.token, src if send else None, what, args).result()
                except SourceMissing:
                    self._sent.discard(src.token)
                    continue
                except BrokenProcessPool:
                    log.warning("the evaluation process ended; starting a new one (attempt %d)", attempt + 1)
                    self._pool = None
                    continue
                self._sent.add(src.token)
                return out
            # e.g. a frozen app without multiprocessing.freeze_support(), or an unguarded
            # __main__: compute here from now on (slower to the GUI, never wrong)
            log.error("the evaluation process cannot start; evaluating in this process instead")
            self._broken = True
        return self._call(src, what, args)

    def close(self) -> None:
        """Stop the child (pending steps are dropped)."""
        with self._lock:
            if self._pool is not None:
                self._pool.shutdown(wait=False, cancel_futures=True)
                self._pool = None


_shared: ComputeProcess | None = None


def shared_compute_process() -> ComputeProcess:
    """The process-wide :class:`ComputeProcess` (one child for every session; stopped
    when the interpreter exits)."""
    global _shared
    if _shared is None:
        _shared = ComputeProcess()
        atexit.register(_shared.close)
    return _shared
