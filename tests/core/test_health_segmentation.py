"""Semantic-segmentation label quality per image (cleanlab.segmentation) on real CamVid
label maps: with probabilities that agree with the true labels, an image whose labels
were edited in a region ranks first."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vision_studio.core.health.segmentation import UNLABELLED, _nearest, image_label_quality

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT.parent / "shared" / "data" / "camvid_small" / "valannot"
pytestmark = pytest.mark.skipif(not DATA.is_dir(), reason="needs ../shared/data/camvid_small")
K = 11


def _probs(truth: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """[K, H, W] probabilities that favour the true class (0.8 +- noise); void pixels
    (11 in CamVid) get a random class."""
    t = np.where(truth >= K, rng.integers(0, K, truth.shape), truth)
    p = rng.uniform(0.0, 0.2, (K, *t.shape)).astype(np.float32)
    np.put_along_axis(p, t[None], 0.8 + rng.uniform(0, 0.2, (1, *t.shape)), axis=0)
    return p / p.sum(axis=0, keepdims=True)


def test_edited_region_ranks_its_image_first() -> None:
    rng = np.random.default_rng(0)
    files = sorted(DATA.glob("*.png"))[:5]
    truth = [_nearest(np.asarray(Image.open(f)), (90, 120)).astype(np.int64) for f in files]
    probs = [_probs(t, rng) for t in truth]
    given = [np.where(t >= K, UNLABELLED, t).astype(np.uint8) for t in truth]
    edited = given[3].copy()
    region = edited[30:60, 40:80]
    edited[30:60, 40:80] = np.where(region == UNLABELLED, UNLABELLED, (region + 1) % K)
    given[3] = edited
    scores = [image_label_quality(g, p) for g, p in zip(given, probs)]
    quality = [q for q, _ in scores]
    assert int(np.argmin(quality)) == 3, quality
    assert min(q for k, q in enumerate(quality) if k != 3) - quality[3] > 0.2
    wrong = [w for _, w in scores]
    assert wrong[3] > 0.05 and max(w for k, w in enumerate(wrong) if k != 3) == 0.0
    # unlabelled pixels never count against an image
    void = np.full_like(given[0], UNLABELLED)
    assert image_label_quality(void, probs[0])[1] == 0.0


def test_cli_semantic_checkpoint(tmp_path: Path, capsys) -> None:
    """A real (tiny, untrained) LR-ASPP checkpoint on 8 CamVid train images: find-errors
    scores each of the 3 images it did not train on, worst first, and says so."""
    import json
    import shutil
    import sys

    from vision_studio.cli import main
    from vision_studio.core.io.masks import read_masks
    from vision_studio.core.store import ProjectStore

    sys.path.insert(0, str(ROOT / "tests" / "gui"))
    from _eval_fixtures import CAMVID_CLASSES, train_tiny

    src = DATA.parent
    for split, n in (("train", 8), ("val", 3)):
        for sub in (split, split + "annot"):
            (tmp_path / sub).mkdir()
            for f in sorted((src / sub).glob("*.png"))[:n]:
                shutil.copyfile(f, tmp_path / sub / f.name)
    project = tmp_path / "camvid.vsproj"
    with ProjectStore.create(project, root=tmp_path) as store:
        for split in ("train", "val"):
            read_masks(store, tmp_path / split, tmp_path / (split + "annot"),
                       dict(enumerate(CAMVID_CLASSES)), ignore_value=11, split=split)
        val = {im.path for im in store.images("val")}
        trained = {a.category_id for im in store.images("train") for a in store.annotations(im.id)}
        store.delete_annotations([a.id for a in store.annotations()
                                  if a.category_id not in trained])  # none to learn from
    ckpt = train_tiny(project, tmp_path / "run", "semantic_segmentation",
                      "lraspp_mobilenet_v3_large", image_size=64, steps=2, batch_size=4)
    out = tmp_path / "issues.json"
    assert main(["find-errors", "--project", str(project), "--checkpoint", str(ckpt),
                 "--device", "cpu", "--json", str(out)]) == 0
    assert "3 images outside its training split" in capsys.readouterr().err
    issues = json.loads(out.read_text())
    assert [i["kind"] for i in issues] == ["label"] * 3 and {i["file_name"] for i in issues} == val
    scores = [i["score"] for i in issues]
    assert scores == sorted(scores, reverse=True) and all(0 <= s <= 1 for s in scores)
    assert all("cleanlab.segmentation" in i["detail"] for i in issues)
