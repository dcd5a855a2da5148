"""Linear probe on real photos (``../shared/data/hymenoptera``) with the real ImageNet
lite0 weights: the fitted head written back into the model gives the same predictions
through a normal forward pass; the backbone does not change; bad input is refused.
The slow test reproduces the README's reference figure (≥ 93 % validation accuracy)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from vision_studio.core.errors import ConfigError
from vision_studio.core.models.linear_probe import extract_features, fit_linear_probe
from vision_studio.core.models.registry import build_model
from vision_studio.core.types import Task

pytestmark = pytest.mark.usefixtures("one_thread")

CLASSES = ("ants", "bees")


class Folder(torch.utils.data.Dataset):
    """ImageFolder-like: resize the shorter side to ``side * 8/7`` (bicubic), centre
    crop ``side``, normalise with mean/std 0.5 (lite0's evaluation preprocessing)."""

    def __init__(self, root: Path, per_class: int | None, side: int) -> None:
        self.items = []
        for label, name in enumerate(CLASSES):
            files = sorted(p for p in (root / name).iterdir()
                           if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
            self.items += [(p, label) for p in files[:per_class]]
        self.side = side

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        from PIL import Image

        path, label = self.items[i]
        img = Image.open(path).convert("RGB")
        resize = round(self.side * 8 / 7)
        scale = resize / min(img.size)
        img = img.resize((max(resize, round(img.width * scale)),
                          max(resize, round(img.height * scale))), Image.BICUBIC)
        left, top = (img.width - self.side) // 2, (img.height - self.side) // 2
        img = img.crop((left, top, left + self.side, top + self.side))
        x = torch.from_numpy(np.asarray(img, dtype=np.float32) / 255).permute(2, 0, 1)
        return (x - 0.5) / 0.5, label


def _loader(root: Path, per_class: int | None, side: int) -> torch.utils.data.DataLoader:
    return torch.utils.data.DataLoader(Folder(root, per_class, side), batch_size=16)


def test_probe_head_written_back_predicts_like_the_probe(data_dir, lite0_weights):
    root = data_dir("hymenoptera")
    built = build_model("timm:tf_efficientnet_lite0", Task.CLASSIFICATION, 2,
                        weights=str(lite0_weights))
    stem_before = built.model.conv_stem.weight.clone()
    train, val = _loader(root / "train", 8, 160), _loader(root / "val", 6, 160)
    result = fit_linear_probe(built, train, val)
    assert (result.n_train, result.n_val, result.feature_dim) == (16, 12, 1280)
    assert result.train_accuracy == 1.0  # 16 points in 1280-d: separable
    assert torch.equal(built.model.conv_stem.weight, stem_before)  # backbone untouched
    # a plain forward pass of the model now gives the probe's accuracy on val
    model = built.model.eval()
    with torch.no_grad():
        preds = torch.cat([model(x).argmax(1) for x, _ in val])
    labels = torch.cat([y for _, y in val])
    assert float((preds == labels).float().mean()) == pytest.approx(result.val_accuracy)
    assert result.val_accuracy >= 9 / 12  # pretrained features: far above chance (0.5)


def test_probe_refuses_bad_input(data_dir):
    seg = build_model("lraspp_mobilenet_v3_large", Task.SEMANTIC_SEGMENTATION, 2)
    with pytest.raises(ConfigError, match="classification only"):
        fit_linear_probe(seg, [])
    built = build_model("mobilenet_v3_small", Task.CLASSIFICATION, 2)
    one_class = [(torch.randn(4, 3, 32, 32), torch.zeros(4, dtype=torch.long))]
    with pytest.raises(ConfigError, match="same category"):
        fit_linear_probe(built, one_class)
    with pytest.raises(ConfigError, match="labels must be in 0..1"):
        fit_linear_probe(built, [(torch.randn(2, 3, 32, 32), torch.tensor([0, 2]))])
    with pytest.raises(ConfigError, match="no images"):
        extract_features(built, [])
    with pytest.raises(ConfigError, match="C must be > 0"):
        fit_linear_probe(built, one_class, C=0.0)


@pytest.mark.slow
def test_linear_probe_pretrained_vs_scratch_on_hymenoptera(data_dir, lite0_weights):
    """README reference: 94.8 % pretrained, 55.6–68.6 % on a random network."""
    root = data_dir("hymenoptera")
    train, val = _loader(root / "train", None, 224), _loader(root / "val", None, 224)
    pre = build_model("timm:tf_efficientnet_lite0", Task.CLASSIFICATION, 2,
                      weights=str(lite0_weights))
    res_pre = fit_linear_probe(pre, train, val)
    torch.manual_seed(0)
    scratch = build_model("timm:tf_efficientnet_lite0", Task.CLASSIFICATION, 2)
    res_scratch = fit_linear_probe(scratch, train, val)
    print(f"linear probe val accuracy: pretrained {res_pre.val_accuracy:.3f}, "
          f"scratch {res_scratch.val_accuracy:.3f} (n_train {res_pre.n_train}, "
          f"n_val {res_pre.n_val})")
    assert res_pre.val_accuracy >= 0.93
    assert res_scratch.val_accuracy <= 0.80
