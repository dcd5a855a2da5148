"""Tiles cover the image with the stated overlap; boxes are clipped to tiles by the
stated rule; sliced prediction of a mosaic equals the merged union of per-tile
predictions (issue 17)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vision_studio.core.evaluation.sliced import SliceSettings, merge_detections, predict_sliced
from vision_studio.core.large.tiles import Tile, clip_to_tile, needs_tiling, tile_grid

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"


@pytest.mark.parametrize("h,w,tile,overlap", [(1664, 1664, 512, 0.2), (4000, 6000, 640, 0.25),
                                              (300, 200, 512, 0.2), (1000, 513, 512, 0.0)])
def test_tiles_cover_the_image_with_the_overlap(h, w, tile, overlap):
    tiles = tile_grid(h, w, tile, overlap)
    covered = np.zeros((h, w), dtype=np.int32)
    for t in tiles:
        assert 0 <= t.x0 < t.x1 <= w and 0 <= t.y0 < t.y1 <= h
        assert t.width == min(tile, w) and t.height == min(tile, h)
        covered[t.y0:t.y1, t.x0:t.x1] += 1
    assert covered.min() >= 1
    # neighbours in a row share at least int(overlap * tile) pixels (the last one more)
    xs = sorted({t.x0 for t in tiles})
    for a, b in zip(xs, xs[1:]):
        assert (a + min(tile, w)) - b >= int(overlap * tile)


def test_bad_tile_arguments_raise():
    with pytest.raises(ValueError):
        tile_grid(100, 100, 64, 1.0)
    with pytest.raises(ValueError):
        tile_grid(0, 100, 64, 0.2)
    assert needs_tiling(4000, 6000, 512) and not needs_tiling(600, 800, 512)


def test_boxes_are_clipped_by_the_stated_rule():
    tile = Tile(100, 100, 200, 200)
    boxes = np.array([
        [120, 120, 20, 20],   # inside: kept whole
        [90, 150, 20, 20],    # half inside: kept, clipped to x>=100
        [195, 150, 20, 20],   # 1/4 inside (5 of 20 px): kept (0.25 >= min_visible)
        [198, 150, 20, 20],   # 2 px of 20 inside: 10 % < 25 %: dropped
        [150, 199, 4, 4],     # 1 px tall inside: dropped by min_side
        [300, 300, 10, 10],   # outside
    ], dtype=np.float32)
    out, keep = clip_to_tile(boxes, tile)
    assert keep.tolist() == [0, 1, 2]
    np.testing.assert_allclose(out, [[20, 20, 20, 20], [0, 50, 10, 20], [95, 50, 5, 20]])
    out0, keep0 = clip_to_tile(boxes, tile, min_visible=0.0, min_side=0.5)
    assert keep0.tolist() == [0, 1, 2, 3, 4]


def test_merge_nmm_makes_the_union_of_a_cut_object():
    # a piece of an object cut by a tile edge (best score) and the whole box from the
    # whole-image pass: IoS = 1, so NMM merges them into the union, NMS keeps the piece
    boxes = np.array([[0, 0, 60, 40], [0, 0, 100, 40], [300, 300, 320, 320]], np.float32)
    scores = np.array([0.9, 0.6, 0.7], np.float32)
    labels = np.array([1, 1, 1])
    b, s, lab = merge_detections(boxes, scores, labels, merge="nmm", match_metric="IOS", match_threshold=0.5)
    assert s.tolist() == pytest.approx([0.9, 0.7])
    np.testing.assert_allclose(b, [[0, 0, 100, 40], [300, 300, 320, 320]])
    b2, s2, _ = merge_detections(boxes, scores, labels, merge="nms", match_metric="IOS", match_threshold=0.5)
    np.testing.assert_allclose(b2, [[0, 0, 60, 40], [300, 300, 320, 320]])
    # with IoU (0.6) below a 0.7 threshold nothing merges
    _, s4, _ = merge_detections(boxes, scores, labels, merge="nmm", match_metric="IOU", match_threshold=0.7)
    assert len(s4) == 3
    # another category is never merged
    _, s3, _ = merge_detections(boxes[:2], scores[:2], np.array([1, 2]), merge="nmm")
    assert len(s3) == 2


@pytest.fixture(scope="module")
def detector():
    import torch
    from torchvision.models.detection import fasterrcnn_mobilenet_v3_large_320_fpn

    torch.manual_seed(0)
    return fasterrcnn_mobilenet_v3_large_320_fpn(weights=None, weights_backbone=None, num_classes=3).eval()


def _rbc_images(n):
    from vision_studio.core.images import read_image

    files = sorted((DATA / "rbc_coco").rglob("*.jpg"))[:n]
    if len(files) < n:
        pytest.skip("rbc_coco images not found")
    return [read_image(f)[:256, :256] for f in files]


def test_sliced_prediction_of_a_mosaic_is_the_merged_union_of_tile_predictions(detector):
    from vision_studio.core.evaluation.predict import predict_detections

    parts = _rbc_images(4)
    mosaic = np.concatenate([np.concatenate(parts[:2], axis=1), np.concatenate(parts[2:], axis=1)], axis=0)
    cats = [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}]
    settings = SliceSettings(tile=256, overlap=0.0, include_full=False, merge="nms", match_metric="IOU",
                             match_threshold=0.5)
    sliced = predict_sliced(detector, [mosaic], cats, settings=settings, batch_size=1, score_floor=0.05)
    assert sliced.image_sizes.tolist() == [[512, 512]] and sliced.masks is None
    each = predict_detections(detector, parts, cats, batch_size=1, score_floor=0.05)
    offsets = np.array([[0, 0], [256, 0], [0, 256], [256, 256]], np.float32)[each.img_index]
    shifted = each.boxes + np.tile(offsets, 2)
    b, s, lab = merge_detections(shifted, each.scores, each.labels, merge="nms", match_metric="IOU",
                                 match_threshold=0.5)
    assert len(s) > 0
    assert len(sliced) == len(s)
    order_a = np.lexsort((sliced.boxes[:, 0], -sliced.scores))
    order_b = np.lexsort((b[:, 0], -s))
    np.testing.assert_allclose(sliced.boxes[order_a], b[order_b], atol=1e-2)
    np.testing.assert_allclose(sliced.scores[order_a], s[order_b], atol=1e-4)
    assert (sliced.labels[order_a] == lab[order_b]).all()


def test_sliced_prediction_with_the_whole_image_pass_keeps_full_image_pixels(detector):
    parts = _rbc_images(2)
    wide = np.concatenate(parts, axis=1)  # 256 x 512
    out = predict_sliced(detector, [wide], [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}],
                         settings=SliceSettings(tile=200, overlap=0.2), score_floor=0.05)
    assert len(out) > 0
    assert out.boxes[:, [0, 2]].max() <= 512 + 1e-3 and out.boxes[:, [1, 3]].max() <= 256 + 1e-3
    assert (out.boxes[:, 2] > out.boxes[:, 0]).all()


def _pyramid(path, arr, levels=3, tile=256):
    import tifffile

    with tifffile.TiffWriter(path, bigtiff=True) as tw:
        tw.write(arr, tile=(tile, tile), subifds=levels - 1, photometric="rgb" if arr.ndim == 3 else None,
                 compression="zlib")
        for k in range(1, levels):
            tw.write(arr[::2 ** k, ::2 ** k], tile=(tile, tile), subfiletype=1,
                     photometric="rgb" if arr.ndim == 3 else None, compression="zlib")


def test_pyramidal_tiff_regions_and_overview(tmp_path):
    from vision_studio.core.image_regions import TiffRegions, is_tiled_tiff, open_regions

    rng = np.random.default_rng(0)
    arr = rng.integers(0, 255, (2048, 3072, 3), dtype=np.uint8)
    path = tmp_path / "slide.tif"
    _pyramid(path, arr)
    assert is_tiled_tiff(path)
    src = open_regions(path)
    assert isinstance(src, TiffRegions)
    assert (src.height, src.width) == (2048, 3072)
    assert src.levels == [(2048, 3072), (1024, 1536), (512, 768)]
    np.testing.assert_array_equal(src.region(1000, 700, 1512, 1212), arr[700:1212, 1000:1512])
    # clamped at the border
    assert src.region(3000, 2000, 3100, 2100).shape == (48, 72, 3)
    assert src.level_for(600) == 2 and src.level_for(1500) == 1 and src.level_for(5000) == 0
    ov = src.overview(700)
    assert max(ov.shape[:2]) <= 700
    np.testing.assert_array_equal(src.overview(768), arr[::4, ::4])
    src.close()


def test_16_bit_tiff_tiles_share_one_display_window(tmp_path):
    from vision_studio.core.image_regions import open_regions

    arr = np.tile(np.linspace(1000, 5000, 1024, dtype=np.uint16), (1024, 1))
    path = tmp_path / "gray16.tif"
    _pyramid(path, arr, levels=2)
    src = open_regions(path)
    left, right = src.region(0, 0, 256, 256), src.region(768, 0, 1024, 256)
    assert left.dtype == np.uint8 and left.shape == (256, 256, 3)
    assert left.mean() < 80 and right.mean() > 175  # same window: dark left, bright right


def test_a_jpeg_is_read_whole(tmp_path):
    from PIL import Image

    from vision_studio.core.image_regions import ArrayRegions, open_regions

    path = tmp_path / "a.jpg"
    Image.fromarray(np.full((60, 80, 3), 128, np.uint8)).save(path)
    src = open_regions(path)
    assert isinstance(src, ArrayRegions) and (src.height, src.width) == (60, 80)
    assert src.region(10, 10, 30, 20).shape == (10, 20, 3)


def _sample(w, h, anns, task_rel="big.jpg"):
    from vision_studio.core.data.snapshot import Sample

    return Sample(image_id=1, path="/x/big.jpg", rel_path=task_rel, width=w, height=h, split="train",
                  annotations=tuple(anns))


def test_tile_samples_clip_annotations_and_record_windows():
    from vision_studio.core.large.tiled_training import tile_samples, tiled_count
    from vision_studio.core.types import Annotation, Task

    anns = [Annotation(image_id=1, category_id=1, bbox=(10, 10, 30, 30), id=1),
            Annotation(image_id=1, category_id=2, bbox=(500, 10, 40, 40), id=2,
                       polygons=((500, 10, 540, 10, 540, 50, 500, 50),))]
    big = _sample(1100, 600, anns)
    small = _sample(400, 300, anns[:1], "small.jpg")
    # auto leaves a 1100 px image whole (under 2000 px), "on" tiles it
    assert tiled_count([big, small], Task.INSTANCE_SEGMENTATION, 512) == 0
    assert tiled_count([_sample(2400, 600, anns), small], Task.INSTANCE_SEGMENTATION, 512) == 1
    out = tile_samples([big, small], Task.INSTANCE_SEGMENTATION, 512, mode="on", overlap=0.2)
    assert tiled_count([big, small], Task.INSTANCE_SEGMENTATION, 512, mode="on") == 1
    tiles = [s for s in out if s.window is not None]
    assert out[-1] is small and len(tiles) == len(tile_grid(600, 1100, 512, 0.2))
    first = tiles[0]
    assert first.window == (0, 0, 512, 512) and (first.width, first.height) == (512, 512)
    # the polygon box at x 500..540 is cut by the first tile at 512: 12/40 = 30 % kept
    cats = sorted(a.category_id for a in first.annotations)
    assert cats == [1, 2]
    cut = [a for a in first.annotations if a.category_id == 2][0]
    assert cut.bbox == pytest.approx((500, 10, 12, 40))
    assert max(cut.polygons[0][0::2]) == pytest.approx(512)
    # the next tile starts at x = 512 - 102 = 410: box 2 whole in tile coordinates
    second = tiles[1]
    assert second.window[0] == 410
    whole = [a for a in second.annotations if a.category_id == 2][0]
    assert whole.bbox == pytest.approx((90, 10, 40, 40))
    assert tile_samples([big], Task.CLASSIFICATION, 512, mode="on") == [big]
    assert tile_samples([big], Task.DETECTION, 512, mode="off") == [big]
    with pytest.raises(ValueError):
        tile_samples([big], Task.DETECTION, 512, mode="sometimes")


def test_a_tiled_sample_reads_only_its_window(tmp_path):
    from PIL import Image

    from vision_studio.core.data.datasets import _read_image

    arr = np.random.default_rng(1).integers(0, 255, (600, 1100, 3), dtype=np.uint8)
    path = tmp_path / "big.png"
    Image.fromarray(arr).save(path)
    np.testing.assert_array_equal(_read_image(str(path), (410, 0, 922, 512)), arr[0:512, 410:922])


def test_a_tiled_tiff_above_the_pixel_limit_is_verified_without_a_full_decode(tmp_path):
    from vision_studio.core.images import set_max_pixels, verify_image

    arr = np.random.default_rng(2).integers(0, 255, (1024, 1024, 3), dtype=np.uint8)
    path = tmp_path / "slide.tif"
    _pyramid(path, arr, levels=3)
    set_max_pixels(500_000)  # the full level (1 MP) is above it, the 1/4 level below
    try:
        assert verify_image(path, "k1") is None
        data = path.read_bytes()
        cut = tmp_path / "cut.tif"
        cut.write_bytes(data[: len(data) // 3])
        assert "truncated" in verify_image(cut, "k2") or "corrupt" in verify_image(cut, "k2")
        set_max_pixels(1000)  # no level small enough
        assert "pyramid level" in verify_image(path, "k3")
    finally:
        set_max_pixels(None)


def test_auto_slicing_rule_and_the_recorded_settings(detector, tmp_path):
    from vision_studio.core.evaluation.predictions import RawDetections
    from vision_studio.core.evaluation.sliced import auto_slicing

    assert auto_slicing([(416, 416), (1000, 1500)], 416) is None  # ordinary images: as before
    s = auto_slicing([(416, 416), (4000, 6000)], 512)
    assert s is not None and s.tile == 512 and s.min_side == 2000
    parts = _rbc_images(2)
    settings = SliceSettings(tile=128, overlap=0.2, min_side=300)
    out = predict_sliced(detector, [parts[0], np.concatenate(parts, axis=1)], [{"id": 1, "name": "a"},
                         {"id": 2, "name": "b"}], settings=settings, score_floor=0.05)
    assert out.slicing == settings.as_dict()
    out.save(tmp_path / "p.npz")
    again = RawDetections.load(tmp_path / "p.npz")
    assert again.slicing == settings.as_dict() and len(again) == len(out)
    # the 256 px image (<= min_side) got the plain whole-image pass only: its boxes are
    # those of predict_detections on it
    from vision_studio.core.evaluation.predict import predict_detections

    plain = predict_detections(detector, [parts[0]], [{"id": 1}, {"id": 2}], image_size=128, score_floor=0.05)
    assert (out.img_index == 0).sum() == len(plain)


def test_import_records_the_full_size_of_a_slide_pillow_refuses(tmp_path, monkeypatch):
    """A slide too large for Pillow to open (its decompression-bomb limit, here lowered
    to make a small file count as a slide) is imported with the size of its header."""
    from PIL import Image

    from vision_studio.core.images import ImageDecodeError, image_size
    from vision_studio.core.io.imagefolder import read_images
    from vision_studio.core.store import ProjectStore

    arr = np.random.default_rng(1).integers(0, 255, (1024, 1536, 3), dtype=np.uint8)
    (tmp_path / "imgs").mkdir()
    _pyramid(tmp_path / "imgs" / "slide.tif", arr, levels=2)
    Image.fromarray(arr).save(tmp_path / "imgs" / "flat.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100_000)  # Pillow refuses > 2 x this
    with pytest.raises(ImageDecodeError, match="too large"):
        image_size(tmp_path / "imgs" / "flat.png")  # not a TIFF: still refused
    assert image_size(tmp_path / "imgs" / "slide.tif") == (1536, 1024)
    store = ProjectStore.create(tmp_path / "p.vsproj")
    read_images(store, tmp_path / "imgs")
    sizes = {Path(im.path).name: (im.width, im.height) for im in store.images()}
    assert sizes.get("slide.tif") == (1536, 1024)
    store.close()
