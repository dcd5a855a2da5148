"""``vision-studio evaluate --results FILE.json``: a COCO results file made elsewhere gets
the checkpoint path's metrics (issue 16 item 5): the ``results.json`` that ``evaluate
--checkpoint`` writes, read back, gives the same ``metrics.json`` numbers; file names
work as keys; unknown images / categories are one-line errors."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from tests.conftest import shared_dataset
from tests.core._checkpoints import make_checkpoint
from vision_studio.cli import main
from vision_studio.core.store import ProjectStore
from vision_studio.core.types import Task


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory):
    """An rbc_coco project (train + 6 val images), a checkpoint and its evaluate report."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    tmp = tmp_path_factory.mktemp("ext")
    src = shared_dataset("rbc_coco")
    from vision_studio.core.io.coco import read_coco

    project = tmp / "rbc.vsproj"
    with ProjectStore.create(project, root=src) as store:
        read_coco(store, src / "valid" / "_annotations.coco.json", split="val")
        for im in store.images("val")[6:]:
            store.delete_image(im.id)
        cats = [{"id": c.id, "name": c.name} for c in store.categories() if c.name in ("rbc", "wbc")]
        images = [store.resolve(im) for im in store.images("val")]
    ckpt = make_checkpoint(tmp / "run", Task.DETECTION, "fasterrcnn_mobilenet_v3_large_320_fpn", cats,
                           image_size=320, images=images[:3])
    out = tmp / "eval_ckpt"
    assert main(["evaluate", "--project", str(project), "--checkpoint", str(ckpt), "--out", str(out),
                 "--device", "cpu", "--overlays", "0"]) == 0
    yield project, out, tmp
    torch.set_num_threads(old)


def _stats(folder: Path) -> dict:
    return json.loads((folder / "metrics.json").read_text())["bbox"]["stats"]


def test_results_file_gives_the_checkpoint_metrics(evaluated, capsys):
    project, out, tmp = evaluated
    results = json.loads((out / "results.json").read_text())
    assert len(results) > 10
    rc = main(["evaluate", "--project", str(project), "--results", str(out / "results.json"),
               "--out", str(tmp / "eval_ext"), "--overlays", "0"])
    assert rc == 0, capsys.readouterr().err
    ref, got = _stats(out), _stats(tmp / "eval_ext")
    print("checkpoint path", ref, "\nresults file   ", got)
    assert set(ref) == set(got)
    for k in ref:
        assert got[k] == pytest.approx(ref[k], abs=1e-9), k
    meta = json.loads((tmp / "eval_ext" / "metrics.json").read_text())
    assert meta["results"].endswith("results.json") and "checkpoint" not in meta


def test_file_names_as_keys(evaluated, capsys):
    project, out, tmp = evaluated
    gt = json.loads((shared_dataset("rbc_coco") / "valid" / "_annotations.coco.json").read_text())
    names = {im["id"]: im["file_name"] for im in gt["images"]}
    results = [{**r, "image_id": names[r["image_id"]]} for r in json.loads((out / "results.json").read_text())]
    (tmp / "by_name.json").write_text(json.dumps(results))
    assert main(["evaluate", "--project", str(project), "--results", str(tmp / "by_name.json"),
                 "--out", str(tmp / "eval_names"), "--overlays", "0"]) == 0
    assert _stats(tmp / "eval_names") == pytest.approx(_stats(out), abs=1e-9)


@pytest.mark.parametrize("change, words", [
    ({"image_id": 987654}, "image id 987654"),
    ({"image_id": "nope.jpg"}, "'nope.jpg'"),
    ({"category_id": 77}, "category id 77"),
    ({"bbox": [1, 2]}, "bbox"),
])
def test_unknown_images_and_categories_are_one_line_errors(evaluated, capsys, change, words):
    project, out, tmp = evaluated
    results = json.loads((out / "results.json").read_text())
    results[3] = {**results[3], **change}
    bad = tmp / "bad.json"
    bad.write_text(json.dumps(results))
    rc = main(["evaluate", "--project", str(project), "--results", str(bad), "--out", str(tmp / "eval_bad"),
               "--overwrite"])
    err = capsys.readouterr().err.strip()
    print(err)
    assert rc == 1 and len(err.splitlines()) == 1 and err.startswith("error:")
    assert "result 3" in err and words in err and str(bad) in err


def test_ground_truth_as_results_is_perfect(evaluated):
    """The dataset's own annotations as results (original COCO ids, kept on import): AP 1.
    A wrong image or category mapping would put boxes on the wrong images / classes."""
    project, out, tmp = evaluated
    gt = json.loads((shared_dataset("rbc_coco") / "valid" / "_annotations.coco.json").read_text())
    with ProjectStore.open(project) as store:
        kept = {im.extra.get("coco_id") for im in store.images("val")}
    results = [{"image_id": a["image_id"], "category_id": a["category_id"], "bbox": a["bbox"], "score": 1.0}
               for a in gt["annotations"] if a["image_id"] in kept]
    (tmp / "gt.json").write_text(json.dumps(results))
    assert main(["evaluate", "--project", str(project), "--results", str(tmp / "gt.json"),
                 "--out", str(tmp / "eval_gt"), "--overlays", "0", "--nms-iou", "1"]) == 0  # dense cells overlap
    stats = _stats(tmp / "eval_gt")
    assert stats["AP50"] == pytest.approx(1.0) and stats["AP"] == pytest.approx(1.0)
    shifted = [{**r, "category_id": 3 - r["category_id"]} for r in results]  # rbc <-> wbc
    (tmp / "swapped.json").write_text(json.dumps(shifted))
    assert main(["evaluate", "--project", str(project), "--results", str(tmp / "swapped.json"),
                 "--out", str(tmp / "eval_sw"), "--overlays", "0", "--nms-iou", "1"]) == 0
    assert _stats(tmp / "eval_sw")["AP50"] < 0.1
