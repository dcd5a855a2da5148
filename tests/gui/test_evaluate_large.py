"""Large images in the Evaluation viewer (issue 17), through the real panel: a 6000x4000
JPEG is shown from its reduced decode stretched over the full-resolution scene, so that a
detection box sits on the object it was predicted on (checked on the rendered pixels, at
fit and zoomed in, where full-resolution tiles replace the overview); a tiled pyramidal
TIFF beyond the decoding pixel limit opens from its pyramid instead of failing."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QPointF, QRectF

from _eval_fixtures import evaluate_panel, save_fake_detections
from vision_studio.core.store import ProjectStore
from vision_studio.core.types import Annotation, ImageRecord
from vision_studio.gui.image_cache import OVERVIEW_SIDE

TIMEOUT = 60_000
BOX = (4000.0, 3000.0, 4400.0, 3300.0)  # xyxy, full-resolution pixels: the red object of the photo
SLIDE = 10_000
SLIDE_BOX = (7000.0, 8000.0, 7600.0, 8500.0)  # the white object of the slide


def _project(folder, name: str, size_hw: tuple[int, int], box: tuple[float, ...]):
    """A one-image detection project with that object as ground truth and as a cached
    prediction of a model-less checkpoint (as the Evaluation tests' synthetic project)."""
    h, w = size_hw
    project = folder / "p.vsproj"
    with ProjectStore.create(project, root=folder) as store:
        cats = store.add_categories([("object", "#e6194b", "")])
        ims = store.add_images([ImageRecord(path=name, width=w, height=h, split="val")])
        x1, y1, x2, y2 = box
        store.add_annotations([Annotation(image_id=ims[0].id, category_id=cats[0].id, bbox=(x1, y1, x2 - x1, y2 - y1))])
        parts = {"img": [np.zeros(1, np.int64)], "boxes": [np.array([box], np.float32)],
                 "scores": [np.array([0.9], np.float32)], "labels": [np.array([1], np.int64)]}
        ckpt = save_fake_detections(folder, cats, ims, parts, size_hw)
    return project, ckpt


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    folder = tmp_path_factory.mktemp("eval_photo")
    arr = np.zeros((4000, 6000, 3), np.uint8)
    arr[..., 2] = 160  # blue
    x1, y1, x2, y2 = (int(v) for v in BOX)
    arr[y1:y2, x1:x2] = (255, 0, 0)
    Image.fromarray(arr).save(folder / "photo.jpg", quality=90)
    return _project(folder, "photo.jpg", (4000, 6000), BOX)


def _tiles(level0: bool):
    """The 512-pixel tiles of the slide, row by row (grey 60, the object white)."""
    x1, y1, x2, y2 = (int(v) for v in SLIDE_BOX)
    for r in range(0, SLIDE, 512):
        for c in range(0, SLIDE, 512):
            t = np.full((512, 512), 60, np.uint8)
            ys, xs = slice(max(y1 - r, 0), max(min(y2 - r, 512), 0)), slice(max(x1 - c, 0), max(min(x2 - c, 512), 0))
            t[ys, xs] = 255
            yield t


@pytest.fixture(scope="module")
def slide(tmp_path_factory):
    import tifffile

    folder = tmp_path_factory.mktemp("eval_slide")
    small = np.full((SLIDE // 4, SLIDE // 4), 60, np.uint8)
    x1, y1, x2, y2 = (int(v) // 4 for v in SLIDE_BOX)
    small[y1:y2, x1:x2] = 255
    with tifffile.TiffWriter(folder / "slide.tif", bigtiff=True) as tw:
        tw.write(_tiles(True), shape=(SLIDE, SLIDE), dtype=np.uint8, tile=(512, 512), subifds=1,
                 photometric="minisblack", compression="zlib")
        tw.write(small, tile=(512, 512), subfiletype=1, photometric="minisblack", compression="zlib")
    return _project(folder, "slide.tif", (SLIDE, SLIDE), SLIDE_BOX)


@pytest.fixture
def opened(qtbot, request):
    project, ckpt = request.getfixturevalue(request.param)
    p = evaluate_panel(qtbot, project, (1100, 800))
    with qtbot.waitSignal(p.evaluated, timeout=TIMEOUT):
        assert p.start(ckpt, "val")
    v = p.ui.viewer
    qtbot.waitUntil(lambda: v.pixels is not None and 0 in v.pred_items, timeout=TIMEOUT)
    yield p
    p.shutdown()
    p.state.close_project()


def _color_at(v, x: float, y: float) -> tuple[int, int, int]:
    """The colour the viewer shows at scene point (x, y)."""
    img = v.viewport().grab().toImage()
    c = img.pixelColor(v.mapFromScene(QPointF(x, y)))
    return c.red(), c.green(), c.blue()


def _center(box):
    return (box[0] + box[2]) / 2, (box[1] + box[3]) / 2


@pytest.mark.parametrize("opened", ["photo"], indirect=True)
def test_reduced_photo_boxes_sit_on_their_objects(opened, qtbot):
    v = opened.ui.viewer
    assert max(v.pixels.shape[:2]) <= OVERVIEW_SIDE  # the reduced decode, not 24 megapixels
    assert v.size_hw == (4000, 6000)
    rect = v.image_item.sceneBoundingRect()  # the overview covers the full-resolution scene
    assert (rect.width(), rect.height()) == pytest.approx((6000, 4000), abs=1)
    box = v.pred_items[0].rect()
    assert (box.left(), box.top(), box.right(), box.bottom()) == pytest.approx(BOX)
    r, g, b = _color_at(v, *_center(BOX))
    assert r > 200 and g < 60 and b < 60, (r, g, b)  # the red object is under the box
    r, g, b = _color_at(v, *_center(BOX)[:1], 1500.0)
    assert b > 120 and r < 60  # and the blue background elsewhere
    assert len(v.tiles) == 0  # at fit: the overview is enough

    x, y = _center(BOX)
    v.zoom_to(QRectF(x - 300, y - 200, 600, 400))  # past the overview's resolution
    assert v.zoom * v.tiles._overview_scale > 1
    qtbot.waitUntil(lambda: len(v.tiles) > 0, timeout=TIMEOUT)
    v.tiles.wait()
    qtbot.wait(50)
    tile = next(iter(v.tiles._items.values()))
    assert tile.scale() == 1.0  # a JPEG has one level: full-resolution pixels
    r, g, b = _color_at(v, x, y)
    assert r > 200 and g < 60 and b < 60
    r, g, b = _color_at(v, BOX[0] - 40, y)  # just left of the object: background, at full resolution
    assert b > 120 and r < 60
    v.fit()
    assert v.zoom < 0.2


@pytest.mark.parametrize("opened", ["slide"], indirect=True)
def test_tiled_tiff_beyond_the_pixel_limit_opens_from_its_pyramid(opened, qtbot):
    from vision_studio.core.images import ImageDecodeError, read_image

    v = opened.ui.viewer
    with pytest.raises(ImageDecodeError):  # what the viewer used to do, and failed on
        read_image(v.pixels_path)
    assert v.caption.pixmap().isNull()  # no "cannot read this image"
    assert v.size_hw == (SLIDE, SLIDE)
    assert max(v.pixels.shape[:2]) <= OVERVIEW_SIDE
    r, g, b = _color_at(v, *_center(SLIDE_BOX))
    assert min(r, g, b) > 200  # the white object under its box, from the pyramid level
    r, g, b = _color_at(v, 2000.0, 2000.0)
    assert max(r, g, b) < 90
    x, y = _center(SLIDE_BOX)
    v.zoom_to(QRectF(x - 500, y - 400, 1000, 800))
    qtbot.waitUntil(lambda: len(v.tiles) > 0, timeout=TIMEOUT)
    v.tiles.wait()
    qtbot.wait(50)
    assert {k[1] for k in v.tiles._items} == {0}  # tiles of the full-resolution level
    r, g, b = _color_at(v, SLIDE_BOX[0] + 5, y)  # 5 px inside the object's edge
    assert min(r, g, b) > 200
    r, g, b = _color_at(v, SLIDE_BOX[0] - 5, y)
    assert max(r, g, b) < 90


def test_label_maps_and_masks_line_up_on_a_reduced_image(qtbot):
    """Semantic label maps and instance masks at full resolution, over a reduced image:
    subsampled to the overview's resolution and stretched over the full scene, so a
    class region is drawn where it is; the wheel zooms in and Fit returns."""
    from pycocotools import mask as mask_utils
    from PySide6.QtCore import QPoint, Qt
    from PySide6.QtGui import QWheelEvent

    from vision_studio.gui.panels.evaluate.viewer import DrawnDetection, OverlayViewer

    v = OverlayViewer()
    qtbot.addWidget(v)
    v.resize(900, 700)
    v.show()
    qtbot.waitExposed(v)
    h, w = 4000, 6000
    v.show_image(None, 7, (h, w))
    assert v.set_pixels(np.full((h // 4, w // 4, 3), 128, np.uint8), 7, scale=4.0, path="")
    pred = np.zeros((h, w), np.uint8)
    x1, y1, x2, y2 = (int(b) for b in BOX)
    pred[y1:y2, x1:x2] = 1  # class 1 (green) on the object only
    v.set_label_maps(pred, pred.copy(), ["#000000", "#00ff00"])
    rect = v.mask_layer.sceneBoundingRect()
    assert (rect.width(), rect.height()) == pytest.approx((w, h), abs=1)
    assert max(v.mask_layer.pixmap().width(), v.mask_layer.pixmap().height()) <= OVERVIEW_SIDE
    inside, outside = _color_at(v, *_center(BOX)), _color_at(v, BOX[0] - 150, _center(BOX)[1])
    assert inside[1] > inside[0] + 30 and abs(outside[1] - outside[0]) < 10  # green on the object only

    v.set_label_maps(None, None, ())
    rle = mask_utils.encode(np.asfortranarray(pred))
    rle["counts"] = rle["counts"].decode("ascii")
    v.set_detections([DrawnDetection(0, BOX, "object", "#0000ff", 0.9, rle)])
    assert max(v.mask_layer.pixmap().width(), v.mask_layer.pixmap().height()) <= OVERVIEW_SIDE
    inside, outside = _color_at(v, *_center(BOX)), _color_at(v, BOX[0] - 150, _center(BOX)[1])
    assert inside[2] > inside[0] + 30 and abs(outside[2] - outside[0]) < 10

    small = (100.0, 100.0, 120.0, 118.0)  # 20 px wide: ~3 screen pixels at fit, its tag would bury it
    v.set_detections([DrawnDetection(0, BOX, "object", "#0000ff", 0.9), DrawnDetection(1, small, "cell", "#00ff00", 0.8)])
    tags = {k: it.childItems()[0] for k, it in v.pred_items.items()}
    assert tags[0].isVisible() and not tags[1].isVisible()
    v.zoom_to(QRectF(0, 0, 400, 300))
    assert tags[1].isVisible()
    v.fit()
    assert not tags[1].isVisible()

    fit = v.zoom
    center = v.mapFromScene(QPointF(*_center(BOX)))
    ev = QWheelEvent(QPointF(center), QPointF(v.viewport().mapToGlobal(center)), QPoint(0, 0), QPoint(0, 240),
                     Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    v.wheelEvent(ev)
    assert v.zoom == pytest.approx(fit * 1.25 ** 2)
    v.fit_btn.click()
    assert v.zoom == pytest.approx(fit)
