"""The "auto" tiling threshold is a setting (``TrainConfig.tile_auto_min_side``, default
``AUTO_MIN_SIDE``) that the tiling rule and the plan shown in the Model tab read."""
from __future__ import annotations

import pytest

from vision_studio.core.errors import ConfigError
from vision_studio.core.large.tiled_training import (AUTO_MIN_SIDE, should_tile, tiled_count,
                                                     tile_samples, tiling_plan)
from vision_studio.core.large.tiles import tile_grid
from vision_studio.core.training.config import TrainConfig
from vision_studio.core.types import Task


def _sample(w, h, rel="a.jpg"):
    from vision_studio.core.data.snapshot import Sample

    return Sample(image_id=1, path=f"/x/{rel}", rel_path=rel, width=w, height=h, split="train", annotations=())


def test_threshold_is_a_config_field_with_the_old_default():
    assert TrainConfig().tile_auto_min_side == AUTO_MIN_SIDE == 2000
    cfg = TrainConfig.from_dict({"task": "detection", "tile_auto_min_side": 1200})
    assert TrainConfig.from_json(cfg.to_json()).tile_auto_min_side == 1200
    with pytest.raises(ConfigError, match="tile_auto_min_side"):
        TrainConfig.from_dict({"tile_auto_min_side": -5})


def test_rule_reads_the_threshold():
    # 1500 px is more than 2 x a 512 px tile but under the default 2000 px threshold
    assert not should_tile("auto", 1000, 1500, 512)
    assert should_tile("auto", 1000, 1500, 512, auto_min_side=1200)
    assert not should_tile("auto", 1000, 1500, 800, auto_min_side=1200)  # under 2 x tile
    samples = [_sample(1500, 1000), _sample(400, 300, "b.jpg")]
    assert tiled_count(samples, Task.DETECTION, 512) == 0
    assert tiled_count(samples, Task.DETECTION, 512, auto_min_side=1200) == 1
    out = tile_samples(samples, Task.DETECTION, 512, auto_min_side=1200)
    assert len(out) == len(tile_grid(1000, 1500, 512, 0.2)) + 1
    assert len(tile_samples(samples, Task.DETECTION, 512)) == 2


def test_tiling_plan_counts_images_and_tiles():
    sizes = [(2400, 1800), (400, 300), (2400, 1800)]
    plan = tiling_plan(sizes, Task.DETECTION, 512, "auto", 0.2)
    assert (plan.total, plan.tiled, plan.larger) == (3, 2, 2)
    assert plan.tiles == 2 * len(tile_grid(1800, 2400, 512, 0.2))
    assert tiling_plan(sizes, Task.DETECTION, 512, "off").tiled == 0
    assert tiling_plan(sizes, Task.CLASSIFICATION, 512, "on").tiled == 0
    assert tiling_plan(sizes, Task.SEMANTIC_SEGMENTATION, 350, "on").tiled == 3
    assert tiling_plan(sizes, Task.DETECTION, 1300, "auto").tiled == 0  # 2400 < 2 x 1300
