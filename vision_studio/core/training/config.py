"""``TrainConfig``: every setting of a training run, as a dataclass that round-trips JSON.

The schema is documented in ``docs/train_config.md``. Validation happens in
:meth:`TrainConfig.validate` (called by :meth:`from_dict` and by the trainer) and raises
:class:`~vision_studio.core.errors.ConfigError` naming the field.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from vision_studio.core.data.transforms_options import parse_augmentation
from vision_studio.core.errors import ConfigError
from vision_studio.core.large.tiled_training import AUTO_MIN_SIDE, MODES as TILE_MODES
from vision_studio.core.types import Task

STRATEGIES = ("scratch", "feature_extraction", "linear_probe", "fine_tune", "partial",
              "gradual", "discriminative")
OPTIMIZERS = ("sgd", "adamw", "adam")
SCHEDULERS = ("none", "cosine", "step")
DEVICES = ("auto", "cpu", "cuda", "mps")
DEFAULT_ARCH = {
    Task.CLASSIFICATION: "resnet18",
    Task.DETECTION: "fasterrcnn_mobilenet_v3_large_320_fpn",
    Task.INSTANCE_SEGMENTATION: "maskrcnn_fpn:mobilenet_v3_large",
    Task.SEMANTIC_SEGMENTATION: "lraspp_mobilenet_v3_large",
}
"""Architecture used when ``arch`` is empty: small, fast models that train on a CPU."""
STRATEGY_KEYS = {"name": str, "trainable_stages": int, "freeze_epochs": int,
                 "unfreeze_every": int, "backbone_lr_mult": float, "layer_decay": float}


@dataclass
class TrainConfig:
    """Settings of one training run (see ``docs/train_config.md`` for each field).

    Units: ``lr`` per optimizer step; ``image_size`` in pixels (classification and
    semantic: the square side; detection/instance: the longer side); epochs counted
    from 1 in events and ``metrics.jsonl``.

    ``lr``, ``warmup_epochs`` and ``grad_clip`` left ``None`` take the stable defaults of
    the task and batch size (:func:`vision_studio.core.training.defaults.fill_defaults`,
    applied when a run starts; the run's ``config.json`` holds the values used).
    ``grad_clip`` 0 turns clipping off.

    ``tiles`` (``"auto"``, ``"on"``, ``"off"``) and ``tile_overlap`` (fraction of the
    tile): detection and segmentation train on overlapping ``image_size`` tiles of large
    images (:mod:`vision_studio.core.large.tiled_training`; ``"auto"`` tiles images
    whose longer side exceeds both ``tile_auto_min_side`` pixels and twice
    ``image_size``).
    """

    task: str = Task.CLASSIFICATION
    arch: str = ""
    weights: str | None = None
    strategy: dict[str, Any] = field(default_factory=lambda: {"name": "fine_tune"})
    epochs: int = 10
    batch_size: int = 16
    lr: float | None = None
    optimizer: str = "sgd"
    momentum: float = 0.9
    weight_decay: float = 1e-4
    scheduler: str = "cosine"
    warmup_epochs: float | None = None
    step_size: int = 10
    gamma: float = 0.1
    grad_clip: float | None = None
    early_stopping_patience: int = 0
    image_size: int = 224
    augmentation: dict[str, Any] = field(default_factory=dict)
    device: str = "auto"
    amp: bool = True
    seed: int = 0
    num_workers: int | None = None
    val_split: float = 0.2
    out_dir: str | None = None
    max_steps_per_epoch: int | None = None
    max_val_batches: int | None = None
    categories: list[int] | None = None
    unlabelled_as: str = "ignore"
    include_empty: bool = True
    model_options: dict[str, Any] = field(default_factory=dict)
    tiles: str = "auto"
    tile_overlap: float = 0.2
    tile_auto_min_side: int = AUTO_MIN_SIDE
    name: str = ""

    # ------------------------------------------------------------------ JSON
    def to_dict(self) -> dict[str, Any]:
        """A JSON-compatible dict of every field."""
        return json.loads(json.dumps(dataclasses.asdict(self)))

    def to_json(self, indent: int = 2) -> str:
        """The config as JSON text."""
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrainConfig:
        """Build and validate a config from a dict; missing fields take their defaults.

        Raises:
            ConfigError: an unknown field, a value of the wrong type or out of range.
        """
        if not isinstance(data, Mapping):
            raise ConfigError(f"config: expected a JSON object, got {type(data).__name__}")
        names = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - set(names))
        if unknown:
            raise ConfigError(f"{unknown[0]}: unknown config field (known: {', '.join(names)})")
        kwargs = {k: _coerce(k, names[k].type, v) for k, v in data.items()}
        cfg = cls(**kwargs)
        cfg.validate()
        return cfg

    @classmethod
    def from_json(cls, text: str) -> TrainConfig:
        """Parse JSON text. Raises ConfigError on bad JSON or bad values."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"config: not valid JSON ({exc})") from exc
        return cls.from_dict(data)

    @classmethod
    def load(cls, path: str | os.PathLike) -> TrainConfig:
        """Read a config JSON file. Raises ConfigError naming the file on any problem."""
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read the config ({exc.strerror or exc})") from exc
        try:
            return cls.from_json(text)
        except ConfigError as exc:
            raise ConfigError(f"{path}: {exc}") from exc

    def save(self, path: str | os.PathLike) -> None:
        """Write the config as JSON (atomically: a temporary file then ``os.replace``)."""
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(self.to_json() + "\n", encoding="utf-8")
        os.replace(tmp, path)

    def replace(self, **changes: Any) -> TrainConfig:
        """A validated copy with some fields changed (``None`` values are ignored)."""
        data = self.to_dict()
        data.update({k: v for k, v in changes.items() if v is not None})
        return TrainConfig.from_dict(data)

    # ------------------------------------------------------------------ validation
    def validate(self) -> None:
        """Check every field. Raises ConfigError naming the first bad one."""
        _choice("task", self.task, Task.ALL)
        if not isinstance(self.arch, str):
            raise ConfigError(f"arch: must be an architecture name, got {self.arch!r}")
        self.arch = self.arch.strip() or DEFAULT_ARCH[self.task]
        self.strategy = _strategy(self.strategy)
        _positive("epochs", self.epochs)
        _positive("batch_size", self.batch_size)
        if self.lr is not None:
            _positive("lr", self.lr)
        _choice("optimizer", self.optimizer, OPTIMIZERS)
        _range("momentum", self.momentum, 0, 1)
        _range("weight_decay", self.weight_decay, 0, 1)
        _choice("scheduler", self.scheduler, SCHEDULERS)
        if self.warmup_epochs is not None:
            _range("warmup_epochs", self.warmup_epochs, 0, max(self.epochs, 0))
        _positive("step_size", self.step_size)
        _range("gamma", self.gamma, 0, 1)
        if self.grad_clip is not None:
            _range("grad_clip", self.grad_clip, 0, 1e9)
        _range("early_stopping_patience", self.early_stopping_patience, 0, 10**6)
        _range("image_size", self.image_size, 16, 4096)
        _choice("tiles", self.tiles, TILE_MODES)
        _range("tile_overlap", self.tile_overlap, 0, 0.9)
        _range("tile_auto_min_side", self.tile_auto_min_side, 0, 10**6)
        self.augmentation = {k: v for k, v in self.augmentation.items()}
        parse_augmentation(self.task, self.augmentation)
        _choice("device", self.device, DEVICES)
        if self.num_workers is not None:
            _range("num_workers", self.num_workers, 0, 256)
        _range("val_split", self.val_split, 0, 0.5)
        for name in ("max_steps_per_epoch", "max_val_batches"):
            value = getattr(self, name)
            if value is not None:
                _range(name, value, 0 if name == "max_val_batches" else 1, 10**9)
        _choice("unlabelled_as", self.unlabelled_as, ("ignore", "background"))
        if self.categories is not None and (not self.categories or len(set(self.categories))
                                            != len(self.categories)):
            raise ConfigError("categories: must be a non-empty list of distinct category ids")


def _strategy(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        value = {"name": value}
    if not isinstance(value, Mapping):
        raise ConfigError(f"strategy: expected an object like {{\"name\": \"fine_tune\"}}, "
                          f"got {value!r}")
    out = dict(value)
    if "name" not in out:
        raise ConfigError("strategy.name: required (one of " + ", ".join(STRATEGIES) + ")")
    for key, val in out.items():
        if key not in STRATEGY_KEYS:
            raise ConfigError(f"strategy.{key}: unknown option (known: {', '.join(STRATEGY_KEYS)})")
        out[key] = _coerce(f"strategy.{key}", STRATEGY_KEYS[key].__name__, val)
    _choice("strategy.name", out["name"], STRATEGIES)
    for key in ("trainable_stages", "freeze_epochs", "unfreeze_every"):
        if key in out:
            _range(f"strategy.{key}", out[key], 0, 1000)
    for key in ("backbone_lr_mult", "layer_decay"):
        if key in out:
            _range(f"strategy.{key}", out[key], 0, 1)
    return out


_TYPES = {"int": int, "float": float, "str": str, "bool": bool}


def _coerce(name: str, type_name: Any, value: Any) -> Any:
    """Check a JSON value against the field's annotation (as a string, PEP 563)."""
    t = str(type_name).replace(" ", "")
    optional = t.endswith("|None")
    base = t[:-5] if optional else t
    if value is None:
        if optional:
            return None
        raise ConfigError(f"{name}: must not be null")
    if base in ("int", "float"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{name}: must be a number, got {value!r}")
        if not math.isfinite(value):
            raise ConfigError(f"{name}: must be a finite number, got {value!r}")
        if base == "int":
            if float(value) != int(value):
                raise ConfigError(f"{name}: must be a whole number, got {value!r}")
            return int(value)
        return float(value)
    if base in ("str", "bool"):
        if not isinstance(value, _TYPES[base]):
            raise ConfigError(f"{name}: must be a {'string' if base == 'str' else 'boolean'}, "
                              f"got {value!r}")
        return value
    if base.startswith("dict"):
        if name == "strategy" and isinstance(value, str):
            return {"name": value}
        if not isinstance(value, Mapping):
            raise ConfigError(f"{name}: must be an object, got {value!r}")
        return dict(value)
    if base.startswith("list"):
        if not isinstance(value, list) or not all(isinstance(v, int) and not isinstance(v, bool)
                                                  for v in value):
            raise ConfigError(f"{name}: must be a list of integers, got {value!r}")
        return list(value)
    return value


def _choice(name: str, value: Any, choices: tuple) -> None:
    if value not in choices:
        raise ConfigError(f"{name}: {value!r} is not one of {', '.join(map(str, choices))}")


def _positive(name: str, value: float) -> None:
    if not (value > 0 and math.isfinite(value)):
        raise ConfigError(f"{name}: must be > 0, got {value!r}")


def _range(name: str, value: float, lo: float, hi: float) -> None:
    if not lo <= value <= hi:
        raise ConfigError(f"{name}: must be in [{lo}, {hi}], got {value!r}")
