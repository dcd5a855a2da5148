"""Real projects and tiny trained checkpoints for the Evaluation view's tests, screenshots
and benchmark (imported by them; ``tests/gui`` is on ``sys.path`` under pytest, and
benchmarks/bench_eval_sliders.py puts it there).

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


def reference_evaluation(panel, score: float, nms: float):
    """``(result, coco_results)``: the core's own evaluation of the panel's predictions
    filtered at ``(score, nms)`` against an independently built ground truth — what the
    Evaluation panel's numbers are checked against."""
    from vision_studio.core.evaluation.coco_eval import evaluate_coco
    from vision_studio.core.evaluation.ground_truth import ground_truth_from_store

    raw = panel.inputs.predictions
    gt = ground_truth_from_store(panel.state.store, panel.inputs.images, panel.inputs.categories)
    res = raw.to_coco_results(raw.filter(score, nms))
    return evaluate_coco(gt, res, "bbox"), res


def synthetic_detection_project(folder: Path, n_images: int, dets_per_image: int = 60,
                                seed: int = 0) -> tuple[Path, Path]:
    """A generated detection project with cached predictions and no model:
    ``n_images`` 128x128 PNG files (hard links to 4 grey images), 2 categories, 5–12
    ground-truth boxes per image, ``dets_per_image`` raw detections per image (jittered
    ground truth and random false positives with random scores) saved as the Evaluation
    panel's prediction cache for a checkpoint file holding only the config and the
    categories. Returns ``(project, checkpoint)``."""
    import numpy as np
    from PIL import Image

    from vision_studio.core.types import Annotation, ImageRecord

    rng = np.random.default_rng(seed)
    W = H = 128
    (folder / "img").mkdir(parents=True, exist_ok=True)
    for g in range(4):
        Image.fromarray(np.full((H, W, 3), 60 + 40 * g, np.uint8)).save(folder / "img" / f"g{g}.png")
    for i in range(n_images):
        os.link(folder / "img" / f"g{i % 4}.png", folder / "img" / f"i{i:05d}.png")
    project = folder / "synthetic.vsproj"
    with ProjectStore.create(project, root=folder) as store:
        cats = store.add_categories([("cell", "#e6194b", ""), ("blob", "#4363d8", "")])
        ims = store.add_images(ImageRecord(path=f"img/i{i:05d}.png", width=W, height=H, split="val")
                               for i in range(n_images))
        anns, parts = [], {"img": [], "boxes": [], "scores": [], "labels": []}
        for k, im in enumerate(ims):
            n = int(rng.integers(5, 13))
            xy, wh = rng.uniform(0, W - 30, (n, 2)), rng.uniform(8, 30, (n, 2))
            lab = (rng.random(n) < 0.3).astype(np.int64)
            anns += [Annotation(image_id=im.id, category_id=cats[l].id, bbox=tuple(map(float, b)))
                     for b, l in zip(np.c_[xy, wh], lab)]
            keep = rng.random(n) < 0.8
            jit = np.c_[xy, xy + wh][keep] + rng.normal(0, 2, (keep.sum(), 4))
            fp = rng.uniform(0, W - 20, (dets_per_image - keep.sum(), 2))
            fp = np.c_[fp, fp + rng.uniform(6, 25, fp.shape)]
            parts["img"].append(np.full(dets_per_image, k))
            parts["boxes"].append(np.r_[jit, fp].astype(np.float32))
            parts["scores"].append(np.r_[rng.uniform(0.3, 1.0, keep.sum()),
                                         rng.uniform(0.001, 0.7, len(fp))].astype(np.float32))
            parts["labels"].append(np.r_[lab[keep], (rng.random(len(fp)) < 0.3).astype(np.int64)] + 1)
        store.add_annotations(anns)
        ckpt = save_fake_detections(folder, cats, ims, parts, (H, W))
    return project, ckpt


def save_fake_detections(folder: Path, cats, ims, parts: dict, size: tuple[int, int]) -> Path:
    """Save generated raw detections as the Evaluation panel's prediction cache (split
    ``val``) for ``folder/run/best.pt``, a checkpoint file holding only the config and the
    categories, so the panel opens them without a model; returns the checkpoint.

    ``parts`` holds per-image arrays: ``"img"`` (index into ``ims``), ``"boxes"`` (x1, y1,
    x2, y2), ``"scores"``, ``"labels"`` (model labels: category index + 1); ``size`` is
    ``(height, width)`` of every image.
    """
    import numpy as np
    import torch

    from vision_studio.core.evaluation.cache import save_cache
    from vision_studio.core.evaluation.predictions import RawDetections

    catd = [{"id": c.id, "name": c.name} for c in cats]
    raw = RawDetections(image_ids=np.array([im.id for im in ims], np.int64),
                        image_sizes=np.tile(list(size), (len(ims), 1)), paths=tuple(im.path for im in ims),
                        categories=catd, label_offset=1,
                        img_index=np.concatenate(parts["img"]).astype(np.int64),
                        boxes=np.concatenate(parts["boxes"]), scores=np.concatenate(parts["scores"]),
                        labels=np.concatenate(parts["labels"]).astype(np.int64), score_floor=0.001)
    run = folder / "run"
    run.mkdir()
    ckpt = run / "best.pt"
    torch.save({"model": {}, "config": {"task": "detection", "arch": "none"}, "categories": catd}, ckpt)
    save_cache(ckpt, "val", ims, "detection", raw)
    return ckpt


def evaluate_panel(qtbot, project: Path, size: tuple[int, int] = (1300, 800)):
    """An Evaluation panel on ``project`` (a real ``AppState`` and widget, shown and
    exposed; the caller shuts it down and closes the project)."""
    from vision_studio.gui.panels.evaluate.panel import EvaluatePanel
    from vision_studio.gui.state import AppState

    state = AppState()
    state.open_project(project)
    p = EvaluatePanel(state, device="cpu")
    qtbot.addWidget(p)
    p.resize(*size)
    p.show()
    qtbot.waitExposed(p)
    return p
