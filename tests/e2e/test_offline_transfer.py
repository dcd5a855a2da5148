"""Issue 19 item 1: with the network down (an unreachable proxy) and the verified lite0
ImageNet file in a "shipped weights" folder, the demo project trains a classifier with
transfer learning from the Model panel's default architecture, weights and strategy."""
from __future__ import annotations

import logging
import shutil

import pytest
import torch
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from vision_studio.core.demo import build_demo_project
from vision_studio.core.models.local_weights import ENV_VAR
from vision_studio.gui.panels.model.panel import ModelPanel
from vision_studio.gui.panels.monitor.panel import MonitorPanel
from vision_studio.gui.state import AppState

DEAD_PROXY = "http://127.0.0.1:9"
TIMEOUT = 300_000


@pytest.fixture
def offline_with_shipped(monkeypatch, tmp_path, lite0_weights):
    for var in ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy", "ALL_PROXY"):
        monkeypatch.setenv(var, DEAD_PROXY)
    for var in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))  # empty caches
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("VISION_STUDIO_HOME", str(tmp_path / "home"))
    shipped = tmp_path / "shipped"
    shipped.mkdir()
    shutil.copyfile(lite0_weights, shipped / "tf_efficientnet_lite0.in1k.pth")  # a copy
    monkeypatch.setenv(ENV_VAR, str(shipped))
    return tmp_path


def test_demo_trains_a_pretrained_classifier_offline_from_the_defaults(
        qtbot, offline_with_shipped, caplog, monkeypatch):
    torch.set_num_threads(1)
    project = build_demo_project(offline_with_shipped / "demo")
    state = AppState()
    state.engine.torch_threads = 1
    model, monitor = ModelPanel(state), MonitorPanel(state)
    for w in (model, monitor):
        qtbot.addWidget(w)
        w.resize(1200, 800)
        w.show()
    try:
        state.open_project(project)
        assert model.arch.current_task() == "classification"
        assert model.arch.arch.currentData() == "timm:tf_efficientnet_lite0"
        assert model.arch.current_weights() == "DEFAULT"
        assert "on this computer" in model.arch.weights.currentText()
        # only the run length is shortened; architecture, weights and strategy are the defaults
        model.hyper.w["epochs"].setValue(1)
        model.hyper.w["max_steps_per_epoch"].setValue(2)
        model.hyper.w["image_size"].setValue(64)
        asked = []  # the pre-training checks on 19 photos: the user answers "Start anyway"
        monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: asked.append(a[2]) or
                            QMessageBox.StandardButton.Yes)
        caplog.set_level(logging.INFO)
        with qtbot.waitSignal(state.engine.runEnded, timeout=TIMEOUT) as done:
            qtbot.mouseClick(model.start, Qt.MouseButton.LeftButton)
        assert done.args[0].status == "finished", done.args[0]
        lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("weights DEFAULT")]
        assert lines and "loaded" in lines[0], lines
        assert not any("weights" in q.lower() or "internet" in q.lower() for q in asked), asked
    finally:
        assert state.engine.shutdown(TIMEOUT)
        state.close_project()
