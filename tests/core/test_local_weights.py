"""Issue 19 item 1: shipped and previously downloaded weights are found by themselves,
``vision-studio models`` marks them, the default architecture per task is one whose
weights are here, and loading them needs no network (an unreachable proxy)."""
from __future__ import annotations

import shutil

import pytest

from vision_studio.cli import main
from vision_studio.core.models import local_weights as lw
from vision_studio.core.models.catalog import draft_spec
from vision_studio.core.models.shipped import CURATED, markdown_table
from vision_studio.core.training.defaults import default_arch

DEAD_PROXY = "http://127.0.0.1:9"  # the discard port: every connection is refused


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """No network (an unreachable proxy), empty torch.hub / Hugging Face caches, no
    shipped folders but the test's own, an empty user data folder."""
    for var in ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy", "ALL_PROXY"):
        monkeypatch.setenv(var, DEAD_PROXY)
    for var in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("VISION_STUDIO_HOME", str(tmp_path / "home"))
    monkeypatch.delenv(lw.ENV_VAR, raising=False)
    return tmp_path


@pytest.fixture
def shipped(offline, monkeypatch, lite0_weights):
    """A "shipped weights" folder holding a copy of the verified lite0 file."""
    folder = offline / "shipped"
    folder.mkdir()
    shutil.copyfile(lite0_weights, folder / "tf_efficientnet_lite0.in1k.pth")  # copied, never moved
    monkeypatch.setenv(lw.ENV_VAR, str(folder))
    return folder


def test_nothing_here_means_the_configured_defaults(offline):
    spec = draft_spec("timm:tf_efficientnet_lite0")
    assert lw.local_weights(spec) == [] and not lw.on_computer(spec, "DEFAULT")
    assert default_arch("classification") == "resnet18"
    assert default_arch("detection") == "fasterrcnn_mobilenet_v3_large_320_fpn"


def test_shipped_file_is_found_and_drives_every_default(shipped):
    spec = draft_spec("timm:tf_efficientnet_lite0")
    assert lw.find_local(spec, "in1k") == shipped / "tf_efficientnet_lite0.in1k.pth"
    assert lw.local_weights(spec) == ["DEFAULT", "in1k"]
    assert lw.default_weights(spec) == "DEFAULT"
    assert default_arch("classification") == "timm:tf_efficientnet_lite0"
    for task in ("detection", "instance_segmentation", "semantic_segmentation"):
        arch = default_arch(task)
        assert arch.endswith(":tf_efficientnet_lite0"), (task, arch)
        assert lw.default_weights(draft_spec(arch)) == "backbone:DEFAULT"


def test_user_data_and_hub_cache_folders_count_too(offline, lite0_weights):
    spec = draft_spec("resnet18")
    hub = offline / "torch" / "hub" / "checkpoints"
    hub.mkdir(parents=True)
    (hub / "resnet18-f37072fd.pth").write_bytes(b"x")  # found by name; read when loaded
    assert lw.on_computer(spec, "IMAGENET1K_V1") and lw.on_computer(spec, "DEFAULT")
    assert default_arch("classification") == "resnet18"
    user = offline / "home" / "weights"
    user.mkdir(parents=True)
    shutil.copyfile(lite0_weights, user / "tf_efficientnet_lite0.in1k.pth")
    assert lw.shipped_dirs()[0] == user
    assert lw.on_computer(draft_spec("unet_timm:tf_efficientnet_lite0"), "backbone:in1k")


def test_loads_shipped_weights_with_the_network_down(shipped):
    from vision_studio.core.models.registry import build_model

    import torch

    in_file = [k for k in torch.load(shipped / "tf_efficientnet_lite0.in1k.pth", weights_only=True)
               if not k.endswith("num_batches_tracked")]
    built = build_model("timm:tf_efficientnet_lite0", "classification", 2, weights="DEFAULT")
    report = built.weights_report
    assert len(report.loaded) == len(in_file) - 2  # everything but the 1000-class head
    assert report.missing == ["classifier.weight", "classifier.bias"]
    det = build_model("fasterrcnn_timm:tf_efficientnet_lite0", "detection", 3,
                      weights="backbone:DEFAULT")
    stages = [k for k in in_file if not k.startswith(("classifier.", "conv_head.", "bn2."))]
    assert sorted(det.weights_report.loaded) == sorted(f"backbone.body.{k}" for k in stages)


def test_models_command_marks_weights_on_this_computer(shipped, capsys):
    assert main(["models", "--task", "classification"]) == 0
    out = capsys.readouterr().out
    line = next(l for l in out.splitlines() if "timm:tf_efficientnet_lite0" in l)
    assert "on this computer: DEFAULT, in1k" in line
    assert not any("on this computer" in l for l in out.splitlines() if l.strip().startswith("resnet18"))
    assert str(shipped) in out
    assert main(["models", "--arch", "timm:tf_efficientnet_lite0"]) == 0
    assert "in1k (on this computer)" in capsys.readouterr().out


def test_curated_set_names_licences_and_sizes():
    table = markdown_table()
    assert len(CURATED) >= 3 and all(w.licence and w.size_mb > 0 for w in CURATED)
    assert "tf_efficientnet_lite0.in1k.safetensors" in table and "resnet18-f37072fd.pth" in table
    from pathlib import Path
    doc = (Path(__file__).resolve().parents[2] / "docs" / "weights.md").read_text()
    for w in CURATED:  # the docs list every shipped file
        assert w.file_name in doc
