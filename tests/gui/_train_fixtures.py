"""Tiny projects (classification, detection) and a training config for the tests that run
the shared training engine or the Model panel (test_engine_adapter, test_monitor,
test_model_panel, test_model_traps); imported by them (``tests/gui`` is on ``sys.path``
under pytest)."""
from __future__ import annotations

from pathlib import Path

from vision_studio.core.store import ProjectStore
from vision_studio.core.training.config import TrainConfig
from vision_studio.core.types import Annotation, ImageRecord


def make_cls_project(tmp_path: Path, make_images, n: int = 16) -> Path:
    """``n`` real PNGs tagged alternately "red" / "blue" (no split: the run splits)."""
    files = make_images(tmp_path / "images", n, size=(40, 32))
    path = tmp_path / "cls.vsproj"
    with ProjectStore.create(path) as store:
        red, blue = store.add_categories([("red", None, ""), ("blue", None, "")])
        ims = store.add_images(ImageRecord(path=f"images/{f.name}", width=40, height=32)
                               for f in files)
        store.add_image_tags([(im.id, (red if i % 2 else blue).id) for i, im in enumerate(ims)])
    return path


def tiny_config(out: Path, **changes) -> TrainConfig:
    """A 2-epoch, 3-steps-per-epoch CPU run of mobilenet_v3_small from scratch on 32 px
    images, writing to ``out``; ``changes`` override any field."""
    data = dict(task="classification", arch="mobilenet_v3_small", weights=None,
                strategy={"name": "scratch"}, epochs=2, batch_size=4, lr=0.01, image_size=32,
                device="cpu", seed=3, max_steps_per_epoch=3, max_val_batches=1, val_split=0.25,
                out_dir=str(out))
    data.update(changes)
    return TrainConfig.from_dict(data)


def det_project(tmp_path: Path, make_images, n: int = 12) -> Path:
    """``n`` 64×48 PNGs with one box each on the white block (categories a, b, c; c has
    only 2 boxes); two images without any box."""
    files = make_images(tmp_path / "images", n)
    path = tmp_path / "det.vsproj"
    with ProjectStore.create(path) as store:
        cats = store.add_categories([("a", None, ""), ("b", None, ""), ("c", None, "")])
        ims = store.add_images(ImageRecord(path=f"images/{f.name}", width=64, height=48)
                               for f in files)
        anns = []
        for i, im in enumerate(ims[:-2]):
            cat = cats[2] if i < 2 else cats[i % 2]
            anns.append(Annotation(image_id=im.id, category_id=cat.id, bbox=(10, 8, 20, 12)))
        store.add_annotations(anns)
    return path


def shown_panel(qtbot, widget, size: tuple[int, int] = (1200, 800)):
    """``widget`` registered with qtbot, resized to ``size``, shown and exposed."""
    qtbot.addWidget(widget)
    widget.resize(*size)
    widget.show()
    qtbot.waitExposed(widget)
    return widget
