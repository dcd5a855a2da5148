"""The smart polygon with the project's own instance-segmentation model (issue 14), on a
real MRI slice of ``brain_tumor_coco_seg`` and a real (random-weight, BatchNorm
calibrated) Mask R-CNN checkpoint of a recorded run: the model loads in a worker thread
when the tool is switched on (the status bar says "loading", GrabCut meanwhile), once
per checkpoint file; the outline of a dragged box is then the model's mask of its best
detection in the box, cut to the box, and Enter stores it; a checkpoint that cannot be
loaded leaves GrabCut, and the status bar says why."""
from __future__ import annotations


import numpy as np
import pytest
from PySide6.QtCore import Qt

from _assist_fixtures import drag
from test_smart_polygon import first_tumour
from vision_studio.core.store import ProjectStore
from vision_studio.core.types import ImageRecord, RunRecord, Task
from vision_studio.gui.widgets.smart_polygon_jobs import DETECTIONS, MODELS, clear_model_cache


TIMEOUT = 120_000
ARCH = "maskrcnn_fpn:mobilenet_v3_large"


@pytest.fixture(scope="module")
def brain(tmp_path_factory):
    """``(project, checkpoint, box, mask, tumour box)``: one validation slice with a tumour, category "Tumor", a run
    "seg" whose best.pt is a Mask R-CNN; ``box`` (COCO xywh) is that model's own smallest
    detection (sides of 20 px or more) with a mask of more than 20 pixels, ``mask`` its
    [H, W] mask."""
    from tests.core._checkpoints import make_checkpoint
    from vision_studio.core.assist.inference import load_model
    from vision_studio.core.assist.polygons import rle_to_mask
    from vision_studio.core.evaluation.predict import predict_detections
    from vision_studio.core.geometry import xyxy_to_xywh
    from vision_studio.core.images import read_image

    folder = tmp_path_factory.mktemp("brain_model")
    src, im, gt = first_tumour()
    path = folder / "brain.vsproj"
    with ProjectStore.create(path, root=src) as s:
        cat = s.add_category("Tumor", "#e6194b")
        s.add_image(ImageRecord(path=im["file_name"], width=im["width"], height=im["height"]))
        ckpt = make_checkpoint(folder / "seg", Task.INSTANCE_SEGMENTATION, ARCH,
                               [{"id": cat.id, "name": cat.name}], image_size=128,
                               images=[src / im["file_name"]])
        s.add_run(RunRecord(name="seg", task=Task.INSTANCE_SEGMENTATION, out_dir=str(folder / "seg"),
                            config={"arch": ARCH}, status="finished"))
        model = load_model(s, ckpt, "cpu")
        image = read_image(s.resolve(s.images()[0]))
    raw = predict_detections(model.built.model, [image], model.categories, image_size=128,
                             score_floor=0.05, raw_max_per_image=100)  # as model_polygon runs it
    found = [int(i) for i in raw.filter(0.05, 0.5, 100) if rle_to_mask(raw.masks[i]).sum() > 20]
    if not found:
        pytest.skip("the random-weight model found no object with a mask on this slice")
    def area(i: int) -> float:
        b = raw.boxes[i]
        return float((b[2] - b[0]) * (b[3] - b[1]))
    sized = [i for i in found if min(raw.boxes[i][2] - raw.boxes[i][0], raw.boxes[i][3] - raw.boxes[i][1]) >= 20]
    i = min(sized or found, key=area)  # the smallest: "inside the box" then says the most
    return path, ckpt, tuple(xyxy_to_xywh(raw.boxes[i].tolist())), rle_to_mask(raw.masks[i]), gt["bbox"]


def _status(canvas) -> list[str]:
    seen: list[str] = []
    canvas.statusMessage.connect(seen.append)
    return seen


def _inside(polygons, box, tol: float = 1.0) -> bool:
    x, y, w, h = box
    pts = np.concatenate([np.asarray(p, float).reshape(-1, 2) for p in polygons])
    return bool((pts[:, 0] >= x - tol).all() and (pts[:, 0] <= x + w + tol).all()
                and (pts[:, 1] >= y - tol).all() and (pts[:, 1] <= y + h + tol).all())


def test_model_loads_in_the_background_then_outlines_the_box(main_window, brain, qtbot):
    from vision_studio.core.assist.polygons import mask_iou, polygons_mask

    path, ckpt, (x, y, w, h), model_mask, _ = brain
    clear_model_cache()
    assert main_window.open_project(path)
    assist = main_window.annotate.assist
    canvas, tool = main_window.annotate.canvas, assist.smart
    assert assist.segmentation_checkpoint == ckpt and assist.actions["smart_model"].isChecked()
    assert tool.model_state == "unloaded"  # nothing is loaded before the tool is used
    seen = _status(canvas)
    main_window.annotate.set_tool("smart_polygon")
    # set_tool returned while the model is still loading: the load is not on this thread
    assert tool.model_state == "loading" and not MODELS
    assert any("loading model seg" in m for m in seen)
    drag(qtbot, canvas, (x, y), (x + w, y + h), steps=6)
    qtbot.waitUntil(lambda: tool.model_state == "ready" and tool.method == "model" and not tool.busy,
                    timeout=TIMEOUT)
    assert any("model seg ready" in m for m in seen)
    assert tool.polygons and _inside(tool.polygons, (x, y, w, h))
    box = tool.box
    # (vertices are pixel indices of the mask cut to the box's whole pixels: within 1 px)
    assert _inside(tool.polygons, (box.x(), box.y(), box.width(), box.height()))
    im = canvas.image
    x0, y0 = int(np.floor(box.x())), int(np.floor(box.y()))
    x1, y1 = int(np.ceil(box.right())), int(np.ceil(box.bottom()))
    expected = np.zeros_like(model_mask)
    expected[y0:y1, x0:x1] = model_mask[y0:y1, x0:x1]
    # the outline traces the model's mask of that detection (cut to the box), not GrabCut's
    assert mask_iou(polygons_mask(tool.polygons, im.height, im.width), expected) > 0.8
    assert "the project's model" in seen[-1]
    # the model's detections of this image are kept: the same box again needs no new run
    assert len(DETECTIONS) == 1
    entry, first = next(iter(DETECTIONS.values())), [list(p) for p in tool.polygons]
    tool.start_box(box.x(), box.y(), box.width(), box.height())
    qtbot.waitUntil(lambda: not tool.busy, timeout=TIMEOUT)
    assert tool.method == "model" and tool.polygons == first
    assert len(DETECTIONS) == 1 and next(iter(DETECTIONS.values())) is entry
    canvas.setFocus()
    qtbot.keyClick(canvas, Qt.Key.Key_Return)
    with ProjectStore.open(path) as s:
        anns = s.annotations()
    assert len(anns) == 1 and _inside(anns[0].polygons, (x, y, w, h))
    # cached per checkpoint file: choosing it again needs no new load
    tool.set_checkpoint(None)
    assert tool.model_state == "none"
    tool.set_checkpoint(ckpt)
    assert tool.model_state == "ready" and len(MODELS) == 1


def test_a_checkpoint_that_cannot_load_leaves_grabcut_and_says_so(main_window, brain, qtbot, tmp_path):
    path, _, _, _, (x, y, w, h) = brain  # the ground-truth tumour box: GrabCut finds it
    assert main_window.open_project(path)
    main_window.annotate.set_tool("smart_polygon")
    canvas, tool = main_window.annotate.canvas, main_window.annotate.assist.smart
    bad = tmp_path / "broken" / "best.pt"
    bad.parent.mkdir()
    bad.write_bytes(b"not a checkpoint")
    seen = _status(canvas)
    tool.set_checkpoint(bad)
    qtbot.waitUntil(lambda: tool.model_state == "failed", timeout=TIMEOUT)
    assert tool.model_error and any("the model cannot be used" in m and "using GrabCut" in m for m in seen)
    with qtbot.waitSignal(tool.polygonChanged, timeout=TIMEOUT):
        drag(qtbot, canvas, (x, y), (x + w, y + h), steps=6)
    assert tool.method == "grabcut" and tool.polygons
    assert "GrabCut: the model cannot be used" in seen[-1]
