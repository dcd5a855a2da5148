"""Image decoding on small generated files of every awkward kind."""
from __future__ import annotations

import logging
import os

import numpy as np
import pytest
from PIL import Image

from vision_studio.core.images import (
    DEFAULT_MAX_PIXELS,
    ImageDecodeError,
    file_check_key,
    image_size,
    is_image_file,
    max_pixels,
    read_image,
    read_image_raw,
    set_max_pixels,
    to_display,
    verify_image,
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


def _run_with_timeout(fn, seconds: float = 5.0):
    """Run ``fn`` in a daemon thread; fail (not hang) when it does not return in time."""
    import threading

    out: dict = {}

    def target():
        try:
            out["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            out["error"] = exc

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(seconds)
    assert not t.is_alive(), "hung on a named pipe"
    if "error" in out:
        raise out["error"]
    return out.get("value")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes need POSIX")
def test_named_pipe_is_refused_not_waited_on(tmp_path):
    os.mkfifo(tmp_path / "x.jpg")
    for fn in (image_size, read_image, verify_image):
        if fn is verify_image:
            assert "not a regular file" in _run_with_timeout(lambda: fn(tmp_path / "x.jpg"))
            continue
        with pytest.raises(ImageDecodeError, match="x.jpg: not a regular file"):
            _run_with_timeout(lambda: fn(tmp_path / "x.jpg"))


def test_pixel_limit_refuses_huge_images_with_a_clear_message(tmp_path):
    Image.new("L", (13000, 13000)).save(tmp_path / "huge.png")  # ~160 KB on disk
    assert (tmp_path / "huge.png").stat().st_size < 1_000_000
    assert image_size(tmp_path / "huge.png") == (13000, 13000)  # the header is enough
    with pytest.raises(ImageDecodeError, match=r"13000x13000 \(169 megapixels\), above the "
                                               r"decoding limit of 89 megapixels"):
        read_image(tmp_path / "huge.png")
    assert "decoding limit" in verify_image(tmp_path / "huge.png")
    Image.fromarray(_rgb(40, 50)).save(tmp_path / "small.png")
    try:
        set_max_pixels(1000)
        assert max_pixels() == 1000
        with pytest.raises(ImageDecodeError, match="50x40"):
            read_image_raw(tmp_path / "small.png")
    finally:
        set_max_pixels(None)
    assert max_pixels() == DEFAULT_MAX_PIXELS and read_image(tmp_path / "small.png").shape == (40, 50, 3)


def test_reduced_decode_for_thumbnails(tmp_path):
    Image.new("RGB", (4000, 3000), (10, 200, 30)).save(tmp_path / "big.jpg", quality=90)
    thumb = read_image(tmp_path / "big.jpg", max_side=256)
    assert max(thumb.shape[:2]) <= 256 and thumb.shape[0] * 4 == pytest.approx(thumb.shape[1] * 3, abs=4)
    assert abs(int(thumb[50, 50, 1]) - 200) < 8
    try:  # the JPEG is decoded at 1/8 scale (500x375): far under a limit the full image exceeds
        set_max_pixels(1_000_000)
        assert max(read_image(tmp_path / "big.jpg", max_side=256).shape[:2]) <= 256
        with pytest.raises(ImageDecodeError, match="decoding limit"):
            read_image(tmp_path / "big.jpg")
    finally:
        set_max_pixels(None)
    Image.fromarray(_rgb(300, 200)).save(tmp_path / "p.png")
    assert read_image(tmp_path / "p.png", max_side=100).shape == (100, 67, 3)


def test_verify_image_decodes_in_full_and_caches_by_size_and_mtime(tmp_path, data_dir):
    photo = sorted((data_dir("raccoon_voc") / "images").glob("*.jpg"))[0]
    data = photo.read_bytes()
    (tmp_path / "half.jpg").write_bytes(data[: len(data) // 2])
    image_size(tmp_path / "half.jpg")  # the header alone looks fine
    assert "truncated" in verify_image(tmp_path / "half.jpg")
    assert verify_image(photo) is None

    Image.fromarray(_rgb()).save(tmp_path / "ok.png")
    png = bytearray((tmp_path / "ok.png").read_bytes())
    png[png.index(b"IDAT") + 8] ^= 0xFF  # one byte of image data: its CRC no longer matches
    (tmp_path / "crc.png").write_bytes(bytes(png))
    problem = verify_image(tmp_path / "crc.png")
    assert problem and "not an image this program can open" in problem
    assert "PIL" not in problem and "Pillow" not in problem

    good = tmp_path / "good.png"
    Image.fromarray(_rgb()).save(good)
    key = file_check_key(good)
    size, mtime = key.split(":")
    assert int(size) == good.stat().st_size and int(mtime) == good.stat().st_mtime_ns
    assert verify_image(good) is None
    good.write_bytes(b"not a png any more")  # a new size: the cached answer is not reused
    assert file_check_key(good) != key and verify_image(good) is not None
    assert verify_image(tmp_path / "gone.png") == "file not found" and file_check_key(tmp_path / "gone.png") == ""


def test_verify_project_images_records_problems_and_check_keys(new_store, tmp_path):
    from vision_studio.core.io.common import verify_project_images
    from vision_studio.core.io.imagefolder import read_images

    Image.fromarray(_rgb(40, 50)).save(tmp_path / "good.jpg")
    data = (tmp_path / "good.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])
    assert read_images(new_store, tmp_path).images == 2  # headers alone: both look fine
    calls = []
    bad = verify_project_images(new_store, progress=lambda d, t: calls.append((d, t)))
    cut = next(im for im in new_store.images() if im.path.endswith("cut.jpg"))
    assert list(bad) == [cut.id] and "truncated" in bad[cut.id] and calls[-1] == (2, 2)
    keys = {im.path.rsplit("/", 1)[-1]: im.check_key for im in new_store.images()}
    assert keys == {"good.jpg": file_check_key(tmp_path / "good.jpg"),
                    "cut.jpg": file_check_key(tmp_path / "cut.jpg")}
    (problem,) = new_store.problems()
    assert problem.image_id == cut.id and problem.kind == "bad_image"
    assert verify_project_images(new_store) == {}  # check keys match: nothing decoded again
    assert len(new_store.problems()) == 1
    (tmp_path / "cut.jpg").write_bytes(data)  # repaired: a new key, checked again, fine now
    assert verify_project_images(new_store) == {}
    assert verify_project_images(new_store, cancelled=lambda: True) == {}
