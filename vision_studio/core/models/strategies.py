"""Transfer-learning strategies as data: which parameter groups train, at which
learning-rate multiplier, in each epoch.

Public API (agreed interface)::

    StrategyConfig(name, trainable_stages=1, freeze_epochs=1, unfreeze_every=1,
                   backbone_lr_mult=0.1, layer_decay=0.5)       # frozen, validated
    StrategyConfig.from_dict(d) / .to_dict()
    plan = TransferPlan(built, cfg)
    plan.group_names -> list[str]                  # stages shallow→deep, then "head"
    plan.param_groups(base_lr) -> list[dict]       # {"name", "params", "lr", "lr_mult"}
    plan.lr_multipliers(epoch) -> list[float]      # per group; 0.0 = frozen this epoch
    plan.apply(epoch, optimizer=None) -> None      # requires_grad + frozen stages in eval
    plan.describe(epoch) -> list[tuple[str, bool, float]]

Epochs are counted from 0. The optimizer gets one group per backbone stage (with
parameters) plus one ``"head"`` group; each group's ``lr`` is ``base_lr`` × the multiplier
it has *while trainable*, so learning-rate schedulers scale it as usual. A frozen group
has ``requires_grad=False``: its gradients stay ``None`` and optimizers skip it.
:meth:`TransferPlan.apply` must be called after ``model.train()`` at the start of every
epoch: it also puts the modules of frozen stages in ``eval`` mode, so their BatchNorm
running statistics (and dropout) stay fixed.

Strategies (``n`` = number of stages, stage ``n`` the deepest):

* ``scratch`` — everything trains at ×1 (expects random weights).
* ``feature_extraction`` — backbone frozen (incl. BatchNorm statistics); head ×1.
* ``linear_probe`` — as feature extraction; the head is fitted in closed form by
  :func:`vision_studio.core.models.linear_probe.fit_linear_probe` (classification only).
* ``fine_tune`` — everything trains; stages at ×``backbone_lr_mult``, head ×1.
* ``partial`` — the last ``trainable_stages`` stages at ×``backbone_lr_mult`` + head ×1.
* ``gradual`` — head only for ``freeze_epochs`` epochs; then one more stage, deepest
  first, every ``unfreeze_every`` epochs, at ×``backbone_lr_mult``.
* ``discriminative`` — everything trains; stage ``i`` at ×``layer_decay ** (n + 1 - i)``
  (its distance from the head), head ×1 (layer-wise learning-rate decay, as in ULMFiT /
  BEiT).
"""
from __future__ import annotations

import dataclasses
import difflib
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping

from vision_studio.core.errors import ConfigError
from vision_studio.core.types import Task

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from torch import nn

    from vision_studio.core.models.base import BuiltModel

log = logging.getLogger(__name__)

STRATEGIES = ("scratch", "feature_extraction", "linear_probe", "fine_tune", "partial",
              "gradual", "discriminative")


@dataclass(frozen=True)
class StrategyConfig:
    """A transfer-learning strategy and its settings (validated on creation).

    Attributes:
        name: One of :data:`STRATEGIES`.
        trainable_stages: ``partial``: how many of the deepest stages train (>= 1; at
            most the model's number of stages, checked by :class:`TransferPlan`).
        freeze_epochs: ``gradual``: epochs with only the head training (>= 0).
        unfreeze_every: ``gradual``: epochs between two unfreezing steps (>= 1).
        backbone_lr_mult: Learning-rate multiplier of backbone stages for
            ``fine_tune``, ``partial`` and ``gradual``, in (0, 1].
        layer_decay: ``discriminative``: per-stage decay factor, in (0, 1].

    Raises:
        ConfigError: unknown name or a setting out of range.
    """

    name: str = "fine_tune"
    trainable_stages: int = 1
    freeze_epochs: int = 1
    unfreeze_every: int = 1
    backbone_lr_mult: float = 0.1
    layer_decay: float = 0.5

    def __post_init__(self) -> None:
        if self.name not in STRATEGIES:
            close = difflib.get_close_matches(str(self.name), STRATEGIES, n=3)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise ConfigError(f"strategy: unknown name {self.name!r}{hint}; "
                              f"choose one of {', '.join(STRATEGIES)}")
        checks = [("trainable_stages", self.trainable_stages, 1, None, int),
                  ("freeze_epochs", self.freeze_epochs, 0, None, int),
                  ("unfreeze_every", self.unfreeze_every, 1, None, int)]
        for field, value, low, _, kind in checks:
            if isinstance(value, bool) or not isinstance(value, kind) or value < low:
                raise ConfigError(f"strategy.{field} must be an integer >= {low}, got {value!r}")
        for field in ("backbone_lr_mult", "layer_decay"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, (int, float)) \
                    or not 0.0 < float(value) <= 1.0:
                raise ConfigError(f"strategy.{field} must be a number in (0, 1], got {value!r}")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | str) -> "StrategyConfig":
        """From a JSON dict (or just a name). Raises ConfigError on unknown keys."""
        if isinstance(data, str):
            return cls(name=data)
        known = {f.name for f in dataclasses.fields(cls)}
        extra = sorted(set(data) - known)
        if extra:
            raise ConfigError(f"strategy: unknown setting(s) {', '.join(extra)}; "
                              f"valid: {', '.join(sorted(known))}")
        return cls(**dict(data))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (inverse of :meth:`from_dict`)."""
        return dataclasses.asdict(self)


class TransferPlan:
    """Apply a :class:`StrategyConfig` to a :class:`BuiltModel` (see the module docstring).

    Args:
        built: The model; its ``stages`` and ``head`` define the groups. Parameters in
            neither (rare: e.g. a ViT's root-level ``cls_token``) join the head group.
        cfg: The strategy.

    Raises:
        ConfigError: ``linear_probe`` on a non-classification model, or
            ``trainable_stages`` larger than the model's number of stages.
    """

    def __init__(self, built: "BuiltModel", cfg: StrategyConfig) -> None:
        self.built = built
        self.cfg = cfg
        if cfg.name == "linear_probe" and built.task != Task.CLASSIFICATION:
            raise ConfigError("strategy linear_probe is for classification only; use "
                              "feature_extraction for " + built.task)
        self._stages = [(name, mods) for name, mods in built.stages]
        n = len(self._stages)
        if cfg.name == "partial" and cfg.trainable_stages > n:
            raise ConfigError(f"strategy.trainable_stages={cfg.trainable_stages} but "
                              f"{built.arch} has only {n} stages")
        self._groups = self._collect_groups()

    def _collect_groups(self) -> list[tuple[str, int, list["torch.nn.Parameter"]]]:
        """``(name, stage_index or -1 for head, params)``, each parameter exactly once."""
        seen: set[int] = set()
        groups: list[tuple[str, int, list]] = []
        head_params = [p for _, mods in self.built.head for m in mods for p in m.parameters()]
        seen.update(id(p) for p in head_params)
        for i, (name, mods) in enumerate(self._stages):
            params = []
            for m in mods:
                for p in m.parameters():
                    if id(p) not in seen:
                        seen.add(id(p))
                        params.append(p)
            if params:
                groups.append((name, i, params))
        rest = [p for p in self.built.model.parameters() if id(p) not in seen]
        if rest:
            log.debug("%d parameter tensors outside stages/head join the head", len(rest))
        groups.append(("head", -1, head_params + rest))
        return groups

    @property
    def group_names(self) -> list[str]:
        """Optimizer group names: stages with parameters (shallow → deep), then ``head``."""
        return [g[0] for g in self._groups]

    def _stage_mult(self, i: int, epoch: int) -> float:
        """Multiplier of stage ``i`` (0-based, shallow first) at ``epoch``; 0 = frozen."""
        cfg, n = self.cfg, len(self._stages)
        depth = n - i  # 1 for the deepest stage
        if cfg.name == "scratch":
            return 1.0
        if cfg.name in ("feature_extraction", "linear_probe"):
            return 0.0
        if cfg.name == "fine_tune":
            return cfg.backbone_lr_mult
        if cfg.name == "partial":
            return cfg.backbone_lr_mult if depth <= cfg.trainable_stages else 0.0
        if cfg.name == "gradual":
            return cfg.backbone_lr_mult if depth <= self.unfrozen_stages(epoch) else 0.0
        return float(cfg.layer_decay ** depth)  # discriminative

    def unfrozen_stages(self, epoch: int) -> int:
        """``gradual``: how many of the deepest stages train at ``epoch`` (0-based)."""
        if epoch < self.cfg.freeze_epochs:
            return 0
        k = 1 + (epoch - self.cfg.freeze_epochs) // self.cfg.unfreeze_every
        return min(k, len(self._stages))

    def _trainable_mult(self, stage_index: int) -> float:
        """The multiplier a group has whenever it trains (used for optimizer ``lr``)."""
        if stage_index < 0:
            return 1.0
        cfg = self.cfg
        if cfg.name == "scratch":
            return 1.0
        if cfg.name == "discriminative":
            return float(cfg.layer_decay ** (len(self._stages) - stage_index))
        return cfg.backbone_lr_mult

    def lr_multipliers(self, epoch: int) -> list[float]:
        """Per optimizer group (see :attr:`group_names`): the learning-rate multiplier at
        ``epoch``; ``0.0`` means frozen."""
        return [1.0 if i < 0 else self._stage_mult(i, epoch) for _, i, _ in self._groups]

    def param_groups(self, base_lr: float) -> list[dict[str, Any]]:
        """Optimizer parameter groups: ``{"name", "params", "lr", "lr_mult"}`` with
        ``lr = base_lr * lr_mult`` (the multiplier while trainable)."""
        out = []
        for name, i, params in self._groups:
            mult = self._trainable_mult(i)
            out.append({"name": name, "params": params, "lr": base_lr * mult, "lr_mult": mult})
        return out

    def apply(self, epoch: int, optimizer: "torch.optim.Optimizer | None" = None) -> None:
        """Set ``requires_grad`` for ``epoch`` and put frozen stages in ``eval`` mode.

        Call after ``model.train()``. ``optimizer`` (optional, built from
        :meth:`param_groups`) gets the gradients of newly frozen groups cleared.
        """
        mults = self.lr_multipliers(epoch)
        for (_, i, params), mult in zip(self._groups, mults):
            for p in params:
                p.requires_grad_(mult > 0.0)
        for i, (_, mods) in enumerate(self._stages):
            if self._stage_mult(i, epoch) == 0.0:
                for m in mods:
                    m.eval()
        if optimizer is not None:
            for group in optimizer.param_groups:
                for p in group["params"]:
                    if not p.requires_grad:
                        p.grad = None

    def describe(self, epoch: int) -> list[tuple[str, bool, float]]:
        """``(group name, trainable, lr multiplier)`` per optimizer group at ``epoch``."""
        return [(name, m > 0.0, m) for name, m in zip(self.group_names,
                                                       self.lr_multipliers(epoch))]


def trainable_parameter_count(model: "nn.Module") -> int:
    """Number of parameters with ``requires_grad`` (for display)."""
    return int(sum(p.numel() for p in model.parameters() if p.requires_grad))
