"""Checkpoint files: atomic writes, exact-resume state (RNG included), and loading a
trained model back for prediction.

A checkpoint is a dict saved with ``torch.save`` and read with
``torch.load(weights_only=True)`` (plain tensors and Python values only):

* ``model``, ``optimizer``, ``lr_scheduler``, ``scaler``: the ``state_dict()`` of each;
* ``config``: the run's ``TrainConfig`` as a dict; ``categories``: ``[{"id", "name"}]`` in
  model label order; ``class_names``; ``num_classes`` (model outputs, background
  included where the task has one); ``build_options`` (the ``build_model`` options the
  model was built with, e.g. ``frozen_bn``);
* ``epoch``: completed epochs; ``step``: optimizer steps already done in epoch
  ``epoch + 1`` (0 at an epoch boundary) with ``epoch_state`` (its running sums);
* ``best_metric``, ``metric_name``, ``bad_epochs`` (early stopping), ``rng`` (torch,
  CUDA, numpy and ``random`` states), ``run_id`` (the run in the project store).
"""
from __future__ import annotations

import logging
import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vision_studio.core.errors import VisionStudioError

log = logging.getLogger(__name__)

LAST = "last.pt"
BEST = "best.pt"


class CheckpointError(VisionStudioError):
    """A checkpoint is missing, unreadable or not from Vision Studio."""


def save_checkpoint(path: str | os.PathLike, state: dict[str, Any]) -> Path:
    """Write ``state`` to ``path`` atomically (a temporary file, fsync, ``os.replace``):
    a crash or cancel mid-write leaves the previous file intact.

    Returns:
        The path written.
    """
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
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint")
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


def rng_state() -> dict[str, Any]:
    """The state of every random generator a run uses (torch CPU and CUDA, numpy,
    ``random``), as plain values."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": [kind, keys.tolist(), int(pos), int(has_gauss), float(gauss)],
        "random": _plain(random.getstate()),
    }


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore generator states saved by :func:`rng_state`."""
    torch.set_rng_state(state["torch"])
    if state.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, np.array(keys, dtype=np.uint32), pos, has_gauss, gauss))
    random.setstate(_tuples(state["random"]))


def _plain(obj: Any) -> Any:
    return [_plain(o) for o in obj] if isinstance(obj, (tuple, list)) else obj


def _tuples(obj: Any) -> Any:
    return tuple(_tuples(o) for o in obj) if isinstance(obj, list) else obj


def load_checkpoint(path: str | os.PathLike, device: str = "cpu") -> tuple[Any, Any, list[dict]]:
    """A trained model ready for prediction, with its config and categories.

    Args:
        path: A ``best.pt``/``last.pt`` file (or a run folder: its ``best.pt``, else
            ``last.pt``).
        device: Where to put the model.

    Returns:
        ``(built, config, categories)``: the :class:`BuiltModel` in eval mode, the run's
        :class:`TrainConfig` and ``[{"id", "name"}]`` in model label order.

    Raises:
        CheckpointError: missing or unreadable file, or weights that do not fit the
            architecture.
    """
    from vision_studio.core.models.registry import build_model
    from vision_studio.core.training.config import TrainConfig

    p = Path(path)
    if p.is_dir():
        p = p / BEST if (p / BEST).is_file() else p / LAST
    state = read_checkpoint(p)
    config = TrainConfig.from_dict(state["config"])
    from vision_studio.core.training.setup import build_options

    options = state.get("build_options") or build_options(config)
    built = build_model(config.arch, config.task, int(state["num_classes"]), weights=None,
                        **options)
    try:
        built.model.load_state_dict(state["model"])
    except RuntimeError as exc:
        raise CheckpointError(f"{p}: the weights do not fit {config.arch} ({exc})") from exc
    built.model.to(device).eval()
    return built, config, list(state["categories"])
