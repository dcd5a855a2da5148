"""The core evaluation session (``vision_studio.core.evaluation.session`` and
``detection_session``) on a generated detection project with cached predictions, and the
Evaluation panel's worker jobs: live counts equal a full COCO re-evaluation, every value
handed between threads is frozen with read-only arrays, a worker job opens its own store
connection, and the default checkpoint is the newest finished run's."""
from __future__ import annotations

import dataclasses
import pickle
import threading

import numpy as np
import pytest

from _eval_fixtures import synthetic_detection_project
from vision_studio.core.evaluation.coco_eval import evaluate_coco
from vision_studio.core.evaluation.detection_base import DetectionSource, compute_base, compute_full
from vision_studio.core.evaluation.detection_session import DetectionSession
from vision_studio.core.evaluation.ground_truth import ground_truth_from_store
from vision_studio.core.evaluation.matching import FN, FP, TP
from vision_studio.core.evaluation.session import checkpoint_choices, default_choice, load_inputs
from vision_studio.core.store import ProjectStore
from vision_studio.core.types import RunRecord


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    return synthetic_detection_project(tmp_path_factory.mktemp("eval_session"), 40, dets_per_image=30)


@pytest.fixture(scope="module")
def opened(synthetic):
    project, ckpt = synthetic
    with ProjectStore.open(project) as store:
        inputs = load_inputs(store, ckpt, "val")
        gt = ground_truth_from_store(store, list(inputs.images), inputs.categories)
    return inputs, gt


def test_inputs_are_frozen_and_read_only(opened):
    inputs, gt = opened
    assert inputs.from_cache and inputs.is_detection and len(inputs.images) == 40
    assert inputs.gt.coco == gt
    with pytest.raises(dataclasses.FrozenInstanceError):
        inputs.split = "train"  # type: ignore[misc]
    with pytest.raises(ValueError):
        inputs.predictions.scores[0] = 0.5
    with pytest.raises(dataclasses.FrozenInstanceError):
        inputs.predictions.score_floor = 0.5  # type: ignore[misc]


@pytest.mark.parametrize("nms", [0.5, 0.3])
def test_live_counts_and_fp_list_equal_a_full_re_evaluation(opened, nms):
    inputs, gt = opened
    raw = inputs.predictions
    session = DetectionSession(DetectionSource(raw, inputs.gt.coco))
    for q in (5, 50, 90):
        score = float(np.percentile(raw.scores, q))
        res = raw.to_coco_results(raw.filter(score, nms))
        ref = evaluate_coco(gt, res, "bbox").outcomes
        counts = session.counts(score, nms)
        for cid in session.category_ids:
            assert {k: counts[cid][k] for k in (TP, FP, FN)} == ref.counts(cid), (q, cid)
        fp = session.errors(FP, score, nms)
        assert len(fp) == session.error_count(FP, score, nms) == ref.counts()[FP] > 0
        want = sorted((int(i), round(float(s), 5)) for i, s, k in zip(ref.dt_image_id, ref.dt_score, ref.dt_kind)
                      if k == FP)
        assert sorted((r.image_id, round(r.score, 5)) for r in fp) == want
        assert len(session.errors(FN, score, nms)) == ref.counts()[FN]
    full = session.full(score, nms)
    assert full.coco.stats == evaluate_coco(gt, res, "bbox").stats


def test_worker_results_are_frozen_plain_values(opened):
    inputs, _gt = opened
    src = DetectionSource(inputs.predictions, inputs.gt.coco)
    base, full = compute_base(src, 0.5), compute_full(src, 0.2, 0.5)
    for arr in (base.keep, base.score, base.kind, base.g_kind, base.by_score, full.confusion, full.coco.precision):
        assert not arr.flags.writeable
    with pytest.raises(dataclasses.FrozenInstanceError):
        full.score = 0.3  # type: ignore[misc]
    back = pickle.loads(pickle.dumps((base, full)))  # no live COCOeval, no Qt object inside
    assert np.array_equal(back[0].keep, base.keep) and back[1].coco.stats == full.coco.stats
    assert not back[0].coco.precision.flags.writeable and not back[1].confusion.flags.writeable


def test_open_job_reads_through_its_own_store_connection(synthetic, monkeypatch):
    from vision_studio.core.evaluation.compute_process import InThread
    from vision_studio.gui.panels.evaluate.jobs import OpenResult, StepResult, open_job

    project, ckpt = synthetic
    opened_in: list[int] = []
    real_open = ProjectStore.open.__func__

    def spy(cls, path):
        opened_in.append(threading.get_ident())
        return real_open(cls, path)

    monkeypatch.setattr(ProjectStore, "open", classmethod(spy))
    reports, out = [], []
    t = threading.Thread(target=lambda: out.append(open_job(InThread(), project, ckpt, "val", 0.05, 0.5, reports.append,
                                                           lambda: False)))
    t.start()
    t.join(120)
    assert opened_in == [t.ident] and t.ident != threading.get_ident()
    assert isinstance(reports[0], OpenResult) and reports[0].base is not None
    assert isinstance(out[0], StepResult) and out[0].full is not None
    assert out[0].source is reports[0].source


def test_default_checkpoint_is_the_newest_finished_run(tmp_path):
    with ProjectStore.create(tmp_path / "p.vsproj", root=tmp_path) as store:
        for name, status in (("old", "finished"), ("new", "failed")):
            (tmp_path / name).mkdir()
            (tmp_path / name / "best.pt").write_bytes(b"x")
            (tmp_path / name / "last.pt").write_bytes(b"x")
            store.add_run(RunRecord(name=name, task="detection", out_dir=name, status=status))
        choices = checkpoint_choices(store)
    assert [c.path.parent.name for c in choices] == ["new", "new", "old", "old"]
    k = default_choice(choices)
    assert choices[k].path == tmp_path / "old" / "best.pt" and choices[k].status == "finished"


def test_compute_process_gives_the_in_thread_results(opened):
    from vision_studio.core.evaluation.compute_process import ComputeProcess, InThread

    inputs, _gt = opened
    src = DetectionSource(inputs.predictions, inputs.gt.coco)
    proc = ComputeProcess()
    try:
        for nms in (0.5, 0.3):  # the second call reuses the source the child keeps
            a, b = proc.base(src, nms), InThread().base(src, nms)
            assert np.array_equal(a.keep, b.keep) and np.array_equal(a.kind, b.kind)
            assert a.coco.stats == b.coco.stats and not a.kind.flags.writeable
        fa, fb = proc.full(src, 0.2, 0.5), InThread().full(src, 0.2, 0.5)
        assert fa.coco.stats == fb.coco.stats and np.array_equal(fa.confusion, fb.confusion) and fa.cells == fb.cells
        assert len(proc._sent) == 1  # sent once
        pool = proc._pool
        pid = next(iter(pool._processes))
        assert pid != __import__("os").getpid()
        pool._processes[pid].kill()  # a dead child is replaced and the source resent
        pool._processes[pid].join()
        assert proc.full(src, 0.2, 0.5).coco.stats == fb.coco.stats
    finally:
        proc.close()
