"""Issue 19 item 2: mask painting with the mouse and keys on a real canvas — brush and
eraser strokes change the stored mask exactly as drawn, undo restores it; fill, limits,
brush size by [ ] and Ctrl+wheel, polygons → mask."""
from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt

from vision_studio.core import mask_edit as me
from vision_studio.core.io.masks import mask_annotation
from vision_studio.core.store import ProjectStore
from vision_studio.core.types import Annotation, ImageRecord

LEFT, NOMOD = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
H, W = 48, 64


@pytest.fixture
def mask_project(tmp_path, make_images):
    """One 64×48 image whose bottom half is "road" (an RLE mask); categories road, sky."""
    files = make_images(tmp_path / "images", 1)
    path = tmp_path / "masks.vsproj"
    with ProjectStore.create(path) as store:
        road, _sky = store.add_categories([("road", None, ""), ("sky", None, "")])
        im = store.add_images([ImageRecord(path=f"images/{files[0].name}", width=W, height=H)])[0]
        half = np.zeros((H, W), bool)
        half[24:] = True
        store.add_annotations([mask_annotation(half, road.id, im.id)])
    return path


def stored_labels(path):
    """The label map as another connection reads it from the project file."""
    with ProjectStore.open(path) as s:
        return me.label_map(s.annotations(), H, W)


def drag(qtbot, canvas, points):
    """Press at the first scene point, move through the others, release at the last;
    returns the scene points the canvas received (after the view's rounding)."""
    v = canvas.viewport()
    views = [canvas.mapFromScene(QPointF(*p)) for p in points]
    qtbot.mousePress(v, LEFT, NOMOD, views[0])
    for q in views[1:]:
        qtbot.mouseMove(v, q)
    qtbot.mouseRelease(v, LEFT, NOMOD, views[-1])
    return [(s.x(), s.y()) for s in (canvas.mapToScene(q) for q in views)]


@pytest.fixture
def painting(main_window, mask_project):
    win = main_window
    win.open_project(mask_project)
    cats = {c.name: c.id for c in win.state.store.categories()}
    return win, win.annotate.canvas, cats


def test_brush_and_eraser_change_the_stored_mask_as_drawn_and_undo_restores(painting, qtbot,
                                                                            mask_project):
    win, canvas, cats = painting
    before = stored_labels(mask_project)
    win.annotate.categories.set_current_category(cats["sky"])
    qtbot.keyClick(canvas, Qt.Key.Key_B)
    assert win.annotate.masks.actions["brush"].isChecked() and win.annotate.masks.painter.tool == "brush"
    radius = win.annotate.masks.painter.radius
    pts = drag(qtbot, canvas, [(8, 10), (20, 14), (40, 30), (56, 30)])
    expected = me.paint(before, me.stroke_mask(H, W, pts, radius), cats["sky"])
    after_brush = stored_labels(mask_project)
    assert np.array_equal(after_brush, expected)
    assert (after_brush == cats["sky"]).sum() > 0 and (after_brush[24:] == cats["road"]).any()
    qtbot.keyClick(canvas, Qt.Key.Key_E)
    er = drag(qtbot, canvas, [(10, 40), (50, 40)])
    expected_erased = me.paint(after_brush, me.stroke_mask(H, W, er, radius), me.ERASE)
    assert np.array_equal(stored_labels(mask_project), expected_erased)
    stack = win.state.undo_stack
    stack.undo()
    assert np.array_equal(stored_labels(mask_project), after_brush)
    stack.undo()
    assert np.array_equal(stored_labels(mask_project), before)
    stack.redo()
    stack.redo()
    assert np.array_equal(stored_labels(mask_project), expected_erased)
    with ProjectStore.open(mask_project) as s:  # stored as RLE, area = the pixel count
        for a in s.annotations():
            assert a.rle is not None and a.area == me.decode(a.rle).sum()


def test_fill_limits_and_brush_size_keys_and_wheel(painting, qtbot, mask_project):
    win, canvas, cats = painting
    tools = win.annotate.masks
    win.annotate.categories.set_current_category(cats["sky"])
    qtbot.keyClick(canvas, Qt.Key.Key_K)
    qtbot.mouseClick(canvas.viewport(), LEFT, NOMOD, canvas.mapFromScene(QPointF(30, 5)))
    labels = stored_labels(mask_project)
    assert (labels[:24] == cats["sky"]).all() and (labels[24:] == cats["road"]).all()
    win.state.undo_stack.undo()
    qtbot.keyClick(canvas, Qt.Key.Key_B)
    tools.limit.setCurrentIndex(tools.limit.findData("outside"))
    before = stored_labels(mask_project)
    drag(qtbot, canvas, [(30, 10), (30, 40)])  # crosses road: road is kept
    labels = stored_labels(mask_project)
    assert np.array_equal(labels[24:], before[24:]) and (labels[:24] == cats["sky"]).any()
    painter = tools.painter
    r = painter.radius
    qtbot.keyClick(canvas, Qt.Key.Key_BracketRight)
    assert painter.radius > r and tools.size.value() == round(painter.radius)
    qtbot.keyClick(canvas, Qt.Key.Key_BracketLeft)
    qtbot.keyClick(canvas, Qt.Key.Key_BracketLeft)
    assert painter.radius < r
    r = painter.radius
    pos = canvas.mapFromScene(QPointF(30, 20))
    qtbot.wait(1)
    from PySide6.QtGui import QWheelEvent
    from PySide6.QtWidgets import QApplication
    ev = QWheelEvent(QPointF(pos), QPointF(canvas.viewport().mapToGlobal(pos)), QPoint(0, 0),
                     QPoint(0, 120), Qt.MouseButton.NoButton, Qt.KeyboardModifier.ControlModifier,
                     Qt.ScrollPhase.NoScrollPhase, False)
    zoom = canvas.zoom()
    QApplication.sendEvent(canvas.viewport(), ev)
    assert painter.radius > r and canvas.zoom() == zoom  # Ctrl+wheel sizes, does not zoom


def test_polygons_to_mask_is_one_undo_step(painting, qtbot, mask_project):
    win, canvas, cats = painting
    store = win.state.store
    im = store.images()[0]
    store.add_annotation(Annotation(image_id=im.id, category_id=cats["sky"], bbox=(0, 0, 1, 1),
                                    polygons=((4, 4, 20, 4, 20, 12, 4, 12),)))
    canvas.reload()
    before = stored_labels(mask_project)
    qtbot.keyClick(canvas, Qt.Key.Key_M)
    with ProjectStore.open(mask_project) as s:
        anns = s.annotations()
    assert all(a.rle is not None and not a.polygons for a in anns)
    square = me.polygons_mask([[4, 4, 20, 4, 20, 12, 4, 12]], H, W)
    assert np.array_equal(stored_labels(mask_project), me.paint(before, square, cats["sky"]))
    win.state.undo_stack.undo()
    with ProjectStore.open(mask_project) as s:
        assert sum(bool(a.polygons) for a in s.annotations()) == 1
    assert np.array_equal(stored_labels(mask_project), before)
