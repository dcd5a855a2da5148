"""Image decoding on small generated files of every awkward kind."""
from __future__ import annotations

import logging

import numpy as np
import pytest
from PIL import Image

from vision_studio.core.images import (
    ImageDecodeError,
    image_size,
    is_image_file,
    read_image,
    read_image_raw,
    to_display,
)


def _rgb(h: int = 20, w: int = 30) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


@pytest.mark.parametrize("orientation, size", [(1, (30, 20)), (3, (30, 20)), (6, (20, 30)),
                                               (8, (20, 30))])
def test_exif_orientation_applied_to_size_and_pixels(tmp_path, orientation, size):
    arr = np.zeros((20, 30, 3), np.uint8)
    arr[:5, :5] = 255  # a white block in the stored top-left corner
    img = Image.fromarray(arr)
    exif = img.getexif()
    exif[0x0112] = orientation
    path = tmp_path / "rot.png"  # PNG: lossless, so pixels can be compared exactly
    img.save(path, exif=exif)
    assert image_size(path) == size
    out = read_image(path)
    assert out.shape == (size[1], size[0], 3) and out.dtype == np.uint8
    expected = np.asarray(Image.fromarray(arr).transpose(
        {1: Image.Transpose.ROTATE_180, 3: Image.Transpose.ROTATE_180,
         6: Image.Transpose.ROTATE_270, 8: Image.Transpose.ROTATE_90}[orientation]))
    if orientation == 1:
        expected = arr
    np.testing.assert_array_equal(out, expected)


def test_exif_rotated_jpeg(tmp_path):
    img = Image.fromarray(_rgb(20, 30))
    exif = img.getexif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    path = tmp_path / "rot.jpg"
    img.save(path, exif=exif, quality=95)
    assert image_size(path) == (20, 30)
    assert read_image(path).shape == (30, 20, 3)
    assert read_image_raw(path).shape == (30, 20, 3)


def test_grayscale_palette_rgba(tmp_path):
    gray = np.arange(600, dtype=np.uint8).reshape(20, 30)
    Image.fromarray(gray, "L").save(tmp_path / "g.png")
    out = read_image(tmp_path / "g.png")
    assert out.shape == (20, 30, 3)
    np.testing.assert_array_equal(out[:, :, 0], gray)
    np.testing.assert_array_equal(out[:, :, 2], gray)
    assert read_image_raw(tmp_path / "g.png").shape == (20, 30)

    pal = Image.fromarray((gray % 4).astype(np.uint8), "P")
    pal.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255, 9, 9, 9] + [0] * (256 * 3 - 12))
    pal.save(tmp_path / "p.png")
    raw = read_image_raw(tmp_path / "p.png")
    assert raw.shape == (20, 30) and raw.max() == 3  # indices kept (label PNGs)
    rgb = read_image(tmp_path / "p.png")
    assert tuple(rgb[0, 1]) == (0, 255, 0) and tuple(rgb[0, 3]) == (9, 9, 9)

    rgba = np.dstack([_rgb(), np.full((20, 30), 7, np.uint8)])
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    np.testing.assert_array_equal(read_image(tmp_path / "a.png"), rgba[:, :, :3])
    assert read_image_raw(tmp_path / "a.png").shape == (20, 30, 4)


def test_cmyk_jpeg(tmp_path):
    Image.new("CMYK", (16, 12), (0, 255, 255, 0)).save(tmp_path / "c.jpg", quality=100)
    out = read_image(tmp_path / "c.jpg")
    assert out.shape == (12, 16, 3)
    r, g, b = (int(v) for v in out[6, 8])
    assert r > 200 and g < 60 and b < 60  # cyan 0, magenta+yellow full = red
    assert read_image_raw(tmp_path / "c.jpg").shape == (12, 16, 3)


def test_16bit_png_keeps_data_and_windows_for_display(tmp_path):
    data = (np.arange(20 * 30, dtype=np.uint32).reshape(20, 30) * 100).astype(np.uint16)
    Image.fromarray(data).save(tmp_path / "d.png")
    raw = read_image_raw(tmp_path / "d.png")
    assert raw.dtype == np.uint16
    np.testing.assert_array_equal(raw, data)
    disp = read_image(tmp_path / "d.png")
    assert disp.dtype == np.uint8 and disp.shape == (20, 30, 3)
    assert disp[0, 0, 0] == 0 and disp[-1, -1, 0] == 255
    # explicit window: everything at or above 1000 is white, 500 is mid-grey
    win = to_display(np.array([0, 500, 1000, 60000], np.uint16), window=(0, 1000))
    assert win.tolist() == [0, 128, 255, 255]


def test_to_display_default_window_is_robust_to_outliers():
    data = np.full((100, 100), 1000, np.uint16)
    data[:50] = 2000
    data[0, 0] = 65535  # one hot pixel must not squash the picture
    out = to_display(data)
    assert out[10, 10] == 255 and out[90, 90] == 0
    full = to_display(data, percentiles=None)
    assert full[0, 0] == 255 and full[10, 10] < 10
    assert to_display(np.full((4, 4), 3.5, np.float32)).max() == 0  # constant image
    assert to_display(np.array([True, False])).tolist() == [255, 0]


def test_truncated_missing_and_non_image_files_raise_one_error(tmp_path, caplog):
    Image.fromarray(_rgb(64, 64)).save(tmp_path / "full.jpg")
    data = (tmp_path / "full.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])
    (tmp_path / "text.png").write_bytes(b"this is not an image at all")
    with caplog.at_level(logging.WARNING):
        with pytest.raises(ImageDecodeError, match="cut.jpg: truncated"):
            read_image(tmp_path / "cut.jpg")
    with pytest.raises(ImageDecodeError, match="text.png: not an image"):
        image_size(tmp_path / "text.png")
    with pytest.raises(ImageDecodeError, match="nope.png: file not found") as info:
        read_image_raw(tmp_path / "nope.png")
    assert info.value.path.endswith("nope.png") and info.value.reason == "file not found"
    with pytest.raises(ImageDecodeError, match="is a folder"):
        read_image(tmp_path)


def test_decompression_bomb_is_a_clear_error(tmp_path, monkeypatch):
    Image.fromarray(_rgb(40, 40)).save(tmp_path / "big.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # 1600 px > 2 × limit
    with pytest.raises(ImageDecodeError, match="big.png: image too large"):
        read_image(tmp_path / "big.png")


def test_arrays_are_writable(tmp_path):
    """Callers (augmentation, torch.from_numpy, drawing) may modify them in place."""
    Image.fromarray(_rgb()).save(tmp_path / "x.png")
    Image.fromarray(np.zeros((4, 4), np.uint16)).save(tmp_path / "y.png")
    for path in (tmp_path / "x.png", tmp_path / "y.png"):
        for arr in (read_image(path), read_image_raw(path)):
            assert arr.flags.writeable
            arr[0, 0] = 1


def test_is_image_file():
    assert is_image_file("a/b.JPEG") and is_image_file("x.png")
    assert not is_image_file("notes.txt") and not is_image_file("noext")
