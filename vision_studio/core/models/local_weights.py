"""Pretrained weights already on this computer: shipped with the app, or downloaded before.

The app looks, in this order, in

1. the folders of ``$VISION_STUDIO_WEIGHTS`` (separated by ``os.pathsep``);
2. ``<user data folder>/weights`` (where ``scripts/install.sh`` puts the curated set);
3. ``weights/`` inside the installed package and beside it (a PyInstaller bundle ships
   them as ``vision_studio/weights``; a source checkout may keep them at its root);
4. ``<sys.prefix>/share/vision-studio/weights`` (a system-wide install);
5. the libraries' own caches: torch.hub's ``checkpoints`` folder (torchvision, and timm
   weights with a URL) and the Hugging Face cache (timm weights on the Hub).

File names in the folders of 1–4 (:func:`file_names`):

* torchvision: the file name of the weights' URL, as torch.hub caches it
  (``resnet18-f37072fd.pth``);
* timm: ``<model>.<tag>`` + ``.safetensors`` / ``.pth`` / ``.bin``, a plain state_dict in
  timm's layout (``tf_efficientnet_lite0.in1k.pth``), or the URL's file name.

Everything here reads file names only: no network, no model building.
"""
from __future__ import annotations

import functools
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from vision_studio.core.models.base import ArchSpec
from vision_studio.core.paths import user_data_dir
from vision_studio.core.types import Task

log = logging.getLogger(__name__)

ENV_VAR = "VISION_STUDIO_WEIGHTS"
"""Environment variable: extra folders of shipped weights (``os.pathsep``-separated)."""
TIMM_SUFFIXES = (".safetensors", ".pth", ".bin")

FALLBACK_ARCHS: dict[str, tuple[str, ...]] = {
    Task.CLASSIFICATION: ("timm:tf_efficientnet_lite0", "mobilenet_v3_large", "efficientnet_b0",
                          "resnet50"),
    Task.DETECTION: ("fasterrcnn_timm:tf_efficientnet_lite0", "fasterrcnn_fpn:resnet18"),
    Task.INSTANCE_SEGMENTATION: ("maskrcnn_timm:tf_efficientnet_lite0", "maskrcnn_fpn:resnet18"),
    Task.SEMANTIC_SEGMENTATION: ("unet_timm:tf_efficientnet_lite0", "unet:resnet18"),
}
"""Per task, the small architectures tried after the configured default
(:data:`~vision_studio.core.training.config.DEFAULT_ARCH`) when its weights are not here
(:func:`vision_studio.core.training.defaults.default_arch`)."""


def shipped_dirs() -> list[Path]:
    """The existing folders of shipped weights, in search order (1–4 of the module doc)."""
    import vision_studio

    package = Path(vision_studio.__file__).resolve().parent
    env = [Path(p) for p in os.environ.get(ENV_VAR, "").split(os.pathsep) if p.strip()]
    candidates = env + [user_data_dir() / "weights", package / "weights",
                        package.parent / "weights",
                        Path(sys.prefix) / "share" / "vision-studio" / "weights"]
    out: list[Path] = []
    for d in candidates:
        if d.is_dir() and d not in out:
            out.append(d)
    return out


def _backbone_arch(spec: ArchSpec) -> str | None:
    if spec.task == Task.CLASSIFICATION:
        return spec.name
    if spec.task == Task.SEMANTIC_SEGMENTATION:
        from vision_studio.core.models.segmentation import backbone_arch
    else:
        from vision_studio.core.models.detection import backbone_arch
    return backbone_arch(spec)


@functools.lru_cache(maxsize=1024)
def library_files(arch: str, tag: str) -> tuple[tuple[str, ...], str | None]:
    """``(file names, hf_hub_id)`` of the library weights ``tag`` of classification
    architecture ``arch`` (torchvision name or ``timm:<model>``); ``((), None)`` when the
    library does not know them.

    Args:
        arch: ``"resnet18"``, ``"timm:tf_efficientnet_lite0"``…
        tag: A torchvision weight-enum name (``"DEFAULT"``, ``"IMAGENET1K_V1"``) or a timm
            pretrained tag (``"in1k"``; ``"DEFAULT"``: timm's default tag).
    """
    if arch.startswith("timm:"):
        from timm.models import get_pretrained_cfg

        model = arch[5:]
        cfg = get_pretrained_cfg(model if tag == "DEFAULT" else f"{model}.{tag}")
        if cfg is None:
            return (), None
        real_tag = getattr(cfg, "tag", None) or tag
        names = [f"{model}.{real_tag}{s}" for s in TIMM_SUFFIXES]
        if cfg.url:
            names.append(cfg.url.rsplit("/", 1)[-1])
        return tuple(names), cfg.hf_hub_id or None
    try:
        from torchvision.models import get_model_weights

        return (get_model_weights(arch)[tag].url.rsplit("/", 1)[-1],), None
    except (KeyError, ValueError):
        return (), None


def weights_key(spec: ArchSpec, name: str) -> tuple[str, str] | None:
    """``(classification arch, tag)`` whose file holds weights ``name`` of ``spec``
    (``"backbone:<tag>"`` → the backbone's architecture), or None."""
    backbone = name.startswith("backbone:")
    arch = _backbone_arch(spec) if backbone else spec.name
    if not arch:
        return None
    return arch, name.split(":", 1)[1] if backbone else name


def file_names(spec: ArchSpec, name: str) -> tuple[str, ...]:
    """The file names under which weights ``name`` of ``spec`` are looked for."""
    key = weights_key(spec, name)
    return library_files(*key)[0] if key else ()


def find_file(names: tuple[str, ...] | list[str]) -> Path | None:
    """The first existing ``<folder>/<name>`` over the shipped folders, then torch.hub's
    checkpoints folder; None when none exists."""
    import torch.hub

    folders = shipped_dirs() + [Path(torch.hub.get_dir()) / "checkpoints"]
    for folder in folders:
        for n in names:
            if (folder / n).is_file():
                return folder / n
    return None


def find_local(spec: ArchSpec, name: str) -> Path | None:
    """The file of weights ``name`` of ``spec`` on this computer (shipped folders, then
    torch.hub's cache), or None (they may still be in the Hugging Face cache:
    :func:`on_computer`)."""
    try:
        return find_file(file_names(spec, name))
    except Exception as exc:  # a library table lookup failing must not break a listing
        log.warning("local weights lookup %s/%s failed: %s", spec.name, name, exc)
        return None


def _in_hf_cache(repo_id: str) -> bool:
    from huggingface_hub import try_to_load_from_cache

    return any(isinstance(try_to_load_from_cache(repo_id, f), str)
               for f in ("model.safetensors", "pytorch_model.bin"))


def on_computer(spec: ArchSpec, name: str | None) -> bool:
    """Whether library weights ``name`` of ``spec`` can be loaded without a network."""
    if not name or name not in spec.weights:
        return False
    if find_local(spec, name) is not None:
        return True
    key = weights_key(spec, name)
    try:
        hf = library_files(*key)[1] if key else None
        return bool(hf) and _in_hf_cache(hf)
    except Exception as exc:  # noqa: BLE001 - as in find_local
        log.warning("Hugging Face cache lookup %s/%s failed: %s", spec.name, name, exc)
        return False


def local_weights(spec: ArchSpec) -> list[str]:
    """The names of ``spec.weights`` that are on this computer, in ``spec`` order."""
    return [w for w in spec.weights if on_computer(spec, w)]


def default_weights(spec: ArchSpec) -> str | None:
    """The weights a new run of ``spec`` starts from: its default when on this computer,
    else the first of its weights that is, else its default (to be downloaded)."""
    if on_computer(spec, spec.default_weights):
        return spec.default_weights
    here = local_weights(spec)
    return here[0] if here else spec.default_weights


def first_with_local_weights(names: Sequence[str]) -> str | None:
    """The first architecture of ``names`` that has pretrained weights on this computer
    (unknown names are skipped), or None."""
    from vision_studio.core.models.catalog import draft_spec

    for name in names:
        spec = draft_spec(name)
        if spec is not None and local_weights(spec):
            return name
    return None
