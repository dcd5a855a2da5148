"""The model registry: for each task, the architectures a user can pick, and
:func:`build_model` to construct one with a new head for the project's categories.

Public API (agreed interface)::

    architectures(task: str | None = None) -> list[ArchSpec]
    get_arch(name: str) -> ArchSpec
    build_model(arch: str, task: str, num_classes: int, weights: str | None = None,
                **options) -> BuiltModel

Architecture names are torchvision builder names (``"resnet18"``,
``"fasterrcnn_resnet50_fpn"``, ``"deeplabv3_resnet50"``) or templates with a backbone:

* ``timm:<model>`` — any timm classifier (e.g. ``timm:tf_efficientnet_lite0``);
* ``fasterrcnn_fpn:<tv backbone>`` / ``maskrcnn_fpn:<tv backbone>`` — torchvision ResNet /
  ResNeXt / MobileNet backbone with FPN;
* ``fasterrcnn_timm:<timm model>`` / ``maskrcnn_timm:<timm model>`` — timm
  ``features_only`` backbone + torchvision FPN;
* ``unet:<smp encoder>``, ``unet_timm:<timm model>``, ``fpn_timm:<timm model>`` —
  segmentation-models-pytorch U-Net / FPN decoder.

Parameter counts come from building each model on the ``meta`` device (no memory, no
weights); specs are cached in memory and in ``~/.cache/vision_studio/registry.json``
(keyed by library versions and a hash of the catalogue), so that listing the registry
needs no torch import.
"""
from __future__ import annotations

import dataclasses
import difflib
import functools
import json
import logging
import os
from pathlib import Path
from typing import Any, Callable

from vision_studio.core.errors import ConfigError
from vision_studio.core.models import catalog as C
from vision_studio.core.models.base import ArchSpec, BuiltModel
from vision_studio.core.types import Task

__all__ = ["ArchSpec", "BuiltModel", "architectures", "get_arch", "build_model",
           "BUILD_OPTIONS"]

log = logging.getLogger(__name__)

BUILD_OPTIONS = ("image_size", "min_size", "max_size", "frozen_bn", "sync_bn")
"""Options :func:`build_model` accepts (``image_size`` is ignored where irrelevant).
``sync_bn`` (bool) is a training option kept with the model's options: the trainer
converts BatchNorm to ``SyncBatchNorm`` under DDP on CUDA
(:mod:`vision_studio.core.training.distributed`); the model itself is built with plain
BatchNorm (same layers, same state dict)."""

_DEFAULT_CLASSES = {Task.CLASSIFICATION: 1000, Task.DETECTION: 90,
                    Task.INSTANCE_SEGMENTATION: 90, Task.SEMANTIC_SEGMENTATION: 21}


def _builder(family: str) -> Callable[..., BuiltModel]:
    if family == "torchvision_cls":
        from vision_studio.core.models.classification import build_torchvision_cls
        return build_torchvision_cls
    if family == "scratch_cls":
        from vision_studio.core.models.lenet import build_lenet
        return build_lenet
    if family == "timm_cls":
        from vision_studio.core.models.classification import build_timm_cls
        return build_timm_cls
    if family in ("torchvision_det", "fasterrcnn_fpn", "maskrcnn_fpn", "fasterrcnn_timm",
                  "maskrcnn_timm"):
        from vision_studio.core.models.detection import build_detector
        return build_detector
    from vision_studio.core.models.segmentation import build_segmenter
    return build_segmenter


def _cache_file() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "vision_studio" / "registry.json"


def _versions() -> str:
    """Library versions + a hash of the catalogue source: the cache key."""
    import hashlib
    from importlib.metadata import PackageNotFoundError, version

    out = []
    for pkg in ("torch", "torchvision", "timm", "segmentation-models-pytorch"):
        try:
            out.append(f"{pkg}={version(pkg)}")
        except PackageNotFoundError:
            out.append(f"{pkg}=?")
    here = Path(__file__).parent
    digest = hashlib.sha256()
    for name in ("catalog.py", "base.py"):
        digest.update((here / name).read_bytes())
    out.append(digest.hexdigest()[:16])
    return ",".join(out)


@functools.lru_cache(maxsize=1)
def _disk_cache() -> dict[str, dict[str, Any]]:
    """Cached specs (name → ``ArchSpec`` fields), valid for the same libraries/catalogue:
    listing the registry then needs no torch import."""
    try:
        data = json.loads(_cache_file().read_text())
        return dict(data["specs"]) if data.get("versions") == _versions() else {}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def _save_disk_cache() -> None:
    try:
        path = _cache_file()
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"versions": _versions(), "specs": _disk_cache()}))
        tmp.replace(path)
    except OSError as exc:  # a read-only home is no reason to fail
        log.debug("could not write the registry cache: %s", exc)


def _from_cache(fields: dict[str, Any]) -> ArchSpec:
    return ArchSpec(**{k: tuple(v) if isinstance(v, list) else v for k, v in fields.items()})


def _param_count(spec: ArchSpec) -> float:
    """Millions of parameters of ``spec`` for the library's default number of classes,
    from a build on the ``meta`` device (no memory, no weights)."""
    import torch

    from vision_studio.core.models._stages import param_count

    with torch.device("meta"):
        built = _builder(spec.family)(spec, _DEFAULT_CLASSES[spec.task])
    return round(param_count(built.model) / 1e6, 2)


@functools.lru_cache(maxsize=None)
def get_arch(name: str) -> ArchSpec:
    """The :class:`ArchSpec` named ``name`` (listed or a ``family:backbone`` template).

    Raises:
        ConfigError: unknown name; the message lists close matches.
    """
    cache = _disk_cache()
    if name in cache:
        try:
            return _from_cache(cache[name])
        except TypeError:  # written by another version of ArchSpec
            pass
    draft = C.draft_spec(name)
    if draft is None:
        raise ConfigError(_unknown_message(name))
    spec = dataclasses.replace(draft, param_count=_param_count(draft))
    cache[name] = dataclasses.asdict(spec)
    _save_disk_cache()
    return spec


def _unknown_message(name: str) -> str:
    pool = list(C.LISTED)
    prefix, _, rest = name.partition(":")
    if rest and prefix in C.TEMPLATES:
        pool = [f"{prefix}:{n}" for n in C.backbone_choices(prefix)]
    close = difflib.get_close_matches(name, pool, n=5, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else \
        "; run `vision-studio models` for the list"
    return f"unknown architecture {name!r}{hint}"


def architectures(task: str | None = None) -> list[ArchSpec]:
    """The listed architectures (of ``task``, or all), in a stable order.

    Raises:
        ConfigError: ``task`` is not one of :class:`Task` values.
    """
    if task is not None and task not in Task.ALL:
        raise ConfigError(f"unknown task {task!r}; choose one of {', '.join(Task.ALL)}")
    return [get_arch(n) for n, t in C.LISTED.items() if task is None or t == task]


def build_model(arch: str, task: str, num_classes: int, weights: str | None = None,
                progress: Callable[[int, int], None] | None = None, cancel: Any = None,
                **options: Any) -> BuiltModel:
    """Build ``arch`` for ``task`` with a new head of ``num_classes`` outputs and, when
    ``weights`` is given, load them (see :func:`vision_studio.core.models.weights.load_weights`;
    the report is in ``BuiltModel.weights_report``).

    Args:
        arch: Registry name (see the module docstring).
        task: A :class:`Task` value; must be the task of ``arch``.
        num_classes: Number of project categories (>= 1). Detection / instance models
            get ``num_classes + 1`` outputs (0 = background).
        weights: ``None`` (random init), a name from ``ArchSpec.weights`` or a path to a
            local ``.pth``/``.pt`` file or an earlier project checkpoint.
        progress: ``progress(bytes_done, bytes_total)`` while library weights download.
        cancel: An object with a ``cancelled`` attribute that stops a download.
        **options: See :data:`BUILD_OPTIONS` (``sync_bn`` is validated, not used here). ``frozen_bn`` (detection / instance
            segmentation: backbone BatchNorm → ``FrozenBatchNorm2d``) defaults to
            ``weights is not None``; the value used is kept in ``BuiltModel.options`` —
            pass those options again when rebuilding the model for a checkpoint (e.g. on
            resume with ``weights=None``) so that the layers are the same.

    Raises:
        ConfigError: unknown arch, wrong task, bad ``num_classes``, unknown option, or a
            weights name the architecture does not have (message lists valid names).
        WeightsError: the weights cannot be fetched or read (message says what to do);
            ``DownloadCancelled`` when ``cancel`` stopped a download.
    """
    spec = get_arch(arch)
    if task != spec.task:
        raise ConfigError(f"architecture {arch!r} is for {spec.task}, not {task!r}")
    if not isinstance(num_classes, int) or num_classes < 1:
        raise ConfigError(f"num_classes must be a positive integer, got {num_classes!r}")
    unknown = sorted(set(options) - set(BUILD_OPTIONS))
    if unknown:
        raise ConfigError(f"unknown model option(s) {', '.join(unknown)}; "
                          f"valid: {', '.join(BUILD_OPTIONS)}")
    sync_bn = options.pop("sync_bn", False)
    if not isinstance(sync_bn, bool):
        raise ConfigError(f"model option sync_bn must be true or false, got {sync_bn!r}")
    if weights is not None:
        from vision_studio.core.models.weights import check_weights_name

        check_weights_name(spec, weights)
    if spec.task in (Task.DETECTION, Task.INSTANCE_SEGMENTATION):
        options.setdefault("frozen_bn", weights is not None)
    built = _builder(spec.family)(spec, num_classes, **options)
    if weights is not None:
        from vision_studio.core.models.weights import load_weights

        built.weights_report = load_weights(built, weights, progress, cancel)
    return built
