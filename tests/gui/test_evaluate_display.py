"""What the Evaluation panel shows a non-coder (issue 12, items 7 and 10), driven through
the real widgets: the default checkpoint is the newest FINISHED run's best.pt (not a
failed run), no "No trained checkpoint yet" while one is selected, COCO's -1 for an empty
size range reads "–: no large objects", the summary's value column is never cut, and a
long "accepted" message wraps instead of being cut."""
from __future__ import annotations

import shutil

import pytest

from _eval_fixtures import evaluate_panel, synthetic_detection_project
from vision_studio.core.types import RunRecord
from vision_studio.gui.panels.evaluate.panel import NO_CHECKPOINT, EvaluatePanel

TIMEOUT = 120_000


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    return synthetic_detection_project(tmp_path_factory.mktemp("eval_display"), 30, dets_per_image=30)


def _panel(qtbot, project) -> EvaluatePanel:
    return evaluate_panel(qtbot, project)


def test_default_is_the_newest_finished_run_and_no_stale_message(qtbot, tmp_path, synthetic):
    project, ckpt = synthetic
    copy = tmp_path / "p.vsproj"
    shutil.copy(project, copy)
    p = _panel(qtbot, copy)
    try:
        assert p.ui.checkpoint.count() == 0 and p.ui.status.text() == NO_CHECKPOINT
        store = p.state.store
        for name, status in (("good", "finished"), ("broken", "failed")):  # the failed run is newer
            run = tmp_path / name
            run.mkdir()
            shutil.copy(ckpt, run / "best.pt")
            store.add_run(RunRecord(name=name, task="detection", out_dir=str(run), status=status))
        p.state.runsChanged.emit()
        assert p.ui.checkpoint.currentData() == str(tmp_path / "good" / "best.pt")
        assert "failed" in p.ui.checkpoint.itemText(0) and p.ui.checkpoint.currentIndex() == 1
        assert "No trained checkpoint" not in p.ui.status.text()
    finally:
        p.shutdown()
        p.state.close_project()


@pytest.fixture
def evaluated(qtbot, synthetic):
    project, ckpt = synthetic
    p = _panel(qtbot, project)
    with qtbot.waitSignal(p.evaluated, timeout=TIMEOUT):
        assert p.start(ckpt, "val")
    yield p
    p.shutdown()
    p.state.close_project()


def _row(table, name: str) -> int:
    return next(r for r in range(table.rowCount()) if table.item(r, 0).text() == name)


def test_empty_size_range_reads_as_words(evaluated):
    s = evaluated.ui.summary
    assert s.values["APl"] == -1 and s.values["ARl"] == -1  # 128 px images: no object > 96²
    assert s.item(_row(s, "APl"), 1).text() == "–: no large objects"
    assert s.item(_row(s, "ARl"), 1).text() == "–: no large objects"
    assert s.item(_row(s, "AP"), 1).text() == f"{s.values['AP']:.3f}"


@pytest.mark.parametrize("values", [
    {"mIoU": 0.4312, "mean_dice": 0.5521, "pixel_accuracy": 0.8811, "mean_class_accuracy": 0.5012},
    None])  # semantic segmentation's names; None: the detection summary as shown
def test_summary_value_column_is_not_cut(evaluated, qtbot, values):
    s = evaluated.ui.summary
    if values is not None:
        s.set_values(values, {})
    qtbot.wait(20)
    fm = s.fontMetrics()
    for r in range(s.rowCount()):
        text = s.item(r, 1).text()
        assert s.columnWidth(1) >= fm.horizontalAdvance(text), text
    assert s.viewport().width() >= s.horizontalHeader().length()


def test_accepted_message_wraps_instead_of_being_cut(evaluated, qtbot):
    p = evaluated
    p.ui.filter.setCurrentIndex(p.ui.filter.findData("FP"))
    p.ui.list.selectRow(0)
    p.ui.accept_btn.click()
    qtbot.wait(50)
    label = p.ui.status
    assert label.text().startswith("Accepted 1 prediction") and label.text().endswith("to include the changes.")
    assert label.wordWrap() and label.height() >= label.heightForWidth(label.width())
    assert p.width() <= 1300  # the message did not widen the panel
    p.state.undo_stack.undo()
