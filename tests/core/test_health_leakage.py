"""The pre-training leakage check on real photos: hymenoptera images in train and val,
with an exact copy and a 0.7x resized, re-encoded copy of train photos put into val."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from PIL import Image

from vision_studio.core.data.snapshot import take_snapshot
from vision_studio.core.health import features as hf
from vision_studio.core.health import leakage_warnings
from vision_studio.core.io.imagefolder import read_imagefolder
from vision_studio.core.store import ProjectStore
from vision_studio.core.training.checks import run_checks
from vision_studio.core.training.config import TrainConfig
from vision_studio.core.types import ImageRecord, Task

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT.parent / "shared" / "data" / "hymenoptera"
pytestmark = pytest.mark.skipif(not DATA.is_dir(), reason="needs ../shared/data/hymenoptera")


def _project(tmp: Path, copies: bool) -> Path:
    """12 train + 12 val real photos (two classes); with ``copies`` an exact copy of one
    train ant and a resized copy of one train bee are added to val."""
    src = tmp / "src"
    for split in ("train", "val"):
        for cls in ("ants", "bees"):
            (src / split / cls).mkdir(parents=True)
            for f in sorted((DATA / split / cls).glob("*.jpg"))[:6]:
                shutil.copyfile(f, src / split / cls / f.name)
    path = tmp / "p.vsproj"
    with ProjectStore.create(path, root=tmp) as store:
        for split in ("train", "val"):
            read_imagefolder(store, src / split, split=split)
        if copies:
            cats = {c.name: c.id for c in store.categories()}
            ant = sorted((src / "train" / "ants").glob("*.jpg"))[2]
            bee = sorted((src / "train" / "bees").glob("*.jpg"))[3]
            exact, small = tmp / "val_exact.jpg", tmp / "val_small.jpg"
            shutil.copyfile(ant, exact)
            with Image.open(bee) as im:
                im.convert("RGB").resize((int(im.width * 0.7), int(im.height * 0.7)),
                                         Image.BILINEAR).save(small, quality=80)
            for f, cls in ((exact, "ants"), (small, "bees")):
                w, h = Image.open(f).size
                rec = store.add_image(ImageRecord(path=store.relative_path(f), width=w,
                                                  height=h, split="val"))
                store.set_image_tags(rec.id, [cats[cls]])
    return path


def _checks(path: Path) -> list[str]:
    with ProjectStore.open(path) as store:
        snap = take_snapshot(store, Task.CLASSIFICATION)
        config = TrainConfig.from_dict({"task": "classification", "weights": None,
                                        "strategy": {"name": "scratch"}})
        return [c.message for c in run_checks(store, snap, config) if c.severity == "warning"]


def test_copies_in_val_are_warned_before_training(tmp_path: Path) -> None:
    path = _project(tmp_path, copies=True)
    leaks = [m for m in _checks(path) if "near-copy" in m]
    assert len(leaks) == 1, leaks
    assert leaks[0].startswith("2 val image(s) have a near-copy in train")
    assert "move the copies" in leaks[0] and "perceptual hashes" in leaks[0]
    assert (path.with_name(path.name + ".health") / "phash.npz").is_file()  # hashed once, cached


def test_no_leak_no_warning(tmp_path: Path) -> None:
    path = _project(tmp_path, copies=False)
    assert not [m for m in _checks(path) if "leak" in m or "near-copy" in m]


def test_too_many_unhashed_images_says_what_to_do(tmp_path: Path) -> None:
    path = _project(tmp_path, copies=True)
    with ProjectStore.open(path) as store:
        snap = take_snapshot(store, Task.CLASSIFICATION)
        lines = leakage_warnings(store, image_ids=[s.image_id for s in snap.samples], max_new=5)
        assert len(lines) == 1 and "not checked: 26 images" in lines[0]
        assert "find-errors --duplicates" in lines[0]
        assert not (hf.cache_dir(store) / "phash.npz").exists()  # nothing was decoded
        assert hf.uncached_hashes(store) == 26
        # once hashed (what find-errors does), the check runs and finds both copies
        hf.compute_features(store, embeddings=False)
        assert hf.uncached_hashes(store) == 0
        lines = leakage_warnings(store, max_new=5)
        assert len(lines) == 1 and lines[0].startswith("2 val image(s)")

