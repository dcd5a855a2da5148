"""The canvas's cached drawing layers across image changes (pytest-qt, offscreen): what
one image drew must not stay on the next (``gui/widgets/canvas_items.py``)."""
from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402
from PySide6.QtCore import QPointF  # noqa: E402
from PySide6.QtGui import QUndoStack  # noqa: E402

from vision_studio.core.store import ProjectStore  # noqa: E402
from vision_studio.core.types import Annotation, ImageRecord  # noqa: E402
from vision_studio.gui.widgets.canvas import AnnotationCanvas  # noqa: E402


def test_the_next_image_does_not_show_the_boxes_of_the_previous_one(qtbot, tmp_path):
    """Two images of one width (the same zoom), 650 x 417 and 650 x 419 like raccoon-1 and
    raccoon-154: after the one with a box, the other is drawn without it (seen under
    Xvfb: raccoon-1's box stayed drawn on raccoon-154 — the shapes layer's cached
    picture outlived its image)."""
    w, h = 650, 417
    store = ProjectStore.create(tmp_path / "w.vsproj")
    Image.fromarray(np.full((h, w, 3), 128, np.uint8)).save(tmp_path / "a.png")
    Image.fromarray(np.full((h + 2, w, 3), 128, np.uint8)).save(tmp_path / "b.png")
    a = store.add_image(ImageRecord(path="a.png", width=w, height=h))
    b = store.add_image(ImageRecord(path="b.png", width=w, height=h + 2))
    cat = store.add_category("cell", "#e6194b")
    store.add_annotations([Annotation(image_id=a.id, category_id=cat.id, bbox=(80, 87, 442, 321))])
    c = AnnotationCanvas(store, QUndoStack())
    qtbot.addWidget(c)
    c.resize(440, 360)
    c.show()
    qtbot.waitExposed(c)

    def edge_pixel() -> tuple[int, int, int]:
        qtbot.wait(50)
        col = c.viewport().grab().toImage().pixelColor(c.mapFromScene(QPointF(300, 87)))
        return col.red(), col.green(), col.blue()  # the middle of the box's top edge

    c.show_image(a)
    assert edge_pixel() != (128, 128, 128)  # the box is drawn
    c.show_image(b)
    assert c.shape_items == {}
    assert edge_pixel() == (128, 128, 128)
    c.cache.wait(5000)
    store.close()
