"""Training detection and segmentation on overlapping tiles of large images.

:func:`tile_samples` replaces every training sample larger than the rule allows by one
sample per tile (:func:`vision_studio.core.large.tiles.tile_grid`, tile side = the
model's input size ``image_size``), so small objects keep their pixels instead of being
shrunk with the whole image. Each tile sample carries its ``window`` (``x0, y0, x1, y1``
in full-resolution pixels); :class:`vision_studio.core.data.datasets.VisionDataset`
reads only that region. Annotations are clipped to the tile by the rule of
:func:`~vision_studio.core.large.tiles.clip_to_tile` (kept when >= 25 % of the box's
area and >= 2 px on both sides remain) and shifted into tile pixels; polygons are
clamped into the tile, RLE masks cropped. Tiles with no annotation left are kept
(they teach the model what background looks like) unless ``keep_empty`` is False.

Modes (``TrainConfig.tiles``): ``"off"``; ``"on"`` (every image larger than one tile);
``"auto"`` (images whose longer side exceeds both ``auto_min_side`` — default
``AUTO_MIN_SIDE`` = 2000 px, about a 4-megapixel photo, ``TrainConfig.tile_auto_min_side``
— and ``AUTO_FACTOR`` = 2 x the tile, see
:func:`~vision_studio.core.large.tiles.needs_tiling`; ordinary datasets of 300-1000 px
images therefore train as before). Classification never tiles.
Validation always uses whole images as they are predicted by the plain path.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Sequence

import numpy as np

from vision_studio.core.large.tiles import (DEFAULT_MIN_SIDE, DEFAULT_MIN_VISIBLE, Tile, clip_polygons_to_tile,
                                            clip_to_tile, needs_tiling, tile_grid)
from vision_studio.core.types import Task

MODES = ("auto", "on", "off")
AUTO_FACTOR = 2.0
AUTO_MIN_SIDE = 2000


def should_tile(mode: str, height: int, width: int, tile: int, auto_min_side: int = AUTO_MIN_SIDE) -> bool:
    """Whether the rule of ``mode`` trains an image of ``width x height`` pixels as tiles
    of ``tile`` pixels (``auto_min_side``: the ``"auto"`` threshold in pixels)."""
    if mode == "off":
        return False
    if mode == "on":
        return max(height, width) > tile
    return max(height, width) > auto_min_side and needs_tiling(height, width, tile, AUTO_FACTOR)


def _crop_rle(rle: dict[str, Any], height: int, width: int, tile: Tile) -> dict[str, Any] | None:
    from pycocotools import mask as mask_utils

    r = dict(rle)
    if isinstance(r.get("counts"), list):
        r = mask_utils.frPyObjects(r, height, width)
    elif isinstance(r.get("counts"), str):
        r["counts"] = r["counts"].encode("ascii")
    m = mask_utils.decode(r)[tile.y0:tile.y1, tile.x0:tile.x1]
    if not m.any():
        return None
    enc = mask_utils.encode(np.asfortranarray(m.astype(np.uint8)))
    return {"size": [int(v) for v in enc["size"]], "counts": enc["counts"].decode("ascii")}


def _clip_annotations(anns: Sequence[Any], height: int, width: int, tile: Tile, min_visible: float,
                      min_side: float) -> tuple[Any, ...]:
    if not anns:
        return ()
    boxes = np.array([a.bbox for a in anns], dtype=np.float64).reshape(-1, 4)
    clipped, keep = clip_to_tile(boxes, tile, min_visible=min_visible, min_side=min_side)
    out = []
    for box, k in zip(clipped, keep):
        a = anns[int(k)]
        polygons = tuple(tuple(p) for p in clip_polygons_to_tile(a.polygons, tile)) if a.polygons else ()
        rle = _crop_rle(a.rle, height, width, tile) if a.rle else None
        if (a.polygons and not polygons) or (a.rle and rle is None):
            continue
        out.append(dataclasses.replace(a, bbox=tuple(float(v) for v in box), polygons=polygons, rle=rle,
                                       area=0.0))
    return tuple(out)


def tile_samples(samples: Sequence[Any], task: str, tile: int, *, mode: str = "auto", overlap: float = 0.2,
                 min_visible: float = DEFAULT_MIN_VISIBLE, min_side: float = DEFAULT_MIN_SIDE,
                 keep_empty: bool = True, auto_min_side: int = AUTO_MIN_SIDE) -> list[Any]:
    """Training samples with every large image replaced by its tiles.

    Args:
        samples: :class:`~vision_studio.core.data.snapshot.Sample` objects.
        task: The task (:class:`~vision_studio.core.types.Task`); classification is
            returned unchanged.
        tile: Tile side in pixels (the model input size).
        mode: ``"auto"``, ``"on"`` or ``"off"`` (see the module docstring).
        overlap: Fraction of ``tile`` shared by neighbouring tiles.
        min_visible, min_side: The clipping rule of ``clip_to_tile``.
        keep_empty: Keep tiles that hold no annotation.
        auto_min_side: ``"auto"`` tiles only images whose longer side exceeds this
            (pixels; ``TrainConfig.tile_auto_min_side``).

    Returns:
        The samples, tiled ones as several samples with ``window`` set and
        ``rel_path`` ``"<rel_path>#x0,y0"``.

    Raises:
        ValueError: an unknown mode.
    """
    if mode not in MODES:
        raise ValueError(f"tiles: {mode!r} is not one of {', '.join(MODES)}")
    if task == Task.CLASSIFICATION or mode == "off":
        return list(samples)
    out: list[Any] = []
    for s in samples:
        if not should_tile(mode, s.height, s.width, tile, auto_min_side):
            out.append(s)
            continue
        for t in tile_grid(s.height, s.width, tile, overlap):
            anns = _clip_annotations(s.annotations, s.height, s.width, t, min_visible, min_side)
            if anns or keep_empty:
                out.append(dataclasses.replace(s, rel_path=f"{s.rel_path}#{t.x0},{t.y0}", width=t.width,
                                               height=t.height, annotations=anns, window=(t.x0, t.y0, t.x1, t.y1)))
    return out


def tiled_count(samples: Sequence[Any], task: str, tile: int, mode: str = "auto", overlap: float = 0.2,
                auto_min_side: int = AUTO_MIN_SIDE) -> int:
    """How many images of ``samples`` (anything with ``height`` and ``width`` in pixels:
    samples, ``ImageRecord``) the rule tiles (for the pre-training checks)."""
    if task == Task.CLASSIFICATION or mode == "off":
        return 0
    return sum(1 for s in samples if should_tile(mode, s.height, s.width, tile, auto_min_side))


@dataclasses.dataclass(frozen=True)
class TilingPlan:
    """What the tiling rule does to a set of images (shown before training).

    Attributes:
        total: Images considered.
        tiled: Images the rule cuts into tiles.
        tiles: Tiles those images give (each ``tile x tile`` pixels).
        larger: Images whose longer side exceeds ``auto_min_side`` (whatever the mode).
    """

    total: int
    tiled: int
    tiles: int
    larger: int


def tiling_plan(sizes: Sequence[tuple[int, int]], task: str, tile: int, mode: str = "auto",
                overlap: float = 0.2, auto_min_side: int = AUTO_MIN_SIDE) -> TilingPlan:
    """Count the images and tiles the rule gives for images of ``sizes``.

    Args:
        sizes: ``(width, height)`` of each image in pixels.
        task, tile, mode, overlap, auto_min_side: As for :func:`tile_samples`.

    Returns:
        The :class:`TilingPlan` (tiles counted with :func:`tile_grid`, once per distinct
        image size).
    """
    from collections import Counter

    counts = Counter((int(w), int(h)) for w, h in sizes)
    larger = sum(n for (w, h), n in counts.items() if max(w, h) > auto_min_side)
    if task == Task.CLASSIFICATION or mode == "off":
        return TilingPlan(sum(counts.values()), 0, 0, larger)
    tiled = tiles = 0
    for (w, h), n in counts.items():
        if w > 0 and h > 0 and should_tile(mode, h, w, tile, auto_min_side):
            tiled += n
            tiles += n * len(tile_grid(h, w, tile, overlap))
    return TilingPlan(sum(counts.values()), tiled, tiles, larger)
