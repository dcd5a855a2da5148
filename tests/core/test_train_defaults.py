"""Stable training defaults (issue 12 item 6) and the pre-training checks (item 1)."""
from __future__ import annotations

import pytest

from vision_studio.core.training.checks import config_checks, default_hyperparameters
from vision_studio.core.training.config import TrainConfig
from vision_studio.core.training.defaults import fill_defaults, recommended


def test_detection_at_batch_2_gets_clipping_warmup_and_a_linearly_scaled_lr():
    cfg = fill_defaults(TrainConfig.from_dict({"task": "detection", "batch_size": 2,
                                               "epochs": 3}))
    assert cfg.grad_clip == 10.0 and cfg.warmup_epochs == 1.0
    assert cfg.lr == pytest.approx(0.02 * 2 / 16)  # Goyal et al.: 0.02 at 16 → 0.0025 at 2
    four = fill_defaults(TrainConfig.from_dict({"task": "detection", "batch_size": 4}))
    assert four.lr == pytest.approx(2 * cfg.lr)


def test_set_values_are_kept_and_zero_turns_clipping_off():
    cfg = fill_defaults(TrainConfig.from_dict({"task": "instance_segmentation", "lr": 0.001,
                                               "grad_clip": 0, "warmup_epochs": 0}))
    assert (cfg.lr, cfg.grad_clip, cfg.warmup_epochs) == (0.001, 0.0, 0.0)


def test_families_and_optimizers():
    cls = fill_defaults(TrainConfig.from_dict({"task": "classification"}))
    assert (cls.lr, cls.grad_clip, cls.warmup_epochs) == (0.01, 0.0, 0.0)
    sem = fill_defaults(TrainConfig.from_dict({"task": "semantic_segmentation",
                                               "batch_size": 8}))
    assert sem.lr == pytest.approx(0.005) and sem.grad_clip == 10.0
    adam = recommended("classification", 64, "adamw")
    assert adam.lr == pytest.approx(1e-3 * 2) and "square-root" in adam.rule
    short = fill_defaults(TrainConfig.from_dict({"task": "detection", "epochs": 1}))
    assert short.warmup_epochs == 1.0


def test_the_gui_defaults_come_from_the_same_rule():
    hp = default_hyperparameters("detection", 32, 640, batch_size=2)
    rec = recommended("detection", 2)
    # 32 images → 25 trained on at batch 2: 12 steps per epoch; warm-up 20 steps
    assert (hp["lr"], hp["warmup_epochs"], hp["grad_clip"]) == (rec.lr, round(20 / 12, 3), 10.0)
    cli = fill_defaults(TrainConfig.from_dict({"task": "detection", "batch_size": 2,
                                               "epochs": hp["epochs"]}), train_images=25)
    assert (cli.lr, cli.warmup_epochs, cli.grad_clip) == (hp["lr"], hp["warmup_epochs"], 10.0)
    assert default_hyperparameters("detection", 32, 640)["lr"] == recommended("detection", 4).lr
    big = default_hyperparameters("detection", 5000, 640, batch_size=2)
    assert (big["lr"], big["warmup_epochs"]) == (rec.lr, 1.0)  # a long run: the plain rule


def test_a_short_run_warms_up_over_enough_steps_and_caps_a_large_batch_lr():
    """Mask R-CNN at the default batch 16 on 30 images (24 trained on) makes one step per
    epoch: "one warm-up epoch" was one step at the full lr 0.02 and the loss rose."""
    from vision_studio.core.training.defaults import (MIN_WARMUP_STEPS, SHORT_RUN_MAX_BATCH,
                                                      steps_per_epoch)

    assert steps_per_epoch(24, 16) == 1 and steps_per_epoch(24, 2) == 12
    assert steps_per_epoch(10, 16) == 1 and steps_per_epoch(100, 2, max_steps=5) == 5
    mask = TrainConfig.from_dict({"task": "instance_segmentation", "batch_size": 16,
                                  "epochs": 10})
    plain = fill_defaults(mask)
    assert (plain.lr, plain.warmup_epochs) == (0.02, 1.0)  # the split not known yet
    short = fill_defaults(mask, train_images=24)
    assert short.lr == recommended("instance_segmentation", SHORT_RUN_MAX_BATCH).lr == 0.005
    assert short.warmup_epochs == 5.0  # 20 steps wanted, half of the run's 10 steps given
    assert short.grad_clip == 10.0
    det = fill_defaults(TrainConfig.from_dict({"task": "detection", "batch_size": 2,
                                               "epochs": 30}), train_images=200)
    assert det.lr == 0.0025 and det.warmup_epochs == 1.0  # 100 steps an epoch: as before
    few = fill_defaults(TrainConfig.from_dict({"task": "detection", "batch_size": 2,
                                               "epochs": 30}), train_images=24)
    assert few.warmup_epochs == round(MIN_WARMUP_STEPS / 12, 3)
    kept = fill_defaults(TrainConfig.from_dict({"task": "instance_segmentation",
                                                "batch_size": 16, "lr": 0.02,
                                                "warmup_epochs": 1}), train_images=24)
    assert (kept.lr, kept.warmup_epochs) == (0.02, 1.0)  # the user's values stay
    cls = fill_defaults(TrainConfig.from_dict({"task": "classification", "batch_size": 16}),
                        train_images=24)
    assert (cls.lr, cls.warmup_epochs) == (0.01, 0.0)  # no warm-up, no cap: as tested
    sem = fill_defaults(TrainConfig.from_dict({"task": "semantic_segmentation",
                                               "batch_size": 16, "epochs": 3}),
                        train_images=120)
    assert sem.lr == 0.01 and sem.warmup_epochs == round(10.5 / 7, 3)  # 21 steps: half


def test_the_trainer_uses_the_short_run_defaults(tmp_path):
    """The run's config.json (what it trained with) holds the short-run values: the
    trainer fills the defaults again once the split is known."""
    import json

    import numpy as np
    from PIL import Image

    from vision_studio.core.store import ProjectStore
    from vision_studio.core.training import Trainer
    from vision_studio.core.types import Annotation, ImageRecord

    folder = tmp_path / "img"
    folder.mkdir()
    path = tmp_path / "p.vsproj"
    with ProjectStore.create(path) as store:
        (cat,) = store.add_categories([("thing", None, "")])
        for i in range(10):
            Image.fromarray(np.full((32, 32, 3), 20 * i, np.uint8)).save(folder / f"{i}.png")
        ims = store.add_images(ImageRecord(path=f"img/{i}.png", width=32, height=32,
                                           split="train" if i < 8 else "val")
                               for i in range(10))
        store.add_annotations(Annotation(image_id=im.id, category_id=cat.id, bbox=(4, 4, 12, 12))
                              for im in ims)
        cfg = TrainConfig.from_dict({"task": "detection", "arch": "fasterrcnn_mobilenet_v3_large_320_fpn",
                                     "batch_size": 8, "epochs": 1, "image_size": 64, "device": "cpu",
                                     "amp": False, "max_val_batches": 0, "num_workers": 0,
                                     "out_dir": str(tmp_path / "run")})
        Trainer(store).fit(cfg)
    used = json.loads((tmp_path / "run" / "config.json").read_text())
    assert used["lr"] == recommended("detection", 4).lr  # not the batch-8 0.01
    assert used["warmup_epochs"] == 1.0  # one step in all: it is the warm-up


@pytest.mark.parametrize("strategy", ["feature_extraction", "linear_probe", "partial", "gradual"])
def test_frozen_strategies_on_random_weights_are_errors(strategy):
    found = config_checks(TrainConfig.from_dict({"strategy": strategy, "weights": None}))
    assert [c.severity for c in found] == ["error"]
    assert "random" in found[0].message and "weights" in found[0].message
    assert config_checks(TrainConfig.from_dict({"strategy": strategy,
                                                "weights": "w.pth"})) == []


def test_fine_tuning_or_scratch_on_random_weights_is_fine():
    for strategy in ("fine_tune", "scratch", "discriminative"):
        assert config_checks(TrainConfig.from_dict({"strategy": strategy})) == []


def test_a_high_lr_for_the_model_and_batch_is_a_warning():
    cfg = TrainConfig.from_dict({"task": "detection", "batch_size": 2, "lr": 0.01,
                                 "arch": "fasterrcnn_timm:tf_efficientnet_lite0"})
    found = config_checks(cfg)
    assert [c.severity for c in found] == ["warning"]
    assert "0.01 is high for fasterrcnn_timm:tf_efficientnet_lite0 at batch size 2" in \
        found[0].message and "0.0025" in found[0].message
    assert config_checks(cfg.replace(lr=0.004)) == []
    off = config_checks(cfg.replace(lr=0.0025, grad_clip=0))
    assert len(off) == 1 and "clipping is off" in off[0].message
