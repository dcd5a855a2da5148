"""Checkpoint files of training runs: exact-resume state (RNG included) and loading a
trained model back with its :class:`TrainConfig`. Writing, reading and building the model
live a level down, in :mod:`vision_studio.core.checkpoint` (shared with the evaluation
package, which must not import training); they are re-exported here.

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
from typing import Any

import numpy as np
import torch

from vision_studio.core.checkpoint import (BEST, LAST, CheckpointError, checkpoint_file, find_checkpoint,
                                           load_model, read_checkpoint, save_checkpoint)

__all__ = ["BEST", "LAST", "CheckpointError", "find_checkpoint", "load_checkpoint", "read_checkpoint",
           "rng_state", "save_checkpoint", "set_rng_state"]

log = logging.getLogger(__name__)


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
    """A trained model ready for prediction, with its config and categories
    (:func:`vision_studio.core.checkpoint.load_model`, the config as a :class:`TrainConfig`).

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
    from vision_studio.core.training.config import TrainConfig

    built, info = load_model(checkpoint_file(path), device)
    return built, TrainConfig.from_dict(info.config), [dict(c) for c in info.categories]
