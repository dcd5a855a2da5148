"""Tiled training end to end (issue 17): a detector trains on the tiles of its images
(one step per batch of tiles), reading only each tile's region."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from vision_studio.core.training import BatchEnd, TrainConfig
from vision_studio.core.training.trainer import Trainer
from vision_studio.core.types import Annotation, ImageRecord


@pytest.fixture()
def boxes_project(tmp_path):
    from vision_studio.core.store import ProjectStore

    store = ProjectStore.create(tmp_path / "p.vsproj")
    cat = store.add_category("dot")
    rng = np.random.default_rng(0)
    for i in range(2):
        arr = rng.integers(0, 60, (200, 300, 3), dtype=np.uint8)
        arr[50:70, 40:60] = 250
        arr[120:140, 220:240] = 250
        Image.fromarray(arr).save(store.root / f"im{i}.png")
        im = store.add_image(ImageRecord(path=f"im{i}.png", width=300, height=200, split="train"))
        store.add_annotations([Annotation(image_id=im.id, category_id=cat.id, bbox=(40, 50, 20, 20)),
                               Annotation(image_id=im.id, category_id=cat.id, bbox=(220, 120, 20, 20))])
    yield store
    store.close()


@pytest.mark.parametrize("tiles,min_side,steps", [("on", 2000, 3), ("off", 2000, 1), ("auto", 2000, 1),
                                                   ("auto", 280, 3)])
def test_detection_trains_on_tiles(boxes_project, tmp_path, tiles, min_side, steps):
    torch.set_num_threads(1)
    cfg = TrainConfig.from_dict(dict(
        task="detection", arch="fasterrcnn_mobilenet_v3_large_320_fpn", weights=None, strategy="scratch",
        epochs=1, batch_size=4, image_size=128, device="cpu", val_split=0, tiles=tiles, tile_overlap=0.2,
        tile_auto_min_side=min_side,
        num_workers=0, out_dir=str(tmp_path / f"run_{tiles}")))
    events = []
    result = Trainer(boxes_project).fit(cfg, callbacks=[events.append])
    assert result.status == "finished", result
    # 300 x 200 images in 128-px tiles at 0.2 overlap: 3 x 2 = 6 tiles each, 12 tiles,
    # batches of 4 → 3 steps; whole images: 2 images → 1 step. "auto" tiles them only when
    # their 300-px side exceeds tile_auto_min_side (and 2 x 128 px)
    assert sum(isinstance(e, BatchEnd) for e in events) == steps
