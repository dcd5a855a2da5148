"""Report pictures (matplotlib, Agg) and the ``evaluate`` / ``predict`` commands end to end
with a checkpoint written in the agreed format, on real rbc_coco images."""
from __future__ import annotations

import json

import numpy as np
import pytest

from tests.core.coco_synth import load_gt, renumbered, synth_results
from vision_studio.core.evaluation.coco_eval import evaluate_coco
from vision_studio.core.evaluation.report import (
    save_confusion_matrix,
    save_iou_histogram,
    save_overlay,
    save_pr_curves,
    write_metrics_json,
)


def _png_ok(path, min_size=(200, 200)):
    from PIL import Image

    with Image.open(path) as im:
        assert im.format == "PNG" and im.size[0] >= min_size[0] and im.size[1] >= min_size[1]
        arr = np.asarray(im.convert("RGB"))
    assert arr.std() > 5  # something drawn, not a blank canvas


def test_report_pictures_on_real_data(data_dir, tmp_path):
    from vision_studio.core.images import read_image

    root = data_dir("brain_tumor_coco_seg")
    _, gt = load_gt(root)
    gt = renumbered(gt)
    res = synth_results(gt, seed=5, segm=True)
    r = evaluate_coco(gt, res, "segm")
    paths = save_pr_curves(r, tmp_path / "pr")
    assert len(paths) == 1 and "Tumor" in paths[0].name  # the unused category 0 has no curve
    _png_ok(paths[0])
    cm = np.array([[5, 1, 2], [0, 7, 1], [3, 0, 0]])
    _png_ok(save_confusion_matrix(cm, ["a", "b", "background"], tmp_path / "cm.png"))
    _png_ok(save_iou_histogram(r.outcomes.matched_ious(), tmp_path / "iou.png"))
    img = next(i for i in gt["images"] if any(a["image_id"] == i["id"] for a in gt["annotations"]))
    g = [a for a in gt["annotations"] if a["image_id"] == img["id"]]
    p = [x for x in res if x["image_id"] == img["id"]]
    out = save_overlay(read_image(root / "valid" / img["file_name"]), g, p, {0: "Tumor", 1: "Tumor"},
                       tmp_path / "ov" / "o.png")
    _png_ok(out, (600, 600))
    m = write_metrics_json(tmp_path / "metrics.json", {"segm": r.to_dict(), "cm": cm, "x": float("nan")})
    back = json.loads(m.read_text())
    assert back["cm"] == cm.tolist() and back["x"] is None and back["segm"]["stats"]["AP"] == r.stats["AP"]


@pytest.fixture
def rbc_project(tmp_path, data_dir):
    """A project with 3 real rbc_coco images (split val) and their boxes, plus a
    Faster R-CNN checkpoint (random weights) in the agreed checkpoint format."""
    import torch

    from vision_studio.core.store import ProjectStore
    from vision_studio.core.types import Annotation, ImageRecord

    root = data_dir("rbc_coco") / "valid"
    gt = json.loads((root / "_annotations.coco.json").read_text())
    store = ProjectStore.create(tmp_path / "p.vsproj", root=root)
    cats = {c["id"]: store.add_category(c["name"]) for c in gt["categories"] if c["id"] in (1, 2)}
    recs = store.add_images([ImageRecord(path=i["file_name"], width=i["width"], height=i["height"], split="val")
                             for i in gt["images"][:3]])
    ids = {i["id"]: r.id for i, r in zip(gt["images"][:3], recs)}
    store.add_annotations([Annotation(image_id=ids[a["image_id"]], category_id=cats[a["category_id"]].id,
                                      bbox=tuple(a["bbox"])) for a in gt["annotations"] if a["image_id"] in ids])
    store.close()
    from vision_studio.core.models.registry import build_model
    from vision_studio.core.training.checkpoints import save_checkpoint
    from vision_studio.core.training.config import TrainConfig

    categories = [{"id": c.id, "name": c.name} for c in cats.values()]
    torch.manual_seed(0)
    arch = "fasterrcnn_mobilenet_v3_large_320_fpn"
    built = build_model(arch, "detection", len(categories), weights=None)
    config = TrainConfig(task="detection", arch=arch, weights=None, image_size=320)
    ckpt = tmp_path / "run" / "best.pt"
    ckpt.parent.mkdir()
    save_checkpoint(ckpt, {"model": built.model.state_dict(), "config": config.to_dict(),
                           "num_classes": len(categories), "categories": categories,
                           "class_names": [c["name"] for c in categories], "epoch": 1})
    return tmp_path / "p.vsproj", ckpt, [root / i["file_name"] for i in gt["images"][:3]]


def test_evaluate_and_predict_commands(rbc_project, tmp_path, capsys):
    from vision_studio.cli import main

    project, ckpt, images = rbc_project
    out = tmp_path / "report"
    assert main(["evaluate", "--project", str(project), "--checkpoint", str(ckpt), "--out", str(out),
                 "--score-threshold", "0.01", "--overlays", "2", "--backend", "pycocotools"]) == 0
    text = capsys.readouterr().out
    assert "COCO bbox (pycocotools)" in text and "AP50" in text and "rbc" in text and "wbc" in text
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["bbox"]["stats"]) >= {"AP", "AP50", "AR100"}
    assert [c["name"] for c in metrics["bbox"]["per_class"]] == ["rbc", "wbc"]
    assert len(metrics["bbox"]["confusion_matrix"]) == 3
    assert len(list((out / "pr_curves").glob("*.png"))) == 2 and (out / "confusion_bbox.png").is_file()
    assert len(list((out / "overlays").glob("*.png"))) == 2
    results = json.loads((out / "results.json").read_text())
    assert results and {"image_id", "category_id", "bbox", "score"} <= set(results[0])

    pred = tmp_path / "pred" / "results.json"
    assert main(["predict", "--checkpoint", str(ckpt), *map(str, images[:2]), "--out", str(pred),
                 "--overlays", str(tmp_path / "ov"), "--score-threshold", "0.01"]) == 0
    res = json.loads(pred.read_text())
    assert {r["image_id"] for r in res} <= {1, 2} and len(list((tmp_path / "ov").glob("*.png"))) == 2

    assert main(["predict", "--checkpoint", str(ckpt), str(tmp_path / "missing.jpg"), "--out", str(pred)]) == 1
    assert "no such image file" in capsys.readouterr().err


def test_predict_slices_a_large_image_and_says_so(rbc_project, tmp_path, capsys):
    """`vision-studio predict` on a 2496 px mosaic of rbc images: sliced inference by
    default (the settings are printed), whole-image with --slice off, bad values refused."""
    from PIL import Image

    from vision_studio.cli import main
    from vision_studio.core.images import read_image

    _, ckpt, images = rbc_project
    tile = read_image(images[0])
    big = tmp_path / "mosaic.png"
    Image.fromarray(np.tile(tile, (6, 6, 1))).save(big)  # 2496 x 2496 px
    out = tmp_path / "sliced.json"
    assert main(["predict", "--checkpoint", str(ckpt), str(big), "--out", str(out), "--score-threshold", "0.01"]) == 0
    text = capsys.readouterr().out
    assert "sliced inference: tile=320" in text and "merge=nms" in text
    res = json.loads(out.read_text())
    assert all(r["bbox"][0] + r["bbox"][2] <= 2496 + 1e-3 for r in res)
    assert main(["predict", "--checkpoint", str(ckpt), str(big), "--out", str(tmp_path / "whole.json"),
                 "--slice", "off"]) == 0
    assert "sliced inference" not in capsys.readouterr().out
    assert main(["predict", "--checkpoint", str(ckpt), str(big), "--out", str(tmp_path / "x.json"),
                 "--slice", "tiny"]) == 1
    assert "--slice: 'tiny' is not auto, off or a tile size" in capsys.readouterr().err
