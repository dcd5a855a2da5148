"""TrainConfig: JSON round trip, defaults and validation with errors naming the field."""
from __future__ import annotations

import json

import pytest

from vision_studio.core.errors import ConfigError
from vision_studio.core.training.config import DEFAULT_ARCH, TrainConfig


def test_round_trip_through_json_file(tmp_path):
    cfg = TrainConfig(task="detection", arch="fasterrcnn_mobilenet_v3_large_320_fpn",
                      weights="/w/x.pth", strategy={"name": "partial", "trainable_stages": 2},
                      epochs=3, lr=0.005, grad_clip=1.0, augmentation={"rotation": 10},
                      max_steps_per_epoch=7, categories=[3, 1], model_options={"min_size": 320})
    path = tmp_path / "c.json"
    cfg.save(path)
    back = TrainConfig.load(path)
    assert back == cfg
    assert json.loads(path.read_text())["strategy"] == {"name": "partial", "trainable_stages": 2}


def test_defaults_fill_missing_fields_and_default_arch_follows_task():
    cfg = TrainConfig.from_dict({"task": "semantic_segmentation"})
    assert cfg.arch == DEFAULT_ARCH["semantic_segmentation"]
    assert cfg.epochs == 10 and cfg.scheduler == "cosine" and cfg.device == "auto"
    assert TrainConfig.from_dict({"strategy": "linear_probe"}).strategy == {"name": "linear_probe"}


def test_ints_given_as_whole_floats_are_accepted_and_floats_as_ints():
    cfg = TrainConfig.from_dict({"epochs": 4.0, "lr": 1})
    assert cfg.epochs == 4 and isinstance(cfg.epochs, int) and cfg.lr == 1.0


@pytest.mark.parametrize("data, field", [
    ({"epochs": 0}, "epochs"),
    ({"epochs": 2.5}, "epochs"),
    ({"lr": "fast"}, "lr"),
    ({"lr": -1}, "lr"),
    ({"task": "segmentation"}, "task"),
    ({"optimizer": "lion"}, "optimizer"),
    ({"scheduler": "onecycle"}, "scheduler"),
    ({"device": "tpu"}, "device"),
    ({"batch_size": True}, "batch_size"),
    ({"val_split": 0.9}, "val_split"),
    ({"image_size": 4}, "image_size"),
    ({"grad_clip": -1}, "grad_clip"),
    ({"lr": float("inf")}, "lr"),
    ({"lr": float("nan")}, "lr"),
    ({"lr": float("-inf")}, "lr"),
    ({"weight_decay": float("nan")}, "weight_decay"),
    ({"grad_clip": float("inf")}, "grad_clip"),
    ({"strategy": {"name": "magic"}}, "strategy.name"),
    ({"strategy": {"name": "partial", "stages": 2}}, "strategy.stages"),
    ({"strategy": {"trainable_stages": 2}}, "strategy.name"),
    ({"augmentation": {"hflip": 2}}, "augmentation.hflip"),
    ({"augmentation": {"blur": 1}}, "augmentation.blur"),
    ({"augmentation": {"scale": [1.2, 0.5]}}, "augmentation.scale"),
    ({"categories": []}, "categories"),
    ({"categories": ["cat"]}, "categories"),
    ({"unlabelled_as": "void"}, "unlabelled_as"),
    ({"max_steps_per_epoch": 0}, "max_steps_per_epoch"),
    ({"learning_rate": 0.1}, "learning_rate"),
])
def test_invalid_values_name_the_field(data, field):
    with pytest.raises(ConfigError) as err:
        TrainConfig.from_dict(data)
    assert str(err.value).startswith(field + ":"), str(err.value)


def test_bad_json_and_missing_file_are_config_errors_naming_the_file(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{epochs: 3")
    with pytest.raises(ConfigError, match="bad.json: config: not valid JSON"):
        TrainConfig.load(bad)
    with pytest.raises(ConfigError, match="nope.json: cannot read"):
        TrainConfig.load(tmp_path / "nope.json")
    with pytest.raises(ConfigError, match="expected a JSON object"):
        TrainConfig.from_json("[1, 2]")


def test_replace_validates_and_ignores_none():
    cfg = TrainConfig()
    assert cfg.replace(epochs=None, lr=0.1).lr == 0.1
    with pytest.raises(ConfigError, match="^batch_size:"):
        cfg.replace(batch_size=0)


def test_non_finite_numbers_are_refused_also_from_json_and_the_constructor():
    with pytest.raises(ConfigError, match="^lr: must be a finite number, got inf"):
        TrainConfig.from_json('{"lr": Infinity}')
    with pytest.raises(ConfigError, match="^lr: must be > 0, got inf"):
        TrainConfig(lr=float("inf")).validate()


def test_unset_lr_warmup_and_clipping_stay_unset_until_a_run_fills_them():
    cfg = TrainConfig.from_dict({"task": "detection", "batch_size": 2})
    assert (cfg.lr, cfg.warmup_epochs, cfg.grad_clip) == (None, None, None)
    assert TrainConfig.from_dict({"grad_clip": 0}).grad_clip == 0.0  # 0 = off
