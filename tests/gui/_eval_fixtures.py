"""Real projects and tiny trained checkpoints for the Evaluation view's tests, screenshots
and benchmark (imported by them; ``tests/gui`` is on ``sys.path`` under pytest).

Projects are built with the core importers from ``../shared/data``; checkpoints come from
the core :class:`Trainer` with a tiny budget (random weights, a few steps, small images),
so their predictions are poor but real.
"""
from __future__ import annotations

import os
from pathlib import Path

from vision_studio.core.store import ProjectStore

REPO = Path(__file__).resolve().parents[2]
DATA = Path(os.environ.get("VISION_STUDIO_SHARED", REPO.parent / "shared")) / "data"
LITE0 = DATA.parent / "weights" / "tf_efficientnet_lite0_in1k_converted.pth"


def shared_data(name: str) -> Path:
    """``../shared/data/NAME`` (as tests/conftest.py finds it), or skip the test."""
    import pytest

    path = DATA / name
    if not path.is_dir():
        pytest.skip(f"real dataset {name!r} not found at {path} (../shared/data is absent)")
    return path

CAMVID_CLASSES = ("Sky", "Building", "Pole", "Road", "Pavement", "Tree", "SignSymbol",
                  "Fence", "Car", "Pedestrian", "Bicyclist")


def coco_project(folder: Path, src: Path, name: str, val_limit: int | None = None) -> Path:
    """A project of ``src/train`` (split ``train``) and ``src/valid`` (split ``val``)
    imported with the core COCO importer; with ``val_limit``, only that many validation
    images are kept (the others are deleted from the project)."""
    from vision_studio.core.io.coco import read_coco

    path = folder / f"{name}.vsproj"
    with ProjectStore.create(path, root=src) as store:
        read_coco(store, src / "train" / "_annotations.coco.json", split="train")
        read_coco(store, src / "valid" / "_annotations.coco.json", split="val")
        if val_limit is not None:
            for im in store.images("val")[val_limit:]:
                store.delete_image(im.id)
    return path


def hymenoptera_project(folder: Path, src: Path) -> Path:
    """hymenoptera imported with the core ImageFolder importer (splits train / val)."""
    from vision_studio.core.io.imagefolder import read_imagefolder

    path = folder / "hym.vsproj"
    with ProjectStore.create(path) as store:
        read_imagefolder(store, src)
    return path


def camvid_project(folder: Path, src: Path, val_limit: int = 8) -> Path:
    """camvid_small (train + the first ``val_limit`` val images) imported as masks."""
    from vision_studio.core.io.masks import read_masks

    path = folder / "camvid.vsproj"
    classes = dict(enumerate(CAMVID_CLASSES))
    with ProjectStore.create(path) as store:
        read_masks(store, src / "train", src / "trainannot", classes, ignore_value=11, split="train")
        read_masks(store, src / "val", src / "valannot", classes, ignore_value=11, split="val")
        for im in store.images("val")[val_limit:]:
            store.delete_image(im.id)
    return path


def train_tiny(project: Path, out: Path, task: str, arch: str, *, image_size: int,
               steps: int = 3, batch_size: int = 2, epochs: int = 1, weights: str | None = None,
               lr: float = 0.01, strategy: str = "fine_tune") -> Path:
    """Train with the core Trainer for ``epochs`` x ``steps`` steps (no validation) and
    return the ``best.pt`` (else ``last.pt``) checkpoint."""
    import torch

    from vision_studio.core.training import Trainer
    from vision_studio.core.training.config import TrainConfig

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        cfg = TrainConfig(task=task, arch=arch, weights=weights, epochs=epochs,
                          batch_size=batch_size, lr=lr, image_size=image_size, device="cpu",
                          amp=False, max_steps_per_epoch=steps, max_val_batches=0,
                          out_dir=str(out), strategy={"name": strategy}, scheduler="none")
        with ProjectStore.open(project) as store:
            result = Trainer(store).fit(cfg)
        assert result.status == "finished", result
    finally:
        torch.set_num_threads(threads)
    return out / "best.pt" if (out / "best.pt").is_file() else out / "last.pt"
