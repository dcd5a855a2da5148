"""Attach a checkpoint trained elsewhere (the CLI on a GPU box, a project exported with
"Export for another machine…") to a project as a finished run, so that Evaluate,
"Pre-label with model" and "Label next" — which pick from the project's runs — can use it.

:func:`attach_checkpoint` reads the file (``weights_only``), checks that it is a Vision
Studio checkpoint whose task fits the project's labels and whose weights fit its
architecture, matches its categories to the project's by name, then writes a new run
folder under ``<project folder>/runs/`` (the same folder and record a training run gets,
:mod:`vision_studio.core.training.runs`): the checkpoint, a ``config.json``, the source
run's ``metrics.jsonl`` when it lies beside the file, and a :class:`RunRecord` with status
``"finished"``.

The user's file is only read. The copy in the run folder holds the same tensors (model,
optimizer, scheduler...) with three things rewritten for this project: the category ids
(the other machine's project may number the same categories differently), the run id and
the run folder (so that resuming it continues this run, not another run of this project
that happens to have the other machine's id). Qt-free; torch imported on use.
"""
from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping, Sequence

from vision_studio.core.checkpoint import BEST, LAST, CheckpointError, build_from_state, read_checkpoint, save_checkpoint
from vision_studio.core.errors import ConfigError, VisionStudioError
from vision_studio.core.paths import sha256_file
from vision_studio.core.training.checks import LabelCounts, label_counts
from vision_studio.core.training.config import TrainConfig
from vision_studio.core.training.runs import METRICS, RunFolder, default_run_dir
from vision_studio.core.types import Category, RunRecord, Task

log = logging.getLogger(__name__)


class AttachError(VisionStudioError):
    """A checkpoint cannot be attached to this project (its task does not fit the
    project's labels, or it is already one of the project's runs); the message is
    ``"FILE: problem"``."""


class CategoryMismatchError(AttachError):
    """The model predicts categories the project does not have (or names that match
    several of the project's categories).

    Attributes:
        path: The checkpoint file.
        unknown: Model category names the project lacks.
        ambiguous: Model category names shared by several project categories.
    """

    def __init__(self, path: Path, unknown: Sequence[str], ambiguous: Sequence[str] = ()) -> None:
        parts = []
        if unknown:
            parts.append(f"the model predicts {_names(unknown)}, not in this project (add "
                         f"{'it as a category' if len(unknown) == 1 else 'them as categories'} first, or attach to the "
                         "project it was trained on)")
        if ambiguous:
            parts.append(f"{_names(ambiguous)} name several categories of this project "
                         "(rename them so that each name is one category)")
        super().__init__(f"{path}: " + "; ".join(parts))
        self.path, self.unknown, self.ambiguous = path, tuple(unknown), tuple(ambiguous)

    def __reduce__(self) -> tuple:  # picklable across processes despite the arguments
        return (type(self), (self.path, self.unknown, self.ambiguous))


@dataclass(frozen=True)
class AttachedRun:
    """What :func:`attach_checkpoint` made.

    Attributes:
        run: The new run's record (status ``"finished"``).
        checkpoint: The copy in the run folder (``best.pt`` or ``last.pt``).
        source: The user's file (unchanged).
        uncovered: Names of project categories the model does not predict (it was
            trained on a subset: those are left out of its evaluation).
    """

    run: RunRecord
    checkpoint: Path
    source: Path
    uncovered: tuple[str, ...]


def _names(names: Sequence[str]) -> str:
    return ", ".join(repr(n) for n in names)


def match_categories(path: Path, model: Sequence[Mapping[str, Any]],
                     project: Sequence[Category]) -> list[dict[str, Any]]:
    """The model's categories as the project's ``{"id", "name"}``, in model label order.

    A model category is the project category of the same id and name (the same
    project, copied), else the one project category of that name (exact, case kept).

    Raises:
        CategoryMismatchError: a name the project lacks, a name of several project
            categories, or two model categories on one project category.
    """
    by_name: dict[str, list[Category]] = {}
    for c in project:
        by_name.setdefault(c.name, []).append(c)
    out, unknown, ambiguous, used = [], [], [], set()
    for m in model:
        same = [c for c in by_name.get(str(m["name"]), []) if c.id == int(m["id"])]
        found = same or by_name.get(str(m["name"]), [])
        if not found:
            unknown.append(str(m["name"]))
        elif len(found) > 1 or found[0].id in used:
            ambiguous.append(str(m["name"]))
        else:
            used.add(found[0].id)
            out.append({"id": found[0].id, "name": found[0].name})
    if unknown or ambiguous:
        raise CategoryMismatchError(path, unknown, ambiguous)
    return out


def task_fits(task: str, counts: LabelCounts) -> bool:
    """Whether a model of ``task`` fits a project with these labels: any task when
    nothing is labelled yet (pre-labelling a new project), else classification needs
    image tags, detection boxes, segmentation polygons or masks."""
    if not (counts.tagged or counts.boxed):
        return True
    if task == Task.CLASSIFICATION:
        return counts.tagged > 0
    if task == Task.DETECTION:
        return counts.boxed > 0
    return counts.polygons + counts.masks > 0


def check_checkpoint(store: Any, path: Path, state: Mapping[str, Any]) -> tuple[TrainConfig, list[dict]]:
    """The run's config and its categories mapped to the project (see :func:`attach_checkpoint`).

    Raises:
        CheckpointError, AttachError, CategoryMismatchError: as :func:`attach_checkpoint`.
    """
    cats = state.get("categories")
    if not isinstance(cats, list) or not cats or "num_classes" not in state or not all(
            isinstance(c, Mapping) and {"id", "name"} <= set(c) for c in cats):
        raise CheckpointError(f"{path}: not a Vision Studio training checkpoint (no categories)")
    try:
        config = TrainConfig.from_dict(state["config"])
    except ConfigError as exc:
        raise CheckpointError(f"{path}: its training settings cannot be read ({exc})") from exc
    counts = label_counts(store)
    if not task_fits(config.task, counts):
        raise AttachError(f"{path}: a {config.task.replace('_', ' ')} model does not fit this project's "
                          f"labels ({_labels(counts)})")
    mapped = match_categories(path, cats, store.categories())
    try:
        build_from_state(state, path)  # the weights fit the architecture
    except ConfigError as exc:
        raise CheckpointError(f"{path}: {exc}") from exc
    return config, mapped


def _labels(c: LabelCounts) -> str:
    parts = [f"{n} images with {what}" for n, what in ((c.tagged, "tags"), (c.boxed, "boxes"),
                                                       (c.polygons, "polygons"), (c.masks, "masks")) if n]
    return ", ".join(parts)


def attach_checkpoint(store: Any, checkpoint: str | Path, name: str | None = None) -> AttachedRun:
    """Attach a checkpoint file trained elsewhere to ``store`` as a finished run.

    Args:
        store: The open project (:class:`~vision_studio.core.store.ProjectStore`).
        checkpoint: A ``best.pt`` / ``last.pt`` written by Vision Studio (only read).
        name: The run's name; default the run's own name, else the file's folder name
            (``…/ssd-try/best.pt`` → ``"ssd-try"``), else its stem.

    Returns:
        The :class:`AttachedRun`.

    Raises:
        CheckpointError: missing or unreadable file, not a Vision Studio checkpoint,
            settings this program cannot read, or weights that do not fit the model.
        AttachError: the model's task does not fit the project's labels, or the file is
            already a checkpoint of one of the project's runs.
        CategoryMismatchError: the model predicts categories the project lacks.
        StoreError: the project cannot be written (nothing is left behind).
        OSError: the run folder cannot be written (nothing is left behind).
    """
    source = Path(checkpoint).resolve()
    state = read_checkpoint(source)
    _not_a_run_of(store, source)
    config, mapped = check_checkpoint(store, source, state)
    run_name = name or config.name or (source.parent.name if source.name in (BEST, LAST) else source.stem)
    folder_path = default_run_dir(store, config)
    folder_path.mkdir(parents=True)  # new and empty: nothing in it can be overwritten
    config = config.replace(categories=[c["id"] for c in mapped], out_dir=str(folder_path), name=run_name)
    folder = RunFolder(folder_path, store)
    try:
        copy = _write_run(folder, config, state, source, mapped)
    except BaseException:
        if folder.run_id is not None:
            store.delete_run(folder.run_id)
        shutil.rmtree(folder_path, ignore_errors=True)
        raise
    covered = {c["id"] for c in mapped}
    uncovered = tuple(c.name for c in store.categories() if c.id not in covered)
    log.info("attached %s as run %s (%s)", source, folder.run_id, folder_path)
    return AttachedRun(store.run(folder.run_id), copy, source, uncovered)


def _write_run(folder: RunFolder, config: TrainConfig, state: dict[str, Any], source: Path,
               mapped: list[dict]) -> Path:
    """The run folder's files and the store record (status ``"finished"``)."""
    from vision_studio.core.training.engine import TASK_METRIC

    metric = str(state.get("metric_name") or TASK_METRIC[config.task])
    folder.write_config(config)
    folder.record(config, metric)
    digest = sha256_file(source)
    state = {**state, "config": config.to_dict(), "categories": mapped, "run_id": folder.run_id,
             "attached_from": {"path": str(source), "sha256": digest}}
    copy = save_checkpoint(folder.path / (source.name if source.name in (BEST, LAST) else BEST), state)
    if (source.parent / METRICS).is_file() and source.name in (BEST, LAST):
        shutil.copyfile(source.parent / METRICS, folder.metrics_path)
    best = state.get("best_metric")
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    folder.store.update_run(folder.run_id, status="finished", metric_name=metric,
                            best_metric=float(best) if best is not None else None,
                            notes=f"Attached from {source} (sha256 {digest[:12]}) on {when}.")
    return copy



def _not_a_run_of(store: Any, source: Path) -> None:
    """Raise :class:`AttachError` when ``source`` lies in a run folder of the project."""
    for run in store.runs():
        out = Path(run.out_dir)
        out = (out if out.is_absolute() else store.root / out).resolve()
        if source.parent == out:
            raise AttachError(f"{source}: already a checkpoint of this project's run {run.name!r}")
