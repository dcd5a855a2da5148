"""Pure mask editing (issue 19 item 2): strokes, fill, polygons, limits and the store plan."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from vision_studio.core import mask_edit as me
from vision_studio.core.io.masks import mask_annotation


def test_stroke_covers_pixels_whose_centre_is_within_the_radius():
    m = me.stroke_mask(20, 30, [(5.0, 5.0)], 2.0)  # a dab
    rows, cols = np.nonzero(m)
    assert np.all((cols + 0.5 - 5) ** 2 + (rows + 0.5 - 5) ** 2 <= 4.0)
    assert m.sum() == 12  # the 12 pixel centres within 2 px of (5, 5)
    line = me.stroke_mask(20, 30, [(2.0, 10.0), (27.0, 10.0)], 1.0)
    assert line[9:11, 2:27].all() and not line[8].any() and not line[11].any()
    assert me.stroke_mask(20, 30, [(-50.0, -50.0)], 3.0).sum() == 0  # off the image


def test_paint_limits_and_flood_fill():
    labels = np.zeros((10, 10), np.int64)
    labels[:, :5] = 3
    everywhere = np.ones((10, 10), bool)
    assert (me.paint(labels, everywhere, 7) == 7).all()
    inside = me.paint(labels, everywhere, 7, "inside")
    assert (inside[:, :5] == 7).all() and (inside[:, 5:] == 0).all()
    outside = me.paint(labels, everywhere, 7, "outside")
    assert (outside[:, :5] == 3).all() and (outside[:, 5:] == 7).all()
    with pytest.raises(ValueError):
        me.paint(labels, everywhere, 7, "nowhere")
    labels[5, 5:] = 3  # splits the unlabelled part into two regions
    region = me.flood_mask(labels, 8.5, 1.5)
    assert region[:5, 5:].all() and not region[6:].any() and not region[:, :5].any()


def test_polygons_mask_matches_pycocotools_area():
    square = [[2, 2, 8, 2, 8, 8, 2, 8]]
    m = me.polygons_mask(square, 10, 10)
    assert m.sum() == mask_annotation(m, 1).area == 36


def test_plan_edit_updates_adds_and_deletes_only_changed_pixels():
    h, w = 12, 12
    road = np.zeros((h, w), bool)
    road[6:] = True
    sky = np.zeros((h, w), bool)
    sky[:3] = True
    anns = [replace(mask_annotation(road, 1, 5), id=10), replace(mask_annotation(sky, 2, 5), id=11)]
    old = me.label_map(anns, h, w)
    assert (old[6:] == 1).all() and (old[:3] == 2).all() and (old[3:6] == 0).all()
    region = np.zeros((h, w), bool)
    region[5:8, :] = True  # paint category 3 over a row of nothing and two rows of road
    new = me.paint(old, region, 3)
    edit = me.plan_edit(anns, old, new, 5)
    assert [a.id for a, _ in edit.updated] == [10] and not edit.deleted
    assert me.decode(edit.updated[0][1].rle).sum() == road.sum() - 2 * w
    assert edit.updated[0][1].area == road.sum() - 2 * w
    assert len(edit.added) == 1 and edit.added[0].category_id == 3 and edit.added[0].image_id == 5
    assert me.decode(edit.added[0].rle).sum() == 3 * w
    erase = me.plan_edit(anns, old, me.paint(old, sky, me.ERASE), 5)
    assert [a.id for a in erase.deleted] == [11] and not erase.added and not erase.updated
    assert me.plan_edit(anns, old, old.copy(), 5).empty
