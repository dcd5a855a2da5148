"""Tags of boxes at the image's edges stay on the image (seen under Xvfb on raccoon_voc:
a prediction touching the top edge had its "raccoon 0.63" tag drawn above the image,
cut off by the viewer, so its score could not be read).

A prediction's tag sits above its box's top-left corner, a ground-truth tag below its
box; where that would leave the image (the box touches the top / bottom edge at the
current zoom), the tag goes just inside the box instead."""
from __future__ import annotations

import numpy as np

from vision_studio.gui.panels.evaluate.viewer import DrawnDetection, DrawnTruth, OverlayViewer


def _screen_rect(v: OverlayViewer, item):
    """The item's rectangle in viewport pixels (tags ignore the view's zoom)."""
    return item.deviceTransform(v.viewportTransform()).mapRect(item.boundingRect())


def _viewer(qtbot, size=(900, 700)) -> OverlayViewer:
    v = OverlayViewer()
    qtbot.addWidget(v)
    v.resize(*size)
    v.show()
    qtbot.waitExposed(v)
    h, w = 300, 400
    v.show_image(np.full((h, w, 3), 120, np.uint8), 1)
    return v


def test_tags_of_boxes_at_the_top_and_bottom_edges_stay_on_the_image(qtbot):
    v = _viewer(qtbot, (600, 450))  # image aspect 4:3 = viewport's: it fills the viewport
    top = DrawnDetection(0, (50.0, 0.0, 200.0, 120.0), "raccoon", "#e6194b", 0.63)
    middle = DrawnDetection(1, (220.0, 100.0, 380.0, 200.0), "raccoon", "#e6194b", 0.94)
    v.set_detections([top, middle])
    v.set_truth([DrawnTruth(5, (40.0, 180.0, 150.0, 120.0), (), "raccoon", "#e6194b")])  # to the bottom edge
    image = v.mapFromScene(v.scene().sceneRect()).boundingRect()
    for k in (0, 1):
        tag = v.pred_items[k].childItems()[0]
        r = _screen_rect(v, tag)
        assert tag.isVisible()
        assert r.top() >= image.top() - 1, (k, r, image)  # was 0.63's: 20 px above the image
    r_mid = _screen_rect(v, v.pred_items[1].childItems()[0])
    box_mid = v.mapFromScene(v.pred_items[1].rect()).boundingRect()
    assert r_mid.bottom() <= box_mid.top() + 1  # room above: the tag stays above its box
    gt_tag = v.gt_items[0].childItems()[0]
    assert _screen_rect(v, gt_tag).bottom() <= image.bottom() + 1
    # zoomed in, the middle box's tag keeps its place above the box
    v.zoom_by(3.0)
    r_mid = _screen_rect(v, v.pred_items[1].childItems()[0])
    box_mid = v.mapFromScene(v.pred_items[1].rect()).boundingRect()
    assert r_mid.bottom() <= box_mid.top() + 1


def test_the_wheel_zooms_around_the_point_under_the_mouse(qtbot):
    """Seen under Xvfb on a 6000 x 3994 photo: the mouse over the raccoon's face, ten
    wheel steps showed the image's top-left corner. Qt's AnchorUnderMouse anchors at the
    last mouse *move* it tracked, and the viewer switched it (and with it mouse
    tracking) on only inside the first wheel event: the point under the mouse was
    unknown. The viewer now anchors at the wheel event's own position."""
    from PySide6.QtCore import QPoint, QPointF, Qt
    from PySide6.QtGui import QWheelEvent

    v = OverlayViewer()
    qtbot.addWidget(v)
    v.resize(900, 700)
    v.show()
    qtbot.waitExposed(v)
    v.show_image(None, 3, (3994, 6000))
    assert v.set_pixels(np.full((666, 1000, 3), 128, np.uint8), 3, scale=6.0, path="")
    target = QPointF(4000.0, 1500.0)  # right of the centre, above it
    for _ in range(10):
        at = v.mapFromScene(target)
        ev = QWheelEvent(QPointF(at), QPointF(v.viewport().mapToGlobal(at)), QPoint(0, 0), QPoint(0, 120),
                         Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase,
                         False)
        v.wheelEvent(ev)
        under = v.mapToScene(at)
        tol = 2.0 / v.zoom + 1.0  # a couple of screen pixels, in image pixels
        assert abs(under.x() - target.x()) <= tol and abs(under.y() - target.y()) <= tol, (under, v.zoom)
    assert v.zoom > 1.0  # zoomed in well past the fitted view
