"""Grad-CAM / EigenCAM heatmaps (issue 16 item 3) on real images, with the model
randomisation sanity check of Adebayo et al. (NeurIPS 2018, "Sanity checks for saliency
maps"): the heatmaps of the trained network (timm tf_efficientnet_lite0 with its real
ImageNet weights, the shared file) must differ clearly from those of the same network
re-initialised at random — a map that survives randomisation shows the input, not the
model."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr

from tests.conftest import EFFICIENTNET_LITE0, shared_dataset
from tests.core._checkpoints import make_checkpoint
from vision_studio.cli import main
from vision_studio.core.types import Task

pytestmark = pytest.mark.usefixtures("one_thread")

IMAGENET_ANT, IMAGENET_BEE = 310, 309




def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    import cv2

    small = [cv2.resize(m, (32, 32), interpolation=cv2.INTER_AREA).ravel() for m in (a, b)]
    return float(spearmanr(*small).statistic)


def test_randomised_model_heatmaps_differ(tmp_path):
    if not EFFICIENTNET_LITE0.is_file():
        pytest.skip("the shared ImageNet weights are absent")
    from vision_studio.core.explain.cam import explain_checkpoint

    images = sorted((shared_dataset("hymenoptera") / "val" / "ants").glob("*.jpg"))[:4]
    names = [f"c{k}" for k in range(1000)]
    trained = make_checkpoint(tmp_path / "trained", Task.CLASSIFICATION, "timm:tf_efficientnet_lite0", names,
                              image_size=224, weights=str(EFFICIENTNET_LITE0))
    rand = make_checkpoint(tmp_path / "random", Task.CLASSIFICATION, "timm:tf_efficientnet_lite0", names,
                           image_size=224, images=images, seed=1)
    ht = explain_checkpoint(trained, images, target=f"c{IMAGENET_ANT}")
    hr = explain_checkpoint(rand, images, target=f"c{IMAGENET_ANT}")
    again = explain_checkpoint(trained, images[:1], target=f"c{IMAGENET_ANT}")
    rho = [_spearman(a.input_cam, b.input_cam) for a, b in zip(ht, hr)]  # the crop the model saw
    print("ImageNet ant probability of the trained model:", [round(h.score, 3) for h in ht])
    print("Spearman rank correlation trained vs randomised heatmaps:", [round(r, 3) for r in rho])
    assert all(h.cam.shape == _shape(p)[:2] for h, p in zip(ht, images))
    assert all(h.cam.std() > 0.05 for h in ht)  # the trained maps are not flat
    assert _spearman(ht[0].input_cam, again[0].input_cam) > 0.999  # deterministic: the same model gives the same map
    assert np.mean(rho) < 0.5 and max(rho) < 0.7


def _shape(path):
    from vision_studio.core.images import read_image

    return read_image(path).shape


@pytest.mark.slow
def test_explain_cli_classification_and_detection(tmp_path, capsys):
    from PIL import Image

    hym = sorted((shared_dataset("hymenoptera") / "val" / "bees").glob("*.jpg"))[:2]
    ckpt = make_checkpoint(tmp_path / "cls", Task.CLASSIFICATION, "resnet18", ["ants", "bees"], image_size=64,
                           images=hym)
    out = tmp_path / "cams"
    assert main(["explain", "--checkpoint", str(ckpt), *map(str, hym), "--out", str(out), "--class", "bees"]) == 0
    rows = json.loads((out / "explain.json").read_text())
    assert [r["explains"] for r in rows] == ["bees", "bees"] and rows[0]["method"] == "gradcam"
    png = Image.open(out / rows[0]["overlay"])
    assert png.size == Image.open(hym[0]).size
    # never into a non-empty folder without --overwrite; a bad class is one line
    assert main(["explain", "--checkpoint", str(ckpt), str(hym[0]), "--out", str(out)]) == 1
    assert main(["explain", "--checkpoint", str(ckpt), str(hym[0]), "--out", str(tmp_path / "x"),
                 "--class", "wasps"]) == 1
    err = capsys.readouterr().err
    assert "wasps" in err and all(line.startswith("error:") for line in err.strip().splitlines())

    rbc = sorted((shared_dataset("rbc_coco") / "valid").glob("*.jpg"))[:1]
    det = make_checkpoint(tmp_path / "det", Task.DETECTION, "fasterrcnn_mobilenet_v3_large_320_fpn",
                          ["rbc", "wbc"], image_size=320, images=rbc)
    assert main(["explain", "--checkpoint", str(det), str(rbc[0]), "--out", str(tmp_path / "dcam"),
                 "--score-threshold", "0.0"]) == 0
    row = json.loads((tmp_path / "dcam" / "explain.json").read_text())[0]
    assert row["method"] == "eigencam" and row["boxes"] > 0
    arr = np.asarray(Image.open(tmp_path / "dcam" / row["overlay"]))
    assert arr.shape[:2] == (416, 416)
