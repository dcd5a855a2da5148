"""Backbone embeddings and perceptual hashes of a project's images, cached on disk.

Embeddings: the pooled pre-logits features (the input of the final ``nn.Linear``) of
timm's ``tf_efficientnet_lite0`` with ImageNet weights, taken by the linear-probe path
(:func:`vision_studio.core.models.linear_probe.extract_features`). Preprocessing is the
model's evaluation recipe: RGB in [0, 1], resize the shorter side to 256 (bicubic),
centre crop 224, normalise with mean = std = 0.5.

Perceptual hashes: ``imagehash.phash`` (64-bit DCT hash, Zauner 2010) of the same
decoded image, as 16 hex digits.

Cache: ``<project file>.health/`` beside the project holds ``features-<tag>.npz`` and
``phash.npz``; an entry is reused while the image file's path, size and ``mtime_ns`` are
unchanged, so a second run only decodes new or changed images.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from vision_studio.core.errors import ConfigError, VisionStudioError

log = logging.getLogger(__name__)

FEATURE_ARCH = "timm:tf_efficientnet_lite0"
IMAGE_SIZE = 224
RESIZE = 256
MEAN = STD = 0.5
Progress = Callable[[int, int], None]
"""``progress(done, total)``; it may raise to cancel the work."""


@dataclass
class ImageFeatures:
    """Per-image data of the images that could be read, in store order.

    Attributes:
        image_ids: [N] int64 store ids.
        paths: N stored (relative) paths.
        splits: N split names (``""`` = unassigned).
        phashes: [N] uint64 perceptual hashes.
        features: [N, D] float32 pooled backbone features (D = 1280 for lite0), or
            ``None`` when only hashes were computed.
        failed: ``(path, reason)`` of images that could not be decoded.
    """

    image_ids: np.ndarray
    paths: list[str]
    splits: list[str]
    phashes: np.ndarray
    features: np.ndarray | None = None
    failed: list[tuple[str, str]] = field(default_factory=list)

    def index_of(self) -> dict[int, int]:
        """``{image_id: row}``."""
        return {int(i): r for r, i in enumerate(self.image_ids)}


def cache_dir(store: Any) -> Path:
    """The cache folder beside the project file: ``<project>.health``."""
    p = Path(store.path)
    return p.with_name(p.name + ".health")


def file_key(path: Path) -> str:
    """``"<size>:<mtime_ns>"`` of a file, ``""`` when it cannot be stat-ed."""
    try:
        st = path.stat()
    except OSError:
        return ""
    return f"{st.st_size}:{st.st_mtime_ns}"


def _load_cache(path: Path, tag: str) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        with np.load(path, allow_pickle=False) as z:
            if str(z["tag"]) != tag:
                return {}
            return dict(zip(z["keys"].tolist(), z["values"]))
    except (OSError, ValueError, KeyError) as exc:
        log.warning("ignoring unreadable health cache %s: %s", path, exc)
        return {}


def _save_cache(path: Path, tag: str, entries: dict[str, Any], dtype: Any) -> None:
    from vision_studio.core.outputs import atomic_output

    path.parent.mkdir(parents=True, exist_ok=True)
    keys = sorted(entries)
    values = np.stack([entries[k] for k in keys]).astype(dtype) if keys else np.zeros((0,), dtype)
    with atomic_output(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, tag=np.array(tag), keys=np.array(keys, dtype=str), values=values)


def _phash(pil: Any) -> np.uint64:
    import imagehash

    bits = imagehash.phash(pil).hash.flatten()
    return np.uint64(int("".join("1" if b else "0" for b in bits), 2))


def _prepare(pil: Any) -> Any:
    """PIL RGB image → ``[3, 224, 224]`` float tensor, the model's eval preprocessing."""
    import torch
    from PIL import Image

    w, h = pil.size
    s = RESIZE / min(w, h)
    img = pil.resize((max(1, round(w * s)), max(1, round(h * s))), Image.BICUBIC)
    w, h = img.size
    left, top = (w - IMAGE_SIZE) // 2, (h - IMAGE_SIZE) // 2
    img = img.crop((left, top, left + IMAGE_SIZE, top + IMAGE_SIZE))
    x = torch.from_numpy(np.asarray(img, dtype=np.float32) / 255.0).permute(2, 0, 1)
    return (x - MEAN) / STD


def _decode(path: Path) -> Any:
    from PIL import Image

    from vision_studio.core.images import read_image

    return Image.fromarray(read_image(path))


class _Batches:
    """Loader for ``extract_features``: ``(images [B,3,224,224], dummy labels [B])``."""

    def __init__(self, pils: Sequence[Any], batch_size: int, progress: Progress | None,
                 offset: int, total: int) -> None:
        self.pils, self.bs, self.progress = pils, batch_size, progress
        self.offset, self.total = offset, total

    def __len__(self) -> int:
        return (len(self.pils) + self.bs - 1) // self.bs

    def __iter__(self) -> Iterator[tuple[Any, Any]]:
        import torch

        for i in range(0, len(self.pils), self.bs):
            chunk = self.pils[i:i + self.bs]
            if self.progress:
                self.progress(self.offset + i, self.total)
            yield torch.stack([_prepare(p) for p in chunk]), torch.zeros(len(chunk), dtype=torch.long)


def build_backbone(weights: str | os.PathLike | None) -> Any:
    """The feature model: ``tf_efficientnet_lite0`` with ``weights`` (a timm tag such as
    ``"in1k"`` or a local ``.pth`` file; ``None`` = random init, only for tests of the
    plumbing). Raises WeightsError / ConfigError when the weights cannot be loaded."""
    from vision_studio.core.models.registry import build_model

    return build_model(FEATURE_ARCH, "classification", 2,
                       weights=None if weights is None else os.fspath(weights))


def _weights_tag(weights: str | os.PathLike | None) -> str:
    if weights is None:
        return "random"
    p = Path(weights)
    return f"{p.name}:{file_key(p)}" if p.is_file() else str(weights)


def compute_features(store: Any, *, weights: str | os.PathLike | None = "in1k",
                     embeddings: bool = True, image_ids: Sequence[int] | None = None,
                     batch_size: int = 16, progress: Progress | None = None) -> ImageFeatures:
    """Hashes (and embeddings) of the project's images, from the cache where it is fresh.

    Args:
        store: An open project.
        weights: Backbone weights (see :func:`build_backbone`).
        embeddings: Also compute backbone features (else hashes only: no CNN runs).
        image_ids: Only these images (default: all, store order).
        batch_size: Images per forward pass.
        progress: Called with ``(done, total)`` images while decoding / embedding.

    Raises:
        ConfigError: the project has no images, or none of them can be read.
    """
    images = store.images()
    if image_ids is not None:
        wanted = set(int(i) for i in image_ids)
        images = [im for im in images if im.id in wanted]
    if not images:
        raise ConfigError(f"{store.path}: the project has no images")
    folder = cache_dir(store)
    ftag = f"{FEATURE_ARCH}|{IMAGE_SIZE}|{_weights_tag(weights)}"
    hashes = _load_cache(folder / "phash.npz", "phash")
    feats = _load_cache(folder / "features.npz", ftag) if embeddings else {}
    keys = {im.id: f"{im.path}|{file_key(store.resolve(im))}" for im in images}
    todo = [im for im in images if keys[im.id] not in hashes
            or (embeddings and keys[im.id] not in feats)]
    failed = _fill(store, todo, keys, hashes, feats if embeddings else None, weights,
                   batch_size, progress, len(images))
    if todo:
        _save_cache(folder / "phash.npz", "phash", hashes, np.uint64)
        if embeddings:
            _save_cache(folder / "features.npz", ftag, feats, np.float32)
    ok = [im for im in images if keys[im.id] in hashes and (not embeddings or keys[im.id] in feats)]
    if not ok:
        raise ConfigError(f"{store.path}: none of the {len(images)} images could be read")
    return ImageFeatures(
        image_ids=np.array([im.id for im in ok], np.int64), paths=[im.path for im in ok],
        splits=[im.split for im in ok],
        phashes=np.array([hashes[keys[im.id]] for im in ok], np.uint64),
        features=np.stack([feats[keys[im.id]] for im in ok]).astype(np.float32) if embeddings else None,
        failed=failed)


def _image_keys(store: Any, image_ids: Sequence[int] | None) -> dict[int, str]:
    """``{image_id: "<path>|<size>:<mtime_ns>"}``, the cache keys of the images."""
    images = store.images()
    if image_ids is not None:
        wanted = set(int(i) for i in image_ids)
        images = [im for im in images if im.id in wanted]
    return {im.id: f"{im.path}|{file_key(store.resolve(im))}" for im in images}


def uncached_hashes(store: Any, image_ids: Sequence[int] | None = None) -> int:
    """How many of the images (default: all) have no fresh perceptual hash in the cache:
    what :func:`compute_features` with ``embeddings=False`` would have to decode."""
    hashes = _load_cache(cache_dir(store) / "phash.npz", "phash")
    return sum(1 for key in _image_keys(store, image_ids).values() if key not in hashes)


def cached_embeddings(store: Any, feats: ImageFeatures) -> np.ndarray | None:
    """The cached backbone features of every row of ``feats``, whatever weights they were
    computed with (the last :func:`compute_features` run), or ``None`` when some row has
    no fresh entry. Never runs the CNN.

    Returns:
        [N, D] float32, row-aligned with ``feats``, or ``None``.
    """
    path = cache_dir(store) / "features.npz"
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            tag = str(z["tag"])
    except (OSError, ValueError, KeyError):
        return None
    entries = _load_cache(path, tag)
    keys = _image_keys(store, [int(i) for i in feats.image_ids])
    rows = [entries.get(keys.get(int(i), "")) for i in feats.image_ids]
    if not rows or any(r is None for r in rows):
        return None
    return np.stack(rows).astype(np.float32)


def _fill(store: Any, todo: list, keys: dict[int, str], hashes: dict, feats: dict | None,
          weights: Any, batch_size: int, progress: Progress | None, total: int
          ) -> list[tuple[str, str]]:
    """Decode ``todo`` in chunks, hash them and (``feats`` not None) embed them."""
    from vision_studio.core.models.linear_probe import extract_features

    failed: list[tuple[str, str]] = []
    built = build_backbone(weights) if (feats is not None and todo) else None
    chunk = max(batch_size, 64)
    done = total - len(todo)
    for start in range(0, len(todo), chunk):
        pils, ims = [], []
        for im in todo[start:start + chunk]:
            try:
                pil = _decode(store.resolve(im))
            except (VisionStudioError, OSError, ValueError) as exc:
                failed.append((im.path, str(exc)))
                continue
            hashes[keys[im.id]] = _phash(pil)
            pils.append(pil)
            ims.append(im)
        if built is not None and pils:
            x, _ = extract_features(built, _Batches(pils, batch_size, progress, done, total))
            for im, row in zip(ims, x):
                feats[keys[im.id]] = row
        done += len(todo[start:start + chunk])
        if progress:
            progress(done, total)
    for path, reason in failed:
        log.warning("dataset health: skipped %s: %s", path, reason)
    return failed
