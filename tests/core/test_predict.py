"""Prediction: raw detections re-filtered afterwards equal a run with those thresholds;
COCO results export; masks as RLE; classification and semantic predictions."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from vision_studio.core.evaluation.coco_eval import evaluate_coco
from vision_studio.core.evaluation.predict import (
    RawDetections,
    predict_classification,
    predict_detections,
    predict_semantic,
    raw_mode,
)

CATS = [{"id": 1, "name": "rbc"}, {"id": 2, "name": "wbc"}]


@pytest.fixture(scope="module")
def rbc_images(request):
    from tests.conftest import shared_dataset

    root = shared_dataset("rbc_coco") / "valid"
    gt = json.loads((root / "_annotations.coco.json").read_text())
    imgs = gt["images"][:3]
    gt = {"images": imgs, "categories": gt["categories"],
          "annotations": [a for a in gt["annotations"] if a["image_id"] in {i["id"] for i in imgs}]}
    return [root / i["file_name"] for i in imgs], [i["id"] for i in imgs], gt


@pytest.fixture(scope="module")
def detector():
    from torchvision.models.detection import fasterrcnn_mobilenet_v3_large_320_fpn

    torch.manual_seed(0)
    model = fasterrcnn_mobilenet_v3_large_320_fpn(weights=None, weights_backbone=None, num_classes=3)
    # Random weights give dead features and tied scores (no order to compare): set the
    # BatchNorm statistics from a few random images so that activations are alive.
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None
    model.backbone.train()
    with torch.no_grad():
        model.backbone(torch.rand(2, 3, 224, 224))
    return model.eval()


def _rerun(model, paths, thr, nms):
    """The model's own filtering with these thresholds (the reference)."""
    from vision_studio.core.images import read_image

    model.roi_heads.score_thresh, model.roi_heads.nms_thresh = thr, nms
    model.roi_heads.detections_per_img = 100
    with torch.inference_mode():
        x = [torch.from_numpy(read_image(p)).permute(2, 0, 1).float() / 255.0 for p in paths]
        return model(x[:2]) + model(x[2:])  # same batches as predict_detections(batch_size=2)


def test_refilter_equals_rerun_with_thresholds(rbc_images, detector):
    paths, ids, gt = rbc_images
    raw = predict_detections(detector, paths, CATS, image_ids=ids, score_floor=0.001,
                             raw_max_per_image=5000, batch_size=2)
    assert len(raw) > 100 and raw.image_sizes.tolist() == [[416, 416]] * 3
    saved = {a: getattr(detector.roi_heads, a) for a in ("score_thresh", "nms_thresh", "detections_per_img")}
    try:
        for thr, nms in [(0.05, 0.5), (0.3, 0.3)]:
            keep = raw.filter(thr, nms, max_per_image=100)
            ref = _rerun(detector, paths, thr, nms)
            for k, out in enumerate(ref):
                mine = keep[raw.img_index[keep] == k]
                assert len(mine) == len(out["boxes"]) > 0
                np.testing.assert_allclose(raw.boxes[mine], out["boxes"].numpy(), rtol=0, atol=1e-4)
                np.testing.assert_array_equal(raw.labels[mine], out["labels"].numpy())
                np.testing.assert_allclose(raw.scores[mine], out["scores"].numpy(), rtol=0, atol=1e-6)
            ref_results = [{"image_id": ids[k], "category_id": int(l), "score": float(s),
                            "bbox": [float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])]}
                           for k, o in enumerate(ref) for b, l, s in zip(o["boxes"], o["labels"], o["scores"])]
            a = evaluate_coco(gt, raw.to_coco_results(keep), "bbox").stats
            b = evaluate_coco(gt, ref_results, "bbox").stats
            assert a == pytest.approx(b, abs=1e-3)  # results are rounded to 0.01 px
    finally:
        for k, v in saved.items():
            setattr(detector.roi_heads, k, v)
    assert detector.roi_heads.nms_thresh == saved["nms_thresh"]


def test_filter_semantics_on_constructed_detections():
    # image 0: two overlapping boxes of label 1 (IoU 0.81) and one of label 2 on top;
    # image 1: 150 disjoint boxes.
    boxes = [[0, 0, 10, 10], [0, 0, 10, 9], [0, 0, 10, 10]] + [[20 * i, 0, 20 * i + 10, 10] for i in range(150)]
    raw = RawDetections(
        image_ids=np.array([7, 8]), image_sizes=np.array([[100, 100], [100, 3000]]), paths=("", ""),
        categories=CATS, label_offset=1, img_index=np.array([0, 0, 0] + [1] * 150),
        boxes=np.array(boxes, np.float32), scores=np.array([0.9, 0.8, 0.3] + list(np.linspace(0.99, 0.01, 150)), np.float32),
        labels=np.array([1, 1, 2] + [1] * 150), score_floor=0.001)
    keep = raw.filter(0.05, 0.5, max_per_image=100)
    assert keep[:2].tolist() == [0, 2]  # class-wise NMS drops box 1, keeps the other label
    assert (raw.img_index[keep] == 1).sum() == 100  # capped per image, best scores first
    assert np.all(np.diff(raw.scores[keep[2:]]) < 0)
    assert raw.filter(0.05, 0.9).tolist()[:3] == [0, 1, 2]  # IoU 0.9 keeps both
    assert raw.filter(0.85, 1.0).tolist() == [0] + [3 + i for i in range(22)]  # strict score > thr
    res = raw.to_coco_results(keep[:2])
    assert res[0] == {"image_id": 7, "category_id": 1, "bbox": [0.0, 0.0, 10.0, 10.0], "score": 0.9}
    assert res[1]["category_id"] == 2


def test_mask_predictions_are_rle_at_image_size(tmp_path, rbc_images):
    from pycocotools import mask as mask_utils
    from torchvision.models.detection import maskrcnn_resnet50_fpn

    paths, ids, _ = rbc_images
    torch.manual_seed(0)
    model = maskrcnn_resnet50_fpn(weights=None, weights_backbone=None, num_classes=3,
                                  min_size=128, max_size=128, rpn_post_nms_top_n_test=20)
    raw = predict_detections(model, paths[:1], CATS, image_ids=ids[:1], score_floor=0.01, image_size=128)
    assert raw.masks is not None and len(raw.masks) == len(raw) > 0
    assert raw.masks[0]["size"] == [416, 416] and isinstance(raw.masks[0]["counts"], str)
    assert raw.boxes[:, 2:].max() > 128  # boxes scaled back to the original 416 px
    assert model.roi_heads.score_thresh == 0.05  # restored
    decoded = mask_utils.decode({"size": raw.masks[0]["size"], "counts": raw.masks[0]["counts"].encode()})
    assert decoded.shape == (416, 416)
    raw.save(tmp_path / "raw.npz")
    back = RawDetections.load(tmp_path / "raw.npz")
    assert back.masks == raw.masks and np.array_equal(back.boxes, raw.boxes) and list(back.categories) == CATS
    res = back.to_coco_results(back.filter(0.01, 0.5))
    assert "segmentation" in res[0]
    json.dumps(res)


def test_raw_mode_rejects_a_classifier():
    from vision_studio.core.errors import ConfigError

    with pytest.raises(ConfigError, match="not a torchvision detector"):
        with raw_mode(torch.nn.Linear(2, 2), 0.01, 10):
            pass


def test_classification_and_semantic_predictions():
    rng = np.random.default_rng(0)
    imgs = [rng.integers(0, 255, (40, 50, 3), dtype=np.uint8), rng.integers(0, 255, (30, 20, 3), dtype=np.uint8)]
    torch.manual_seed(0)
    clf = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
                              torch.nn.Linear(4, 3))
    p = predict_classification(clf, imgs, ["a", "b", "c"], (0.5,) * 3, (0.25,) * 3, image_size=32)
    assert p.probs.shape == (2, 3) and np.allclose(p.probs.sum(1), 1, atol=1e-6)
    seg = torch.nn.Conv2d(3, 3, 1)
    s = predict_semantic(seg, imgs, ["x", "y", "z"], (0.5,) * 3, (0.25,) * 3, image_size=32)
    assert [m.shape for m in s.label_maps] == [(40, 50), (30, 20)] and s.label_maps[0].dtype == np.uint8
    assert s.label_maps[0].max() < 3
