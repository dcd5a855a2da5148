"""Transfer strategies on real torchvision / timm models: for each strategy and epoch,
exactly which parameters train and at which learning rate (checked through a real SGD
step: update == lr × grad), and frozen BatchNorm statistics that do not move."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from vision_studio.core.errors import ConfigError
from vision_studio.core.models.registry import build_model
from vision_studio.core.models.strategies import StrategyConfig, TransferPlan

pytestmark = pytest.mark.usefixtures("one_thread")

BASE_LR = 0.1
R18_GROUPS = ["stem", "layer1", "layer2", "layer3", "layer4", "head"]

# strategy -> epoch -> expected multiplier per resnet18 group (0 = frozen)
R18_EXPECTED = {
    StrategyConfig("scratch"): {0: [1, 1, 1, 1, 1, 1], 3: [1, 1, 1, 1, 1, 1]},
    StrategyConfig("feature_extraction"): {0: [0, 0, 0, 0, 0, 1], 2: [0, 0, 0, 0, 0, 1]},
    StrategyConfig("linear_probe"): {0: [0, 0, 0, 0, 0, 1]},
    StrategyConfig("fine_tune", backbone_lr_mult=0.1): {
        0: [0.1, 0.1, 0.1, 0.1, 0.1, 1], 1: [0.1, 0.1, 0.1, 0.1, 0.1, 1]},
    StrategyConfig("partial", trainable_stages=2, backbone_lr_mult=0.5): {
        0: [0, 0, 0, 0.5, 0.5, 1], 4: [0, 0, 0, 0.5, 0.5, 1]},
    StrategyConfig("gradual", freeze_epochs=2, unfreeze_every=2, backbone_lr_mult=0.2): {
        1: [0, 0, 0, 0, 0, 1], 2: [0, 0, 0, 0, 0.2, 1], 3: [0, 0, 0, 0, 0.2, 1],
        4: [0, 0, 0, 0.2, 0.2, 1], 30: [0.2] * 5 + [1]},
    StrategyConfig("discriminative", layer_decay=0.5): {
        0: [0.5 ** 5, 0.5 ** 4, 0.5 ** 3, 0.5 ** 2, 0.5, 1],
        5: [0.5 ** 5, 0.5 ** 4, 0.5 ** 3, 0.5 ** 2, 0.5, 1]},
}


@pytest.fixture(scope="module")
def r18_built(one_thread):
    torch.manual_seed(0)
    built = build_model("resnet18", "classification", 3)
    return built, {k: v.clone() for k, v in built.model.state_dict().items()}


@pytest.fixture
def r18(r18_built):
    """The module's resnet18, reset to its initial weights, all trainable, train mode."""
    built, state = r18_built
    built.model.load_state_dict(state)
    built.model.requires_grad_(True).train()
    return built


def _bn_stats(modules: list[nn.Module]) -> list[torch.Tensor]:
    return [m.running_mean.clone() for mod in modules for m in mod.modules()
            if isinstance(m, nn.BatchNorm2d)]


def _check_epoch(built, plan: TransferPlan, epoch: int, expected: list[float]) -> None:
    """Apply ``epoch`` and verify requires_grad, optimizer lrs, one SGD step and BN stats."""
    model = built.model
    model.train()
    plan.apply(epoch)
    assert plan.lr_multipliers(epoch) == pytest.approx(expected)
    assert [(n, t) for n, t, _ in plan.describe(epoch)] == \
        [(n, m > 0) for n, m in zip(plan.group_names, expected)]
    groups = plan.param_groups(BASE_LR)
    opt = torch.optim.SGD(groups, lr=BASE_LR, momentum=0.0)
    for group, mult in zip(opt.param_groups, expected):
        assert all(p.requires_grad == (mult > 0) for p in group["params"]), group["name"]
        if mult > 0:  # the lr this group trains at
            assert group["lr"] == pytest.approx(BASE_LR * mult), group["name"]
    stage_mods = dict(built.stages)
    frozen_bn = [_bn_stats(stage_mods[n]) for n, m in zip(plan.group_names, expected)
                 if m == 0 and n in stage_mods]
    before = {id(p): p.detach().clone() for p in model.parameters()}
    opt.zero_grad()
    model(torch.randn(2, 3, 32, 32)).logsumexp(1).sum().backward()
    grads = {id(p): (p.grad.clone() if p.grad is not None else None) for p in model.parameters()}
    opt.step()
    for group, mult in zip(opt.param_groups, expected):
        for p in group["params"]:
            if mult == 0:
                assert grads[id(p)] is None and torch.equal(p, before[id(p)]), group["name"]
            else:  # plain SGD: the update is exactly lr × grad
                step = before[id(p)] - p.detach()
                tol = 8 * torch.finfo(p.dtype).eps * float(before[id(p)].abs().max()) + 1e-7
                assert torch.allclose(step, BASE_LR * mult * grads[id(p)], rtol=1e-4,
                                      atol=tol), group["name"]
    after_bn = [_bn_stats(stage_mods[n]) for n, m in zip(plan.group_names, expected)
                if m == 0 and n in stage_mods]
    for old, new in zip(frozen_bn, after_bn):
        assert all(torch.equal(a, b) for a, b in zip(old, new))


@pytest.mark.parametrize("cfg", list(R18_EXPECTED), ids=lambda c: c.name)
def test_resnet18_each_strategy_each_epoch(cfg, r18):
    built = r18
    plan = TransferPlan(built, cfg)
    assert plan.group_names == R18_GROUPS
    all_ids = [id(p) for g in plan.param_groups(1.0) for p in g["params"]]
    assert sorted(all_ids) == sorted(id(p) for p in built.model.parameters())  # each once
    for epoch, expected in R18_EXPECTED[cfg].items():
        _check_epoch(built, plan, epoch, expected)


def test_trainable_bn_stats_move_and_unfreezing_restores_train_mode(r18):
    built = r18
    plan = TransferPlan(built, StrategyConfig("gradual", freeze_epochs=1))
    built.model.train()
    plan.apply(0)
    assert not built.model.layer4.training and not built.model.bn1.training
    built.model.train()
    plan.apply(1)  # layer4 unfrozen: back in train mode, its BN statistics update
    assert built.model.layer4.training and not built.model.layer3.training
    before = _bn_stats([built.model.layer4])
    built.model(torch.randn(2, 3, 32, 32))
    assert not all(torch.equal(a, b) for a, b in zip(before, _bn_stats([built.model.layer4])))


def test_lite0_timm_stages_gradual_and_discriminative():
    built = build_model("timm:tf_efficientnet_lite0", "classification", 2)
    plan = TransferPlan(built, StrategyConfig("gradual", freeze_epochs=1, unfreeze_every=3,
                                              backbone_lr_mult=0.1))
    names = plan.group_names
    assert names == ["stem"] + [f"stage{i}" for i in range(1, 8)] + ["head"]
    assert [n for n, _ in built.head] == ["classifier"]
    _check_epoch(built, plan, 0, [0] * 8 + [1])
    _check_epoch(built, plan, 1, [0] * 7 + [0.1, 1])
    _check_epoch(built, plan, 4, [0] * 6 + [0.1, 0.1, 1])
    disc = TransferPlan(built, StrategyConfig("discriminative", layer_decay=0.8))
    _check_epoch(built, disc, 0, [0.8 ** (8 - i) for i in range(8)] + [1])
    # the timm stem (conv_stem + bn1) is the first stage: ImageNet features' first layer
    assert built.stages[0][1] == [built.model.conv_stem, built.model.bn1]


def test_detector_feature_extraction_freezes_body_only():
    built = build_model("fasterrcnn_mobilenet_v3_large_320_fpn", "detection", 2)
    plan = TransferPlan(built, StrategyConfig("feature_extraction"))
    built.model.train()
    plan.apply(0)
    body = built.model.backbone.body
    assert not any(p.requires_grad for p in body.parameters())
    assert not any(m.training for m in body.modules() if isinstance(m, nn.BatchNorm2d))
    for part in (built.model.backbone.fpn, built.model.rpn, built.model.roi_heads):
        assert all(p.requires_grad for p in part.parameters())
    assert [n for n, _ in built.head] == ["fpn", "rpn", "roi_heads"]


@pytest.mark.parametrize("kwargs, field", [
    ({"name": "fine-tune"}, "fine_tune"), ({"name": "partial", "trainable_stages": 0},
                                           "trainable_stages"),
    ({"name": "gradual", "unfreeze_every": 0}, "unfreeze_every"),
    ({"name": "gradual", "freeze_epochs": -1}, "freeze_epochs"),
    ({"name": "fine_tune", "backbone_lr_mult": 0.0}, "backbone_lr_mult"),
    ({"name": "fine_tune", "backbone_lr_mult": 2.0}, "backbone_lr_mult"),
    ({"name": "discriminative", "layer_decay": 1.5}, "layer_decay"),
])
def test_bad_settings_are_config_errors(kwargs, field):
    with pytest.raises(ConfigError, match=field):
        StrategyConfig(**kwargs)


def test_plan_level_errors_and_dict_roundtrip(r18):
    built = r18
    with pytest.raises(ConfigError, match="only 5 stages"):
        TransferPlan(built, StrategyConfig("partial", trainable_stages=6))
    seg = build_model("lraspp_mobilenet_v3_large", "semantic_segmentation", 2)
    with pytest.raises(ConfigError, match="classification only"):
        TransferPlan(seg, StrategyConfig("linear_probe"))
    cfg = StrategyConfig("partial", trainable_stages=3)
    assert StrategyConfig.from_dict(cfg.to_dict()) == cfg
    assert StrategyConfig.from_dict("scratch").name == "scratch"
    with pytest.raises(ConfigError, match="unknown setting"):
        StrategyConfig.from_dict({"name": "scratch", "lr": 1})
