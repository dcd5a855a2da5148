"""Whether the libraries' pretrained weights of an architecture are on this machine.

``downloaded``: the file torchvision / timm would load is on this computer: shipped with
the app (:mod:`vision_studio.core.models.local_weights`), in the torch hub cache
(``$TORCH_HOME/hub/checkpoints``) or in the Hugging Face cache; ``downloadable``: the
library knows where to fetch it (needs internet); ``missing``: nowhere to get it from.
Reads only file names: no network, no model building.
"""
from __future__ import annotations

import functools
import logging
from pathlib import Path
from typing import Callable

from vision_studio.core.models.base import ArchSpec

log = logging.getLogger(__name__)

DOWNLOADED, DOWNLOADABLE, MISSING = "downloaded", "downloadable", "missing"


def _backbone_arch(spec: ArchSpec) -> str | None:
    if spec.task == "classification":
        return spec.name
    if spec.task == "semantic_segmentation":
        from vision_studio.core.models.segmentation import backbone_arch
    else:
        from vision_studio.core.models.detection import backbone_arch
    return backbone_arch(spec)


@functools.lru_cache(maxsize=1024)
def weights_url(spec: ArchSpec, name: str) -> tuple[str | None, str | None]:
    """``(url, hf_hub_id)`` of library weights ``name`` of ``spec`` (either may be None;
    cached: the libraries' tables do not change while the app runs).

    Args:
        spec: The architecture.
        name: One of ``spec.weights`` (``"DEFAULT"``, ``"IMAGENET1K_V1"``, ``"in1k"``,
            ``"backbone:<name>"``).
    """
    backbone = name.startswith("backbone:")
    tag = name.split(":", 1)[1] if backbone else name
    arch = _backbone_arch(spec) if backbone else spec.name
    if not arch:
        return None, None
    if arch.startswith("timm:"):
        from timm.models import get_pretrained_cfg

        model = arch[5:]
        cfg = get_pretrained_cfg(model if tag == "DEFAULT" else f"{model}.{tag}")
        if cfg is None:
            return None, None
        return cfg.url or None, cfg.hf_hub_id or None
    try:
        from torchvision.models import get_model_weights

        return get_model_weights(arch)[tag].url, None
    except (KeyError, ValueError):
        return None, None


def _hub_file(url: str) -> Path:
    import torch.hub

    return Path(torch.hub.get_dir()) / "checkpoints" / url.rsplit("/", 1)[-1]


def _in_hf_cache(repo_id: str) -> bool:
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover - timm depends on it
        return False
    for fname in ("model.safetensors", "pytorch_model.bin"):
        if isinstance(try_to_load_from_cache(repo_id, fname), str):
            return True
    return False


def availability(spec: ArchSpec, name: str) -> str:
    """:data:`DOWNLOADED`, :data:`DOWNLOADABLE` or :data:`MISSING` for weights ``name``."""
    try:
        url, hf = weights_url(spec, name)
    except Exception as exc:  # a library lookup failing must not break the panel
        log.warning("weights lookup %s/%s failed: %s", spec.name, name, exc)
        return MISSING
    from vision_studio.core.models.local_weights import on_computer  # shipped or cached

    if (url and _hub_file(url).is_file()) or on_computer(spec, name):
        return DOWNLOADED
    if hf and _in_hf_cache(hf):
        return DOWNLOADED
    return DOWNLOADABLE if (url or hf) else MISSING


def download(spec: ArchSpec, name: str, progress: Callable[[int, int], None] | None = None) -> str:
    """Fetch weights ``name`` into the library cache (where the trainer will find them).

    Returns:
        Where they are (a file path or a Hugging Face repo id).

    Raises:
        WeightsError: offline, HTTP error or corrupt transfer (the message says what to
            download by hand and where to put it).
    """
    from vision_studio.core.models.weights import WeightsError
    from vision_studio.core.models.weights import download as fetch

    url, hf = weights_url(spec, name)
    if url and not hf:
        dst = _hub_file(url)
        return str(dst if dst.is_file() else fetch(url, dst, progress))
    if hf:
        from huggingface_hub import hf_hub_download

        if progress:
            progress(0, -1)
        try:
            path = hf_hub_download(hf, "model.safetensors")
        except Exception as exc:  # network / hub errors come in many types
            raise WeightsError(f"cannot download {hf} ({type(exc).__name__}): on a machine "
                               f"with internet access download https://huggingface.co/{hf} "
                               f"and pick the file with \"Use a weights file…\"") from exc
        if progress:
            progress(1, 1)
        return path
    raise WeightsError(f"{spec.name} has no downloadable weights {name!r}; pick a weights file")
