"""The queue's ``typiclust`` strategy end to end on real photos: lite0 features from the
dataset-health cache, labelled images as covered points, scores stored in the project."""
from __future__ import annotations

import numpy as np
import pytest

from tests.gui._eval_fixtures import shared_data
from vision_studio.core.assist.queue import score_images
from vision_studio.core.assist.uncertainty import DEFAULT_STRATEGY, STRATEGIES, typiclust
from vision_studio.core.store import ProjectStore

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def small_hym(tmp_path):
    """8 ants + 8 bees of hymenoptera/train; two of each kept tagged, the rest untagged."""
    from vision_studio.core.io.imagefolder import read_imagefolder

    store = ProjectStore.create(tmp_path / "h.vsproj")
    read_imagefolder(store, shared_data("hymenoptera"))
    tags = store.all_image_tags()
    by_class: dict[int, list[int]] = {}
    for im in store.images("train"):
        by_class.setdefault(tags[im.id][0], []).append(im.id)
    keep = {i for ids in by_class.values() for i in ids[:8]}
    labelled = {i for ids in by_class.values() for i in ids[:2]}
    for im in store.images():
        if im.id not in keep:
            store.delete_image(im.id)
        elif im.id not in labelled:
            store.set_image_tags(im.id, [])
    yield store, labelled
    store.close()


def test_typiclust_queue_scores_the_pool_from_the_feature_cache(small_hym, lite0_weights):
    from vision_studio.core.health.features import compute_features

    store, labelled = small_hym
    assert "typiclust" in STRATEGIES and DEFAULT_STRATEGY in STRATEGIES
    result = score_images(store, "typiclust", weights=str(lite0_weights), batch=3, seed=0)
    pool = sorted(im.id for im in store.images() if im.id not in labelled)
    assert sorted(result.image_ids.tolist()) == pool  # the unlabelled images, each once
    assert np.all(np.diff(result.scores) <= 0)
    saved = store.queue_scores("typiclust")
    assert list(saved) == result.image_ids.tolist()  # stored, in queue order
    # the same order as the pure function on the same cached features
    feats = compute_features(store, weights=str(lite0_weights), image_ids=pool + sorted(labelled))
    rows = feats.index_of()
    want = typiclust(feats.features[[rows[i] for i in pool]], feats.features[[rows[i] for i in sorted(labelled)]],
                     3, seed=0)
    assert result.image_ids.tolist() == np.asarray(pool)[np.lexsort((pool, -want))].tolist()
    again = score_images(store, "typiclust", weights=str(lite0_weights), batch=3, seed=0, save=False)
    assert again.image_ids.tolist() == result.image_ids.tolist()  # deterministic for a seed


def test_the_queue_command_defaults_to_typiclust_without_a_checkpoint(small_hym, lite0_weights, capsys):
    from vision_studio.cli import main

    store, labelled = small_hym
    path = store.path
    store.close()
    assert main(["queue", "--project", str(path), "--n", "3", "--weights", str(lite0_weights)]) == 0
    captured = capsys.readouterr()
    assert len(captured.out.splitlines()) == 3
    assert f"{16 - len(labelled)} images scored by {DEFAULT_STRATEGY}" in captured.err
    assert DEFAULT_STRATEGY == "typiclust"
    with ProjectStore.open(path) as again:
        assert len(again.queue_scores("typiclust")) == 16 - len(labelled)
