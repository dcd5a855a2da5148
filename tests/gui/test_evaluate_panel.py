"""The Evaluation panel on a real detection project: ``rbc_coco`` imported with the core
COCO importer, a Faster R-CNN (MobileNetV3-320, random weights) trained for a few steps
with the core Trainer in a session fixture (its predictions are poor but real).

Checked against the evaluation core and the ``vision-studio evaluate`` CLI: the tables'
numbers, TP/FP/FN counts as the score slider moves, the false-positive list, accepting a
prediction (and undoing it), the prediction cache, the PR-curve click, the confusion
matrix cells, cancel, "Open in Annotate" and the report export.
"""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from _eval_fixtures import coco_project, reference_evaluation, shared_data, train_tiny
from vision_studio.cli import main
from vision_studio.core.evaluation.cache import cache_files
from vision_studio.core.evaluation.ground_truth import ground_truth_from_store
from vision_studio.core.evaluation.outcomes import FN, FP, TP, detection_confusion_matrix
from vision_studio.core.evaluation.predictions import RawDetections
from vision_studio.core.store import ProjectStore
from vision_studio.gui.panels.evaluate.panel import EvaluatePanel
from vision_studio.gui.state import AppState

TIMEOUT = 300_000


@pytest.fixture(scope="session")
def rbc_run(tmp_path_factory):
    """``(project, checkpoint)``: rbc_coco train + 8 validation images, a detector trained
    for 4 steps at 256 px."""
    src = shared_data("rbc_coco")
    folder = tmp_path_factory.mktemp("rbc_eval")
    project = coco_project(folder, src, "rbc", val_limit=8)
    ckpt = train_tiny(project, folder / "run", "detection", "fasterrcnn_mobilenet_v3_large_320_fpn",
                      image_size=256, steps=4)
    return project, ckpt


@pytest.fixture
def panel(qtbot, rbc_run):
    """An Evaluation panel on the project, evaluated on ``val`` (CPU, one thread)."""
    torch.set_num_threads(1)
    project, ckpt = rbc_run
    state = AppState()
    state.open_project(project)
    p = EvaluatePanel(state, device="cpu")
    qtbot.addWidget(p)
    p.resize(1300, 800)
    p.show()
    with qtbot.waitSignal(p.evaluated, timeout=TIMEOUT):
        assert p.start(ckpt, "val")
    p.set_display_threshold(0.0)  # a 4-step model scores below the default 0.5: draw every shown one
    yield p
    p.shutdown()
    state.close_project()


def test_tables_equal_the_cli_report(panel, rbc_run, tmp_path, capsys):
    project, ckpt = rbc_run
    out = tmp_path / "report"
    assert main(["evaluate", "--project", str(project), "--checkpoint", str(ckpt), "--split", "val",
                 "--out", str(out), "--device", "cpu", "--overlays", "0"]) == 0
    capsys.readouterr()
    cli = json.loads((out / "metrics.json").read_text())
    assert (cli["score_threshold"], cli["nms_iou"]) == (panel.score, panel.nms) == (0.05, 0.5)
    for name, value in cli["bbox"]["stats"].items():
        assert panel.ui.summary.values[name] == pytest.approx(value, abs=1e-12), name
    for row in cli["bbox"]["per_class"]:
        for col in ("AP", "AP50", "AP75"):
            shown = panel.ui.classes.value(row["category_id"], col)
            assert (math.isnan(shown) and row[col] is None) or shown == pytest.approx(row[col], abs=1e-12)
        assert panel.ui.classes.value(row["category_id"], "GT") == row["num_gt"]
    totals = {k: sum(panel.ui.classes.value(c, k) for c in panel.view.names) for k in (TP, FP, FN)}
    assert totals == cli["bbox"]["outcomes"]
    assert sum(totals.values()) > 0


def test_score_slider_changes_counts_as_the_core_refiltering(panel, qtbot):
    raw = panel.inputs.predictions
    shown = []
    for q in (10, 50, 90):
        v = int(np.floor(np.percentile(raw.scores, q) * 1000))
        panel.ui.score_slider.setValue(v)  # the widget path: value / 1000
        assert panel.score == v / 1000
        ref, _ = reference_evaluation(panel, panel.score, panel.nms)
        for cid in panel.view.names:
            want = ref.outcomes.counts(cid)
            got = {k: int(panel.ui.classes.value(cid, k)) for k in (TP, FP, FN)}
            assert got == want, (panel.score, cid)
        shown.append(sum(panel.ui.classes.value(c, TP) + panel.ui.classes.value(c, FP) for c in panel.view.names))
    assert shown[0] > shown[-1]  # fewer predictions survive a higher threshold
    with qtbot.waitSignal(panel.fullShown, timeout=60_000):
        panel.set_nms_iou(0.3)  # a new NMS IoU: a new base evaluation (worker thread), same rule
    ref, _ = reference_evaluation(panel, panel.score, 0.3)
    cid = next(iter(panel.view.names))
    assert {k: int(panel.ui.classes.value(cid, k)) for k in (TP, FP, FN)} == ref.outcomes.counts(cid)


def test_fp_filter_lists_exactly_the_core_false_positives(panel):
    raw = panel.inputs.predictions
    panel.set_score_threshold(float(np.percentile(raw.scores, 40)))
    panel.ui.filter.setCurrentIndex(panel.ui.filter.findData(FP))
    rows = panel.ui.list_model.payload
    ref, res = reference_evaluation(panel, panel.score, panel.nms)
    o = ref.outcomes
    want = sorted((int(o.dt_image_id[i]), int(o.dt_category_id[i]), round(float(o.dt_score[i]), 5),
                   tuple(res[int(o.dt_id[i]) - 1]["bbox"])) for i in np.flatnonzero(o.dt_kind == FP))
    got = sorted((r.image_id, r.category_id, round(r.score, 5),
                  tuple(round(float(v), 2) for v in (raw.boxes[r.raw_index][0], raw.boxes[r.raw_index][1],
                                                      raw.boxes[r.raw_index][2] - raw.boxes[r.raw_index][0],
                                                      raw.boxes[r.raw_index][3] - raw.boxes[r.raw_index][1])))
                 for r in rows)
    assert len(got) == len(want) > 0
    assert [g[:3] for g in got] == [w[:3] for w in want]
    assert all(np.allclose(g[3], w[3], atol=0.011) for g, w in zip(got, want))
    scores = [r.score for r in rows]
    assert scores == sorted(scores, reverse=True)  # sorted by score
    assert all(r.kind == FP for r in rows)


def test_accept_prediction_adds_one_annotation_and_undo_removes_it(panel):
    store, stack = panel.state.store, panel.state.undo_stack
    panel.ui.filter.setCurrentIndex(panel.ui.filter.findData(FP))
    panel.ui.list.selectRow(0)
    row = panel.ui.list_model.payload[0]
    assert panel.ui.viewer.image_id == row.image_id and panel.ui.viewer.highlighted == row.raw_index
    before = store.annotation_count(row.image_id)
    panel.ui.accept_btn.click()
    assert store.annotation_count(row.image_id) == before + 1
    new = max(store.annotations(row.image_id), key=lambda a: a.id)
    x1, y1, x2, y2 = panel.inputs.predictions.boxes[row.raw_index]
    assert new.category_id == row.category_id and new.attributes["source"] == "model"
    assert np.allclose(new.bbox, (x1, y1, x2 - x1, y2 - y1), atol=1e-3)
    stack.undo()
    assert store.annotation_count(row.image_id) == before
    stack.redo()
    assert store.annotation_count(row.image_id) == before + 1
    stack.undo()
    shown = panel.view.shown_on_image(row.image_id, panel.thresholds)
    ids = panel.accept_all_on_image(row.image_id)
    assert len(ids) == len(shown) > 1 and store.annotation_count(row.image_id) == before + len(shown)
    stack.undo()  # one undo step for the whole image
    assert store.annotation_count(row.image_id) == before


def test_reopening_reads_the_cache(panel, rbc_run, qtbot):
    project, ckpt = rbc_run
    npz, side = cache_files(ckpt, "val")
    assert npz.is_file() and side.is_file()
    cached = RawDetections.load(npz)
    assert np.array_equal(cached.scores, panel.inputs.predictions.scores)
    ap = panel.ui.summary.values["AP"]
    with qtbot.waitSignal(panel.evaluated, timeout=10_000):
        assert panel.start(ckpt, "val")
    assert panel.inputs.from_cache and panel.worker is None
    assert panel.ui.summary.values["AP"] == ap


def test_pr_curve_operating_point_and_click(panel):
    cid = next(iter(panel.view.names))
    panel.ui.classes.select_key(cid)
    assert panel.ui.pr.highlight == cid and cid in panel.ui.pr.curves
    x, y = panel.ui.pr.marker.getData()
    n = panel.view.counts[cid]
    assert x[0] == pytest.approx(n[TP] / n["GT"]) and y[0] == pytest.approx(n[TP] / (n[TP] + n[FP]))
    r, _p, s = panel.view.session.base(panel.nms).coco.pr_curve(cid, 0.5)
    k = int(np.flatnonzero(np.isfinite(s) & (s > 0))[-1])
    picked = panel.ui.pr.score_at_recall(float(r[k]))
    assert picked == pytest.approx(s[k])
    panel.ui.pr.thresholdPicked.emit(picked)
    assert panel.score == pytest.approx(picked - 1e-6)


def test_confusion_cell_lists_its_images(panel):
    panel.recompute()
    cm = panel.ui.confusion.matrix
    K = len(panel.view.names)
    assert cm.shape == (K + 1, K + 1)
    _ref, res = reference_evaluation(panel, panel.score, panel.nms)
    # the core's rule on the whole split, for the detections shown (score > threshold)
    gt = ground_truth_from_store(panel.state.store, panel.inputs.images, panel.inputs.categories)
    want = detection_confusion_matrix(gt, res, [int(c["id"]) for c in panel.inputs.categories], "bbox",
                                      iou_threshold=0.5, score_threshold=0.0)
    assert np.array_equal(cm, want)
    assert cm[K, :K].sum() > 0  # false positives against background
    panel.ui.confusion.cellChosen.emit(K, 0)
    ids = panel.ui.list_model.payload
    assert ids and set(ids) <= {im.id for im in panel.inputs.images}
    assert all((K, 0) in [k for k, v in panel.view.cells.items() if i in v] for i in ids)


def test_cancel_stops_a_running_prediction(panel, qtbot, rbc_run):
    _project, ckpt = rbc_run
    with qtbot.waitSignal(panel.failed, timeout=TIMEOUT) as blocker:
        assert panel.start(ckpt, "train")
        panel.cancel()
    assert blocker.args == ["cancelled"] and panel.worker is None
    assert not cache_files(ckpt, "train")[0].exists()
    assert panel.inputs.split == "val"  # the last evaluation stays shown


def test_open_in_annotate_and_export(panel, qtbot, tmp_path):
    panel.ui.filter.setCurrentIndex(0)  # the image gallery
    panel.ui.list.selectRow(1)
    image_id = panel.ui.list_model.payload[1]
    assert panel.ui.viewer.image_id == image_id and panel.ui.viewer.pred_items
    item = next(iter(panel.ui.viewer.pred_items.values()))
    assert "IoU" in item.toolTip()
    with qtbot.waitSignal(panel.state.showImageRequested) as blocker:
        panel.ui.open_btn.click()
    assert blocker.args == [image_id]
    out = panel.export_report(tmp_path / "rep")
    assert (out / "metrics.json").is_file() and (out / "view.png").stat().st_size > 10_000
    assert list((out / "pr_curves").glob("*.png")) and (out / "confusion_bbox.png").is_file()
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["bbox"]["stats"]["AP"] == pytest.approx(panel.ui.summary.values["AP"])


def test_results_json_uses_the_exported_coco_ids(rbc_run, tmp_path, capsys):
    """Plain pycocotools on ``export --format coco`` + ``evaluate``'s results.json gives
    ``metrics.json``'s numbers (rbc_coco's own category ids 0/1/2 are not the store's)."""
    import contextlib
    import io

    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    project, ckpt = rbc_run
    out, gt_file = tmp_path / "rep", tmp_path / "gt.json"
    assert main(["evaluate", "--project", str(project), "--checkpoint", str(ckpt), "--split", "val",
                 "--out", str(out), "--device", "cpu", "--overlays", "0", "--score-threshold", "0.001"]) == 0
    assert main(["export", "--format", "coco", "--project", str(project), "--split", "val", str(gt_file)]) == 0
    capsys.readouterr()
    metrics = json.loads((out / "metrics.json").read_text())
    exported = json.loads(gt_file.read_text())
    results = json.loads((out / "results.json").read_text())
    assert {r["category_id"] for r in results} <= {c["id"] for c in exported["categories"]}
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO(str(gt_file))
        ev = COCOeval(coco_gt, coco_gt.loadRes(str(out / "results.json")), "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    want = metrics["bbox"]["stats"]
    assert max(want.values()) > 0  # not a trivial all-zero evaluation
    for k, (name, v) in enumerate(want.items()):
        assert ev.stats[k] == pytest.approx(v, abs=1e-12), name


def test_evaluate_and_predict_never_write_over_the_project(rbc_run, tmp_path, capsys):
    project, ckpt = rbc_run
    before = project.read_bytes()
    args = ["--checkpoint", str(ckpt), "--device", "cpu"]
    assert main(["predict", *args, str(project.parent / "x.jpg"), "--out", str(project)]) == 1  # missing image
    with ProjectStore.open(project) as store:
        image = store.resolve(store.images("val")[0])
    assert main(["predict", *args, str(image), "--out", str(project), "--overwrite"]) == 1
    assert "never written over" in capsys.readouterr().err
    assert main(["predict", *args, str(image), "--out", str(image), "--overwrite"]) == 1
    assert project.read_bytes() == before and image.stat().st_size > 0
    out = tmp_path / "p.json"
    assert main(["predict", *args, str(image), "--out", str(out), "--project", str(project)]) == 0
    assert main(["predict", *args, str(image), "--out", str(out)]) == 1  # exists: needs --overwrite
    assert "--overwrite" in capsys.readouterr().err
    rep = tmp_path / "rep"
    rep.mkdir()
    (rep / "mine.txt").write_text("keep")
    assert main(["evaluate", "--project", str(project), *args, "--split", "val", "--out", str(rep),
                 "--overlays", "0"]) == 1
    assert (rep / "mine.txt").read_text() == "keep" and not (rep / "metrics.json").exists()
