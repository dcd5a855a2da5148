"""The seeds' remaining architectures in the registry (issue 16 item 4): LeNet-5, AlexNet,
VGG-19-BN, DenseNet-169, Xception and Inception-v4 (timm), SSD300-VGG16. Each builds with
``weights=None``, takes one SGD step on tiny inputs (the loss is finite and the weights
move), predicts on real images through the evaluation core, lists its weights names,
and ``vision-studio models`` lists it."""
from __future__ import annotations

import pytest
import torch

from tests.conftest import shared_dataset
from vision_studio.cli import main
from vision_studio.core.models.registry import build_model, get_arch

pytestmark = pytest.mark.usefixtures("one_thread")

CLS = [("lenet5", 32), ("alexnet", 64), ("densenet169", 64),
       pytest.param("vgg19_bn", 32, marks=pytest.mark.slow),
       ("timm:legacy_xception", 72), pytest.param("timm:inception_v4", 128, marks=pytest.mark.slow)]
WEIGHTS = {"lenet5": (), "alexnet": ("IMAGENET1K_V1",), "vgg19_bn": ("IMAGENET1K_V1",),
           "densenet169": ("IMAGENET1K_V1",), "timm:legacy_xception": ("tf_in1k",),
           "timm:inception_v4": ("tf_in1k",), "ssd300_vgg16": ("COCO_V1",)}




def _step(model: torch.nn.Module, loss: torch.Tensor) -> float:
    before = [p.detach().clone() for p in model.parameters() if p.requires_grad]
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    opt.zero_grad()
    loss.backward()
    opt.step()
    moved = sum(not torch.equal(a, p.detach()) for a, p in zip(before, (q for q in model.parameters()
                                                                        if q.requires_grad)))
    assert torch.isfinite(loss) and moved > 0
    return moved


@pytest.mark.parametrize("arch, size", CLS)
def test_classifier_builds_trains_and_predicts(arch, size):
    from vision_studio.core.evaluation.predict import predict_classification

    spec = get_arch(arch)
    assert spec.task == "classification" and set(WEIGHTS[arch]) <= set(spec.weights)
    built = build_model(arch, "classification", 2)
    assert built.stages and built.head
    model = built.model.train()
    torch.manual_seed(0)
    # 4 images: BatchNorm over 2 values of a 1x1 map gave exploding gradients (NaN after the step)
    x, y = torch.randn(4, 3, size, size), torch.tensor([0, 1, 0, 1])
    _step(model, torch.nn.functional.cross_entropy(model(x), y))
    images = sorted((shared_dataset("hymenoptera") / "val" / "ants").glob("*.jpg"))[:2]
    pred = predict_classification(model, images, ["ants", "bees"], built.mean, built.std, size)
    assert pred.probs.shape == (2, 2) and torch.allclose(torch.from_numpy(pred.probs).sum(1), torch.ones(2))


@pytest.mark.slow
def test_ssd300_vgg16_builds_trains_and_predicts():
    from vision_studio.core.evaluation.predict import predict_detections

    spec = get_arch("ssd300_vgg16")
    assert spec.task == "detection" and "COCO_V1" in spec.weights
    built = build_model("ssd300_vgg16", "detection", 2)
    model = built.model.train()
    images = [torch.rand(3, 120, 160), torch.rand(3, 100, 100)]
    targets = [{"boxes": torch.tensor([[10.0, 10.0, 60.0, 50.0]]), "labels": torch.tensor([1])},
               {"boxes": torch.tensor([[5.0, 20.0, 40.0, 90.0]]), "labels": torch.tensor([2])}]
    losses = model(images, targets)
    _step(model, sum(losses.values()))
    rbc = sorted((shared_dataset("rbc_coco") / "valid").glob("*.jpg"))[:1]
    raw = predict_detections(model, rbc, [{"id": 1, "name": "rbc"}, {"id": 2, "name": "wbc"}],
                             image_size=300, score_floor=0.0)
    assert len(raw) > 0 and raw.image_sizes.tolist() == [[416, 416]]


def test_models_lists_them(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    for name in ("lenet5", "alexnet", "vgg19_bn", "densenet169", "timm:legacy_xception", "timm:inception_v4",
                 "ssd300_vgg16"):
        assert f"  {name} " in out, name
