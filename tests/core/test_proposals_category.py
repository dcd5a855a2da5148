"""Accepting a proposal under another category (the review's number keys, issue 14) and
reading the proposals of one category (what a category delete or merge takes with it),
on a real SQLite file."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from vision_studio.core.store import ProjectStore, StoreError
from vision_studio.core.types import Annotation, ImageRecord, Proposal

SQUARE = [10.0, 10.0, 30.0, 10.0, 30.0, 30.0, 10.0, 30.0]


@pytest.fixture
def store(tmp_path):
    s = ProjectStore.create(tmp_path / "p.vsproj")
    for name in ("a.png", "b.png"):
        Image.fromarray(np.full((40, 50, 3), 120, np.uint8)).save(tmp_path / name)
    s.add_images([ImageRecord("a.png", 50, 40, "train"), ImageRecord("b.png", 50, 40, "train")])
    s.add_category("ant")
    s.add_category("bee")
    yield s
    s.close()


def _three(store) -> list[Proposal]:
    return store.add_proposals([
        Proposal(0, 1, 1, "bbox", (2.0, 3.0, 10.0, 12.0), None, 0.9, "run1"),
        Proposal(0, 1, 2, "polygon", None, [SQUARE], 0.4, "run1"),
        Proposal(0, 2, 1, "tag", None, None, 0.75, "run2"),
    ])


def test_accept_under_another_category_is_an_edit(store, tmp_path):
    box, poly, tag = _three(store)
    ann = store.accept_proposal(box.id, category_id=2)
    assert isinstance(ann, Annotation)
    assert (ann.category_id, ann.bbox, ann.source) == (2, (2.0, 3.0, 10.0, 12.0), "model:run1:edited")
    same = store.accept_proposal(poly.id, category_id=2)  # its own category: not an edit
    assert (same.category_id, same.source) == (2, "model:run1")
    before = store.accept_proposal(tag.id, category_id=2)
    assert before == () and store.image_tag_sources(2) == {2: "model:run2:edited"}
    assert store.proposals() == []
    with ProjectStore.open(tmp_path / "p.vsproj", readonly=True) as other:  # committed
        assert sorted(a.source for a in other.annotations()) == ["model:run1", "model:run1:edited"]


def test_accept_under_an_unknown_category_keeps_the_proposal(store):
    box, _, _ = _three(store)
    with pytest.raises(StoreError, match="unknown category"):
        store.accept_proposal(box.id, category_id=99)
    assert store.proposals(1)[0] == box and store.annotation_count() == 0


def test_proposals_of_one_category(store):
    box, poly, tag = _three(store)
    assert store.proposals(category_id=1) == [box, tag]
    assert store.proposals(1, category_id=2) == [poly]
    assert store.proposals(category_id=2, min_score=0.5) == []


def test_tag_sources_read_and_set(store):
    *_, tag = _three(store)
    store.accept_proposal(tag.id)
    store.set_image_tags(1, [1])  # by hand: source ''
    assert store.tag_sources(1) == {(2, 1): "model:run2"}
    store.set_image_tags(2, [1])  # what an undo of a merge does: the source is lost...
    assert store.tag_sources(1) == {}
    store.set_tag_sources({(2, 1): "model:run2", (2, 2): "model:x"})  # ...and put back
    assert store.tag_sources(1) == {(2, 1): "model:run2"} and store.image_tags(2) == (1,)
