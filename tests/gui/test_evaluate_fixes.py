"""Evaluate UX (issues 12 and 19), driven through the real widgets: the first image shows
as soon as an evaluation opens; predictions are drawn from a display threshold (0.5)
while the counts and lists use every score above the score threshold; a prediction or a
tag accepted from the error list updates its row and the overlay at once and the metrics
say they are out of date, with a one-click refresh; classification hides the score /
NMS controls and "Accept prediction" accepts the predicted tag."""
from __future__ import annotations

import os

import numpy as np
import pytest
from PySide6.QtGui import QColor

from _eval_fixtures import evaluate_panel, synthetic_detection_project
from vision_studio.core.store import ProjectStore
from vision_studio.core.types import ImageRecord
from vision_studio.gui.panels.evaluate.panel import DEFAULT_DISPLAY, EvaluatePanel

TIMEOUT = 120_000


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    return synthetic_detection_project(tmp_path_factory.mktemp("eval_fixes"), 24, dets_per_image=30)


def _open(qtbot, project, ckpt) -> EvaluatePanel:
    p = evaluate_panel(qtbot, project)
    with qtbot.waitSignal(p.evaluated, timeout=TIMEOUT):
        assert p.start(ckpt, "val")
    return p


@pytest.fixture
def det(qtbot, synthetic, tmp_path):
    import shutil

    project, ckpt = synthetic
    copy = tmp_path / "copy"  # accepting writes to the project: a copy per test
    shutil.copytree(project.parent, copy)
    p = _open(qtbot, copy / project.name, copy / ckpt.relative_to(project.parent))
    yield p
    p.shutdown()
    p.state.close_project()


def _pixel(viewer) -> QColor:
    img = viewer.image_item.pixmap().toImage()
    return img.pixelColor(img.width() // 2, img.height() // 2)


def test_first_image_shows_when_the_evaluation_opens(det, qtbot):
    p = det
    first = p.ui.list_model.payload[0]
    assert p.ui.viewer.image_id == int(first) and p.ui.list.currentIndex().row() == 0
    path = p.state.store.resolve(p.view.images[int(first)])
    from vision_studio.core.images import read_image

    want = read_image(path)[64, 64]
    assert int(want[0]) != 40  # the dark place shown until the decoded pixels arrive
    qtbot.waitUntil(lambda: _pixel(p.ui.viewer).red() == int(want[0]), timeout=10_000)
    assert p.ui.viewer.pred_items  # overlays drawn over it


def test_predictions_are_drawn_from_the_display_threshold(det, qtbot):
    p = det
    assert p.ui.display_spin.value() == DEFAULT_DISPLAY == 0.5 and p.score < 0.5
    p.ui.filter.setCurrentIndex(p.ui.filter.findData("all"))
    listed = [r.score for r in p.ui.list_model.payload]
    assert min(listed) < 0.5 < max(listed)  # the list and counts use every score above 0.05
    tp_before = p.ui.classes.value(next(iter(p.view.names)), "TP")
    image_id = p.ui.viewer.image_id
    scores = p.inputs.predictions.scores
    drawn = set(p.ui.viewer.pred_items)
    assert drawn and all(scores[i] >= 0.5 for i in drawn)
    above = set(p.view.shown_on_image(image_id, p.thresholds.__class__(p.score, p.nms, 0.0)))
    assert drawn == {i for i in above if scores[i] >= 0.5} and len(above) > len(drawn)
    p.ui.display_spin.setValue(0.0)
    assert set(p.ui.viewer.pred_items) == above
    assert p.ui.classes.value(next(iter(p.view.names)), "TP") == tp_before  # metrics unchanged


def test_accepted_prediction_updates_row_overlay_and_refresh(det, qtbot):
    p = det
    p.set_display_threshold(0.0)
    p.ui.filter.setCurrentIndex(p.ui.filter.findData("FP"))
    p.ui.list.selectRow(0)
    row = p.ui.list_model.payload[0]
    gt_before = len(p.ui.viewer.gt_items)
    n_gt = sum(p.ui.classes.value(k, "GT") for k in p.view.names)
    assert not p.ui.refresh_btn.isVisible()
    p.ui.accept_btn.click()
    assert p.ui.list_model.rows[0][0] == "accepted"  # the row, at once
    assert len(p.ui.viewer.gt_items) == gt_before + 1  # the new annotation drawn as ground truth
    assert p.ui.refresh_btn.isVisible() and "out of date" in p.ui.status.text()
    assert p.ui.summary.pending
    assert p.state.store.annotations(row.image_id)  # in the project
    with qtbot.waitSignal(p.evaluated, timeout=TIMEOUT):
        p.ui.refresh_btn.click()
    assert not p.ui.refresh_btn.isVisible() and not p.ui.summary.pending
    assert sum(p.ui.classes.value(k, "GT") for k in p.view.names) == n_gt + 1  # the refreshed metrics


def _classification_project(folder):
    """Images tagged with 2 classes and cached class probabilities for a fake checkpoint."""
    import torch
    from PIL import Image

    from vision_studio.core.evaluation.cache import save_cache
    from vision_studio.core.evaluation.predictions import ClassificationPredictions

    rng = np.random.default_rng(3)
    (folder / "img").mkdir(parents=True)
    for g in range(2):
        Image.fromarray(np.full((40, 50, 3), 80 + 90 * g, np.uint8)).save(folder / "img" / f"g{g}.png")
    for i in range(12):
        os.link(folder / "img" / f"g{i % 2}.png", folder / "img" / f"i{i:03d}.png")
    project = folder / "cls.vsproj"
    with ProjectStore.create(project, root=folder) as store:
        cats = store.add_categories([("ant", "#e6194b", ""), ("bee", "#4363d8", "")])
        ims = store.add_images(ImageRecord(path=f"img/i{i:03d}.png", width=50, height=40, split="val")
                               for i in range(12))
        for k, im in enumerate(ims):
            store.set_image_tags(im.id, [cats[k % 2].id])
        probs = rng.dirichlet([1, 1], len(ims)).astype(np.float32)
        probs[0] = [0.1, 0.9]  # image 0 (ant) predicted bee: an error
        catd = [{"id": c.id, "name": c.name} for c in cats]
        run = folder / "run"
        run.mkdir()
        ckpt = run / "best.pt"
        torch.save({"model": {}, "config": {"task": "classification", "arch": "none"}, "categories": catd}, ckpt)
        pred = ClassificationPredictions(np.array([im.id for im in ims]), tuple(im.path for im in ims),
                                         ("ant", "bee"), probs)
        save_cache(ckpt, "val", ims, "classification", pred)
    return project, ckpt, ims, cats


def test_classification_hides_thresholds_and_accepts_the_predicted_tag(qtbot, tmp_path):
    project, ckpt, ims, cats = _classification_project(tmp_path)
    p = _open(qtbot, project, ckpt)
    try:
        assert not p.ui.det_bar.isVisible() and not p.ui.score_slider.isVisible()
        assert p.ui.accept_btn.isEnabled() and "tag" in p.ui.accept_btn.toolTip()
        rows = p.ui.list_model.payload
        k = next(i for i, r in enumerate(rows) if r.image_id == ims[0].id)
        assert rows[k].pred == 1 and rows[k].true == 0
        p.ui.list.selectRow(k)
        acc = p.ui.summary.values["accuracy"]
        p.ui.accept_btn.click()
        assert p.state.store.image_tags(ims[0].id) == (cats[1].id,)
        assert p.ui.list_model.rows[k][0] == "bee (fixed)"
        assert p.ui.refresh_btn.isVisible() and "out of date" in p.ui.status.text()
        p.state.undo_stack.undo()
        assert p.state.store.image_tags(ims[0].id) == (cats[0].id,)
        p.state.undo_stack.redo()
        with qtbot.waitSignal(p.evaluated, timeout=TIMEOUT):
            p.ui.refresh_btn.click()
        assert p.ui.summary.values["accuracy"] > acc  # the fixed tag counts now
    finally:
        p.shutdown()
        p.state.close_project()


def test_a_confusion_cell_lists_its_images_says_which_and_shows_the_first(qtbot, tmp_path):
    """Seen under Xvfb (hymenoptera): a click on the "true ants / pred ants" cell listed
    67 correct images under "Show: Misclassified", the line above said only "67 images",
    and the viewer kept the misclassified bee it showed before — an image not in the list."""
    project, ckpt, ims, cats = _classification_project(tmp_path)
    p = _open(qtbot, project, ckpt)
    try:
        qtbot.waitUntil(lambda: p.ui.viewer.image_id is not None, timeout=5000)
        shown = p.ui.viewer.image_id  # the most confident error, shown on open
        p.ui.confusion.cellChosen.emit(0, 0)
        rows = p.ui.list_model.payload
        assert rows and all((r.true, r.pred) == (0, 0) for r in rows)
        assert shown not in [r.image_id for r in rows]
        assert "true ant → predicted ant" in p.ui.list_info.text()
        assert str(len(rows)) in p.ui.list_info.text()
        qtbot.waitUntil(lambda: p.ui.viewer.image_id == rows[0].image_id, timeout=5000)
        assert p.ui.list.currentIndex().row() == 0
    finally:
        p.shutdown()
        p.state.close_project()


def test_a_new_evaluation_highlights_no_prediction_of_the_last_one(det, qtbot):
    """The highlighted prediction is a raw index of the evaluation it was chosen in: seen
    under Xvfb, opening a predictions file after browsing a checkpoint's false positives
    kept one box of the new evaluation drawn thick, with no list row selected."""
    p = det
    p.set_display_threshold(0.0)
    p.ui.filter.setCurrentIndex(p.ui.filter.findData("FP"))
    p.ui.list.selectRow(0)
    row = p.ui.list_model.payload[0]
    assert p.ui.viewer.highlighted == row.raw_index
    with qtbot.waitSignal(p.evaluated, timeout=TIMEOUT):
        assert p.refresh()
    assert p.ui.viewer.highlighted is None
    qtbot.waitUntil(lambda: bool(p.ui.viewer.pred_items), timeout=10_000)
    widths = {round(it.pen().widthF(), 1) for it in p.ui.viewer.pred_items.values()}
    assert widths == {1.6}, widths  # no box drawn thick
