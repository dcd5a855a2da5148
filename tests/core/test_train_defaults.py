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
    assert (hp["lr"], hp["warmup_epochs"], hp["grad_clip"]) == (rec.lr, 1.0, 10.0)
    assert default_hyperparameters("detection", 32, 640)["lr"] == recommended("detection", 4).lr


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
