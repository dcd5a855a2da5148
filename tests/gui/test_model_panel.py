"""The Model panel, driven through its widgets on small real projects: task from the
labels, registry architectures with size/speed/description, weights availability,
strategy explanations, hyperparameter defaults, augmentation preview with transformed
boxes, stratified re-split, checks, and TrainConfig JSON the CLI accepts."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from _train_fixtures import det_project, shown_panel

from vision_studio.commands.train import build_config
from vision_studio.core.errors import ConfigError
from vision_studio.core.training.config import TrainConfig
from vision_studio.core.training import checks as advice
from vision_studio.gui.panels.model import weights_status as ws
from vision_studio.gui.panels.model.panel import ModelPanel
from vision_studio.gui.panels.model.sections import PLAIN_TEXT
from vision_studio.gui.state import AppState


@pytest.fixture
def panel(qtbot):
    state = AppState()
    p = shown_panel(qtbot, ModelPanel(state))
    yield p
    p.shutdown()
    state.engine.shutdown()
    state.close_project()


def test_detection_project_defaults_preview_and_checks(panel, tmp_path, make_images):
    panel.state.open_project(det_project(tmp_path, make_images))
    assert panel.isEnabled()
    assert panel.arch.current_task() == "detection"  # boxes, no tags
    assert "no labels yet" in panel.arch.task.itemText(panel.arch.task.count() - 1)
    names = [panel.arch.arch.itemData(i) for i in range(panel.arch.arch.count())]
    assert "fasterrcnn_mobilenet_v3_large_320_fpn" in names and "resnet18" not in names
    assert "M params" in panel.arch.arch.currentText()
    assert "Faster R-CNN" in panel.arch.info.text() and "parameters" in panel.arch.info.text()
    # hyperparameters from the task and the dataset size (12 images: small)
    assert panel.hyper.w["batch_size"].value() == 4 and panel.hyper.w["epochs"].value() == 30
    assert panel.strategy.strategy.currentData() == "feature_extraction"  # few images, pretrained
    # linear probe is offered for classification only
    strategies = [panel.strategy.strategy.itemData(i) for i in range(panel.strategy.strategy.count())]
    assert "linear_probe" not in strategies and "gradual" in strategies
    # the preview runs the core's transforms on a real image: boxes follow the flip
    panel.aug["hflip"].setValue(1.0)
    panel.aug["scale_lo"].setValue(1.0)
    panel.aug["scale_hi"].setValue(1.0)
    items = panel.preview.items
    assert len(items) == 4
    img, box = items[0].image, items[0].boxes[0]
    w = img.shape[1]
    scale = w / 64
    assert box == pytest.approx([(64 - 30) * scale, 8 * scale, (64 - 10) * scale, 20 * scale], abs=1.5)
    x1, y1, x2, y2 = (int(round(v)) for v in box)
    assert img[y1 + 2:y2 - 2, x1 + 2:x2 - 2].mean() > 200  # the white block moved with it
    assert panel.preview.tiles[0].pixmap() is not None and not panel.preview.tiles[0].pixmap().isNull()
    # checks: few images, a rare category, images without boxes
    text = panel.warnings.text()
    assert "only 10 labelled images" in text and "c (2)" in text and "2 of 12 images" in text


def test_stratified_resplit_and_strategy_explanations(panel, tmp_path, make_images):
    project = det_project(tmp_path, make_images, n=20)
    panel.state.open_project(project)
    changed = []
    panel.state.imagesChanged.connect(lambda: changed.append(1))
    panel.val_split.setValue(0.25)
    assert panel.stratified_resplit(confirm=False)
    splits = panel.state.store.splits()
    assert set(splits) == {"train", "val"} and splits["val"] >= 3 and changed
    assert "train" in panel.split_info.text() and "val" in panel.split_info.text()
    for name in ("feature_extraction", "fine_tune", "partial", "gradual"):
        panel.strategy.select(name)
        text = panel.strategy.explain.text()  # the plain sentence first, then the technical one
        assert text.startswith(PLAIN_TEXT[name]) and text.endswith(advice.STRATEGY_TEXT[name][1])
    panel.strategy.select("gradual")
    assert not panel.strategy.freeze_epochs.isHidden() and panel.strategy.layer_decay.isHidden()
    panel.strategy.freeze_epochs.setValue(3)
    assert panel.config().strategy == {"name": "gradual", "freeze_epochs": 3,
                                       "unfreeze_every": 1, "backbone_lr_mult": 0.1}


def test_config_saves_json_the_cli_accepts_and_loads_back(panel, tmp_path, make_images):
    panel.state.open_project(det_project(tmp_path, make_images))
    i = panel.arch.arch.findData("ssdlite320_mobilenet_v3_large")
    panel.arch.arch.setCurrentIndex(i)
    panel.arch.set_weights(None)
    panel.strategy.select("scratch")
    panel.hyper.w["epochs"].setValue(7)
    panel.hyper.w["lr"].setValue(0.005)
    panel.hyper.w["max_steps_per_epoch"].setValue(4)
    panel.hyper.w["name"].setText("ssd try")
    panel.aug["rotation"].setValue(10)
    path = panel.save_config(tmp_path / "cfg.json")
    data = json.loads(path.read_text())
    assert data["arch"] == "ssdlite320_mobilenet_v3_large" and data["weights"] is None
    assert data["epochs"] == 7 and data["lr"] == 0.005 and data["out_dir"] is None
    assert data["augmentation"]["rotation"] == 10 and data["strategy"] == {"name": "scratch"}
    # the CLI reads it (the same function `vision-studio train --config` uses)
    import argparse
    args = argparse.Namespace(resume=None, config=path, task=None, arch=None, strategy=None,
                              **{k: None for k in ("weights", "epochs", "batch_size", "lr",
                                                   "image_size", "device", "seed", "out",
                                                   "max_steps_per_epoch", "max_val_batches",
                                                   "num_workers", "val_split")})
    cfg = build_config(args)
    assert cfg.to_dict() == TrainConfig.load(path).to_dict()
    # load into a reset panel: every widget shows it again
    panel.refresh(reset=True)
    assert panel.hyper.w["epochs"].value() != 7
    panel.load_config(path)
    assert panel.config().to_dict() == {**TrainConfig.load(path).to_dict(), "out_dir": None}
    # "Use as starting weights" from the runs list selects that checkpoint
    panel.state.startWeightsRequested.emit(str(tmp_path / "runs" / "x" / "best.pt"))
    assert panel.config().weights == str(tmp_path / "runs" / "x" / "best.pt")
    bad = tmp_path / "bad.json"
    bad.write_text('{"epochs": -1}')
    before = panel.config().to_dict()
    with pytest.raises(ConfigError, match=r"epochs: must be > 0, got -1"):
        panel.load_config(bad)
    assert panel.config().to_dict() == before  # a refused file changes nothing


def test_weights_availability_reads_the_hub_cache(tmp_path, monkeypatch):
    from vision_studio.core.models.registry import get_arch

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    spec = get_arch("resnet18")
    assert ws.availability(spec, "IMAGENET1K_V1") == ws.DOWNLOADABLE
    url, _ = ws.weights_url(spec, "IMAGENET1K_V1")
    target = tmp_path / "torch" / "hub" / "checkpoints" / url.rsplit("/", 1)[-1]
    target.parent.mkdir(parents=True)
    target.write_bytes(b"x")
    assert ws.availability(spec, "IMAGENET1K_V1") == ws.DOWNLOADED
    det = get_arch("fasterrcnn_mobilenet_v3_large_320_fpn")
    assert ws.weights_url(det, "backbone:IMAGENET1K_V1")[0].endswith(".pth")


def test_task_choice_and_defaults_from_labels():
    assert advice.allowed_tasks(advice.LabelCounts(tagged=50)) == ["classification"]
    assert advice.allowed_tasks(advice.LabelCounts(boxed=10))[0] == "detection"
    assert advice.allowed_tasks(advice.LabelCounts(boxed=10, polygons=10))[0] == "instance_segmentation"
    assert advice.allowed_tasks(advice.LabelCounts(boxed=5, masks=5))[0] == "semantic_segmentation"
    small = advice.default_hyperparameters("classification", 50, 224)
    large = advice.default_hyperparameters("classification", 5000, 224)
    assert small["epochs"] > large["epochs"] and small["batch_size"] < large["batch_size"]
    assert advice.default_strategy(50, True) == "feature_extraction"
    assert advice.default_strategy(5000, True) == "fine_tune"
    assert advice.default_strategy(5000, False) == "scratch"
    assert np.isfinite(advice.default_hyperparameters("detection", 10, 800)["lr"])
