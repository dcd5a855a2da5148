"""The model registry: listed architectures per task, parameter counts checked against
torchvision's own metadata, stage/head layouts, one real forward pass per task family,
bad names, and the ``vision-studio models`` command."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from vision_studio.cli import main
from vision_studio.core.errors import ConfigError
from vision_studio.core.models.registry import architectures, build_model, get_arch
from vision_studio.core.types import Task

pytestmark = pytest.mark.usefixtures("one_thread")

REQUIRED = {
    Task.CLASSIFICATION: ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152",
                          "resnext50_32x4d", "vgg16_bn", "densenet121", "googlenet",
                          "inception_v3", "mobilenet_v2", "mobilenet_v3_large",
                          "mobilenet_v3_small", "shufflenet_v2_x1_0", "efficientnet_b0",
                          "efficientnet_b1", "efficientnet_b2", "efficientnet_b3",
                          "convnext_tiny", "timm:tf_efficientnet_lite0"],
    Task.DETECTION: ["fasterrcnn_resnet50_fpn", "fasterrcnn_resnet50_fpn_v2",
                     "fasterrcnn_mobilenet_v3_large_fpn",
                     "fasterrcnn_mobilenet_v3_large_320_fpn", "retinanet_resnet50_fpn",
                     "fcos_resnet50_fpn", "ssdlite320_mobilenet_v3_large",
                     "fasterrcnn_fpn:resnet34", "fasterrcnn_fpn:resnext50_32x4d",
                     "fasterrcnn_fpn:mobilenet_v2", "fasterrcnn_timm:tf_efficientnet_lite0"],
    Task.INSTANCE_SEGMENTATION: ["maskrcnn_resnet50_fpn", "maskrcnn_resnet50_fpn_v2",
                                 "maskrcnn_fpn:resnet18", "maskrcnn_timm:tf_efficientnet_lite0"],
    Task.SEMANTIC_SEGMENTATION: ["deeplabv3_resnet50", "deeplabv3_resnet101",
                                 "deeplabv3_mobilenet_v3_large", "fcn_resnet50",
                                 "fcn_resnet101", "lraspp_mobilenet_v3_large", "unet:resnet34",
                                 "unet_timm:tf_efficientnet_lite0",
                                 "fpn_timm:tf_efficientnet_lite0"],
}


@pytest.mark.parametrize("task", Task.ALL)
def test_every_required_architecture_is_listed_with_its_facts(task):
    specs = {s.name: s for s in architectures(task)}
    missing = [n for n in REQUIRED[task] if n not in specs]
    assert not missing
    for s in specs.values():
        assert s.task == task and s.description and s.speed in ("fast", "medium", "slow")
        if s.family == "scratch_cls":  # LeNet-5: 0.15 M parameters with 1000 outputs, our own code
            assert s.param_count > 0.05 and s.source == "vision_studio" and not s.weights
            continue
        assert s.param_count > 0.5 and s.source in ("torchvision", "timm", "smp")
        assert s.default_weights is None or s.default_weights in s.weights


def test_lenet5_has_the_paper_layer_sizes():
    """LeNet-5 with 10 outputs on RGB: C1 3*6*25+6, C3 6*16*25+16, C5 400*120+120,
    F6 120*84+84, output 84*10+10 = 62,006 parameters (the paper's 60k with grey input)."""
    from vision_studio.core.models._stages import param_count

    built = build_model("lenet5", "classification", 10)
    assert param_count(built.model) == 456 + 2416 + 48120 + 10164 + 850
    assert [n for n, _ in built.stages] == ["c1_s2", "c3_s4", "c5_f6"]


def test_param_counts_match_torchvision_metadata():
    from torchvision.models import get_model_weights

    for name in ("resnet18", "resnet50", "mobilenet_v3_small", "efficientnet_b0",
                 "convnext_tiny", "vgg16_bn", "deeplabv3_mobilenet_v3_large"):
        meta = get_model_weights(name).DEFAULT.meta["num_params"]
        assert get_arch(name).param_count == pytest.approx(meta / 1e6, abs=0.006), name
    assert get_arch("timm:tf_efficientnet_lite0").param_count == pytest.approx(4.652, abs=0.01)
    # torchvision counts its detector with FrozenBatchNorm2d (BN affine as buffers, 53,120
    # fewer parameters); ours is counted with trainable BatchNorm (random init)
    meta = get_model_weights("fasterrcnn_resnet50_fpn").DEFAULT.meta["num_params"]
    assert get_arch("fasterrcnn_resnet50_fpn").param_count == \
        pytest.approx((meta + 53_120) / 1e6, abs=0.006)


def test_weights_names_and_normalisation():
    r50 = get_arch("resnet50")
    assert {"IMAGENET1K_V1", "IMAGENET1K_V2", "DEFAULT"} <= set(r50.weights)
    lite = get_arch("timm:tf_efficientnet_lite0")
    assert "in1k" in lite.weights and lite.mean == (0.5, 0.5, 0.5) and lite.std == (0.5,) * 3
    assert r50.mean == (0.485, 0.456, 0.406)
    det = get_arch("fasterrcnn_timm:tf_efficientnet_lite0")
    assert "backbone:in1k" in det.weights and det.model_normalizes and det.mean == (0.5,) * 3
    assert "COCO_V1" in get_arch("fasterrcnn_resnet50_fpn").weights


def _check_partition(built) -> None:
    """Stages and head hold disjoint parameters; together with the rest: all of them."""
    seen: set[int] = set()
    for _, mods in built.stages + built.head:
        ids = {id(p) for m in mods for p in m.parameters()}
        assert not ids & seen
        seen |= ids
    assert len(built.stages) >= 3 and built.head


@pytest.mark.parametrize("name, task, first, last, head", [
    ("resnet50", Task.CLASSIFICATION, "stem", "layer4", ["fc"]),
    ("vgg16_bn", Task.CLASSIFICATION, "block1", "fc67", ["classifier"]),
    ("densenet121", Task.CLASSIFICATION, "stem", "denseblock4", ["classifier"]),
    ("googlenet", Task.CLASSIFICATION, "stem", "inception5", ["fc"]),
    ("inception_v3", Task.CLASSIFICATION, "stem", "mixed7", ["fc"]),
    ("efficientnet_b0", Task.CLASSIFICATION, "stem", "stage5", ["classifier"]),
    ("convnext_tiny", Task.CLASSIFICATION, "stem", "pre_logits", ["classifier"]),
    ("shufflenet_v2_x1_0", Task.CLASSIFICATION, "stem", "stage4", ["fc"]),
    ("fasterrcnn_resnet50_fpn", Task.DETECTION, "stem", "layer4", ["fpn", "rpn", "roi_heads"]),
    ("retinanet_resnet50_fpn", Task.DETECTION, "stem", "layer4", ["fpn", "head"]),
    ("ssdlite320_mobilenet_v3_large", Task.DETECTION, "stem", "stage5", ["extra", "head"]),
    ("maskrcnn_fpn:resnet18", Task.INSTANCE_SEGMENTATION, "stem", "layer4",
     ["fpn", "rpn", "roi_heads"]),
    ("deeplabv3_resnet50", Task.SEMANTIC_SEGMENTATION, "stem", "layer4", ["classifier"]),
    ("unet:resnet34", Task.SEMANTIC_SEGMENTATION, "stem", "layer4",
     ["decoder", "segmentation_head"]),
])
def test_stage_layouts_on_meta_device(name, task, first, last, head):
    with torch.device("meta"):  # layout only: no memory, no init cost
        built = build_model(name, task, 4)
    assert built.stages[0][0] == first and built.stages[-1][0] == last
    assert [n for n, _ in built.head] == head
    _check_partition(built)


def test_forward_classification_resnet18_and_lite0():
    x = torch.randn(2, 3, 64, 64)
    for name in ("resnet18", "timm:tf_efficientnet_lite0", "mobilenet_v3_small"):
        built = build_model(name, Task.CLASSIFICATION, 3)
        assert built.model.eval()(x).shape == (2, 3)
        _check_partition(built)


def test_forward_detection_timm_fpn_train_and_eval():
    built = build_model("fasterrcnn_timm:tf_efficientnet_lite0", Task.DETECTION, 2,
                        image_size=128)
    model = built.model
    assert model.roi_heads.box_predictor.cls_score.out_features == 3  # 2 + background
    images = [torch.rand(3, 120, 100), torch.rand(3, 96, 128)]
    targets = [{"boxes": torch.tensor([[10.0, 10.0, 60.0, 70.0]]), "labels": torch.tensor([1])},
               {"boxes": torch.tensor([[5.0, 20.0, 50.0, 90.0]]), "labels": torch.tensor([2])}]
    losses = model.train()(images, targets)
    assert {"loss_classifier", "loss_box_reg", "loss_objectness", "loss_rpn_box_reg"} <= set(losses)
    assert all(torch.isfinite(v) for v in losses.values())
    out = model.eval()(images)
    assert len(out) == 2 and out[0]["boxes"].shape[1] == 4 and out[0]["boxes"].dtype == torch.float32
    assert max(model.transform.min_size) == 128 and model.transform.image_mean == [0.5] * 3


def test_forward_detection_mobilenet_320_and_frozen_bn_option():
    built = build_model("fasterrcnn_mobilenet_v3_large_320_fpn", Task.DETECTION, 2,
                        frozen_bn=True)
    body = built.model.backbone.body
    assert not any(isinstance(m, nn.BatchNorm2d) for m in body.modules())
    out = built.model.eval()([torch.rand(3, 64, 80)])
    assert set(out[0]) == {"boxes", "labels", "scores"}


def test_forward_instance_segmentation_masks():
    built = build_model("maskrcnn_timm:tf_efficientnet_lite0", Task.INSTANCE_SEGMENTATION, 1,
                        image_size=96)
    built.model.eval()
    with torch.no_grad():
        out = built.model([torch.rand(3, 96, 96)])[0]
    assert out["masks"].shape[1:] == (1, 96, 96) and "masks" in out
    assert built.model.roi_heads.mask_predictor.mask_fcn_logits.out_channels == 2


@pytest.mark.parametrize("name", ["unet_timm:tf_efficientnet_lite0", "lraspp_mobilenet_v3_large"])
def test_forward_semantic_returns_logits_at_input_size(name):
    built = build_model(name, Task.SEMANTIC_SEGMENTATION, 5)
    with torch.no_grad():
        y = built.model.eval()(torch.randn(1, 3, 64, 96))
    assert isinstance(y, torch.Tensor) and y.shape == (1, 5, 64, 96)


def test_bad_names_and_settings_are_config_errors():
    with pytest.raises(ConfigError, match="did you mean resnet18"):
        get_arch("resnet81")
    with pytest.raises(ConfigError, match="timm:tf_efficientnet_lite0"):
        get_arch("timm:tf_efficientnet_lite")
    with pytest.raises(ConfigError, match="fasterrcnn_fpn:resnet50"):
        get_arch("fasterrcnn_fpn:resnet5O")
    with pytest.raises(ConfigError, match="is for classification"):
        build_model("resnet18", Task.DETECTION, 2)
    with pytest.raises(ConfigError, match="num_classes"):
        build_model("resnet18", Task.CLASSIFICATION, 0)
    with pytest.raises(ConfigError, match="unknown model option"):
        build_model("resnet18", Task.CLASSIFICATION, 2, dropout=0.5)
    with pytest.raises(ConfigError, match="IMAGENET1K_V1, IMAGENET1K_V2, DEFAULT"):
        build_model("resnet50", Task.CLASSIFICATION, 2, weights="IMAGENET1K_V3")
    with pytest.raises(ConfigError, match="unknown task"):
        architectures("segmentation")


def test_models_command_lists_and_explains(capsys):
    assert main(["models", "--task", "classification"]) == 0
    out = capsys.readouterr().out
    assert "resnet18" in out and "11.7M" in out and "fasterrcnn_resnet50_fpn" not in out
    assert main(["models", "--arch", "fasterrcnn_timm:tf_efficientnet_lite0"]) == 0
    assert "backbone:in1k" in capsys.readouterr().out
    assert main(["models", "--arch", "resnet81"]) == 1
    assert "did you mean resnet18" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.parametrize("name", list(architectures()) and
                         [s.name for s in architectures()])
def test_every_listed_architecture_builds_and_runs(name):
    """Build each listed entry with random weights once and check its output shape."""
    spec = get_arch(name)
    built = build_model(name, spec.task, 3, **({"image_size": 128} if spec.model_normalizes
                                              else {}))
    _check_partition(built)
    model = built.model.eval()
    with torch.no_grad():
        if spec.model_normalizes:
            out = model([torch.rand(3, 128, 128)])
            assert out[0]["boxes"].shape[-1] == 4
            if spec.task == Task.INSTANCE_SEGMENTATION:
                assert "masks" in out[0]
        else:
            side = 299 if name == "inception_v3" else 64
            y = model(torch.randn(1, 3, side, side))
            want = (1, 3) if spec.task == Task.CLASSIFICATION else (1, 3, side, side)
            assert tuple(y.shape) == want


@pytest.mark.parametrize("arch", ["resnet18", "timm:tf_efficientnet_lite0"])
def test_new_classification_head_starts_near_uniform(arch):
    """A new head starts near uniform predictions: cross-entropy ≈ ln K, not the
    libraries' wide default init (timm's gave ~3.9 on 2 classes)."""
    import math

    import torch

    from vision_studio.core.models.registry import build_model

    torch.manual_seed(0)
    built = build_model(arch, "classification", 5)
    built.model.eval()
    with torch.no_grad():
        logits = built.model(torch.rand(4, 3, 64, 64))
    loss = torch.nn.functional.cross_entropy(logits, torch.tensor([0, 1, 2, 3])).item()
    assert abs(loss - math.log(5)) < 0.3, loss
