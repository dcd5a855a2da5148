"""Large images in the canvas (issue 17): a 24-megapixel photo is shown from a reduced
decode, a box drawn at that display level is stored in full-resolution pixels, zooming in
brings full-resolution tiles of the visible region, and a pyramidal TIFF opens from its
pyramid without reading the whole image."""
from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402
from PySide6.QtCore import QPointF, Qt  # noqa: E402
from PySide6.QtGui import QUndoStack  # noqa: E402

from vision_studio.core.store import ProjectStore  # noqa: E402
from vision_studio.core.types import ImageRecord  # noqa: E402
from vision_studio.gui.image_cache import OVERVIEW_SIDE  # noqa: E402
from vision_studio.gui.widgets.canvas import AnnotationCanvas  # noqa: E402

LEFT = Qt.MouseButton.LeftButton
NOMOD = Qt.KeyboardModifier.NoModifier


def _photo(h, w):
    """A smooth photo-like image with a fine checker so tiles can be told apart."""
    yy, xx = np.mgrid[0:h, 0:w]
    arr = np.stack([(xx * 255 // w), (yy * 255 // h), ((xx // 16 + yy // 16) % 2) * 200], axis=2)
    return arr.astype(np.uint8)


@pytest.fixture(scope="module")
def big_files(tmp_path_factory):
    import tifffile

    root = tmp_path_factory.mktemp("big")
    arr = _photo(4000, 6000)
    Image.fromarray(arr).save(root / "photo.png", compress_level=1)  # lossless: pixels comparable
    slide = _photo(6144, 8192)
    with tifffile.TiffWriter(root / "slide.tif", bigtiff=True) as tw:
        tw.write(slide, tile=(256, 256), subifds=2, photometric="rgb", compression="zlib")
        tw.write(slide[::4, ::4], tile=(256, 256), subfiletype=1, photometric="rgb", compression="zlib")
        tw.write(slide[::16, ::16], tile=(256, 256), subfiletype=1, photometric="rgb", compression="zlib")
    return root, arr, slide


@pytest.fixture
def canvas(qtbot, tmp_path, big_files):
    root, _, _ = big_files
    store = ProjectStore.create(tmp_path / "p.vsproj", root=root)
    store.add_image(ImageRecord(path="photo.png", width=6000, height=4000))
    store.add_image(ImageRecord(path="slide.tif", width=8192, height=6144))
    store.add_category("crack", "#e6194b")
    stack = QUndoStack()
    c = AnnotationCanvas(store, stack)
    c._test_stack = stack
    qtbot.addWidget(c)
    c.resize(800, 600)
    c.show()
    c.set_current_category(store.categories()[0].id)
    yield c
    store.close()


def _drag(qtbot, canvas, a, b):
    v = canvas.viewport()
    qtbot.mousePress(v, LEFT, NOMOD, canvas.mapFromScene(QPointF(*a)))
    for t in (0.25, 0.5, 0.75, 1.0):
        qtbot.mouseMove(v, canvas.mapFromScene(QPointF(a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1]))))
    qtbot.mouseRelease(v, LEFT, NOMOD, canvas.mapFromScene(QPointF(*b)))


def test_a_box_drawn_on_the_reduced_display_is_stored_in_full_resolution(qtbot, canvas):
    image = canvas.store.images()[0]
    canvas.show_image(image)
    dec = canvas._decoded
    assert max(dec.display.shape[:2]) <= OVERVIEW_SIDE and dec.scale >= 2.9
    # the overview covers the whole image in scene (full-resolution) coordinates
    rect = canvas._pixmap_item.sceneBoundingRect()
    assert rect.width() == pytest.approx(6000, abs=dec.scale) and rect.height() == pytest.approx(4000, abs=dec.scale)
    canvas.set_tool("box")
    _drag(qtbot, canvas, (1000, 1000), (3000, 2500))
    (ann,) = canvas.store.annotations(image.id)
    tol = 1.0 / canvas.zoom() + 1  # one screen pixel in image pixels
    assert ann.bbox == pytest.approx((1000, 1000, 2000, 1500), abs=tol)


def test_zooming_in_brings_full_resolution_tiles(qtbot, canvas, big_files):
    _, arr, _ = big_files
    canvas.show_image(canvas.store.images()[0])
    assert len(canvas._detail) == 0  # fitted: the overview is enough
    canvas.centerOn(QPointF(3000, 2000))
    canvas.zoom_1to1()
    qtbot.waitUntil(lambda: len(canvas._detail) > 0 and not canvas._detail._pending, timeout=20000)
    key, item = next(iter(canvas._detail._items.items()))
    assert key[1] == 0 and item.isVisible()
    x, y = int(item.pos().x()), int(item.pos().y())
    img = item.pixmap().toImage().convertToFormat(item.pixmap().toImage().Format.Format_RGB888)
    got = np.frombuffer(img.constBits(), np.uint8).reshape(img.height(), img.bytesPerLine())[:, :img.width() * 3]
    np.testing.assert_array_equal(got.reshape(img.height(), img.width(), 3), arr[y:y + img.height(), x:x + img.width()])
    # zooming out again hides them (the overview is enough)
    canvas.fit()
    qtbot.waitUntil(lambda: not any(i.isVisible() for i in canvas._detail._items.values()), timeout=5000)


def test_a_pyramidal_tiff_opens_from_its_pyramid(qtbot, canvas, big_files):
    _, _, slide = big_files
    canvas.show_image(canvas.store.images()[1])
    dec = canvas._decoded
    assert dec.full_size == (8192, 6144) and dec.error == ""
    assert dec.display.shape[:2] == (1536, 2048)  # the 1/4 level, the smallest >= 2048 px
    np.testing.assert_array_equal(dec.display, slide[::4, ::4])
    canvas.centerOn(QPointF(4096, 3072))
    canvas.zoom_by(2.0 / canvas.zoom())  # 2 screen px per image px: level 0 tiles
    qtbot.waitUntil(lambda: len(canvas._detail) > 0 and not canvas._detail._pending, timeout=20000)
    assert {k[1] for k in canvas._detail._items} == {0}
    assert canvas._detail.level_for(0.2) == 1 and canvas._detail.level_for(0.05) == 2
