"""The health finder off the GUI thread: :class:`HealthWorker` runs
:func:`run_health` in its own :class:`QThread` with progress and cancel.

:func:`run_health` is plain Python (no Qt): it opens its OWN read-only store connection
(never the GUI thread's), runs :func:`vision_studio.core.health.find_issues` and
projects the cached features to 2-D with
:func:`vision_studio.core.health.embedding_map.embed_2d`.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
from PySide6.QtCore import QObject, QThread, Signal

from vision_studio.core.errors import VisionStudioError
from vision_studio.core.health import HealthReport, find_issues
from vision_studio.core.health.embedding_map import MIN_UMAP, embed_2d
from vision_studio.core.store import ProjectStore
from vision_studio.gui.panels.health.map_process import MapCancelled, embed_2d_in_child

log = logging.getLogger(__name__)


class HealthCancelled(Exception):
    """Raised from the progress callback when the user cancelled."""


@dataclass(frozen=True)
class HealthOptions:
    """What to look for.

    Attributes:
        labels: Label errors (classification image tags).
        duplicates: Near-duplicates and leaks.
        folds: K of the out-of-fold probes.
        weights: Backbone weights: a timm tag (``"in1k"``) or a ``.pth`` file.
        map_method: ``"auto"`` (UMAP when installed and >= 20 images), ``"umap"``, ``"pca"``.
    """

    labels: bool = True
    duplicates: bool = True
    folds: int = 5
    weights: str | os.PathLike = "in1k"
    map_method: str = "auto"


@dataclass(frozen=True)
class HealthResult:
    """A finished search.

    Attributes:
        report: The core :class:`HealthReport` (issues worst first, features, findings).
        xy: [N, 2] float32 map coordinates, row-aligned with ``report.features``.
        map_method: ``"umap"`` or ``"pca"``.
        quality: [N] float64 label quality per feature row (``nan`` = no label / not run).
    """

    report: HealthReport
    xy: np.ndarray
    map_method: str
    quality: np.ndarray = field(default_factory=lambda: np.zeros(0))


def run_health(project: Path, options: HealthOptions,
               progress: Callable[[int, int], None] | None = None) -> HealthResult:
    """Find the issues of the project file ``project`` and map its images with PCA
    (instant; :func:`refine_map` computes the UMAP map afterwards).

    Args:
        project: The ``.vsproj`` file (opened read-only here).
        options: What to look for.
        progress: ``progress(done, total)`` images embedded; it may raise to cancel.

    Raises:
        VisionStudioError: no images, no usable labels, weights that cannot be loaded.
    """
    with ProjectStore.open(project, readonly=True) as store:
        report = find_issues(store, labels=options.labels, duplicates=options.duplicates,
                             folds=options.folds, weights=options.weights, progress=progress)
    xy, method = embed_2d(report.features.features, method="pca")
    quality = np.full(len(report.features.image_ids), np.nan)
    if report.label_findings is not None:
        quality[report.label_rows] = report.label_findings.quality
    return HealthResult(report, xy, method, quality)


def refine_map(result: HealthResult, method: str,
               cancelled: Callable[[], bool] = lambda: False) -> tuple[np.ndarray, str] | None:
    """The map by ``method`` (``"auto"`` / ``"umap"``), computed in a child process
    (:mod:`.map_process`), or ``None`` when that is PCA anyway (few images, umap-learn
    missing) or ``method`` is ``"pca"``.

    Returns:
        ``(xy [N, 2] float32, "umap")`` row-aligned with ``result.report.features``.

    Raises:
        MapCancelled: ``cancelled()`` became true.
        VisionStudioError: the child process failed or died.
    """
    if method == "pca" or len(result.report.features.image_ids) < MIN_UMAP:
        return None
    xy, used = embed_2d_in_child(result.report.features.features, method, cancelled)
    return (xy, used) if used != "pca" else None


class HealthWorker(QThread):
    """A thread that runs :func:`run_health`, then :func:`refine_map`.

    The object lives in the GUI thread; its signals are emitted from the worker thread
    and arrive queued in the receivers' (GUI) thread.

    Signals:
        progress(int, int): images done, total.
        done(object): the :class:`HealthResult` (with the PCA map).
        mapped(object): then, unless cancelled or the options ask for PCA, the
            ``(xy, method)`` of :func:`refine_map` (UMAP: seconds to a minute, numba
            compiles on first use).
        failed(str): a one-line reason (``"cancelled"`` after :meth:`cancel`).
        mapFailed(str): the UMAP map could not be made (the PCA map stays).
        ended(): the work is over (after ``done``/``mapped``/``failed``).
    """

    progress = Signal(int, int)
    done = Signal(object)
    mapped = Signal(object)
    failed = Signal(str)
    mapFailed = Signal(str)
    ended = Signal()

    def __init__(self, project: Path, options: HealthOptions, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("health-finder")
        self.project, self.options = Path(project), options
        self._cancel = False

    def cancel(self) -> None:
        """Ask the search to stop at its next step (an image batch, the end of the
        probes; a UMAP fit runs to its end, then nothing more is sent)."""
        self._cancel = True

    def _progress(self, done: int, total: int) -> None:
        if self._cancel:
            raise HealthCancelled()
        self.progress.emit(done, total)

    def run(self) -> None:
        """Search, then refine the map (in the worker thread)."""
        try:
            result = run_health(self.project, self.options, self._progress)
            if self._cancel:  # cancelled after the last progress step (the probes)
                raise HealthCancelled()
            self.done.emit(result)
        except HealthCancelled:
            self.failed.emit("cancelled")
        except VisionStudioError as exc:
            self.failed.emit(str(exc))
        except Exception as exc:  # a worker must never take the app down
            log.exception("dataset health failed")
            self.failed.emit(f"dataset health failed: {exc}")
        else:
            self._refine(result)
        finally:
            self.ended.emit()

    def _refine(self, result: HealthResult) -> None:
        """The UMAP map after the issues; a failure only keeps the PCA map."""
        try:
            better = refine_map(result, self.options.map_method, lambda: self._cancel)
        except MapCancelled:
            return
        except VisionStudioError as exc:
            log.warning("dataset health map: %s; the PCA map stays", exc)
            self.mapFailed.emit(str(exc))
            return
        if better is not None and not self._cancel:
            self.mapped.emit(better)
