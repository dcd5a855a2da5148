"""'Open predictions file…' in the Evaluation panel (issue 16 item 5, GUI half): a COCO
results file made by another tool gets the whole review of a checkpoint.

A real project (``rbc_coco``: train + 8 validation images, imported with the core COCO
importer) and a results file made from the dataset's own ground truth — boxes jittered,
15 % dropped, random false positives, random scores — keyed by the original COCO ids (the
project's COCO export keeps them). The panel's numbers are checked against the core
``evaluate_coco`` run on the same file against the dataset's own ground-truth JSON (not the
project); bad files (an unknown image, not JSON, a classification project) are one
warning dialog with the core's message, and the panel keeps what it showed.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PySide6.QtWidgets import QMessageBox

from _eval_fixtures import coco_project, evaluate_panel, hymenoptera_project, shared_data
from vision_studio.core.evaluation.coco_eval import evaluate_coco
from vision_studio.core.evaluation.outcomes import FP
from vision_studio.core.store import ProjectStore
from vision_studio.gui.panels.evaluate.sources import is_results, recent_results

TIMEOUT = 120_000


@pytest.fixture(scope="module")
def rbc(tmp_path_factory):
    """``(project, good results file, bad results file, ground-truth dict)``."""
    src = shared_data("rbc_coco")
    folder = tmp_path_factory.mktemp("rbc_results")
    project = coco_project(folder, src, "rbc", val_limit=8)
    with ProjectStore.open(project, readonly=True) as store:
        names = {Path(im.path).name for im in store.images("val")}
    coco = json.loads((src / "valid" / "_annotations.coco.json").read_text())
    images = [im for im in coco["images"] if Path(im["file_name"]).name in names]
    ids = {im["id"] for im in images}
    gt = {"images": images, "categories": coco["categories"],
          "annotations": [{**a, "id": k + 1}  # the dataset's ids start at 0, which COCOeval never matches
                          for k, a in enumerate(a for a in coco["annotations"] if a["image_id"] in ids)]}
    assert len(images) == 8 and len(gt["annotations"]) > 50
    rng = np.random.default_rng(7)
    results = []
    for a in gt["annotations"]:
        if rng.random() < 0.15:
            continue
        x, y, w, h = (float(v) + rng.normal(0, 2.0) for v in a["bbox"])
        results.append({"image_id": a["image_id"], "category_id": a["category_id"],
                        "bbox": [x, y, max(w, 1.0), max(h, 1.0)], "score": float(rng.uniform(0.2, 1.0))})
    cats = sorted({a["category_id"] for a in gt["annotations"]})
    for im in images:
        for _ in range(4):
            x, y = rng.uniform(0, im["width"] - 40), rng.uniform(0, im["height"] - 40)
            results.append({"image_id": im["id"], "category_id": int(rng.choice(cats)),
                            "bbox": [x, y, 30.0, 30.0], "score": float(rng.uniform(0.06, 0.7))})
    good = folder / "yolo_val.json"
    good.write_text(json.dumps(results))
    bad = folder / "other_dataset.json"
    bad.write_text(json.dumps(results[:3] + [{**results[3], "image_id": 987654}]))
    return project, good, bad, gt


@pytest.fixture
def panel(qtbot, rbc):
    torch.set_num_threads(1)
    p = evaluate_panel(qtbot, rbc[0])
    yield p
    p.shutdown()
    p.state.close_project()


def _open(panel, qtbot, path) -> None:
    with qtbot.waitSignal(panel.evaluated, timeout=TIMEOUT):
        assert panel.open_results(path, "val")


def _reference(gt: dict, path: Path, score: float):
    results = [r for r in json.loads(path.read_text()) if r["score"] > score]
    return evaluate_coco(gt, results, "bbox")


def test_opening_a_results_file_gives_the_core_metrics(panel, rbc, qtbot):
    _project, good, _bad, gt = rbc
    panel.set_nms_iou(1.0)  # the file's own detections, unfiltered: what evaluate_coco gets
    panel.set_score_threshold(0.0)
    _open(panel, qtbot, good)
    ref = _reference(gt, good, 0.0)
    assert ref.stats["AP"] > 0.3  # jittered ground truth: a real, non-trivial AP
    for name, value in ref.stats.items():
        assert panel.ui.summary.values[name] == pytest.approx(value, abs=1e-12), name
    row = [panel.ui.summary.item(r, 0).text() for r in range(panel.ui.summary.rowCount())].index("AP")
    assert panel.ui.summary.item(row, 1).text() == f"{ref.stats['AP']:.3f}"  # what the user reads
    # what is reviewed is visible: the file in the source choice and the status line
    assert is_results(panel.ui.checkpoint) and "yolo_val.json" in panel.ui.checkpoint.currentText()
    assert "predictions of yolo_val.json" in panel.ui.status.text()
    assert panel.ui.score_slider.isEnabled() and panel.ui.tabs.isTabEnabled(1)

    with qtbot.waitSignal(panel.fullShown, timeout=TIMEOUT):
        panel.ui.score_slider.setValue(500)  # the widget path: score > 0.5
    ref5 = _reference(gt, good, 0.5)
    assert ref5.stats["AP"] != pytest.approx(ref.stats["AP"], abs=1e-6)
    for name, value in ref5.stats.items():
        assert panel.ui.summary.values[name] == pytest.approx(value, abs=1e-12), name


def test_accepting_a_prediction_of_the_file_writes_an_annotation(panel, rbc, qtbot):
    _open(panel, qtbot, rbc[1])
    store = panel.state.store
    panel.ui.filter.setCurrentIndex(panel.ui.filter.findData(FP))  # browse the file's false positives
    panel.ui.list.selectRow(0)
    row = panel.ui.list_model.payload[0]
    assert row.kind == FP and panel.ui.viewer.image_id == row.image_id
    assert panel.ui.viewer.highlighted == row.raw_index
    before = store.annotation_count(row.image_id)
    panel.ui.accept_btn.click()
    assert store.annotation_count(row.image_id) == before + 1
    new = max(store.annotations(row.image_id), key=lambda a: a.id)
    x1, y1, x2, y2 = panel.inputs.predictions.boxes[row.raw_index]
    assert np.allclose(new.bbox, (x1, y1, x2 - x1, y2 - y1), atol=1e-3)
    assert new.source == "model:yolo_val.json"
    assert new.attributes["checkpoint"] == str(rbc[1]) and new.attributes["score"] == round(row.score, 5)
    panel.state.undo_stack.undo()
    assert store.annotation_count(row.image_id) == before


def _error_boxes(panel) -> list[QMessageBox]:
    return [b for b in panel.findChildren(QMessageBox) if b.isVisible()]


def test_a_bad_file_is_one_dialog_and_the_previous_review_stays(panel, rbc, qtbot, tmp_path):
    _project, good, bad, _gt = rbc
    _open(panel, qtbot, good)
    view, values, status = panel.view, dict(panel.ui.summary.values), panel.ui.status.text()
    not_json = tmp_path / "broken.json"
    not_json.write_text("[{'image_id': 1")
    files = {im["id"]: im["file_name"] for im in _gt["images"]}  # keyed by file name (the ids of train and
    by_name = tmp_path / "by_name.json"  # val overlap in rbc_coco): results of val, opened on train
    by_name.write_text(json.dumps([{**r, "image_id": files[r["image_id"]]} for r in json.loads(good.read_text())]))
    for path, split, words in ((bad, "val", "image id 987654"), (not_json, "val", "not valid JSON"),
                               (by_name, "train", "these results are of the images of split 'val': choose 'val'")):
        with qtbot.waitSignal(panel.failed, timeout=TIMEOUT) as failed:
            assert panel.open_results(path, split)
        boxes = _error_boxes(panel)
        assert len(boxes) == 1 and words in boxes[0].text() and path.name in boxes[0].text(), failed.args
        assert words in failed.args[0]
        assert panel.view is view and panel.ui.summary.values == values and panel.ui.status.text() == status
        assert "yolo_val.json" in panel.ui.checkpoint.currentText()
        assert panel.ui.evaluate_btn.isEnabled() and panel.ui.results_btn.isEnabled()
        assert panel.ui.score_slider.isEnabled()
        boxes[0].close()
    assert panel.open_results(good, "val")
    assert panel.ui.cancel_btn.isVisible() and not panel.ui.evaluate_btn.isVisible()  # in Evaluate's place
    panel.ui.cancel_btn.click()  # reading a file is dropped at once: no dialog, the review stays
    assert not panel._opening and not _error_boxes(panel) and panel.view is view
    assert panel.ui.evaluate_btn.isVisible() and not panel.ui.cancel_btn.isVisible()
    assert panel.ui.status.text() == status and panel.ui.evaluate_btn.isEnabled()
    names = [panel.ui.checkpoint.itemText(i) for i in range(panel.ui.checkpoint.count())]
    assert not any("other_dataset" in n or "broken" in n for n in names)  # only reviewed files are kept


def test_the_reviewed_file_stays_choosable(panel, rbc, qtbot):
    _project, good, _bad, _gt = rbc
    _open(panel, qtbot, good)
    combo = panel.ui.checkpoint
    assert recent_results(panel.state.store.path)[0] == good
    panel.refresh_choices()  # e.g. a run finished
    assert is_results(combo) and combo.currentData() == str(good)
    panel.state.close_project()
    panel.clear()
    panel.state.open_project(rbc[0])  # a later session of the same project (settings kept)
    i = combo.findData(str(good))
    assert i >= 0 and is_results(combo, i)
    combo.setCurrentIndex(i)
    with qtbot.waitSignal(panel.evaluated, timeout=TIMEOUT):
        panel.ui.evaluate_btn.click()  # Evaluate on a chosen predictions file reviews it again
    assert "predictions of yolo_val.json" in panel.ui.status.text()
    assert panel.refresh()  # Refresh metrics re-reads the file against the new labels
    qtbot.waitUntil(lambda: not panel._opening and not panel.computing(), timeout=TIMEOUT)
    assert "predictions of yolo_val.json" in panel.ui.status.text()


def test_results_for_a_classification_project_are_refused(qtbot, tmp_path, rbc):
    project = hymenoptera_project(tmp_path, shared_data("hymenoptera"))
    p = evaluate_panel(qtbot, project)
    try:
        before = p.ui.status.text()
        with qtbot.waitSignal(p.failed, timeout=TIMEOUT):
            assert p.open_results(rbc[1], "val")
        boxes = _error_boxes(p)
        assert len(boxes) == 1 and "no box or mask annotations" in boxes[0].text()
        assert p.view is None and p.ui.status.text() == before and p.ui.checkpoint.count() == 0
    finally:
        p.shutdown()
        p.state.close_project()


def test_the_report_names_the_results_file_and_never_replaces_it(panel, rbc, qtbot, tmp_path):
    from vision_studio.core.errors import VisionStudioError

    own = tmp_path / "results.json"  # what the report folder's own results file is called
    own.write_bytes(rbc[1].read_bytes())
    _open(panel, qtbot, own)
    with pytest.raises(VisionStudioError, match="would replace the predictions file"):
        panel.export_report(tmp_path, overwrite=True)
    assert own.read_bytes() == rbc[1].read_bytes()
    out = panel.export_report(tmp_path / "report")
    meta = json.loads((out / "metrics.json").read_text())
    assert meta["results"] == str(own) and "checkpoint" not in meta
    assert meta["bbox"]["stats"]["AP"] == pytest.approx(panel.ui.summary.values["AP"], abs=1e-12)
