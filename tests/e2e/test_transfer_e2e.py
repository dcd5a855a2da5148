"""Transfer learning with the real ImageNet weights of timm's ``tf_efficientnet_lite0``
(``../shared/weights``) through the Trainer, on ``hymenoptera``:

* classification: the linear probe on the pretrained network reaches >= 93 % validation
  accuracy (reference: 94.8 %), while the same architecture from random weights with the
  same budget stays far below (reference: 55.6-68.6 %);
* detection: Faster R-CNN on the pretrained lite0 backbone (feature extraction: frozen
  backbone, FPN + heads trained) against the identical model from random weights, same
  budget, on ``rbc_coco``: the pretrained one reaches a lower validation loss.

Slow (run with ``-m slow``); CPU.
"""
from __future__ import annotations

import pytest
import torch

from vision_studio.core.store import ProjectStore
from vision_studio.core.training import TrainConfig
from vision_studio.core.training.trainer import Trainer

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def one_thread():
    """One intra-op thread (2 threads spin badly on the shared 2-core machine)."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture
def hymenoptera(tmp_path, data_dir):
    from vision_studio.core.io.imagefolder import read_imagefolder

    store = ProjectStore.create(tmp_path / "p.vsproj")
    read_imagefolder(store, data_dir("hymenoptera"))
    yield store
    store.close()


def test_linear_probe_pretrained_vs_scratch_on_hymenoptera(tmp_path, hymenoptera, lite0_weights):
    accuracy = {}
    for name, weights in (("pretrained", str(lite0_weights)), ("scratch", None)):
        cfg = TrainConfig.from_dict(dict(
            task="classification", arch="timm:tf_efficientnet_lite0", weights=weights,
            strategy="linear_probe", batch_size=32, image_size=224, device="cpu", seed=0,
            out_dir=str(tmp_path / name)))
        result = Trainer(hymenoptera).fit(cfg)
        assert result.status == "finished" and result.metric_name == "accuracy"
        accuracy[name] = result.history[-1]["accuracy"]
    print("linear probe val accuracy:", accuracy)
    assert accuracy["pretrained"] >= 0.93
    assert accuracy["scratch"] <= 0.80
    assert accuracy["pretrained"] - accuracy["scratch"] >= 0.15


def test_detection_pretrained_backbone_beats_scratch_on_rbc_coco(tmp_path, data_dir,
                                                                   lite0_weights):
    from vision_studio.core.io.coco import read_coco

    root = data_dir("rbc_coco")
    store = ProjectStore.create(tmp_path / "p.vsproj")
    read_coco(store, root / "train" / "_annotations.coco.json", split="train")
    read_coco(store, root / "valid" / "_annotations.coco.json", split="val")
    results = {}
    for name, weights, strategy in (("pretrained", str(lite0_weights), "feature_extraction"),
                                    ("scratch", None, "scratch")):
        cfg = TrainConfig.from_dict(dict(
            task="detection", arch="fasterrcnn_timm:tf_efficientnet_lite0", weights=weights,
            strategy=strategy, epochs=3, batch_size=2, lr=0.01, warmup_epochs=1,
            grad_clip=10.0, image_size=256,
            max_steps_per_epoch=10, max_val_batches=6, device="cpu", seed=0,
            out_dir=str(tmp_path / name)))
        results[name] = Trainer(store).fit(cfg).history[-1]
    store.close()
    print({k: {m: round(v[m], 4) for m in ("train_loss", "val_loss", "mAP", "AP50")}
           for k, v in results.items()})
    assert results["pretrained"]["val_loss"] < 0.9 * results["scratch"]["val_loss"]
    assert results["pretrained"]["AP50"] >= results["scratch"]["AP50"] + 0.15
