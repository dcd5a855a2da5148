"""The annotation canvas driven with real mouse and keyboard events (pytest-qt, offscreen).

Every edit is checked in the project file itself, read back by a second
``ProjectStore.open`` of the same file, and the last test exports COCO and loads it with
pycocotools.
"""
from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402
from pycocotools import mask as mask_utils  # noqa: E402
from PySide6.QtCore import QPoint, QPointF, Qt  # noqa: E402
from PySide6.QtGui import QUndoStack, QWheelEvent  # noqa: E402

from vision_studio.core.store import ProjectStore  # noqa: E402
from vision_studio.core.types import Annotation, ImageRecord  # noqa: E402
from vision_studio.gui.image_cache import ImageCache  # noqa: E402
from vision_studio.gui.widgets.canvas import AnnotationCanvas  # noqa: E402

W, H = 200, 160
LEFT = Qt.MouseButton.LeftButton
NOMOD = Qt.KeyboardModifier.NoModifier


@pytest.fixture
def project(tmp_path):
    """A project with 3 generated 200x160 images and 2 categories."""
    rng = np.random.default_rng(0)
    store = ProjectStore.create(tmp_path / "p.vsproj")
    for i in range(3):
        arr = rng.integers(0, 255, (H, W, 3), dtype=np.uint8)
        Image.fromarray(arr).save(tmp_path / f"im{i}.png")
        store.add_image(ImageRecord(path=f"im{i}.png", width=W, height=H))
    store.add_category("cell", "#e6194b")
    store.add_category("blob", "#3cb44b")
    yield store
    store.close()


@pytest.fixture
def canvas(qtbot, project):
    stack = QUndoStack()
    c = AnnotationCanvas(project, stack)
    c._test_stack = stack  # keep the stack alive with the canvas
    qtbot.addWidget(c)
    c.resize(440, 360)
    c.show()
    c.show_image(project.images()[0])
    c.set_current_category(project.categories()[0].id)
    return c


def vp(canvas: AnnotationCanvas, x: float, y: float) -> QPoint:
    """View (viewport) position of scene/image point (x, y)."""
    return canvas.mapFromScene(QPointF(x, y))


def drag(qtbot, canvas, a, b, steps: int = 4, mods=NOMOD) -> None:
    """Press at image point a, move in steps, release at b."""
    v = canvas.viewport()
    qtbot.mousePress(v, LEFT, mods, vp(canvas, *a))
    for k in range(1, steps + 1):
        t = k / steps
        qtbot.mouseMove(v, vp(canvas, a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1])))
    qtbot.mouseRelease(v, LEFT, mods, vp(canvas, *b))


def click(qtbot, canvas, x, y, mods=NOMOD) -> None:
    qtbot.mouseClick(canvas.viewport(), LEFT, mods, vp(canvas, x, y))


def on_disk(store: ProjectStore, image_id: int | None = None) -> list[Annotation]:
    """Annotations as stored in the project file, read through a second connection."""
    with ProjectStore.open(store.path) as other:
        return other.annotations(image_id)


def add_polygon(store, image_id, pts) -> Annotation:
    flat = tuple(float(v) for p in pts for v in p)
    xs, ys = flat[0::2], flat[1::2]
    return store.add_annotation(Annotation(image_id=image_id, category_id=store.categories()[0].id,
                                           bbox=(min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)),
                                           polygons=(flat,)))


def test_draw_box_then_undo_redo(qtbot, canvas, project):
    canvas.set_tool("box")
    drag(qtbot, canvas, (20, 30), (120, 90))
    anns = on_disk(project)
    assert len(anns) == 1
    assert anns[0].bbox == pytest.approx((20, 30, 100, 60), abs=1.0)
    assert anns[0].area == pytest.approx(anns[0].bbox[2] * anns[0].bbox[3])
    assert canvas.undo_stack.count() == 1  # one command for the whole drag
    canvas.undo_stack.undo()
    assert on_disk(project) == [] and canvas.shape_items == {}
    canvas.undo_stack.redo()
    again = on_disk(project)
    assert again == anns  # same id, same geometry
    assert list(canvas.shape_items) == [anns[0].id]


def test_tiny_drag_adds_no_box(qtbot, canvas, project):
    canvas.set_tool("box")
    drag(qtbot, canvas, (50, 50), (50.4, 50.4), steps=1)
    assert on_disk(project) == []


@pytest.mark.parametrize("close", ["enter", "dclick", "first_vertex"])
def test_draw_polygon(qtbot, canvas, project, close):
    canvas.set_tool("polygon")
    pts = [(30, 30), (150, 40), (120, 130), (40, 110)]
    for p in pts[:-1]:
        click(qtbot, canvas, *p)
    if close == "enter":
        click(qtbot, canvas, *pts[-1])
        qtbot.keyClick(canvas.viewport(), Qt.Key.Key_Return)
    elif close == "dclick":
        click(qtbot, canvas, *pts[-1])
        qtbot.mouseDClick(canvas.viewport(), LEFT, NOMOD, vp(canvas, *pts[-1]))
    else:
        click(qtbot, canvas, *pts[-1])
        click(qtbot, canvas, *pts[0])
    anns = on_disk(project)
    assert len(anns) == 1
    poly = np.array(anns[0].polygons[0]).reshape(-1, 2)
    assert poly.shape == (4, 2)
    np.testing.assert_allclose(poly, pts, atol=1.0)
    x, y, w, h = anns[0].bbox
    assert (x, y, x + w, y + h) == pytest.approx((poly[:, 0].min(), poly[:, 1].min(),
                                                  poly[:, 0].max(), poly[:, 1].max()))
    # the same area as the same polygon imported from COCO: pycocotools' pixel count
    rles = mask_utils.frPyObjects([list(anns[0].polygons[0])], H, W)
    assert anns[0].area == float(mask_utils.area(mask_utils.merge(rles)))
    canvas.undo_stack.undo()
    assert on_disk(project) == []
    canvas.undo_stack.redo()
    assert on_disk(project) == anns


def test_polygon_backspace_and_escape(qtbot, canvas, project):
    canvas.set_tool("polygon")
    for p in [(30, 30), (150, 40), (10, 150), (120, 130)]:
        click(qtbot, canvas, *p)
    qtbot.keyClick(canvas.viewport(), Qt.Key.Key_Backspace)  # drops (120, 130)
    qtbot.keyClick(canvas.viewport(), Qt.Key.Key_Return)
    (ann,) = on_disk(project)
    np.testing.assert_allclose(np.array(ann.polygons[0]).reshape(-1, 2), [(30, 30), (150, 40), (10, 150)],
                               atol=1.0)
    for p in [(60, 60), (90, 60), (90, 90)]:
        click(qtbot, canvas, *p)
    qtbot.keyClick(canvas.viewport(), Qt.Key.Key_Escape)
    qtbot.keyClick(canvas.viewport(), Qt.Key.Key_Return)  # nothing left to close
    assert len(on_disk(project)) == 1


def test_select_move_and_resize_box(qtbot, canvas, project):
    image_id = canvas.image.id
    ann = project.add_annotation(Annotation(image_id=image_id, category_id=1, bbox=(40, 40, 60, 40)))
    canvas.reload()
    drag(qtbot, canvas, (70, 60), (90, 70), steps=6)  # press inside: select and move
    assert canvas.selected_ids == [ann.id]
    assert on_disk(project)[0].bbox == pytest.approx((60, 50, 60, 40), abs=1.0)
    assert canvas.undo_stack.count() == 1
    drag(qtbot, canvas, (120, 90), (150, 120), steps=5)  # bottom-right handle
    assert on_disk(project)[0].bbox == pytest.approx((60, 50, 90, 70), abs=1.0)
    assert canvas.undo_stack.count() == 2
    canvas.undo_stack.undo()
    assert on_disk(project)[0].bbox == pytest.approx((60, 50, 60, 40), abs=1.0)
    canvas.undo_stack.undo()
    assert on_disk(project)[0].bbox == pytest.approx((40, 40, 60, 40))
    canvas.undo_stack.redo()
    canvas.undo_stack.redo()
    assert on_disk(project)[0].bbox == pytest.approx((60, 50, 90, 70), abs=1.0)


def test_move_vertex_undo_redo(qtbot, canvas, project):
    ann = add_polygon(project, canvas.image.id, [(40, 40), (140, 40), (140, 120), (40, 120)])
    canvas.reload()
    click(qtbot, canvas, 90, 80)  # select
    assert canvas.selected_ids == [ann.id]
    drag(qtbot, canvas, (140, 120), (170, 150), steps=8)
    (moved,) = on_disk(project)
    assert moved.polygons[0][4:6] == pytest.approx((170, 150), abs=1.0)
    assert moved.bbox == pytest.approx((40, 40, 130, 110), abs=1.0)  # bbox follows the polygon
    assert moved.area > ann.area
    assert canvas.undo_stack.count() == 1
    canvas.undo_stack.undo()
    assert on_disk(project) == [ann]
    canvas.undo_stack.redo()
    assert on_disk(project) == [moved]


def test_insert_and_delete_vertex(qtbot, canvas, project):
    ann = add_polygon(project, canvas.image.id, [(40, 40), (140, 40), (140, 120), (40, 120)])
    canvas.reload()
    click(qtbot, canvas, 90, 80)
    qtbot.mouseMove(canvas.viewport(), vp(canvas, 90, 41))  # hover the top edge
    assert canvas._edge_marker.isVisible()
    click(qtbot, canvas, 90, 41)
    (ins,) = on_disk(project)
    pts = np.array(ins.polygons[0]).reshape(-1, 2)
    assert len(pts) == 5
    np.testing.assert_allclose(pts[1], (90, 40), atol=1.0)  # on the edge, between 0 and 1
    # Alt+click deletes a vertex
    click(qtbot, canvas, 140, 120, mods=Qt.KeyboardModifier.AltModifier)
    (dele,) = on_disk(project)
    assert len(dele.polygons[0]) == 8
    assert (140.0, 120.0) not in set(zip(dele.polygons[0][0::2], dele.polygons[0][1::2]))
    # select a vertex and press Del
    drag(qtbot, canvas, (140, 40), (140, 40), steps=1)
    qtbot.keyClick(canvas.viewport(), Qt.Key.Key_Delete)
    (tri,) = on_disk(project)
    assert len(tri.polygons[0]) == 6
    # a triangle keeps its 3 points
    messages = []
    canvas.statusMessage.connect(messages.append)
    click(qtbot, canvas, 40, 40, mods=Qt.KeyboardModifier.ShiftModifier)
    assert on_disk(project) == [tri] and "at least 3" in messages[-1]
    for expected in (dele, ins, ann):
        canvas.undo_stack.undo()
        assert on_disk(project) == [expected]
    for expected in (ins, dele, tri):
        canvas.undo_stack.redo()
        assert on_disk(project) == [expected]


def test_change_category_and_context_menu(qtbot, canvas, project):
    cell, blob = project.categories()
    ann = project.add_annotation(Annotation(image_id=canvas.image.id, category_id=cell.id,
                                            bbox=(40, 40, 60, 40)))
    canvas.reload()
    click(qtbot, canvas, 70, 60)
    canvas.set_current_category(blob.id)  # e.g. the "2" key applies to the selection
    assert on_disk(project)[0].category_id == blob.id
    assert canvas.shape_items[ann.id].label.text == "blob"
    canvas.undo_stack.undo()
    assert on_disk(project)[0].category_id == cell.id
    assert canvas.shape_items[ann.id].label.text == "cell"
    canvas.undo_stack.redo()
    assert on_disk(project)[0].category_id == blob.id
    menu = canvas.build_context_menu()
    sub = menu.actions()[0].menu()
    [act] = [a for a in sub.actions() if a.text() == "cell"]
    act.trigger()
    assert on_disk(project)[0].category_id == cell.id


def test_delete_shapes_and_undo(qtbot, canvas, project):
    image_id = canvas.image.id
    a = project.add_annotation(Annotation(image_id=image_id, category_id=1, bbox=(10, 10, 30, 30)))
    b = add_polygon(project, image_id, [(100, 100), (150, 100), (150, 150)])
    canvas.reload()
    click(qtbot, canvas, 20, 20)
    click(qtbot, canvas, 140, 120, mods=Qt.KeyboardModifier.ControlModifier)
    assert canvas.selected_ids == [a.id, b.id]
    qtbot.keyClick(canvas.viewport(), Qt.Key.Key_Delete)
    assert on_disk(project) == []
    canvas.undo_stack.undo()
    assert on_disk(project) == [a, b]
    assert set(canvas.shape_items) == {a.id, b.id}


def test_copy_paste_to_next_image(qtbot, canvas, project):
    first, second, _ = project.images()
    a = add_polygon(project, first.id, [(100, 100), (190, 100), (190, 150), (100, 150)])
    canvas.reload()
    changed = []
    canvas.annotationsChanged.connect(changed.append)
    click(qtbot, canvas, 150, 120)
    qtbot.keyClick(canvas.viewport(), Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier)
    canvas.paste(second.id)
    (pasted,) = on_disk(project, second.id)
    assert pasted.polygons == a.polygons and pasted.category_id == a.category_id
    assert pasted.id != a.id and second.id in changed
    canvas.show_image(second)
    assert list(canvas.shape_items) == [pasted.id]
    canvas.undo_stack.undo()
    assert on_disk(project, second.id) == [] and canvas.shape_items == {}
    canvas.show_image(first)  # and back: the original is untouched
    assert list(canvas.shape_items) == [a.id]
    qtbot.keyClick(canvas.viewport(), Qt.Key.Key_V, Qt.KeyboardModifier.ControlModifier)
    assert len(on_disk(project, first.id)) == 2


def test_paste_clips_to_a_smaller_image(qtbot, canvas, project):
    small = project.add_image(ImageRecord(path="missing.png", width=120, height=120))
    a = project.add_annotation(Annotation(image_id=canvas.image.id, category_id=1, bbox=(100, 100, 60, 40)))
    canvas.reload()
    canvas.set_selection([a.id])
    canvas.copy_selection()
    canvas.paste(small.id)
    (p,) = on_disk(project, small.id)
    assert p.bbox == pytest.approx((100, 100, 20, 20))


def test_hidden_categories_cannot_be_selected(qtbot, canvas, project):
    cell, blob = project.categories()
    a = project.add_annotation(Annotation(image_id=canvas.image.id, category_id=blob.id, bbox=(40, 40, 60, 40)))
    canvas.reload()
    canvas.set_hidden_categories({blob.id})
    assert not canvas.shape_items[a.id].shown
    click(qtbot, canvas, 70, 60)
    assert canvas.selected_ids == []
    canvas.set_hidden_categories(set())
    click(qtbot, canvas, 70, 60)
    assert canvas.selected_ids == [a.id]


def test_zoom_and_pan(qtbot, canvas):
    canvas.fit()
    fitted = canvas.zoom()
    assert fitted == pytest.approx(min(440 / W, 360 / H), rel=0.05)
    canvas.zoom_1to1()
    assert canvas.zoom() == 1.0
    canvas.fit()
    anchor = QPointF(150, 40)
    pos = QPointF(vp(canvas, *anchor.toTuple()))
    wheel = QWheelEvent(pos, canvas.viewport().mapToGlobal(pos), QPoint(0, 0), QPoint(0, 240),
                        Qt.MouseButton.NoButton, NOMOD, Qt.ScrollPhase.NoScrollPhase, False)
    from PySide6.QtWidgets import QApplication
    QApplication.sendEvent(canvas.viewport(), wheel)
    assert canvas.zoom() > fitted * 1.3
    after = canvas.mapToScene(pos.toPoint())
    assert (after.x(), after.y()) == pytest.approx((150, 40), abs=2.0)  # zoom around the cursor
    centre_before = canvas.mapToScene(canvas.viewport().rect().center())
    v = canvas.viewport()
    qtbot.mousePress(v, Qt.MouseButton.MiddleButton, NOMOD, QPoint(200, 200))
    qtbot.mouseMove(v, QPoint(150, 180))
    qtbot.mouseMove(v, QPoint(100, 160))
    qtbot.mouseRelease(v, Qt.MouseButton.MiddleButton, NOMOD, QPoint(100, 160))
    centre_after = canvas.mapToScene(canvas.viewport().rect().center())
    assert centre_after.x() > centre_before.x() + 20  # dragged left: view moves right


def test_brightness_contrast_and_16bit_window(qtbot, tmp_path, project):
    arr = np.tile(np.linspace(0, 4000, 64, dtype=np.uint16), (32, 1))
    Image.fromarray(arr).save(tmp_path / "deep.png")
    im = project.add_image(ImageRecord(path="deep.png", width=64, height=32))
    c = AnnotationCanvas(project, QUndoStack())
    qtbot.addWidget(c)
    c.show_image(im)
    assert c._decoded.deep and c._decoded.raw.dtype == np.uint16

    def pixel(x):
        return c._pixmap_item.pixmap().toImage().pixelColor(x, 16).red()

    assert pixel(63) > 240 and pixel(0) < 10  # default window spans the data
    c.set_display(window=(0, 8000))
    assert 120 < pixel(63) < 135  # 4000 of 8000 → mid grey
    c.set_display(brightness=0.2, window=(0, 8000))
    assert pixel(63) > 170
    c.set_display(contrast=0.5)
    assert 125 < pixel(63) < 200


def test_undecodable_image_reports_and_still_edits(qtbot, project):
    im = project.add_image(ImageRecord(path="missing.png", width=50, height=40))
    c = AnnotationCanvas(project, QUndoStack())
    qtbot.addWidget(c)
    messages = []
    c.statusMessage.connect(messages.append)
    c.show_image(im)
    assert "missing.png" in messages[0]
    assert c.add_box(5, 5, 10, 10) is not None


def test_next_prefetch_uses_cache(qtbot, canvas, project):
    images = project.images()
    canvas.prefetch(images[1:])
    assert canvas.cache.wait(10000)
    misses = canvas.cache.misses
    canvas.show_image(images[1])
    canvas.show_image(images[2])
    assert canvas.cache.misses == misses  # both came decoded from the background


def test_export_coco_loads_in_pycocotools(qtbot, canvas, project, tmp_path):
    from pycocotools.coco import COCO

    from vision_studio.core.io.coco_write import write_coco

    canvas.set_tool("box")
    drag(qtbot, canvas, (20, 30), (120, 90))
    canvas.set_tool("polygon")
    for p in [(130, 20), (190, 30), (160, 100)]:
        click(qtbot, canvas, *p)
    qtbot.keyClick(canvas.viewport(), Qt.Key.Key_Return)
    write_coco(project, tmp_path / "out" / "coco.json")
    coco = COCO(str(tmp_path / "out" / "coco.json"))
    anns = coco.loadAnns(coco.getAnnIds())
    assert len(anns) == 2
    box = next(a for a in anns if not a.get("segmentation"))
    poly = next(a for a in anns if a.get("segmentation"))
    assert box["bbox"] == pytest.approx([20, 30, 100, 60], abs=1.0)
    assert poly["area"] == pytest.approx(0.5 * abs(60 * 80 - 10 * 30), rel=0.02)
    mask = coco.annToMask(poly)
    assert mask.shape == (H, W) and mask.sum() == pytest.approx(poly["area"], rel=0.1)


def test_qt_calls_keep_the_none_refcount(canvas):
    """PySide6 6.12.0 under Python 3.11 dropped a reference to None on each void Qt call,
    crashing the app after ~10^4 edits ("none_dealloc"); pyproject excludes it."""
    import sys

    item = canvas._pixmap_item
    before = sys.getrefcount(None)
    for _ in range(2000):
        item.update()
    assert sys.getrefcount(None) > before - 1000


def test_drag_polygon_moves_it_in_one_command(qtbot, canvas, project):
    ann = add_polygon(project, canvas.image.id, [(40, 40), (100, 40), (70, 100)])
    canvas.reload()
    drag(qtbot, canvas, (70, 60), (90, 70), steps=6)
    (moved,) = on_disk(project)
    np.testing.assert_allclose(moved.polygons[0], np.array(ann.polygons[0]) + [20, 10] * 3, atol=1.0)
    assert moved.bbox == pytest.approx((60, 50, 60, 60), abs=1.0) and moved.area == pytest.approx(ann.area)
    assert canvas.undo_stack.count() == 1


def test_space_drag_pans_and_right_click_selects_with_menu(qtbot, canvas, project):
    a = project.add_annotation(Annotation(image_id=canvas.image.id, category_id=1, bbox=(40, 40, 60, 40)))
    canvas.reload()
    canvas.zoom_by(3.0)
    v = canvas.viewport()
    before = canvas.mapToScene(v.rect().center())
    qtbot.keyPress(v, Qt.Key.Key_Space)
    qtbot.mousePress(v, LEFT, NOMOD, QPoint(200, 200))
    qtbot.mouseMove(v, QPoint(170, 170))
    qtbot.mouseMove(v, QPoint(140, 150))
    qtbot.mouseRelease(v, LEFT, NOMOD, QPoint(140, 150))
    qtbot.keyRelease(v, Qt.Key.Key_Space)
    after = canvas.mapToScene(v.rect().center())
    assert after.x() > before.x() + 5 and after.y() > before.y() + 5
    assert on_disk(project) == [a]  # panning edits nothing
    canvas.fit()
    qtbot.mouseClick(v, Qt.MouseButton.RightButton, NOMOD, vp(canvas, 70, 60))
    assert canvas.selected_ids == [a.id]
    menus = [w for w in canvas.findChildren(type(canvas.build_context_menu())) if w.isVisible()]
    assert menus and menus[0].actions()[0].menu().isEnabled()
    menus[0].close()


def test_image_cache_keeps_its_byte_budget_least_recent_out(project):
    paths = [project.resolve(im) for im in project.images()]
    one = W * H * 3  # an RGB 200x160 image: raw and display are the same array
    cache = ImageCache(max_bytes=2 * one)
    for p in paths[:2]:
        cache.get(p)
    cache.get(paths[0])  # now the most recent
    cache.get(paths[2])  # over budget: paths[1], the least recent, goes
    assert paths[0] in cache and paths[2] in cache and paths[1] not in cache
    assert len(cache) == 2 and cache.misses == 3 and cache.hits == 1
    small = ImageCache(max_bytes=one // 2)  # one image is over the whole budget
    assert small.get(paths[0]).error == "" and len(small) == 0


def test_a_fitted_image_stays_fitted_on_resize_but_a_user_zoom_is_kept(qtbot, canvas):
    canvas.fit()
    canvas.resize(880, 720)
    qtbot.waitUntil(lambda: canvas.viewport().width() > 800)
    assert canvas.zoom() == pytest.approx(min(880 / W, 720 / H), rel=0.1)
    canvas.zoom_by(1.5)
    zoomed = canvas.zoom()
    canvas.resize(440, 360)
    qtbot.waitUntil(lambda: canvas.viewport().width() < 500)
    assert canvas.zoom() == zoomed
