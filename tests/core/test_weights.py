"""Weights loading with real files: the verified ImageNet lite0 weights (right top-1 on a
real cat photo through the loader), mapping a classification state_dict into detection /
segmentation backbones, checkpoints, reshape/skip reporting, bad files, downloads with
progress (file:// URLs) and the offline errors."""
from __future__ import annotations

import socket
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from vision_studio.core.errors import ConfigError
from vision_studio.core.models.registry import build_model
from vision_studio.core.models.weights import (WeightsError, download, load_weights,
                                               read_state_dict)
from vision_studio.core.types import Task

pytestmark = pytest.mark.usefixtures("one_thread")

CLS = Task.CLASSIFICATION


def _chelsea_tensor() -> torch.Tensor:
    """scikit-image's ``chelsea`` per the weights README: resize 256 bicubic, centre crop
    224, RGB in [0, 1] normalised with mean 0.5 / std 0.5 → ``[1, 3, 224, 224]``."""
    from PIL import Image
    from skimage import data

    img = Image.fromarray(data.chelsea())
    w, h = img.size
    scale = 256 / min(w, h)
    img = img.resize((round(w * scale), round(h * scale)), Image.BICUBIC)
    left, top = (img.width - 224) // 2, (img.height - 224) // 2
    arr = np.asarray(img.crop((left, top, left + 224, top + 224)), dtype=np.float32) / 255
    return ((torch.from_numpy(arr).permute(2, 0, 1) - 0.5) / 0.5)[None]


def test_lite0_imagenet_weights_classify_a_cat(lite0_weights):
    built = build_model("timm:tf_efficientnet_lite0", CLS, 1000, weights=str(lite0_weights))
    report = built.weights_report
    assert len(report.loaded) == 247 and not report.skipped and not report.missing
    with torch.no_grad():
        probs = built.model.eval()(_chelsea_tensor()).softmax(1)[0]
    top1 = int(probs.argmax())
    assert 281 <= top1 <= 285, top1  # tabby / tiger cat / Persian / Siamese / Egyptian cat
    assert float(probs[281:286].sum()) > 0.5


def test_new_head_is_reported_as_replaced(lite0_weights):
    built = build_model("timm:tf_efficientnet_lite0", CLS, 2, weights=str(lite0_weights))
    report = built.weights_report
    assert sorted(k for k, _ in report.skipped) == ["classifier.bias", "classifier.weight"]
    assert all(why.startswith("head replaced") for _, why in report.skipped)
    assert report.missing == ["classifier.weight", "classifier.bias"]
    assert "2 head replaced" in report.summary()


@pytest.mark.parametrize("arch, task, prefix", [
    ("fasterrcnn_timm:tf_efficientnet_lite0", Task.DETECTION, "backbone.body."),
    ("maskrcnn_timm:tf_efficientnet_lite0", Task.INSTANCE_SEGMENTATION, "backbone.body."),
    ("unet_timm:tf_efficientnet_lite0", Task.SEMANTIC_SEGMENTATION, "encoder.model."),
])
def test_classification_weights_map_into_backbones(lite0_weights, arch, task, prefix):
    sd, _ = read_state_dict(lite0_weights)
    built = build_model(arch, task, 2, weights=str(lite0_weights))
    report = built.weights_report
    assert len(report.loaded) == 240 and report.mapping.endswith(prefix)
    # the 7 classifier-only tensors (conv_head, bn2, classifier) have no place there
    assert sorted(k.removeprefix(prefix) for k, _ in report.skipped) == sorted(
        ["conv_head.weight", "bn2.weight", "bn2.bias", "bn2.running_mean", "bn2.running_var",
         "classifier.weight", "classifier.bias"])
    target = built.model.state_dict()
    for key in ("conv_stem.weight", "blocks.6.0.conv_pwl.weight", "bn1.running_var"):
        assert torch.equal(target[prefix + key], sd[key])
    if task != Task.SEMANTIC_SEGMENTATION:  # pretrained: frozen BN in the detector body
        assert built.options["frozen_bn"] is True


def test_project_checkpoint_with_prefixes_reshape_and_skip(tmp_path):
    src = build_model("resnet18", CLS, 3)
    sd = {f"module.{k}": v.clone() for k, v in src.model.state_dict().items()}
    sd["module.fc.bias"] = sd["module.fc.bias"].reshape(3, 1)  # same numel: reshaped
    sd["module.layer1.0.bn1.weight"] = torch.ones(5)           # wrong size: skipped
    path = tmp_path / "best.pt"
    torch.save({"model": sd, "config": {"arch": "resnet18", "task": CLS}, "epoch": 3}, path)
    dst = build_model("resnet18", CLS, 3)
    report = load_weights(dst, str(path))
    assert report.checkpoint_config == {"arch": "resnet18", "task": CLS}
    assert report.reshaped == ["fc.bias"]
    assert report.skipped == [("layer1.0.bn1.weight", "shape mismatch ([5] vs [64])")]
    assert report.missing == ["layer1.0.bn1.weight"]
    assert torch.equal(dst.model.fc.bias, src.model.fc.bias)
    assert torch.equal(dst.model.layer4[1].conv2.weight, src.model.layer4[1].conv2.weight)


def test_bad_files_give_clear_errors(tmp_path):
    built = build_model("mobilenet_v3_small", CLS, 2)
    with pytest.raises(WeightsError, match="not found: .*missing.pth"):
        load_weights(built, str(tmp_path / "missing.pth"))
    bad = tmp_path / "corrupt.pth"
    bad.write_bytes(b"this is not a pickle")
    with pytest.raises(WeightsError, match="cannot read weights file .*corrupt.pth"):
        load_weights(built, str(bad))
    other = tmp_path / "other.pth"
    torch.save({"foo.weight": torch.zeros(3)}, other)
    with pytest.raises(WeightsError, match="none of the 1 tensors"):
        load_weights(built, str(other))
    nested = tmp_path / "nested.pth"
    torch.save({"epoch": 1, "optimizer": {}}, nested)
    with pytest.raises(WeightsError, match="no state_dict found"):
        load_weights(built, str(nested))
    with pytest.raises(ConfigError, match="valid names: IMAGENET1K_V1, DEFAULT"):
        load_weights(built, "IMAGENET")


def test_download_reports_progress_and_checks_hash(tmp_path):
    import hashlib

    payload = bytes(range(256)) * 5000  # 1.28 MB: two 1 MiB chunks
    src = tmp_path / "src.bin"
    src.write_bytes(payload)
    calls: list[tuple[int, int]] = []
    sha = hashlib.sha256(payload).hexdigest()[:8]
    dst = download(src.as_uri(), tmp_path / "cache" / f"w-{sha}.pth",
                   progress=lambda d, t: calls.append((d, t)))
    assert dst.read_bytes() == payload
    assert calls[-1] == (len(payload), len(payload)) and len(calls) == 2
    with pytest.raises(WeightsError, match="SHA-256 does not match"):
        download(src.as_uri(), tmp_path / "cache" / "w-deadbeef.pth")
    assert not (tmp_path / "cache" / "w-deadbeef.pth").exists()
    with pytest.raises(WeightsError, match="cannot download weights .*put it at"):
        download("http://127.0.0.1:9/nothing-here.pth", tmp_path / "x.pth", timeout=5)


def test_library_weights_come_from_the_torch_hub_cache(tmp_path, monkeypatch):
    """A file already in torch.hub's cache is used as is (no network needed)."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    ref = build_model("resnet18", CLS, 1000)
    cache = tmp_path / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    torch.save(ref.model.state_dict(), cache / "resnet18-f37072fd.pth")
    built = build_model("resnet18", CLS, 5, weights="IMAGENET1K_V1")
    assert len(built.weights_report.loaded) == 100 and built.model.fc.out_features == 5
    assert torch.equal(built.model.conv1.weight, ref.model.conv1.weight)
    # backbone weights of a detector come from the same classification file
    det = build_model("fasterrcnn_fpn:resnet18", Task.DETECTION, 2,
                      weights="backbone:IMAGENET1K_V1")
    assert torch.equal(det.model.backbone.body.layer1[0].conv1.weight,
                       ref.model.layer1[0].conv1.weight)


def _online() -> bool:
    try:
        socket.create_connection(("download.pytorch.org", 443), timeout=2).close()
        return True
    except OSError:
        return False


def test_offline_library_weights_say_what_to_download(tmp_path, monkeypatch):
    if _online():
        pytest.skip("network available: the offline message cannot be shown here")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(WeightsError) as err:
        build_model("resnet18", CLS, 2, weights="IMAGENET1K_V1")
    msg = str(err.value)
    assert "https://download.pytorch.org/models/resnet18-f37072fd.pth" in msg
    assert str(tmp_path / "hub" / "checkpoints" / "resnet18-f37072fd.pth") in msg
    assert "use a weights file" in msg and "choose None" in msg
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)  # no retries
    with pytest.raises(WeightsError, match="huggingface.co/timm/tf_efficientnet_lite0.in1k"):
        build_model("timm:tf_efficientnet_lite0", CLS, 2, weights="in1k")


def test_a_download_can_be_cancelled_and_leaves_no_partial_file(tmp_path):
    from vision_studio.core.models.weights import DownloadCancelled
    from vision_studio.core.training.cancel import CancelToken

    src = tmp_path / "src.bin"
    src.write_bytes(bytes(3 << 20))  # three 1 MiB chunks
    token, calls = CancelToken(), []

    def progress(done: int, total: int) -> None:
        calls.append(done)
        if done >= 1 << 20:
            token.cancel()  # what the GUI's Cancel button does

    dst = tmp_path / "cache" / "w.pth"
    with pytest.raises(DownloadCancelled, match="cancelled"):
        download(src.as_uri(), dst, progress=progress, cancel=token)
    assert calls == [1 << 20] and not dst.exists()
    assert not dst.with_name("w.pth.part").exists()


_OFFLINE_CHILD = """
import sys, time
from vision_studio.core.models.registry import build_model
from vision_studio.core.models.weights import WeightsError, load_weights
built = build_model(sys.argv[1], "classification", 2)
t = time.perf_counter()  # the download attempt alone, not the imports and the model
try:
    load_weights(built, sys.argv[2])
except WeightsError as exc:
    print(f"{time.perf_counter() - t:.2f}")
    print(exc)
"""


@pytest.mark.parametrize("arch, weights", [("resnet18", "IMAGENET1K_V1"),
                                           ("timm:tf_efficientnet_lite0", "in1k")])
def test_offline_for_real_fails_within_seconds_with_what_to_do(tmp_path, arch, weights):
    """A child process behind an unreachable proxy (no mock): the library-weights download
    fails in well under 10 s, saying to use a weights file or choose None."""
    import os
    import subprocess
    import sys

    proxy = "http://127.0.0.1:9"
    env = dict(os.environ, HTTPS_PROXY=proxy, HTTP_PROXY=proxy, https_proxy=proxy,
               http_proxy=proxy, TORCH_HOME=str(tmp_path), HF_HOME=str(tmp_path / "hf"),
               NO_PROXY="", no_proxy="")
    started = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", _OFFLINE_CHILD, arch, weights], env=env,
                         capture_output=True, text=True, timeout=120,
                         cwd=Path(__file__).resolve().parents[2])
    lines = out.stdout.splitlines()
    assert len(lines) >= 2, out.stderr[-2000:]
    print(f"{arch}: failed after {lines[0]} s in the child ({time.perf_counter() - started:.1f}"
          f" s with interpreter start): {lines[1]}")
    assert float(lines[0]) < 10
    assert "use a weights file" in lines[1] and "choose None" in lines[1]
