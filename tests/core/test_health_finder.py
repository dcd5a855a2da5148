"""Dataset health on real data: hymenoptera val (153 photos) + real ImageNet weights."""
from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vision_studio.cli import main
from vision_studio.core.data.snapshot import take_snapshot
from vision_studio.core.health import HealthReport, find_issues, leakage_warnings
from vision_studio.core.health.embedding_map import embed_2d
from vision_studio.core.health.features import cached_embeddings, compute_features
from vision_studio.core.io.imagefolder import read_imagefolder
from vision_studio.core.store import ProjectStore
from vision_studio.core.training.checks import leakage_checks
from vision_studio.core.types import ImageRecord, Task

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT.parent / "shared" / "data" / "hymenoptera" / "val"
WEIGHTS = ROOT.parent / "shared" / "weights" / "tf_efficientnet_lite0_in1k_converted.pth"
pytestmark = pytest.mark.skipif(not (DATA.is_dir() and WEIGHTS.is_file()),
                                reason="needs ../shared/data/hymenoptera and ../shared/weights")


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """hymenoptera val as split 'val', plus an exact copy and a 0.6x resized copy of one
    ant photo in split 'train', and one bee label flipped to ants."""
    tmp = tmp_path_factory.mktemp("health")
    path = tmp / "h.vsproj"
    with ProjectStore.create(path, root=tmp) as store:
        read_imagefolder(store, DATA, split="val")
        src = sorted((DATA / "ants").glob("*.jpg"))[0]
        exact, small = tmp / "copy_exact.jpg", tmp / "copy_small.jpg"
        shutil.copyfile(src, exact)
        with Image.open(src) as im:
            im.resize((int(im.width * 0.6), int(im.height * 0.6))).save(small, quality=85)
        ants = next(c.id for c in store.categories() if c.name == "ants")
        bees = next(c.id for c in store.categories() if c.name == "bees")
        for f in (exact, small):
            w, h = Image.open(f).size
            rec = store.add_image(ImageRecord(path=store.relative_path(f), width=w, height=h,
                                              split="train"))
            store.set_image_tags(rec.id, [ants])
        val = [im for im in store.images() if im.split == "val"]
        rng = np.random.default_rng(0)
        flipped = [val[i] for i in rng.choice(len(val), 8, replace=False)]
        for im in flipped:
            store.set_image_tags(im.id, [bees if "/ants/" in im.path else ants])
        store.set_setting("test_flipped", [im.path for im in flipped])
        store.set_setting("test_source", store.relative_path(src))
    return path


@pytest.fixture(scope="module")
def report(project: Path) -> HealthReport:
    """The finder's report with the real weights (it leaves embeddings in the cache)."""
    with ProjectStore.open(project) as store:
        return find_issues(store, weights=WEIGHTS)


def test_flip_found_and_copies_grouped_as_leak(project: Path, report: HealthReport) -> None:
    with ProjectStore.open(project) as store:
        flipped, src = store.get_setting("test_flipped"), store.get_setting("test_source")
    labels = {i.file_name: i for i in report.issues if i.kind == "label"}
    found = [f for f in flipped if f in labels]
    assert len(found) >= 5, f"only {len(found)}/8 flips flagged: {list(labels)}"
    for f in found:  # the suggestion is the true class (the folder name)
        assert labels[f].suggested == f.split("/")[-2] != labels[f].given
    rows = report.label_rows
    quality = report.label_findings.quality
    top = {report.features.paths[rows[k]] for k in np.argsort(quality)[:16]}
    assert len(top & set(flipped)) >= 6, "recall within 2x the flips below 75 %"
    pairs = {frozenset((i.file_name, i.other_file_name)): i for i in report.issues
             if i.kind in ("duplicate", "leak")}
    assert frozenset(("copy_exact.jpg", "copy_small.jpg")) in pairs
    leak = pairs[frozenset((src, "copy_exact.jpg"))]
    assert leak.kind == "leak" and leak.file_name == src and leak.other_split == "train"
    groups = {i.group for i in pairs.values() if {i.file_name, i.other_file_name} & {src}}
    assert len(groups) == 1
    # nothing else in the real val set is paired with these three images
    assert all({i.file_name, i.other_file_name} <= {src, "copy_exact.jpg", "copy_small.jpg"}
               for i in pairs.values())


def test_leakage_warnings_hash_only(project: Path) -> None:
    alone = project.with_name("alone.vsproj")  # the same project without the health cache
    shutil.copyfile(project, alone)
    with ProjectStore.open(alone) as store:
        lines = leakage_warnings(store)
    assert len(lines) == 1 and lines[0].startswith("1 val image(s) have a near-copy in train")
    assert "found by perceptual hashes" in lines[0]


def test_leakage_check_uses_cached_embeddings(project: Path, report: HealthReport) -> None:
    """After a health run, the pre-training check also uses its embeddings (no CNN)."""
    with ProjectStore.open(project) as store:
        feats = compute_features(store, embeddings=False)
        cached = cached_embeddings(store, feats)
        assert cached is not None and cached.shape == (len(feats.image_ids), 1280)
        rows = report.features.index_of()
        assert np.array_equal(cached, report.features.features[[rows[int(i)] for i in
                                                                 feats.image_ids]])
        checks = leakage_checks(store, take_snapshot(store, Task.CLASSIFICATION))
    assert [c.severity for c in checks] == ["warning"]
    assert checks[0].message.startswith("1 val image(s) have a near-copy in train")
    assert "found by hashes and embeddings" in checks[0].message


def test_cli_writes_json_and_refuses_overwrite(project: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "issues.json"
    args = ["find-errors", "--project", str(project), "--weights", str(WEIGHTS), "--json", str(out)]
    assert main(args) == 0
    issues = json.loads(out.read_text())
    assert {"label", "leak", "duplicate"} <= {i["kind"] for i in issues}
    assert all({"kind", "file_name", "score"} <= set(i) for i in issues)
    assert [i["score"] for i in issues] == sorted((i["score"] for i in issues), reverse=True)
    assert "leak" in capsys.readouterr().out
    assert main(args) == 1
    assert capsys.readouterr().err.startswith("error: ")
    assert main(["find-errors", "--project", str(tmp_path / "nope.vsproj")]) == 1


def _true_class(report: HealthReport) -> tuple[list[int], np.ndarray]:
    """Rows of the real photos and their true class (the folder name: ants = 1)."""
    rows = [r for r, p in enumerate(report.features.paths) if "/ants/" in p or "/bees/" in p]
    return rows, np.array(["/ants/" in report.features.paths[r] for r in rows], float)


def test_embed_2d_pca_on_real_features(report: HealthReport, monkeypatch) -> None:
    """The map of the 155 real photos by PCA, asked for or as the fallback."""
    x = report.features.features
    pca, how = embed_2d(x, method="pca")
    assert how == "pca" and pca.shape == (len(x), 2) and pca.dtype == np.float32
    assert np.isfinite(pca).all() and pca.std(axis=0).min() > 0
    rows, y = _true_class(report)  # the true classes separate on the map
    assert max(abs(np.corrcoef(pca[rows, d], y)[0, 1]) for d in (0, 1)) > 0.3
    monkeypatch.setitem(sys.modules, "umap", None)  # umap-learn not installed
    fallback, how = embed_2d(x, method="auto")
    assert how == "pca"
    np.testing.assert_allclose(fallback, pca, atol=1e-4)
    few, how = embed_2d(x[:10])
    assert how == "pca" and few.shape == (10, 2)
    assert embed_2d(x[:1])[0].shape == (1, 2)
    with pytest.raises(ValueError, match="unknown map method"):
        embed_2d(x, method="tsne")


@pytest.mark.slow  # numba compiles UMAP first: about a minute on the shared machine
def test_embed_2d_umap_on_real_features(report: HealthReport) -> None:
    x = report.features.features
    xy, how = embed_2d(x, seed=3)
    assert how == "umap" and xy.shape == (len(x), 2) and xy.dtype == np.float32
    assert np.isfinite(xy).all() and xy.std(axis=0).min() > 0
    again, _ = embed_2d(x, seed=3)
    np.testing.assert_array_equal(xy, again)
    rows, y = _true_class(report)
    assert max(abs(np.corrcoef(xy[rows, d], y)[0, 1]) for d in (0, 1)) > 0.3
