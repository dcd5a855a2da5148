"""Augmentation options: the user-facing dict, its per-task defaults and validation.

Kept free of torch so that the GUI and the config can validate options cheaply.
"""
from __future__ import annotations

from typing import Any, Mapping

from vision_studio.core.errors import ConfigError
from vision_studio.core.types import Task

AUGMENTATION_DEFAULTS: dict[str, dict[str, Any]] = {
    # scale: RandomResizedCrop area range (classification, semantic) or the zoom range of
    # a RandomAffine scale jitter (detection, instance): boxes and masks follow.
    Task.CLASSIFICATION: {"enabled": True, "hflip": 0.5, "vflip": 0.0, "rotation": 0.0,
                          "scale": [0.25, 1.0], "color_jitter": 0.2},
    Task.DETECTION: {"enabled": True, "hflip": 0.5, "vflip": 0.0, "rotation": 0.0,
                     "scale": [0.8, 1.2], "color_jitter": 0.2},
    Task.INSTANCE_SEGMENTATION: {"enabled": True, "hflip": 0.5, "vflip": 0.0, "rotation": 0.0,
                                 "scale": [0.8, 1.2], "color_jitter": 0.2},
    Task.SEMANTIC_SEGMENTATION: {"enabled": True, "hflip": 0.5, "vflip": 0.0, "rotation": 0.0,
                                 "scale": [0.5, 1.0], "color_jitter": 0.2},
}
"""Per-task presets. Keys: ``enabled`` (False = no augmentation), ``hflip`` / ``vflip``
(probabilities), ``rotation`` (max degrees, uniform in ±rotation), ``scale`` ([lo, hi]),
``color_jitter`` (brightness/contrast/saturation strength in [0, 1]; hue gets a tenth)."""


def parse_augmentation(task: str, options: Mapping[str, Any] | None) -> dict[str, Any]:
    """The task's preset updated with the user's options, validated.

    Args:
        task: One of :class:`~vision_studio.core.types.Task`.
        options: User options (any subset of the preset's keys), or ``None``.

    Returns:
        A complete option dict.

    Raises:
        ConfigError: unknown key, or a value of the wrong type or range (the message
            names ``augmentation.<key>``).
    """
    if task not in AUGMENTATION_DEFAULTS:
        raise ConfigError(f"task: unknown task {task!r}")
    out = dict(AUGMENTATION_DEFAULTS[task])
    for key, value in (options or {}).items():
        if key not in out:
            raise ConfigError(f"augmentation.{key}: unknown option; known: {', '.join(out)}")
        out[key] = _check(key, value)
    return out


def _check(key: str, value: Any) -> Any:
    name = f"augmentation.{key}"
    if key == "enabled":
        if not isinstance(value, bool):
            raise ConfigError(f"{name}: must be true or false, got {value!r}")
        return value
    if key == "scale":
        if (not isinstance(value, (list, tuple)) or len(value) != 2
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
                or not 0 < value[0] <= value[1]):
            raise ConfigError(f"{name}: must be [lo, hi] with 0 < lo <= hi, got {value!r}")
        return [float(value[0]), float(value[1])]
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise ConfigError(f"{name}: must be a number, got {value!r}")
    limits = {"hflip": (0, 1), "vflip": (0, 1), "color_jitter": (0, 1), "rotation": (0, 180)}
    lo, hi = limits[key]
    if not lo <= value <= hi:
        raise ConfigError(f"{name}: must be in [{lo}, {hi}], got {value!r}")
    return float(value)
