"""Accepting a proposal under another category (the review's number keys, issue 14) and
reading the proposals of one category (what a category delete or merge takes with it),
on a real SQLite file."""
from __future__ import annotations

import pytest

from vision_studio.core.store import ProjectStore, StoreError
from vision_studio.core.types import Annotation

from tests.core.test_store_proposals import _three, store  # noqa: F401  (the fixture)


def test_accept_under_another_category_is_an_edit(store, tmp_path):
    box, poly, tag = _three(store)
    ann = store.accept_proposal(box.id, category_id=2)
    assert isinstance(ann, Annotation)
    assert (ann.category_id, ann.bbox, ann.source) == (2, (2.0, 3.0, 10.0, 12.0), "model:run1:edited")
    same = store.accept_proposal(poly.id, category_id=2)  # its own category: not an edit
    assert (same.category_id, same.source) == (2, "model:run1")
    before = store.accept_proposal(tag.id, category_id=1)
    assert before == () and store.image_tag_sources(2) == {1: "model:run2:edited"}
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
    assert store.proposals(category_id=1) == [box]
    assert store.proposals(1, category_id=2) == [poly]
    assert store.proposals(category_id=2, min_score=0.5) == [tag]


def test_tag_sources_read_and_set(store):
    *_, tag = _three(store)
    store.accept_proposal(tag.id)
    store.set_image_tags(1, [2])  # by hand: source ''
    assert store.tag_sources(2) == {(2, 2): "model:run2"}
    store.set_image_tags(2, [2])  # what an undo of a merge does: the source is lost...
    assert store.tag_sources(2) == {}
    store.set_tag_sources({(2, 2): "model:run2", (2, 1): "model:x"})  # ...and put back
    assert store.tag_sources(2) == {(2, 2): "model:run2"} and store.image_tags(2) == (2,)
    assert store.tag_sources(1) == {}  # (2, 1) is no tag: not made
