"""The Evaluation panel stays responsive while it evaluates: opening from the cache, AP
and the confusion matrix after a score change, and a new NMS IoU run in the panel's
worker thread, the GUI thread's event loop keeps running meanwhile, the live TP/FP/FN
update at once, the tables say "computing" until the result arrives, and a newer request
supersedes an older one (its result is never shown).

Workload: a generated project of 300 images with cached predictions (18,000 raw
detections, no model), evaluated against the evaluation core run in the test thread.
"""
from __future__ import annotations

import threading

import numpy as np
import pytest
from PySide6.QtCore import QTimer

from _eval_fixtures import reference_evaluation, synthetic_detection_project
from vision_studio.core.evaluation.outcomes import FN, FP, TP
from vision_studio.gui.panels.evaluate.panel import EvaluatePanel
from vision_studio.gui.state import AppState

TIMEOUT = 120_000


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    return synthetic_detection_project(tmp_path_factory.mktemp("eval_synth"), 300)


class Ticker:
    """A 10 ms QTimer on the GUI thread counting its ticks."""

    def __init__(self) -> None:
        self.ticks = 0
        self.timer = QTimer()
        self.timer.setInterval(10)
        self.timer.timeout.connect(self._tick)
        self.timer.start()

    def _tick(self) -> None:
        self.ticks += 1


@pytest.fixture
def panel(qtbot, synthetic):
    project, ckpt = synthetic
    state = AppState()
    state.open_project(project)
    p = EvaluatePanel(state, device="cpu")
    qtbot.addWidget(p)
    p.resize(1200, 760)
    p.show()
    ticker = Ticker()
    with qtbot.waitSignal(p.evaluated, timeout=TIMEOUT):
        assert p.start(ckpt, "val")
        assert p.view is None  # start() returned before anything was read
    p.open_ticks = ticker.ticks
    ticker.timer.stop()
    yield p
    p.shutdown()
    state.close_project()


def test_opening_from_cache_runs_in_the_worker(panel):
    assert panel.open_ticks >= 3  # the event loop ran while the cache was read and evaluated
    assert panel.jobs.thread_ids and threading.get_ident() not in panel.jobs.thread_ids
    ref, _ = reference_evaluation(panel, panel.score, panel.nms)
    assert panel.ui.summary.values["AP"] == pytest.approx(ref.stats["AP"], abs=1e-12)
    assert len(panel.inputs.predictions) == 300 * 60


def test_gui_thread_ticks_while_ap_recomputes(panel, qtbot):
    cid = next(iter(panel.view.names))
    raw = panel.inputs.predictions
    score = float(np.round(np.percentile(raw.scores, 60), 3))
    ref, _ = reference_evaluation(panel, score, panel.nms)
    panel.set_score_threshold(score)
    # live part: at once, exactly the core's re-filtering; AP: pending until the worker is done
    assert {k: int(panel.ui.classes.value(cid, k)) for k in (TP, FP, FN)} == ref.outcomes.counts(cid)
    assert panel.ui.classes.is_pending("AP") and panel.ui.summary.pending and not panel.ui.confusion.isEnabled()
    jobs_before = len(panel.jobs.thread_ids)
    ticker = Ticker()
    with qtbot.waitSignal(panel.fullShown, timeout=TIMEOUT):
        panel.recompute()  # what the 250 ms rest timer calls
        assert panel.ui.summary.pending  # recompute() returned before the result
    ticker.timer.stop()
    assert ticker.ticks >= 3  # the GUI thread's event loop kept running during the recompute
    assert len(panel.jobs.thread_ids) > jobs_before
    assert threading.get_ident() not in panel.jobs.thread_ids
    assert not panel.ui.classes.is_pending("AP") and not panel.ui.summary.pending and panel.ui.confusion.isEnabled()
    assert panel.ui.summary.values["AP"] == pytest.approx(ref.stats["AP"], abs=1e-12)
    per = {c.category_id: c for c in ref.per_class}
    assert panel.ui.classes.value(cid, "AP50") == pytest.approx(per[cid].ap50, abs=1e-12)


def test_newer_request_supersedes_an_older_one(panel, qtbot):
    raw = panel.inputs.predictions
    s1, s2 = (float(np.round(np.percentile(raw.scores, q), 3)) for q in (30, 80))
    shown = []
    panel.fullShown.connect(lambda: shown.append(panel.score))
    panel.set_score_threshold(s1)
    panel.recompute()
    panel.set_score_threshold(s2)  # before the first result arrives
    with qtbot.waitSignal(panel.fullShown, timeout=TIMEOUT):
        panel.recompute()
    qtbot.wait(200)
    assert shown == [s2]  # the result for s1 was dropped, not shown
    ref, _ = reference_evaluation(panel, s2, panel.nms)
    assert panel.ui.summary.values["AP"] == pytest.approx(ref.stats["AP"], abs=1e-12)


def test_new_nms_iou_computes_in_the_worker(panel, qtbot):
    cid = next(iter(panel.view.names))
    panel.set_nms_iou(0.3)
    assert not panel.view.ready(panel.thresholds) and panel.ui.classes.is_pending(TP)  # counts wait for the new base
    ticker = Ticker()
    with qtbot.waitSignal(panel.fullShown, timeout=TIMEOUT):
        panel.recompute()
    ticker.timer.stop()
    assert ticker.ticks >= 3
    ref, _ = reference_evaluation(panel, panel.score, 0.3)
    assert {k: int(panel.ui.classes.value(cid, k)) for k in (TP, FP, FN)} == ref.outcomes.counts(cid)
    assert panel.ui.summary.values["AP"] == pytest.approx(ref.stats["AP"], abs=1e-12)
