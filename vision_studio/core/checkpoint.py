"""Checkpoint files: atomic writes, reading, and building the trained model back.

A level below both :mod:`vision_studio.core.training` (which writes checkpoints and
resumes from them: :mod:`vision_studio.core.training.checkpoints` re-exports these and
adds the run-state parts) and :mod:`vision_studio.core.evaluation` (which predicts with
them), so that neither package imports the other for it. Nothing here imports the
training package: the run's config is read as the plain dict the checkpoint stores.

A checkpoint is a dict saved with ``torch.save`` and read with
``torch.load(weights_only=True)`` (plain tensors and Python values only); the keys are
described in :mod:`vision_studio.core.training.checkpoints`. Those read here:
``model`` (the ``state_dict``), ``config`` (``TrainConfig.to_dict()``), ``categories``
(``[{"id", "name"}]`` in model label order), ``num_classes`` and ``build_options``.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from vision_studio.core.errors import VisionStudioError
from vision_studio.core.types import Task

log = logging.getLogger(__name__)

LAST = "last.pt"
BEST = "best.pt"


class CheckpointError(VisionStudioError):
    """A checkpoint is missing, unreadable or not from Vision Studio."""


@dataclass(frozen=True)
class CheckpointModel:
    """What a checkpoint says about its model (plain values).

    Attributes:
        task: One of :class:`~vision_studio.core.types.Task`.
        arch: The architecture name (the model registry's).
        image_size: The run's ``image_size`` in pixels.
        unlabelled_as: ``"ignore"`` or ``"background"`` (semantic segmentation).
        categories: ``({"id", "name"}, ...)`` in model label order.
        config: The run's config as stored (``TrainConfig.to_dict()``).
    """

    task: str
    arch: str
    image_size: int
    unlabelled_as: str
    categories: tuple[dict[str, Any], ...]
    config: Mapping[str, Any]


def save_checkpoint(path: str | os.PathLike, state: dict[str, Any]) -> Path:
    """Write ``state`` to ``path`` atomically (a temporary file, fsync, ``os.replace``):
    a crash or cancel mid-write leaves the previous file intact.

    Returns:
        The path written.
    """
    import torch

    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        torch.save(state, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    log.debug("checkpoint written: %s", path)
    return path


def read_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Load a checkpoint dict on the CPU (``weights_only=True``).

    Raises:
        CheckpointError: missing file, or not a Vision Studio checkpoint.
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint")
    with open(path, "rb") as fh:
        head = fh.read(4)
    if not head.startswith((b"PK\x03\x04", b"\x80")):  # torch.save: a zip file (or a legacy pickle)
        raise CheckpointError(f"{path}: not a readable checkpoint (not a file torch.save wrote: those are zip files)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types (pickle, zip, runtime)
        raise CheckpointError(f"{path}: not a readable checkpoint ({exc})") from exc
    if not isinstance(state, dict) or "model" not in state or "config" not in state:
        raise CheckpointError(f"{path}: not a Vision Studio training checkpoint")
    return state


def find_checkpoint(run_or_file: str | os.PathLike) -> Path:
    """The checkpoint to resume from: the file itself, or ``last.pt`` in a run folder.

    Raises:
        CheckpointError: when there is none.
    """
    p = Path(run_or_file)
    if p.is_dir():
        p = p / LAST
    if not p.is_file():
        raise CheckpointError(f"{p}: no checkpoint to resume from")
    return p


def checkpoint_file(path: str | os.PathLike) -> Path:
    """A checkpoint file, or a run folder's ``best.pt`` (else its ``last.pt``)."""
    p = Path(path)
    if p.is_dir():
        return p / BEST if (p / BEST).is_file() else p / LAST
    return p


def model_info(state: Mapping[str, Any]) -> CheckpointModel:
    """The :class:`CheckpointModel` of a checkpoint dict (from :func:`read_checkpoint`)."""
    cfg = state["config"]
    return CheckpointModel(task=cfg.get("task", Task.CLASSIFICATION), arch=cfg.get("arch", ""),
                           image_size=int(cfg.get("image_size", 224)),
                           unlabelled_as=cfg.get("unlabelled_as", "ignore"),
                           categories=tuple(dict(c) for c in state["categories"]), config=cfg)


def build_options(task: str, model_options: Mapping[str, Any], image_size: int) -> dict[str, Any]:
    """``build_model`` options of a run: ``model_options``, plus ``image_size`` as a
    detection model's internal resize unless set there."""
    options = dict(model_options)
    if task in (Task.DETECTION, Task.INSTANCE_SEGMENTATION) and not (
            {"image_size", "min_size", "max_size"} & set(options)):
        options["image_size"] = image_size
    return options


def load_model(path: str | os.PathLike, device: str = "cpu") -> tuple[Any, CheckpointModel]:
    """A trained model ready for prediction, and what the checkpoint says about it.

    Args:
        path: A ``best.pt``/``last.pt`` file, or a run folder (its ``best.pt``, else
            ``last.pt``).
        device: Where to put the model.

    Returns:
        ``(built, info)``: the :class:`~vision_studio.core.models.base.BuiltModel` in
        eval mode and its :class:`CheckpointModel`.

    Raises:
        CheckpointError: missing or unreadable file, or weights that do not fit the
            architecture.
    """
    p = checkpoint_file(path)
    return build_from_state(read_checkpoint(p), p, device)


def build_from_state(state: Mapping[str, Any], path: str | os.PathLike,
                     device: str = "cpu") -> tuple[Any, CheckpointModel]:
    """:func:`load_model` for a checkpoint dict already read (from ``path``, named in
    errors).

    Raises:
        CheckpointError: weights that do not fit the architecture.
        ConfigError: an architecture or build option this program does not know.
    """
    from vision_studio.core.models.registry import build_model

    info = model_info(state)
    options = state.get("build_options") or build_options(
        info.task, info.config.get("model_options") or {}, info.image_size)
    built = build_model(info.arch, info.task, int(state["num_classes"]), weights=None, **options)
    try:
        built.model.load_state_dict(state["model"])
    except RuntimeError as exc:
        raise CheckpointError(f"{path}: the weights do not fit {info.arch} ({exc})") from exc
    built.model.to(device).eval()
    return built, info
