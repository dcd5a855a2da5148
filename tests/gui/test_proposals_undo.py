"""Deleting or merging a category takes its model proposals (and the provenance of its
accepted tags) with it, and undo puts them back: the same ids, the same categories,
shown again by the review (issue 14). Real main window, real keys, the project file
checked through a second connection."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt

from test_proposals import CTRL, SHIFT, key, opened, project  # noqa: F401  (fixture)
from vision_studio.core.store import ProjectStore
from vision_studio.core.types import Proposal


def state(path: Path):
    """Everything a category command touches, read from the file."""
    with ProjectStore.open(path) as s:
        return ({c.id: c.name for c in s.categories()},
                sorted((a.id, a.category_id) for a in s.annotations()),
                s.all_image_tags(),
                {i: s.image_tag_sources(i) for i in s.all_image_tags()},
                s.proposals())


def _with_model_tag(path: Path) -> int:
    """A dog tag proposal on img_005, accepted: a tag with source model:r1."""
    with ProjectStore.open(path) as s:
        dog = s.categories()[1].id
        p = s.add_proposals([Proposal(0, s.images()[5].id, dog, "tag", None, None, 0.8, "r1")])[0]
        s.accept_proposal(p.id)
        return dog


def test_delete_category_then_undo_restores_its_proposals_and_tag_provenance(main_window, project, qtbot):
    dog = _with_model_tag(project)
    before = state(project)
    assert [p.category_id for p in before[4]].count(dog) == 2
    assert "model:r1" in {src for tags in before[3].values() for src in tags.values()}
    panel, canvas, review, image_id = opened(main_window, project)
    assert panel.categories.delete_categories([dog])
    cats, anns, tags, sources, props = state(project)
    assert dog not in cats and all(c != dog for _, c in anns)
    assert [p for p in props if p.category_id == dog] == [] and len(props) == 3
    assert all(it.proposal.category_id != dog for it in review.items.values())
    key(qtbot, canvas, Qt.Key.Key_Z, CTRL)
    assert state(project) == before  # proposals with their ids, tags with their source
    assert sorted(it.proposal.id for it in review.items.values()) == \
        sorted(p.id for p in before[4] if p.image_id == image_id)
    key(qtbot, canvas, Qt.Key.Key_Z, CTRL | SHIFT)
    assert len(state(project)[4]) == 3
    key(qtbot, canvas, Qt.Key.Key_Z, CTRL)
    assert state(project) == before


def test_merge_moves_proposals_to_the_target_and_undo_moves_them_back(main_window, project, qtbot):
    dog = _with_model_tag(project)
    before = state(project)
    cat = next(i for i, n in before[0].items() if n == "cat")
    panel, canvas, review, image_id = opened(main_window, project)
    assert panel.categories.merge_categories([dog], cat)
    cats, _, _, sources, props = state(project)
    assert dog not in cats
    moved = {p.id: p.category_id for p in props}
    assert moved == {p.id: (cat if p.category_id == dog else p.category_id) for p in before[4]}
    assert any(src == {cat: "model:r1"} for src in sources.values())  # the accepted tag's provenance
    key(qtbot, canvas, Qt.Key.Key_Z, CTRL)
    assert state(project) == before
