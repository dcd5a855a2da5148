"""The Evaluate tab shows only the controls that apply to the task, before an evaluation
too: for a classification checkpoint (or a project without boxes) neither the score /
NMS threshold bar nor "Show ground truth (dashed)"; for a detection checkpoint both."""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from _eval_fixtures import evaluate_panel
from test_evaluate_fixes import TIMEOUT, _classification_project
from vision_studio.core.types import RunRecord


def _shown(p) -> tuple[bool, bool]:
    QApplication.processEvents()
    return p.ui.det_bar.isVisible(), p.ui.show_gt.isVisible()


def _add_run(p, name: str, task: str, tmp_path):
    folder = tmp_path / name
    folder.mkdir()
    (folder / "best.pt").write_bytes(b"not read before Evaluate")
    p.state.store.add_run(RunRecord(name=name, task=task, out_dir=str(folder), status="finished"))
    p.refresh_choices()


def test_thresholds_and_ground_truth_follow_the_task_before_and_after_evaluating(qtbot, tmp_path):
    project, ckpt, _ims, _cats = _classification_project(tmp_path)
    p = evaluate_panel(qtbot, project)
    try:
        assert p.ui.checkpoint.count() == 0
        assert _shown(p) == (False, False)  # no source, no boxes in the project
        _add_run(p, "cls", "classification", tmp_path)
        assert "cls" in p.ui.checkpoint.currentText()
        assert _shown(p) == (False, False)
        _add_run(p, "det", "detection", tmp_path)
        p.ui.checkpoint.setCurrentIndex(p.ui.checkpoint.findText("det", Qt.MatchFlag.MatchContains))
        assert "det" in p.ui.checkpoint.currentText()
        assert _shown(p) == (True, True)
        p.ui.checkpoint.setCurrentIndex(p.ui.checkpoint.findText("cls", Qt.MatchFlag.MatchContains))
        assert _shown(p) == (False, False)
        with qtbot.waitSignal(p.evaluated, timeout=TIMEOUT):
            assert p.start(ckpt, "val")
        assert _shown(p) == (False, False)  # a classification evaluation
    finally:
        p.shutdown()
        p.state.close_project()

