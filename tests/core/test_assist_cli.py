"""``vision-studio prelabel`` and ``vision-studio queue`` on real data with tiny real
checkpoints (hymenoptera classification, rbc_coco detection). The queue's order is
checked against uncertainties computed here, independently, from the probabilities and
detection scores that ``vision-studio predict`` saves for the same checkpoint."""
from __future__ import annotations

import json
import math
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from tests.gui._eval_fixtures import coco_project, shared_data, train_tiny
from vision_studio.cli import main
from vision_studio.core.store import ProjectStore

pytestmark = pytest.mark.usefixtures("one_thread")


def _json(path: Path):
    return json.loads(Path(path).read_text())


@pytest.fixture(scope="module")
def hym(tmp_path_factory):
    """hymenoptera train (tagged) + 10 untagged val images, and a 2-step checkpoint."""
    from vision_studio.core.io.imagefolder import read_imagefolder

    folder = tmp_path_factory.mktemp("hym")
    project = folder / "hym.vsproj"
    with ProjectStore.create(project) as store:
        read_imagefolder(store, shared_data("hymenoptera"))
        val = store.images("val")
        for im in val[5:-5]:
            store.delete_image(im.id)
    ckpt = train_tiny(project, folder / "run", "classification", "timm:tf_efficientnet_lite0",
                      image_size=64, steps=2, batch_size=4)
    with ProjectStore.open(project) as store:
        for im in store.images("val"):
            store.set_image_tags(im.id, [])
        paths = [str(store.resolve(im)) for im in store.images("val")]
    return project, ckpt, paths


def _predicted_probs(ckpt: Path, paths: list[str], out: Path) -> dict[str, np.ndarray]:
    assert main(["predict", "--checkpoint", str(ckpt), *paths, "--out", str(out), "--device", "cpu"]) == 0
    return {r["file"]: np.array(r["probs"], dtype=np.float64) for r in _json(out)["images"]}


def _by_hand(p: np.ndarray, strategy: str) -> float:
    q = sorted(p, reverse=True)
    if strategy == "entropy":
        return -sum(v * math.log(v) for v in p if v > 0)
    if strategy == "margin":
        return 1 - (q[0] - q[1])
    return 1 - q[0]


@pytest.mark.parametrize("strategy", ["entropy", "margin", "least_confident"])
def test_classification_queue_order_equals_uncertainty_of_saved_probabilities(hym, tmp_path, capsys, strategy):
    project, ckpt, paths = hym
    probs = _predicted_probs(ckpt, paths, tmp_path / "pred.json")
    out = tmp_path / "queue.json"
    assert main(["queue", "--project", str(project), "--checkpoint", str(ckpt), "--n", "10",
                 "--strategy", strategy, "--json", str(out), "--device", "cpu"]) == 0
    got = _json(out)
    assert got["strategy"] == strategy and got["run"] == "run" and len(got["images"]) == 10
    with ProjectStore.open(project) as store:
        root = store.root
        assert store.queue_scores(strategy) == pytest.approx(
            {r["image_id"]: r["score"] for r in got["images"]})
    expected = {str((root / r["path"]).resolve()): _by_hand(probs[str((root / r["path"]).resolve())], strategy)
                for r in got["images"]}
    ranked = sorted(expected, key=lambda f: -expected[f])
    assert [str((root / r["path"]).resolve()) for r in got["images"]] == ranked
    for r in got["images"]:
        assert r["score"] == pytest.approx(expected[str((root / r["path"]).resolve())], abs=1e-5)
    assert len(set(round(v, 4) for v in expected.values())) > 5  # not a tie: the order means something
    printed = capsys.readouterr().out.splitlines()
    assert printed[-1].endswith(got["images"][-1]["path"])


def test_classification_prelabel_tags_with_probabilities_then_accept(hym, tmp_path, capsys):
    project, ckpt, paths = hym
    probs = _predicted_probs(ckpt, paths, tmp_path / "pred.json")
    assert main(["prelabel", "--project", str(project), "--checkpoint", str(ckpt), "--score", "0",
                 "--device", "cpu"]) == 0
    assert "10 predictions of run run (classification) on 10 images stored as proposals: 10 tag" in \
        capsys.readouterr().out
    with ProjectStore.open(project) as store:
        cats = {c.id: c.name for c in store.categories()}
        props = store.proposals()
        assert len(props) == 10 and store.annotation_count() == 0
        for p in props:
            pr = probs[str(store.resolve(store.image(p.image_id)))]
            assert p.score == pytest.approx(pr.max(), abs=1e-6)
            assert cats[p.category_id] == ["ants", "bees"][int(pr.argmax())]
        ids = {p.image_id for p in props}
        assert all(store.image_tags(i) == () for i in ids)
    # again with --accept: the run's proposals are replaced, then accepted as tags
    assert main(["prelabel", "--project", str(project), "--checkpoint", str(ckpt), "--score", "0",
                 "--accept", "--device", "cpu"]) == 0
    assert "accepted as annotations" in capsys.readouterr().out
    with ProjectStore.open(project) as store:
        assert store.proposals() == []
        assert all(set(store.image_tag_sources(i).values()) == {"model:run"} for i in ids)
        for im in store.images("val"):
            store.set_image_tags(im.id, [])  # leave the module's project as it was


@pytest.fixture(scope="module")
def rbc(tmp_path_factory):
    """rbc_coco train + 4 val images without their boxes, and a 4-step detector on the
    ImageNet lite0 backbone (a random one gives every image the same scores)."""
    from tests.conftest import EFFICIENTNET_LITE0

    if not EFFICIENTNET_LITE0.is_file():
        pytest.skip(f"pretrained weights not found at {EFFICIENTNET_LITE0}")
    folder = tmp_path_factory.mktemp("rbc")
    project = coco_project(folder, shared_data("rbc_coco"), "rbc", val_limit=4)
    ckpt = train_tiny(project, folder / "run", "detection", "fasterrcnn_timm:tf_efficientnet_lite0",
                      image_size=128, steps=4, batch_size=2, weights=str(EFFICIENTNET_LITE0),
                      strategy="feature_extraction")
    with ProjectStore.open(project) as store:
        val = store.images("val")
        store.delete_annotations([a.id for im in val for a in store.annotations(im.id)])
        paths = [str(store.resolve(im)) for im in val]
    return project, ckpt, paths


def _hb(s: float) -> float:
    return -(s * math.log(s) + (1 - s) * math.log(1 - s)) if 0 < s < 1 else 0.0


def test_detection_queue_equals_mean_binary_entropy_of_predicted_scores(rbc, tmp_path):
    project, ckpt, paths = rbc
    res = tmp_path / "dets.json"
    assert main(["predict", "--checkpoint", str(ckpt), *paths, "--out", str(res), "--device", "cpu",
                 "--score-threshold", "0.001", "--nms-iou", "0.5"]) == 0
    by_image = defaultdict(list)
    for r in _json(res):
        by_image[paths[r["image_id"] - 1]].append(r["score"])
    expected = {p: (np.mean([_hb(s) for s in sorted(by_image[p], reverse=True)[:10]]) if by_image[p] else 0.0)
                for p in paths}
    out = tmp_path / "q.json"
    assert main(["queue", "--project", str(project), "--checkpoint", str(ckpt), "--n", "4",
                 "--strategy", "entropy", "--json", str(out), "--device", "cpu"]) == 0
    with ProjectStore.open(project) as store:
        got = [(str(store.resolve(r["path"])), r["score"]) for r in _json(out)["images"]]
    assert sorted(g for g, _ in got) == sorted(paths)
    for path, score in got:  # predict rounds scores to 1e-5
        assert score == pytest.approx(expected[path], abs=2e-4)
    for (a, _), (b, _) in zip(got, got[1:]):  # the queue's order, up to that rounding
        assert expected[a] >= expected[b] - 2e-4
    assert len({round(v, 3) for v in expected.values()}) > 1


def test_detection_prelabel_boxes_equal_predict_results(rbc, tmp_path, capsys):
    project, ckpt, paths = rbc
    res = tmp_path / "dets.json"
    assert main(["predict", "--checkpoint", str(ckpt), *paths, "--out", str(res), "--device", "cpu",
                 "--score-threshold", "0.05"]) == 0
    results = _json(res)
    assert main(["prelabel", "--project", str(project), "--checkpoint", str(ckpt), "--score", "0.05",
                 "--images", "val", "--device", "cpu"]) == 0
    with ProjectStore.open(project) as store:
        props = store.proposals()
        assert all(p.kind == "bbox" and p.run == "run" for p in props)
        assert len(props) == len(results)
        mine = sorted((paths.index(str(store.resolve(store.image(p.image_id)))), p.score, p.bbox) for p in props)
        theirs = sorted((r["image_id"] - 1, r["score"], tuple(r["bbox"])) for r in results)
        assert [m[0] for m in mine] == [t[0] for t in theirs]
        np.testing.assert_allclose([m[1] for m in mine], [t[1] for t in theirs], atol=1e-5)
        np.testing.assert_allclose([m[2] for m in mine], [t[2] for t in theirs], atol=0.02)
        n_ann = store.annotation_count()
        store.delete_proposals([p.id for p in props])
        assert store.annotation_count() == n_ann  # proposals were never annotations


def test_cli_errors_are_one_line(hym, tmp_path, capsys):
    project, ckpt, _ = hym
    cases = [
        (["queue", "--project", str(project), "--checkpoint", str(ckpt), "--images", "nosuch"], "no image in split"),
        (["queue", "--project", str(project), "--strategy", "entropy"], "needs a checkpoint"),
        (["prelabel", "--project", str(project), "--checkpoint", str(tmp_path / "x.pt")], "no such checkpoint"),
        (["prelabel", "--project", str(tmp_path / "no.vsproj"), "--checkpoint", str(ckpt)], "no such project"),
        (["prelabel", "--project", str(project), "--checkpoint", str(ckpt), "--score", "2"], "--score"),
    ]
    for argv, words in cases:
        assert main(argv) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error: ") and words in err[0], err


def test_random_and_coreset_queue(hym, tmp_path, lite0_weights, capsys):
    project, ckpt, _ = hym
    assert main(["queue", "--project", str(project), "--strategy", "random", "--n", "3", "--seed", "1"]) == 0
    first = capsys.readouterr().out
    assert main(["queue", "--project", str(project), "--strategy", "random", "--n", "3", "--seed", "1"]) == 0
    assert capsys.readouterr().out == first and len(first.splitlines()) == 3
    out = tmp_path / "c.json"
    assert main(["queue", "--project", str(project), "--checkpoint", str(ckpt), "--strategy", "coreset",
                 "--n", "10", "--weights", str(lite0_weights), "--json", str(out)]) == 0
    rows = _json(out)["images"]
    scores = [r["score"] for r in rows]
    assert len(rows) == 10 and scores == sorted(scores, reverse=True) and scores[0] > scores[-1] > 0
