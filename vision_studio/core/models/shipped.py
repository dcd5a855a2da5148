"""The curated set of ImageNet weights the installers ship, and the fetch that gets them.

``scripts/install.sh`` runs ``python -m vision_studio.core.models.shipped fetch`` (into
``<user data folder>/weights``) and the release builds run it into ``build/weights``,
which the bundle ships as ``vision_studio/weights``. The app then finds them by itself
(:mod:`vision_studio.core.models.local_weights`): the default architecture of every
task has pretrained weights without a network. ``docs/weights.md`` lists the set with
licences and sizes (:func:`markdown_table` prints it).

Usage::

    python -m vision_studio.core.models.shipped fetch [DIR]   # default: user data/weights
    python -m vision_studio.core.models.shipped list
"""
from __future__ import annotations

import shutil
from typing import Callable
from dataclasses import dataclass
from pathlib import Path

from vision_studio.core.models.local_weights import library_files
from vision_studio.core.paths import user_data_dir


@dataclass(frozen=True)
class ShippedWeights:
    """One file of the curated set.

    Attributes:
        arch: Classification architecture (torchvision name or ``timm:<model>``).
        tag: Library weights name (torchvision enum member or timm tag).
        size_mb: Published file size in MB (torchvision's ``_file_size`` metadata; for
            timm the size of the verified file).
        licence: Licence of the weights as their publisher states it.
        used_by: The defaults that need it (why it is in the set).
    """

    arch: str
    tag: str
    size_mb: float
    licence: str
    used_by: str

    @property
    def file_name(self) -> str:
        """The name the file gets in a shipped folder (first of ``library_files``)."""
        return library_files(self.arch, self.tag)[0][0]


_TV = ("BSD-3-Clause (torchvision); trained on ImageNet-1k, whose terms of access "
       "(non-commercial research) may apply")
CURATED: tuple[ShippedWeights, ...] = (
    ShippedWeights("timm:tf_efficientnet_lite0", "in1k", 18.9, "Apache-2.0 (timm / TensorFlow "
                   "EfficientNet-Lite release)", "fast classifier; backbone of every task's "
                   "timm fallback (Faster/Mask R-CNN, U-Net, FPN)"),
    ShippedWeights("resnet18", "IMAGENET1K_V1", 44.7, _TV, "default classifier (resnet18); "
                   "fasterrcnn_fpn / maskrcnn_fpn / unet ResNet-18 backbones"),
    ShippedWeights("mobilenet_v3_large", "IMAGENET1K_V1", 21.1, _TV,
                   "backbone of the detection, instance and semantic segmentation defaults"),
    ShippedWeights("resnet50", "IMAGENET1K_V2", 97.8, _TV,
                   "the strong classifier (80.9 % ImageNet top-1); ResNet-50 backbones"),
)
"""The set: one fast and one strong classifier, and the backbones of the defaults."""


def _fetch_one(item: ShippedWeights, dest: Path) -> Path:
    from vision_studio.core.models import weights

    target = dest / item.file_name
    if target.is_file():
        return target
    names, hf = library_files(item.arch, item.tag)
    if hf:  # timm on the Hugging Face Hub: model.safetensors, named <model>.<tag>.safetensors
        from huggingface_hub import hf_hub_download

        weights._check_reachable(f"https://huggingface.co/{hf}", hf)  # offline: fail in seconds
        try:
            got = Path(hf_hub_download(hf, "model.safetensors"))
        except Exception as exc:  # network / hub errors come in many types
            raise weights.WeightsError(f"cannot download {hf} ({type(exc).__name__})") from exc
        shutil.copyfile(got, target)
        return target
    from torchvision.models import get_model_weights

    url = get_model_weights(item.arch)[item.tag].url
    return weights.download(url, target)  # checks the SHA-256 prefix in the name


def fetch(dest: str | Path | None = None, *, progress: Callable[[str], None] | None = None) -> list[str]:
    """Download every file of :data:`CURATED` missing from ``dest``.

    Args:
        dest: The folder (default ``<user data folder>/weights``); created if needed.
        progress: Called with one line per file fetched (or already there).

    Returns:
        One problem line per file that could not be fetched (empty: all there).
    """
    folder = Path(dest) if dest else user_data_dir() / "weights"
    folder.mkdir(parents=True, exist_ok=True)
    problems = []
    for item in CURATED:
        try:
            path = _fetch_one(item, folder)
            if progress:
                progress(f"[weights] {item.arch} {item.tag}: {path} ({path.stat().st_size / 1e6:.1f} MB)")
        except Exception as exc:  # noqa: BLE001 - one failure must not stop the others
            problems.append(f"{item.arch} {item.tag}: {exc}")
    (folder / "LICENCES.md").write_text(markdown_table(), encoding="utf-8")
    return problems


def markdown_table() -> str:
    """The curated set as a Markdown table (architecture, weights, file, size, licence)."""
    rows = ["| architecture | weights | file | size | licence | used by |",
            "|---|---|---|---|---|---|"]
    rows += [f"| {w.arch} | {w.tag} | `{w.file_name}` | {w.size_mb:.1f} MB | {w.licence} "
             f"| {w.used_by} |" for w in CURATED]
    total = sum(w.size_mb for w in CURATED)
    return "\n".join(rows) + f"\n\nTotal: {total:.0f} MB.\n"
