"""The class-activation heatmap of the Evaluation viewer (issue 16), through the real panel
with real checkpoints (random weights, BatchNorm calibrated on real images: the maps are
poor but real): toggling on shows the heatmap item once the background worker is done,
the opacity slider changes what is drawn, toggling off hides it, another image gets its
own heatmap, a large image's heatmap covers its full-resolution scene, a detector gets
EigenCAM, and a model-less source (a results file, semantic segmentation, a checkpoint
without weights) disables the toggle or says why there is none."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from PIL import Image

from _eval_fixtures import coco_project, evaluate_panel, hymenoptera_project, shared_data
from tests.core._checkpoints import make_checkpoint
from vision_studio.core.store import ProjectStore
from vision_studio.core.types import ImageRecord, Task
from vision_studio.gui.image_cache import OVERVIEW_SIDE
from vision_studio.gui.panels.evaluate import cam_overlay
from vision_studio.gui.panels.evaluate.cam_overlay import NO_MODEL, NO_SEMANTIC

TIMEOUT = 180_000
BIG = (3000, 4500)  # (height, width) of the enlarged photo: above LARGE_SIDE


@pytest.fixture(scope="module")
def hym(tmp_path_factory):
    """hymenoptera with 4 validation images plus one enlarged to 4500x3000, and a
    MobileNet-V3-Small classifier checkpoint."""
    folder = tmp_path_factory.mktemp("eval_cam")
    src = shared_data("hymenoptera")
    project = hymenoptera_project(folder, src)
    with ProjectStore.open(project) as store:
        val = store.images("val")
        for im in val[2:-2]:
            store.delete_image(im.id)
        first = store.images("val")[0]
        big = folder / "big_ant.jpg"
        Image.open(store.resolve(first)).convert("RGB").resize((BIG[1], BIG[0])).save(big, quality=90)
        rec = store.add_image(ImageRecord(path=str(big), width=BIG[1], height=BIG[0], split="val"))
        store.add_image_tags([(rec.id, store.image_tags(first.id)[0])])
        cats = [{"id": c.id, "name": c.name} for c in store.categories()]
        calib = [store.resolve(im) for im in store.images("train")[:8]]
    torch.manual_seed(0)
    ckpt = make_checkpoint(folder / "run", Task.CLASSIFICATION, "mobilenet_v3_small", cats, image_size=96,
                           images=calib)
    return project, ckpt, rec.id


@pytest.fixture
def panel(qtbot, hym):
    project, ckpt, _ = hym
    torch.set_num_threads(1)
    p = evaluate_panel(qtbot, project, (1200, 800))
    with qtbot.waitSignal(p.evaluated, timeout=TIMEOUT):
        assert p.start(ckpt, "val")
    p.ui.filter.setCurrentIndex(p.ui.filter.findData("all"))
    yield p
    p.shutdown()
    p.state.close_project()


def _select(p, qtbot, image_id: int) -> None:
    rows = p.ui.list_model.payload
    p.ui.list.selectRow(next(k for k, r in enumerate(rows) if r.image_id == image_id))
    qtbot.waitUntil(lambda: p.ui.viewer.pixels is not None and p.ui.viewer.image_id == image_id, timeout=TIMEOUT)


def _heat_shown(cam, image_id: int) -> bool:
    return cam.shown is not None and cam.shown[3] == image_id and cam.viewer.heat_layer.isVisible()


def _grab(v) -> np.ndarray:
    """What the viewer shows, H x W x 3 uint8."""
    from PySide6.QtGui import QImage

    img = v.viewport().grab().toImage().convertToFormat(QImage.Format.Format_RGB888)
    rows = np.frombuffer(img.constBits(), np.uint8).reshape(img.height(), img.bytesPerLine())
    return rows[:, :img.width() * 3].reshape(img.height(), img.width(), 3).copy()


def test_toggle_opacity_switch_and_off(panel, qtbot, hym):
    p, v = panel, panel.ui.viewer
    cam = v.cam
    ids = [r.image_id for r in p.ui.list_model.payload]
    a, b = [i for i in ids if i != hym[2]][:2]
    _select(p, qtbot, a)
    assert cam.toggle.isEnabled() and not v.heat_layer.isVisible()
    plain = _grab(v)
    cam.toggle.setChecked(True)
    qtbot.waitUntil(lambda: _heat_shown(cam, a), timeout=TIMEOUT)
    assert cam.status.text().startswith("Grad-CAM of ")
    h, w = v.size_hw
    rect = v.heat_layer.sceneBoundingRect()
    assert (rect.width(), rect.height()) == pytest.approx((w, h), abs=1)
    heat = v.heat_layer.pixmap()
    assert (heat.height(), heat.width()) == v.pixels.shape[:2]  # at the shown pixels' resolution
    half = _grab(v)
    assert np.abs(half.astype(int) - plain).mean() > 5  # the heatmap is drawn over the image
    cam.opacity.setValue(90)
    assert v.heat_layer.opacity() == pytest.approx(0.9)
    strong = _grab(v)
    assert np.abs(strong.astype(int) - plain).mean() > np.abs(half.astype(int) - plain).mean() + 2
    first = v.heat_layer.pixmap().toImage()

    _select(p, qtbot, b)  # another image: its own heatmap, computed again
    qtbot.waitUntil(lambda: _heat_shown(cam, b), timeout=TIMEOUT)
    assert v.heat_layer.pixmap().toImage() != first
    assert len(cam_overlay._MODELS) >= 1
    n_models = len(cam_overlay._MODELS)
    _select(p, qtbot, a)  # back: from the heatmap cache, at once, the model not built again
    assert _heat_shown(cam, a) and cam.pending is None
    assert len(cam_overlay._MODELS) == n_models

    cam.toggle.setChecked(False)
    assert not v.heat_layer.isVisible()
    assert np.abs(_grab(v).astype(int) - plain).mean() < 1


def test_true_class_and_large_image(panel, qtbot, hym):
    p, v = panel, panel.ui.viewer
    cam = v.cam
    big = hym[2]
    _select(p, qtbot, big)
    assert v.size_hw == BIG and max(v.pixels.shape[:2]) <= OVERVIEW_SIDE  # shown reduced
    cam.toggle.setChecked(True)
    qtbot.waitUntil(lambda: _heat_shown(cam, big), timeout=TIMEOUT)
    rect = v.heat_layer.sceneBoundingRect()  # computed on the reduced pixels, over the full scene
    assert (rect.width(), rect.height()) == pytest.approx((BIG[1], BIG[0]), abs=1)
    assert v.heat_layer.pixmap().width() == v.pixels.shape[1]
    row = next(r for r in p.ui.list_model.payload if r.image_id == big)
    names = p.view.ev.names
    other = 1 - row.pred
    assert cam.status.text().startswith(f"Grad-CAM of {names[row.pred]} ")
    cam.set_classes(other, row.pred)  # as if the image's true class were the other one
    cam.target.setCurrentIndex(cam.target.findData("true"))
    qtbot.waitUntil(lambda: cam.status.text().startswith(f"Grad-CAM of {names[other]} "), timeout=TIMEOUT)
    assert _heat_shown(cam, big) and cam.shown[-1] == other


def test_model_less_sources_disable_the_toggle(panel, qtbot, tmp_path):
    v = panel.ui.viewer
    inputs = panel.view.inputs
    results = tmp_path / "results.json"
    results.write_text("[]")
    v.cam.set_inputs(replace(inputs, checkpoint=results))
    assert not v.cam.toggle.isEnabled() and v.cam.toggle.toolTip() == NO_MODEL
    # seen under Xvfb: the opacity slider stayed live beside a disabled, unchecked toggle
    assert not v.cam.opacity.isEnabled()
    v.cam.set_inputs(replace(inputs, task=Task.SEMANTIC_SEGMENTATION))
    assert not v.cam.toggle.isEnabled() and v.cam.toggle.toolTip() == NO_SEMANTIC
    broken = tmp_path / "broken.pt"  # a checkpoint without weights: the bar says so, no traceback
    torch.save({"model": {}, "config": {"task": "classification", "arch": "none"}, "categories": []}, broken)
    v.cam.set_inputs(replace(inputs, checkpoint=broken))
    assert v.cam.toggle.isEnabled() and not v.cam.opacity.isEnabled()  # nothing to fade yet
    v.cam.toggle.setChecked(True)
    assert v.cam.opacity.isEnabled()
    qtbot.waitUntil(lambda: v.cam.status.text().startswith("no heatmap"), timeout=TIMEOUT)
    assert not v.heat_layer.isVisible()


@pytest.mark.slow
def test_detector_eigencam(qtbot, tmp_path):
    src = shared_data("rbc_coco")
    project = coco_project(tmp_path, src, "rbc", val_limit=2)
    with ProjectStore.open(project) as store:
        cats = [{"id": c.id, "name": c.name} for c in store.categories()]
        calib = [store.resolve(im) for im in store.images("train")[:2]]
    torch.set_num_threads(1)
    ckpt = make_checkpoint(tmp_path / "run", Task.DETECTION, "fasterrcnn_mobilenet_v3_large_320_fpn", cats,
                           image_size=320, images=calib)
    p = evaluate_panel(qtbot, project, (1200, 800))
    try:
        with qtbot.waitSignal(p.evaluated, timeout=TIMEOUT):
            assert p.start(ckpt, "val")
        v = p.ui.viewer
        qtbot.waitUntil(lambda: v.pixels is not None, timeout=TIMEOUT)
        assert not v.cam.target.isVisibleTo(v.bar)  # no class to choose for EigenCAM
        v.cam.toggle.setChecked(True)
        qtbot.waitUntil(lambda: _heat_shown(v.cam, v.image_id), timeout=TIMEOUT)
        assert v.cam.status.text().startswith("EigenCAM")
    finally:
        p.shutdown()
        p.state.close_project()


def test_classifier_heatmap_is_transparent_outside_the_model_input(hym):
    """A classifier sees the centre crop of its validation transform (resize to
    image_size / 0.875, centre crop image_size): seen under Xvfb on hymenoptera, the
    bands of a wide photo outside that crop were tinted the dark blue of "no
    activation", as if the model had looked there and found nothing; they were never
    seen by it. The heatmap is now transparent there (RGBA, alpha 0) and opaque inside."""
    from vision_studio.core.explain.cam import input_box

    _project, ckpt, _ = hym
    h, w = 100, 200  # image_size 96: resized to 110 x 220, crop x 62..158, y 7..103 of it
    x0, y0, x1, y1 = input_box((h, w), Task.CLASSIFICATION, 96)
    assert (x0, x1) == pytest.approx((62 / 1.1, 158 / 1.1), abs=0.6)
    assert (y0, y1) == pytest.approx((7 / 1.1, 103 / 1.1), abs=0.6)
    assert input_box((h, w), Task.DETECTION, 416) == (0, 0, w, h)
    rng = np.random.default_rng(0)
    rgba, text = cam_overlay.compute_heatmap(str(ckpt), rng.integers(0, 255, (h, w, 3), dtype=np.uint8), None)
    assert rgba.shape == (h, w, 4) and text.startswith("Grad-CAM of ")
    alpha = rgba[..., 3]
    assert (alpha[:, :50] == 0).all() and (alpha[:, 150:] == 0).all()  # the bands the model never saw
    assert (alpha[10:90, 60:140] == 255).all()  # the crop
