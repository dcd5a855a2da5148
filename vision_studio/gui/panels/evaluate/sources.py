"""What the Evaluation panel can review, as the items of its source choice
(:attr:`~.layout.EvalWidgets.checkpoint`): the project's checkpoints (from the core
:func:`~vision_studio.core.evaluation.session.checkpoint_choices`) and the COCO results
files opened with "Open predictions file…" — kept in the choice for the session and
remembered per project in the user's settings (``QSettings``, never the project file),
so the last reviewed file can be chosen again after a restart.

An item's ``UserRole`` data is the path (a string); a results file's item also has
:data:`RESULTS_ROLE` set to ``True``, a checkpoint's item its run's task in
:data:`TASK_ROLE` (:func:`source_task`: which controls apply before an evaluation).
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Sequence

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox

from vision_studio.core.types import Task
from vision_studio.gui import settings

RESULTS_ROLE = Qt.ItemDataRole.UserRole + 1
"""Item data role: ``True`` on a COCO results file's item."""
TASK_ROLE = Qt.ItemDataRole.UserRole + 2
"""Item data role: the task of a checkpoint's run (``""`` when unknown)."""
MAX_RECENT = 8
"""Results files remembered per project."""


def _key(project: str | Path) -> str:
    digest = hashlib.sha1(str(Path(project).resolve()).encode("utf-8")).hexdigest()[:16]
    return f"evaluate/recent_results_{digest}"


def recent_results(project: str | Path) -> list[Path]:
    """The results files last reviewed on ``project`` that still exist, newest first."""
    value = settings.value(_key(project), [])
    if isinstance(value, str):  # QSettings returns a lone string for a 1-item list
        value = [value]
    return [Path(v) for v in (value or []) if isinstance(v, str) and Path(v).is_file()]


def remember_results(project: str | Path, path: str | Path) -> list[Path]:
    """Put ``path`` first in the project's recent results files; returns the list."""
    path = Path(path)
    files = [path] + [f for f in recent_results(project) if f != path]
    settings.set_value(_key(project), [str(f) for f in files[:MAX_RECENT]])
    return files[:MAX_RECENT]


def results_label(path: str | Path) -> str:
    """The choice's text for a results file: its name, marked as a predictions file."""
    return f"{Path(path).name} (predictions file)"


def add_results_item(combo: QComboBox, path: str | Path) -> int:
    """Add (or find) the item of results file ``path``; returns its index."""
    data = str(path)
    for i in range(combo.count()):
        if combo.itemData(i) == data and combo.itemData(i, RESULTS_ROLE):
            return i
    combo.addItem(results_label(path), data)
    i = combo.count() - 1
    combo.setItemData(i, True, RESULTS_ROLE)
    combo.setItemData(i, f"COCO results file: {data}", Qt.ItemDataRole.ToolTipRole)
    return i


def fill_sources(combo: QComboBox, checkpoints: Sequence[tuple[str, str, str]], results: Sequence[str | Path],
                 current: str | None, default: int) -> None:
    """Refill ``combo``: the checkpoints (``(label, path, task)``), then the results
    files; ``current`` (a path) stays chosen when still there, else item ``default``."""
    combo.clear()
    for label, path, task in checkpoints:
        combo.addItem(label, path)
        combo.setItemData(combo.count() - 1, task, TASK_ROLE)
    for path in results:
        add_results_item(combo, path)
    i = combo.findData(current) if current else -1
    combo.setCurrentIndex(i if i >= 0 else default)


def is_results(combo: QComboBox, index: int | None = None) -> bool:
    """Whether item ``index`` (default: the current one) is a results file."""
    index = combo.currentIndex() if index is None else index
    return index >= 0 and bool(combo.itemData(index, RESULTS_ROLE))


def run_tasks(store: Any) -> dict[Path, str]:
    """``{run folder (resolved): task}`` of the project's runs, to tell a checkpoint's
    task without reading the checkpoint (a ``best.pt`` lies in its run's folder)."""
    out: dict[Path, str] = {}
    for run in store.runs():
        folder = Path(run.out_dir)
        out[(folder if folder.is_absolute() else store.root / folder).resolve()] = run.task
    return out


def source_task(combo: QComboBox, index: int | None = None) -> str:
    """The task of item ``index`` (default: the current one): its checkpoint's run task,
    :data:`Task.DETECTION` for a results file (boxes or masks), ``""`` when unknown."""
    index = combo.currentIndex() if index is None else index
    if index < 0:
        return ""
    if combo.itemData(index, RESULTS_ROLE):
        return Task.DETECTION
    return combo.itemData(index, TASK_ROLE) or ""
