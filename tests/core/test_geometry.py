"""core.geometry: conversions agree with torchvision, polygon area is pycocotools' rasterised
area whatever raster it is computed on, clipping keeps what is inside."""
import numpy as np
import pytest
import torch
from pycocotools import mask as mask_utils

from vision_studio.core import geometry as g


def test_single_box_conversions_round_trip():
    assert g.xywh_to_xyxy([10, 20, 5, 7]) == (10.0, 20.0, 15.0, 27.0)
    assert g.xyxy_to_xywh(g.xywh_to_xyxy([1.5, 2, 3, 4])) == (1.5, 2.0, 3.0, 4.0)


def test_batched_box_convert_matches_single_and_keeps_kind():
    boxes = np.array([[10, 20, 5, 7], [0, 0, 1, 1]], dtype=np.float64)
    out = g.box_convert(boxes, "xywh", "xyxy")
    assert isinstance(out, np.ndarray)
    np.testing.assert_allclose(out[0], g.xywh_to_xyxy(boxes[0]))
    t = g.box_convert(torch.tensor(boxes), "xywh", "xyxy")
    assert isinstance(t, torch.Tensor) and torch.allclose(t, torch.tensor(out))


def test_polygon_area_is_pycocotools_area_independent_of_raster_size():
    poly = [10.0, 10.0, 60.5, 12.0, 55.0, 48.3, 12.0, 40.0]
    expected = float(mask_utils.area(mask_utils.merge(mask_utils.frPyObjects([poly], 640, 640))))
    assert g.polygons_area([poly]) == expected
    assert g.polygons_area([poly], 100, 100) == expected
    # a shoelace area differs: the rasterised one is the COCO convention
    assert g.annotation_area((0, 0, 1, 1), [poly]) == expected


def test_rle_area_and_bbox_both_encodings():
    m = np.zeros((20, 30), dtype=np.uint8, order="F")
    m[2:7, 3:13] = 1
    rle = mask_utils.encode(m)
    rle_str = {"size": rle["size"], "counts": rle["counts"].decode("ascii")}
    assert g.rle_area(rle_str) == 50.0
    assert g.mask_bbox((), rle_str, 20, 30) == (3.0, 2.0, 10.0, 5.0)


def test_clip_box_and_polygons():
    assert g.clip_box([-5, -5, 10, 10], 100, 100) == (0.0, 0.0, 5.0, 5.0)
    assert g.clip_box([200, 0, 10, 10], 100, 100) is None
    assert g.clip_polygons([[-10, -10, 50, -10, 50, 50]], 40, 40) == [[0.0, 0.0, 40.0, 0.0, 40.0, 40.0]]
    assert g.clip_polygons([[200, 0, 300, 0, 250, 50]], 100, 100) == []
    with pytest.raises(ValueError):
        g.polygons_bbox([])
