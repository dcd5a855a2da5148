"""Box label errors (ObjectLab) on real rbc_coco blood-smear boxes.

The mapping is tested with the boxes as they were before an edit used as perfect
predictions (probability 1): a deleted box must come back as ``overlooked_box``, a box
shifted by half its size as ``bad_box``, a box given the other class as
``swapped_class``. The ``--checkpoint`` path runs a real (tiny, untrained) detector
checkpoint end to end through the CLI.
"""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from vision_studio.cli import main
from vision_studio.core.geometry import xywh_to_xyxy
from vision_studio.core.health.boxes import (_objectlab_prediction, _per_class_ap, box_issues,
                                             images_from_annotations)
from vision_studio.core.health.from_checkpoint import held_out_images
from vision_studio.core.io.coco import read_coco
from vision_studio.core.store import ProjectStore

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT.parent / "shared" / "data" / "rbc_coco"
pytestmark = pytest.mark.skipif(not DATA.is_dir(), reason="needs ../shared/data/rbc_coco")


def _iou_any(box, others) -> bool:
    x, y, w, h = box
    return any(min(x + w, a + c) > max(x, a) and min(y + h, b + d) > max(y, b)
               for a, b, c, d in others)


@pytest.fixture(scope="module")
def edited(tmp_path_factory):
    """(project, reference boxes, {kind: annotation or box}): 4 validation images; one
    isolated box deleted, one shifted by half its size, one rbc relabelled wbc."""
    tmp = tmp_path_factory.mktemp("boxes")
    path = tmp / "rbc.vsproj"
    with ProjectStore.create(path, root=DATA) as store:
        read_coco(store, DATA / "valid" / "_annotations.coco.json", split="val")
        for im in store.images()[4:]:
            store.delete_image(im.id)
        cats = {c.name: c.id for c in store.categories()}
        anns = store.annotations_by_image()
        ref = {iid: [(a.category_id, a.bbox) for a in v] for iid, v in anns.items()}
        ims = store.images()
        lone = next(a for im in ims for a in anns[im.id] if not _iou_any(
            a.bbox, [b.bbox for b in anns[im.id] if b.id != a.id]))
        store.delete_annotations([lone.id])
        others = [im for im in ims if im.id != lone.image_id]
        shift = next(a for a in anns[others[0].id] if a.category_id == cats["rbc"])
        x, y, w, h = shift.bbox
        store.update_annotation(replace(shift, bbox=(x + w / 2, y + h / 2, w, h)))
        swap = next(a for a in anns[others[1].id] if a.category_id == cats["rbc"])
        store.update_annotation(replace(swap, category_id=cats["wbc"]))
        used = [cats["rbc"], cats["wbc"]]
        pairs = images_from_annotations(store, [im.id for im in ims], used, ref)
    return path, pairs, {"overlooked_box": lone, "bad_box": shift, "swapped_class": swap}


def test_injected_box_errors_are_flagged_and_ranked_first(edited) -> None:
    _, pairs, injected = edited
    issues = sorted(box_issues(pairs, ["rbc", "wbc"]), key=lambda i: -i.score)
    lone, shift, swap = injected["overlooked_box"], injected["bad_box"], injected["swapped_class"]
    over = [i for i in issues if i.kind == "overlooked_box"]
    # the deleted box, and the shifted box's old place (nothing given covers it now)
    assert {i.image_id for i in over} <= {lone.image_id, shift.image_id}
    back = [i for i in over if i.image_id == lone.image_id
            and i.suggested_bbox == pytest.approx(lone.bbox, abs=0.01)]
    assert len(back) == 1 and back[0].bbox is None and back[0].suggested in ("rbc", "wbc")
    bad = {i.annotation_id: i for i in issues if i.kind == "bad_box"}
    # the suggestion is the most similar predicted box of the class: in this dense scene
    # a neighbour overlaps the shifted box more than its own original does
    refs = [tuple(np.round(p.pred_boxes[k], 2)) for p in pairs if p.image_id == shift.image_id
            for k in range(len(p.pred_boxes))]
    assert shift.id in bad and bad[shift.id].bbox != pytest.approx(shift.bbox, abs=0.01)
    assert xywh_to_xyxy(bad[shift.id].suggested_bbox) in [pytest.approx(r, abs=0.02) for r in refs]
    assert bad[shift.id].given == bad[shift.id].suggested == "rbc"
    swapped = {i.annotation_id: i for i in issues if i.kind == "swapped_class"}
    assert swapped[swap.id].given == "wbc" and swapped[swap.id].suggested == "rbc"
    top = {(i.kind, i.annotation_id if i.annotation_id is not None else i.image_id)
           for i in issues[:6]}
    assert {("overlooked_box", lone.image_id), ("bad_box", shift.id),
            ("swapped_class", swap.id)} <= top
    js = json.loads(json.dumps([i.to_json() for i in issues]))
    assert {"kind", "file_name", "score", "given", "suggested", "bbox", "suggested_bbox",
            "annotation_id"} <= set(next(j for j in js if j["kind"] == "bad_box"))


def test_untouched_images_with_perfect_predictions_have_no_located_errors(edited) -> None:
    _, pairs, injected = edited
    touched = {a.image_id for a in injected.values()}
    issues = box_issues(pairs, ["rbc", "wbc"])
    assert not [i for i in issues if i.image_id not in touched
                and i.kind in ("overlooked_box", "bad_box")]


def test_in_process_thresholds_equal_cleanlabs(edited) -> None:
    from cleanlab.object_detection.filter import _get_per_class_ap

    _, pairs, _ = edited
    labels = [{"bboxes": p.boxes.astype(np.float32), "labels": p.labels} for p in pairs[:3]]
    preds = [_objectlab_prediction(p, 2) for p in pairs[:3]]
    mine, theirs = _per_class_ap(labels, preds, 2), _get_per_class_ap(labels, preds)
    assert mine == pytest.approx({k: float(v) for k, v in theirs.items()}, abs=1e-6)


def test_cli_checkpoint_on_held_out_images(tmp_path: Path, capsys) -> None:
    """A real detector checkpoint (2 steps, random weights): find-errors predicts the
    images it did not train on, says so, and writes box kinds in the JSON."""
    import sys

    sys.path.insert(0, str(ROOT / "tests" / "gui"))
    from _eval_fixtures import coco_project, train_tiny

    project = coco_project(tmp_path, DATA, "rbc", val_limit=3)
    ckpt = train_tiny(project, tmp_path / "run", "detection",
                      "fasterrcnn_mobilenet_v3_large_320_fpn", image_size=128, steps=2)
    with ProjectStore.open(project) as store:
        held, how = held_out_images(store, ckpt)
        assert {im.split for im in held} == {"val"} and len(held) == 3
    out = tmp_path / "issues.json"
    assert main(["find-errors", "--project", str(project), "--checkpoint", str(ckpt),
                 "--device", "cpu", "--json", str(out)]) == 0
    text = capsys.readouterr()
    assert "3 images outside its training split" in text.err and "not out-of-fold" in text.err
    assert "overlooked_box" in text.out and "swapped_class" in text.out
    issues = json.loads(out.read_text())
    assert all(i["kind"] in ("overlooked_box", "bad_box", "swapped_class") for i in issues)
    assert {i["file_name"] for i in issues} <= {im.path for im in held}
    assert main(["find-errors", "--project", str(project), "--checkpoint",
                 str(tmp_path / "nope.pt")]) == 1
