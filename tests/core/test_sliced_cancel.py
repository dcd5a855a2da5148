"""Sliced inference reports progress and honours Cancel per tile batch, not per image.

A 6000 x 8000 photo is hundreds of tiles: progress once per image left the bar standing
and Cancel acting after minutes. Here, with a real torchvision detector (random weights)
wrapped by a module that counts its forward passes, on a real raccoon_voc photo enlarged:
a cancel set after the first tile batch stops before the second forward pass (directly,
through the evaluation session's ``cancelled()`` and through pre-labelling); progress
rises within the image, monotonically, and reaches each image's end exactly; a cancelled
pre-labelling stores no proposal of the image it was predicting (nor of any other: the
whole run is one transaction, as for whole images) and keeps the earlier proposals it
would have replaced."""
from __future__ import annotations

import threading

import numpy as np
import pytest

from tests.conftest import shared_dataset
from vision_studio.core.cancel import Cancelled
from vision_studio.core.evaluation.sliced import SliceSettings, predict_sliced

pytestmark = pytest.mark.usefixtures("one_thread")

CATS = [{"id": 1, "name": "raccoon"}, {"id": 2, "name": "other"}]
TILE = 256


def _photo(width: int, height: int) -> np.ndarray:
    """A real raccoon_voc photo resized to ``width`` x ``height`` (RGB uint8)."""
    from PIL import Image

    path = shared_dataset("raccoon_voc") / "images" / "raccoon-1.jpg"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    return np.asarray(Image.open(path).convert("RGB").resize((width, height), Image.BILINEAR))


def _counting(model):
    """``model`` wrapped by an ``nn.Module`` that counts its forward calls; ``roi_heads``
    is the wrapped model's (the prediction relaxes its thresholds)."""
    import torch

    class Counting(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner
            self.roi_heads = inner.roi_heads
            self.calls = 0

        def forward(self, images):
            self.calls += 1
            return self.inner(images)

    return Counting(model)


@pytest.fixture(scope="module")
def detector():
    import torch
    from torchvision.models.detection import fasterrcnn_mobilenet_v3_large_320_fpn

    torch.manual_seed(0)
    return fasterrcnn_mobilenet_v3_large_320_fpn(weights=None, weights_backbone=None, num_classes=3).eval()


def _batches(height: int, width: int, batch_size: int = 2) -> int:
    from vision_studio.core.large.tiles import tile_grid

    return -(-len(tile_grid(height, width, TILE, 0.2)) // batch_size)


def test_a_cancel_after_the_first_tile_batch_stops_before_the_second(detector):
    big = _photo(1600, 1200)
    assert _batches(1200, 1600) >= 20  # without the per-batch check all of them would run
    model = _counting(detector)
    stop = threading.Event()
    seen: list[float] = []

    def progress(done: float, total: int) -> None:
        seen.append(done)
        stop.set()  # the user clicks Cancel while the first batch's result comes in

    with pytest.raises(Cancelled, match="at image 1 of 2"):
        predict_sliced(model, [big, big], CATS, settings=SliceSettings(tile=TILE), batch_size=2,
                       progress=progress, cancel=stop)
    assert model.calls == 1
    assert len(seen) == 1 and 0 < seen[0] < 0.1
    # a callable cancel (the evaluation's convention) acts the same
    model.calls = 0
    with pytest.raises(Cancelled):
        predict_sliced(model, [big], CATS, settings=SliceSettings(tile=TILE), batch_size=2,
                       progress=lambda d, t: None, cancel=lambda: model.calls >= 1)
    assert model.calls == 1


def test_progress_rises_within_an_image_and_reaches_each_images_end(detector):
    big, small = _photo(900, 700), _photo(200, 150)
    model = _counting(detector)
    seen: list[float] = []
    out = predict_sliced(model, [big, small], CATS, settings=SliceSettings(tile=TILE), batch_size=2,
                         progress=lambda d, t: seen.append((d, t)))
    passes = _batches(700, 900) + 1  # tile batches + the whole-image pass
    assert model.calls == passes + 1  # the small image: one whole-image pass
    assert {t for _, t in seen} == {2}
    done = [d for d, _ in seen]
    assert all(b > a for a, b in zip(done, done[1:])), done  # strictly monotone
    first = [d for d in done if d <= 1]
    assert first == pytest.approx([k / passes for k in range(1, passes + 1)])
    assert done[len(first) - 1] == 1 and isinstance(done[len(first) - 1], int)  # reached exactly, once
    assert done[-1] == 2 and len(done) == passes + 1
    assert out.image_sizes.tolist() == [[700, 900], [150, 200]]


def _project(tmp_path, detector_images):
    """A project of a small (whole) and a large (sliced) photo, and a checkpoint of
    ``fasterrcnn_mobilenet_v3_large_320_fpn`` with random weights (BatchNorm statistics
    from the photos)."""
    from PIL import Image

    from tests.core._checkpoints import make_checkpoint
    from vision_studio.core.store import ProjectStore
    from vision_studio.core.types import ImageRecord, Task

    folder = tmp_path / "p"
    folder.mkdir()
    for name, arr in detector_images.items():
        Image.fromarray(arr).save(folder / name)
    project = folder / "p.vsproj"
    with ProjectStore.create(project, root=folder) as store:
        cats = [store.add_category(c["name"]) for c in CATS]
        store.add_images([ImageRecord(path=n, width=a.shape[1], height=a.shape[0])
                          for n, a in detector_images.items()])
    ckpt = make_checkpoint(folder / "run", Task.DETECTION, "fasterrcnn_mobilenet_v3_large_320_fpn",
                           [{"id": c.id, "name": c.name} for c in cats], image_size=TILE,
                           images=[folder / n for n in detector_images])
    return project, ckpt


def test_a_cancelled_prelabel_stores_no_proposal_of_the_image_it_was_slicing(tmp_path):
    from vision_studio.core.assist.inference import load_model
    from vision_studio.core.assist.prelabel import prelabel
    from vision_studio.core.store import ProjectStore

    project, ckpt = _project(tmp_path, {"small.png": _photo(240, 180), "big.png": _photo(960, 720)})
    with ProjectStore.open(project) as store:
        model = load_model(store, ckpt, device="cpu")
        small, big = store.images()
        model.built.model = counted = _counting(model.built.model)
        stop = threading.Event()
        seen: list[float] = []

        def progress(done: float, total: int) -> None:
            seen.append(done)
            if done > 1:  # the small image is done; the first tile batch of the large one too
                stop.set()

        raised = _prelabel_raises(store, model, progress, stop)
        assert [p for p in store.proposals() if p.image_id == big.id] == []  # none of the image cut short
        assert store.proposals() == []  # nor of the image finished before (one transaction)
        assert raised and counted.calls == 2 and seen[0] == 1 and 1 < seen[-1] < 1.2
        done = prelabel(store, model=model, images="all", score=0.0, slicing=TILE)
        assert done.sliced == 1
        before = sorted((p.id, p.image_id, tuple(p.bbox), p.score) for p in store.proposals())
        assert {p[1] for p in before} == {small.id, big.id}
        stop.clear()
        counted.calls, seen[:] = 0, []
        raised = _prelabel_raises(store, model, progress, stop)
        # the rerun would replace the run's proposals: cancelled, the earlier ones all stay
        assert sorted((p.id, p.image_id, tuple(p.bbox), p.score) for p in store.proposals()) == before
        assert raised and counted.calls == 2


def _prelabel_raises(store, model, progress, stop) -> bool:
    """Pre-label every image (tiles of 256 px); whether it raised :class:`Cancelled`."""
    from vision_studio.core.assist.prelabel import prelabel

    try:
        prelabel(store, model=model, images="all", score=0.0, slicing=TILE, progress=progress, cancel=stop)
    except Cancelled:
        return True
    return False


def test_the_evaluation_session_cancel_acts_within_a_tile_batch(tmp_path):
    """``predict_inputs(cancelled=...)`` (what the Evaluate tab's worker calls) on a photo
    large enough for the automatic slicing (longer side above 2000 px)."""
    from vision_studio.core.evaluation.session import EvaluationCancelled, predict_inputs, prepare_inputs
    from vision_studio.core.store import ProjectStore

    project, ckpt = _project(tmp_path, {"big.png": _photo(2100, 1575)})
    with ProjectStore.open(project) as store:
        inputs = prepare_inputs(store, ckpt, "all", use_cache=False)
        paths = [store.resolve(im) for im in inputs.images]
    seen: list[float] = []
    with pytest.raises(EvaluationCancelled):
        predict_inputs(inputs, paths, progress=lambda d, t: seen.append(d), cancelled=lambda: bool(seen),
                       device="cpu")
    assert _batches(1575, 2100) >= 40
    assert len(seen) == 1 and 0 < seen[0] < 0.05  # one tile batch of > 40, then stopped
