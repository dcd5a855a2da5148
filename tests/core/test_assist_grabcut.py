"""The smart polygon: GrabCut from a box (and strokes) on a drawn object and on a real
labelme photo against its ground-truth polygon."""
from __future__ import annotations

import numpy as np
import pytest

from vision_studio.core.assist.grabcut import grabcut_mask, grabcut_polygon, smart_polygon
from vision_studio.core.assist.polygons import mask_iou, polygons_mask
from vision_studio.core.errors import ConfigError


def _disc_image(seed: int = 0):
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 90, (120, 160, 3), dtype=np.uint8)  # dark noisy background
    yy, xx = np.mgrid[:120, :160]
    disc = (xx - 80) ** 2 + (yy - 60) ** 2 <= 30 ** 2
    img[disc] = rng.integers(180, 255, (int(disc.sum()), 3), dtype=np.uint8)
    return img, disc.astype(np.uint8)


def test_grabcut_outlines_an_object_from_its_box():
    img, disc = _disc_image()
    out = grabcut_polygon(img, (42, 22, 76, 76), tolerance=1.0)
    assert out.method == "grabcut" and len(out.polygons) >= 1
    back = polygons_mask(out.polygons[:1], 120, 160)
    assert mask_iou(back, disc) > 0.9
    box_iou = mask_iou(np.pad(np.ones((76, 76), np.uint8), ((22, 22), (42, 42))), disc)
    assert mask_iou(back, disc) > box_iou + 0.1  # better than the box itself
    coarse = grabcut_polygon(img, (42, 22, 76, 76), tolerance=4.0)
    assert len(coarse.polygons[0]) < len(out.polygons[0])


def test_background_strokes_remove_what_they_cover():
    rng = np.random.default_rng(1)
    img = rng.integers(0, 60, (120, 160, 3), dtype=np.uint8)
    red = np.zeros((120, 160), bool)
    red[30:90, 40:80] = True
    green = np.zeros((120, 160), bool)
    green[30:90, 80:120] = True  # touching the red block: one object for GrabCut
    img[red] = (220, 30, 30)
    img[green] = (30, 220, 30)
    box = (35, 25, 90, 70)
    plain = grabcut_mask(img, box)
    assert mask_iou(plain, red | green) > 0.9  # without strokes: both blocks
    bg = np.zeros((120, 160), np.uint8)
    bg[30:90, 98:102] = 1  # the user strokes down the green block: not the object
    refined = grabcut_mask(img, box, background=bg)
    assert mask_iou(refined, red) > 0.9 and refined[green].sum() < 0.05 * green.sum()
    fg = np.zeros((120, 160), np.uint8)
    fg[5:10, 5:10] = 1  # a foreground stroke outside the box is cut to the box
    assert grabcut_mask(img, box, foreground=fg)[5:10, 5:10].sum() == 0


def test_bad_boxes_are_config_errors():
    img, _ = _disc_image()
    with pytest.raises(ConfigError):
        grabcut_mask(img, (500, 500, 10, 10))
    with pytest.raises(ConfigError):
        grabcut_mask(img, (10, 10, 1, 1))
    whole = grabcut_mask(img, (0, 0, 160, 120))  # the whole image still works
    assert whole.shape == (120, 160)


def test_grabcut_on_a_real_labelme_object(data_dir):
    import json

    from vision_studio.core.images import read_image

    root = data_dir("labelme") / "instance_segmentation"
    data = json.loads((root / "2011_000006.json").read_text())
    img = read_image(root / data["imagePath"])
    h, w = img.shape[:2]
    ious = []
    for shape in data["shapes"]:
        if shape.get("shape_type", "polygon") != "polygon" or shape["label"].startswith("__"):
            continue
        pts = np.array(shape["points"], dtype=np.float64)
        gt = polygons_mask([pts.reshape(-1).tolist()], h, w)
        x0, y0 = pts.min(0)
        x1, y1 = pts.max(0)
        got = smart_polygon(img, (x0, y0, x1 - x0, y1 - y0))
        ious.append(mask_iou(polygons_mask(got.polygons, h, w), gt))
    assert ious and np.median(ious) > 0.5, ious
