"""The smart polygon tool on a real MRI slice of ``brain_tumor_coco_seg`` (issue 14),
driven with real mouse drags and keys: a box around the tumour gives a polygon (OpenCV
GrabCut) that is stored as an ordinary annotation, undoable; a picked box becomes the
polygon; a background stroke and the tolerance change the outline."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from pycocotools import mask as mask_utils
from PySide6.QtCore import QPointF, Qt

from _assist_fixtures import drag
from _eval_fixtures import shared_data
from vision_studio.core.store import ProjectStore
from vision_studio.core.types import Annotation, ImageRecord

pytest.importorskip("vision_studio.core.assist.grabcut", reason="core.assist.grabcut (branch a14c) not merged yet")

LEFT, NOMOD = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
CTRL = Qt.KeyboardModifier.ControlModifier
TIMEOUT = 60_000


def first_tumour() -> tuple[Path, dict, dict]:
    """``(folder, COCO image, COCO annotation)`` of the first tumour polygon of
    ``brain_tumor_coco_seg/valid`` (skips without the shared data)."""
    src = shared_data("brain_tumor_coco_seg") / "valid"
    coco = json.loads((src / "_annotations.coco.json").read_text())
    gt = next(a for a in coco["annotations"] if a.get("segmentation"))
    return src, next(i for i in coco["images"] if i["id"] == gt["image_id"]), gt


@pytest.fixture
def brain(tmp_path) -> tuple[Path, dict]:
    """A project of the first validation slice with a tumour polygon (category "Tumor",
    no annotation yet); returns ``(project, its COCO ground-truth annotation)``."""
    src, im, gt = first_tumour()
    path = tmp_path / "brain.vsproj"
    with ProjectStore.create(path, root=src) as s:
        s.add_category("Tumor", "#e6194b")
        s.add_image(ImageRecord(path=im["file_name"], width=im["width"], height=im["height"]))
    return path, gt


def iou_with(gt: dict, polygons, h: int, w: int) -> float:
    g = mask_utils.decode(mask_utils.merge(mask_utils.frPyObjects(gt["segmentation"], h, w)))
    p = mask_utils.decode(mask_utils.merge(mask_utils.frPyObjects([list(q) for q in polygons], h, w)))
    return float((g & p).sum() / max((g | p).sum(), 1))


def opened(win, path):
    assert win.open_project(path)
    win.annotate.set_tool("smart_polygon")
    assert win.annotate.assist.actions["smart_polygon"].isChecked()
    assert win.annotate.canvas.tool == "select"  # the canvas stays in select under it
    return win.annotate.canvas, win.annotate.assist.smart


def test_box_to_polygon_stored_and_undoable(main_window, brain, qtbot):
    path, gt = brain
    canvas, tool = opened(main_window, path)
    x, y, w, h = gt["bbox"]
    with qtbot.waitSignal(tool.polygonChanged, timeout=TIMEOUT) as sig:
        drag(qtbot, canvas, (x, y), (x + w, y + h), steps=6)
    assert sig.args[0] >= 3 and tool.method == "grabcut"
    im = canvas.image
    box_iou = iou_with(gt, [[x, y, x + w, y, x + w, y + h, x, y + h]], im.height, im.width)
    smart_iou = iou_with(gt, tool.polygons, im.height, im.width)
    assert smart_iou > box_iou + 0.1  # the outline follows the tumour, not the box
    canvas.setFocus()
    qtbot.keyClick(canvas, Qt.Key.Key_Return)
    with ProjectStore.open(path) as s:
        anns = s.annotations()
    assert len(anns) == 1 and anns[0].polygons and anns[0].source == ""
    assert iou_with(gt, anns[0].polygons, im.height, im.width) == pytest.approx(smart_iou, abs=1e-6)
    assert anns[0].id in canvas.shape_items and canvas.shape_items[anns[0].id].kind == "polygon"
    qtbot.keyClick(canvas, Qt.Key.Key_Z, CTRL)
    with ProjectStore.open(path) as s:
        assert s.annotations() == []


def test_picked_box_becomes_the_polygon(main_window, brain, qtbot):
    path, gt = brain
    with ProjectStore.open(path) as s:
        box = s.add_annotation(Annotation(image_id=s.images()[0].id, category_id=s.categories()[0].id,
                                          bbox=tuple(gt["bbox"])))
    canvas, tool = opened(main_window, path)
    x, y, w, h = gt["bbox"]
    with qtbot.waitSignal(tool.polygonChanged, timeout=TIMEOUT):
        qtbot.mouseClick(canvas.viewport(), LEFT, NOMOD, canvas.mapFromScene(QPointF(x + 2, y + h / 2)))
    assert tool.picked is not None and tool.picked.id == box.id
    assert tool.commit() == box.id
    with ProjectStore.open(path) as s:
        anns = s.annotations()
    assert [a.id for a in anns] == [box.id] and anns[0].polygons  # the same annotation


def test_background_stroke_and_tolerance_change_the_outline(main_window, brain, qtbot):
    path, gt = brain
    canvas, tool = opened(main_window, path)
    x, y, w, h = gt["bbox"]
    with qtbot.waitSignal(tool.polygonChanged, timeout=TIMEOUT):
        tool.start_box(x, y, w, h)
    im = canvas.image

    def area(polys):
        return float(mask_utils.area(mask_utils.merge(mask_utils.frPyObjects([list(p) for p in polys],
                                                                              im.height, im.width))))
    before, points = area(tool.polygons), sum(len(p) for p in tool.polygons) // 2
    # a background stroke (right drag) across the top of the box (a stroke through the
    # middle makes GrabCut learn the tumour's grey as background and drop it all)
    with qtbot.waitSignal(tool.polygonChanged, timeout=TIMEOUT):
        drag(qtbot, canvas, (x + 0.1 * w, y + 0.15 * h), (x + 0.9 * w, y + 0.15 * h), button=Qt.MouseButton.RightButton)
    assert len(tool.bg_strokes) == 1
    after = area(tool.polygons)
    assert 0 < after < before
    row = np.round(np.linspace(x + 0.1 * w, x + 0.9 * w, 20)).astype(int)
    mask = mask_utils.decode(mask_utils.merge(mask_utils.frPyObjects([list(p) for p in tool.polygons],
                                                                      im.height, im.width)))
    assert mask[int(round(y + 0.15 * h)), row].sum() == 0  # the stroke is background now
    # a larger tolerance: fewer points, the same mask traced again (no new GrabCut)
    main_window.annotate.assist.tolerance.setValue(8.0)
    fewer = sum(len(p) for p in tool.polygons) // 2
    assert 3 <= fewer < points
