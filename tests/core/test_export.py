"""Model export round trips (issue 16): one model per task exported to ONNX (and
TorchScript for two), run with onnxruntime against PyTorch on real images; ``predict
--model`` writes the same results as ``predict --checkpoint``; the sidecar; bad input.

Models are registry models with ``weights=None`` whose BatchNorm statistics are set from
the images (tests/core/_checkpoints.py), so that their outputs are alive and scores
not tied.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.conftest import shared_dataset
from tests.core._checkpoints import make_checkpoint
from vision_studio.cli import main
from vision_studio.core.types import Task

pytestmark = pytest.mark.usefixtures("one_thread")




def _images(name: str, sub: str, n: int, pattern: str = "*.jpg") -> list[Path]:
    return sorted((shared_dataset(name) / sub).glob(pattern))[:n]


def _export(ckpt: Path, fmt: str, out: Path, samples: list[Path], capsys) -> dict:
    rc = main(["export-model", "--checkpoint", str(ckpt), "--format", fmt, "--out", str(out),
               "--samples", *map(str, samples)])
    text = capsys.readouterr().out
    print(text)
    assert rc == 0, text
    assert "max |difference| vs PyTorch" in text
    return json.loads(out.with_name(out.name + ".json").read_text())


def _predict_both(ckpt: Path, model: Path, images: list[Path], tmp: Path) -> tuple:
    a, b = tmp / "pt.json", tmp / "onnx.json"
    assert main(["predict", "--checkpoint", str(ckpt), *map(str, images), "--out", str(a), "--device", "cpu",
                 "--batch-size", "1"]) == 0
    assert main(["predict", "--model", str(model), *map(str, images), "--out", str(b)]) == 0
    return json.loads(a.read_text()), json.loads(b.read_text())


def test_classification_onnx_and_torchscript(tmp_path, capsys):
    images = _images("hymenoptera", "val/ants", 3) + _images("hymenoptera", "val/bees", 2)
    ckpt = make_checkpoint(tmp_path / "run", Task.CLASSIFICATION, "resnet18", ["ants", "bees"],
                           image_size=64, images=images)
    meta = _export(ckpt, "onnx", tmp_path / "m.onnx", images[:3], capsys)
    assert meta["check"]["passed"] and meta["check"]["max_abs_diff"]["logits"] <= 1e-4
    assert meta["opset"] >= 17 and meta["input"]["image_size"] == 64
    assert [c["name"] for c in meta["categories"]] == ["ants", "bees"]
    pt, ox = _predict_both(ckpt, tmp_path / "m.onnx", images, tmp_path)
    assert [r["class"] for r in pt["images"]] == [r["class"] for r in ox["images"]]
    diff = max(np.abs(np.array(r["probs"]) - np.array(s["probs"])).max() for r, s in zip(pt["images"], ox["images"]))
    print("classification probs max |diff|", diff)
    assert diff < 1e-5
    # a dynamic batch: 5 images in one call of the ONNX model
    from vision_studio.core.export.runtime import ExportedModel

    em = ExportedModel(tmp_path / "m.onnx")
    assert em.predict(images, batch_size=5).probs.shape == (5, 2)
    ts = _export(ckpt, "torchscript", tmp_path / "m.ts", images[:2], capsys)
    assert ts["check"]["passed"] and ts["check"]["max_abs_diff"]["logits"] <= 1e-4


@pytest.mark.slow
def test_semantic_onnx(tmp_path, capsys):
    images = _images("camvid_small", "val", 3, "*.png")
    names = ["Sky", "Building", "Pole", "Road"]
    ckpt = make_checkpoint(tmp_path / "run", Task.SEMANTIC_SEGMENTATION, "lraspp_mobilenet_v3_large", names,
                           image_size=96, images=images)
    meta = _export(ckpt, "onnx", tmp_path / "s.onnx", images[:2], capsys)
    assert meta["check"]["passed"] and meta["check"]["max_abs_diff"]["logits"] <= 1e-4
    from vision_studio.core.evaluation.checkpoint_predict import predict_checkpoint
    from vision_studio.core.export.runtime import ExportedModel

    ref, _, _ = predict_checkpoint(ckpt, images, device="cpu")
    got = ExportedModel(tmp_path / "s.onnx").predict(images)
    for a, b in zip(ref.label_maps, got.label_maps):
        assert a.shape == b.shape
        assert (a != b).mean() < 1e-3  # argmax ties at pixel level only


def _same_detections(pt: list, ox: list) -> float:
    assert len(pt) == len(ox) > 0
    assert [(r["image_id"], r["category_id"]) for r in pt] == [(r["image_id"], r["category_id"]) for r in ox]
    return max(float(np.abs(np.array(r["bbox"]) - np.array(s["bbox"])).max()) for r, s in zip(pt, ox))


def test_detection_onnx_dynamic_size_and_predict(tmp_path, capsys):
    root = shared_dataset("rbc_coco") / "valid"
    images = sorted(root.glob("*.jpg"))[:3]
    ckpt = make_checkpoint(tmp_path / "run", Task.DETECTION, "fasterrcnn_mobilenet_v3_large_320_fpn",
                           ["rbc", "wbc"], image_size=320, images=images)
    meta = _export(ckpt, "onnx", tmp_path / "d.onnx", images[:2], capsys)
    check = meta["check"]
    assert check["passed"] and check["count_mismatch"] == 0 and check["detections"] > 0
    assert check["boxes_relative"] <= 1e-3 and check["max_abs_diff"]["scores"] <= 1e-4
    assert meta["postprocess"]["nms_iou"] == 0.5 and meta["postprocess"]["score_threshold"] == 0.05
    pt, ox = _predict_both(ckpt, tmp_path / "d.onnx", images, tmp_path)
    print("detection COCO results max |bbox diff|", _same_detections(pt, ox))
    assert _same_detections(pt, ox) <= 0.02  # results are rounded to 0.01 px
    # dynamic image size: a non-square crop goes through the same graph
    from vision_studio.core.export.runtime import ExportedModel
    from vision_studio.core.images import read_image

    em = ExportedModel(tmp_path / "d.onnx")
    crop = np.ascontiguousarray(read_image(images[0])[:200, :350])
    out = em.run(em.prepare(crop).numpy())
    assert out[0].shape[1] == 4 and out[0].shape[0] == out[2].shape[0] > 0


@pytest.mark.slow
def test_instance_segmentation_onnx(tmp_path, capsys):
    root = shared_dataset("brain_tumor_coco_seg") / "valid"
    images = sorted(root.glob("*.jpg"))[:2]
    ckpt = make_checkpoint(tmp_path / "run", Task.INSTANCE_SEGMENTATION, "maskrcnn_fpn:mobilenet_v3_large",
                           ["Tumor"], image_size=256, images=images)
    meta = _export(ckpt, "onnx", tmp_path / "i.onnx", images, capsys)
    check = meta["check"]
    assert check["passed"] and check["detections"] > 0 and "masks" in check["max_abs_diff"]
    print("mask IoU pooled", check["mask_iou_pooled"], "min", check["mask_iou_min"],
          "mask prob max |diff|", check["max_abs_diff"]["masks"])
    assert check["mask_iou_pooled"] >= 0.99
    pt, ox = _predict_both(ckpt, tmp_path / "i.onnx", images, tmp_path)
    _same_detections(pt, ox)
    assert all("segmentation" in r for r in ox)


@pytest.mark.slow
def test_detection_torchscript(tmp_path, capsys):
    root = shared_dataset("rbc_coco") / "valid"
    images = sorted(root.glob("*.jpg"))[:2]
    ckpt = make_checkpoint(tmp_path / "run", Task.DETECTION, "fasterrcnn_mobilenet_v3_large_320_fpn",
                           ["rbc", "wbc"], image_size=320, images=images)
    meta = _export(ckpt, "torchscript", tmp_path / "d.ts", images, capsys)
    assert meta["check"]["passed"] and meta["check"]["boxes_relative"] <= 1e-3


def test_errors_are_one_line(tmp_path, capsys):
    images = _images("hymenoptera", "val/ants", 1)
    ckpt = make_checkpoint(tmp_path / "run", Task.CLASSIFICATION, "resnet18", ["ants", "bees"], image_size=32)
    (tmp_path / "m.onnx").write_bytes(b"mine")
    rc = main(["export-model", "--checkpoint", str(ckpt), "--format", "onnx", "--out", str(tmp_path / "m.onnx"),
               "--samples", str(images[0])])
    err = capsys.readouterr().err
    assert rc == 1 and err.startswith("error:") and len(err.strip().splitlines()) == 1
    assert (tmp_path / "m.onnx").read_bytes() == b"mine"  # never overwritten without --overwrite
    rc = main(["export-model", "--checkpoint", str(ckpt), "--format", "onnx", "--out", str(tmp_path / "n.onnx")])
    assert rc == 1 and "--samples" in capsys.readouterr().err
    rc = main(["predict", "--model", str(tmp_path / "m.onnx"), str(images[0]), "--out", str(tmp_path / "r.json")])
    err = capsys.readouterr().err
    assert rc == 1 and "sidecar" in err and len(err.strip().splitlines()) == 1
