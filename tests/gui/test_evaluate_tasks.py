"""The Evaluation panel on the other tasks, each on real data with a tiny trained model
(slow: run with ``-m slow``): instance segmentation (``brain_tumor_coco_seg``, masks
drawn), classification (``hymenoptera``, EfficientNet-Lite0 ImageNet weights) and
semantic segmentation (``camvid_small``). The numbers are checked against the CLI's
``metrics.json`` for the same checkpoint. With ``VISION_STUDIO_SCREENS=DIR`` set, each
test also saves screenshots of the view there.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from _eval_fixtures import (LITE0, camvid_project, coco_project, hymenoptera_project, shared_data,
                            train_tiny)
from vision_studio.cli import main
from vision_studio.gui.panels.evaluate.panel import EvaluatePanel
from vision_studio.gui.state import AppState

pytestmark = pytest.mark.slow
TIMEOUT = 600_000


def _panel(qtbot, project: Path, ckpt: Path, split: str = "val") -> EvaluatePanel:
    torch.set_num_threads(1)
    state = AppState()
    state.open_project(project)
    p = EvaluatePanel(state, device="cpu")
    qtbot.addWidget(p)
    p.resize(1400, 850)
    p.show()
    qtbot.waitExposed(p)
    with qtbot.waitSignal(p.evaluated, timeout=TIMEOUT):
        assert p.start(ckpt, split)
    return p


def _cli(project: Path, ckpt: Path, out: Path, capsys) -> dict:
    assert main(["evaluate", "--project", str(project), "--checkpoint", str(ckpt), "--split", "val",
                 "--out", str(out), "--device", "cpu", "--overlays", "0"]) == 0
    capsys.readouterr()
    return json.loads((out / "metrics.json").read_text())


def _screens(p: EvaluatePanel, name: str, qtbot) -> None:
    folder = os.environ.get("VISION_STUDIO_SCREENS")
    if not folder:
        return
    Path(folder).mkdir(parents=True, exist_ok=True)
    for i, tab in enumerate(("metrics", "pr", "confusion")):
        if p.ui.tabs.isTabEnabled(i):
            p.ui.tabs.setCurrentIndex(i)
            qtbot.wait(50)
            assert p.save_view_png(Path(folder) / f"evaluate_{name}_{tab}.png")
    p.ui.tabs.setCurrentIndex(0)


def test_instance_segmentation_brain_tumor(qtbot, tmp_path, capsys):
    src = shared_data("brain_tumor_coco_seg")
    project = coco_project(tmp_path, src, "brain", val_limit=10)
    ckpt = train_tiny(project, tmp_path / "run", "instance_segmentation", "maskrcnn_fpn:mobilenet_v3_large",
                      image_size=256, steps=6)
    p = _panel(qtbot, project, ckpt)
    try:
        assert p.ui.iou_type.currentData() == "segm" and p.view.has_masks
        cli = _cli(project, ckpt, tmp_path / "rep", capsys)
        for name, v in cli["segm"]["stats"].items():
            assert p.ui.summary.values[name] == pytest.approx(v, abs=1e-12), name
        with qtbot.waitSignal(p.fullShown, timeout=TIMEOUT):  # evaluated in the worker thread
            p.ui.iou_type.setCurrentIndex(0)  # by boxes: the CLI's bbox numbers
        for name, v in cli["bbox"]["stats"].items():
            assert p.ui.summary.values[name] == pytest.approx(v, abs=1e-12), name
        with qtbot.waitSignal(p.fullShown, timeout=TIMEOUT):
            p.ui.iou_type.setCurrentIndex(1)
        # an image with a tumour, shown with the predictions' masks
        with_gt = sorted({a["image_id"] for a in p.view.gt["annotations"]})
        p.ui.filter.setCurrentIndex(0)
        row = p.ui.list_model.payload.index(with_gt[0])
        p.set_score_threshold(float(np.percentile(p.inputs.predictions.scores, 90)))
        p.set_display_threshold(0.0)  # a 6-step model scores below the default 0.5: draw all shown
        p.ui.list.selectRow(row)
        assert p.ui.viewer.pred_items and not p.ui.viewer.mask_layer.pixmap().isNull()
        assert p.ui.viewer.gt_items
        with qtbot.waitSignal(p.fullShown, timeout=TIMEOUT):
            p.recompute()  # AP at the new threshold (the rest timer's job) before the screenshots
        _screens(p, "instance_brain_tumor", qtbot)
    finally:
        p.shutdown()
        p.state.close_project()


def test_classification_hymenoptera(qtbot, tmp_path, capsys):
    src = shared_data("hymenoptera")
    if not LITE0.is_file():
        pytest.skip(f"pretrained weights not found at {LITE0}")
    project = hymenoptera_project(tmp_path, src)
    ckpt = train_tiny(project, tmp_path / "run", "classification", "timm:tf_efficientnet_lite0",
                      image_size=128, steps=8, batch_size=16, weights=str(LITE0))
    p = _panel(qtbot, project, ckpt)
    try:
        cli = _cli(project, ckpt, tmp_path / "rep", capsys)
        assert p.ui.summary.values["accuracy"] == pytest.approx(cli["accuracy"], abs=1e-12)
        for k, c in enumerate(cli["per_class"]):
            for col in ("precision", "recall", "f1", "support"):
                assert p.ui.classes.value(k, col) == pytest.approx(c[col], abs=1e-12)
        assert np.array_equal(p.ui.confusion.matrix, np.array(cli["confusion"]))
        assert cli["accuracy"] > 0.6  # pretrained features: far above chance after 8 steps
        p.ui.confusion.cellChosen.emit(0, 1)
        rows = p.ui.list_model.payload
        assert len(rows) == p.ui.confusion.matrix[0, 1] and all((r.true, r.pred) == (0, 1) for r in rows)
        p.ui.filter.setCurrentIndex(0)
        p.ui.list.selectRow(0)
        assert p.ui.viewer.image_id == p.ui.list_model.payload[0].image_id
        _screens(p, "classification_hymenoptera", qtbot)
    finally:
        p.shutdown()
        p.state.close_project()


def test_semantic_camvid(qtbot, tmp_path, capsys):
    src = shared_data("camvid_small")
    project = camvid_project(tmp_path, src, val_limit=6)
    ckpt = train_tiny(project, tmp_path / "run", "semantic_segmentation", "lraspp_mobilenet_v3_large",
                      image_size=128, steps=6, batch_size=8)
    p = _panel(qtbot, project, ckpt)
    try:
        cli = _cli(project, ckpt, tmp_path / "rep", capsys)
        assert p.ui.summary.values["mIoU"] == pytest.approx(cli["mIoU"], abs=1e-12)
        assert np.array_equal(p.ui.confusion.matrix, np.array(cli["confusion"]))
        for k, c in enumerate(cli["per_class"]):
            got = p.ui.classes.value(k, "iou")
            assert (np.isnan(got) and c["iou"] is None) or got == pytest.approx(c["iou"], abs=1e-12)
        p.ui.list.selectRow(0)
        assert not p.ui.viewer.mask_layer.pixmap().isNull() and not p.ui.viewer.gt_layer.pixmap().isNull()
        r, c = np.unravel_index(np.argmax(p.ui.confusion.matrix - np.diag(np.diag(p.ui.confusion.matrix))),
                                p.ui.confusion.matrix.shape)
        p.ui.confusion.cellChosen.emit(int(r), int(c))
        assert p.ui.list_model.payload
        _screens(p, "semantic_camvid", qtbot)
    finally:
        p.shutdown()
        p.state.close_project()
