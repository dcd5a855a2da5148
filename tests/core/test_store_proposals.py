"""Schema 3: model proposals and queue scores on a real SQLite file — the v2 → v3
migration, accept / reject / restore, cascades, and that exports, training data and
evaluation ground truth never see a proposal."""
from __future__ import annotations

import json
import sqlite3
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from PIL import Image

from vision_studio.core.store import SCHEMA_VERSION, ProjectStore, StoreError
from vision_studio.core.store.removal import remove_images, restore_images
from vision_studio.core.store.schema import _SCHEMA_V1, MIGRATIONS
from vision_studio.core.types import Annotation, ImageRecord, Proposal, Task

SQUARE = [10.0, 10.0, 30.0, 10.0, 30.0, 30.0, 10.0, 30.0]


def _make_v2(path) -> None:
    """A project file exactly as schema 2 wrote it, with an image, a category, a tag and
    an annotation."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.executescript("BEGIN;" + _SCHEMA_V1 + MIGRATIONS[1] + "PRAGMA user_version = 2; COMMIT;")
    conn.execute("INSERT INTO categories(name, color) VALUES('ant', '#ff0000')")
    conn.execute("INSERT INTO images(path, width, height, split) VALUES('a.png', 40, 30, 'train')")
    conn.execute("INSERT INTO annotations(image_id, category_id, x, y, w, h, iscrowd, area, source) "
                 "VALUES(1, 1, 1, 2, 3, 4, 0, 12, 'model:r1')")
    conn.execute("INSERT INTO image_tags(image_id, category_id) VALUES(1, 1)")
    conn.close()


def _tables(path) -> dict:
    conn = sqlite3.connect(path)
    out = {t: [r[1:] for r in conn.execute(f"PRAGMA table_info({t})")] for (t,) in
           conn.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'index') "
                        "AND name NOT LIKE 'sqlite_%' ORDER BY name")}
    conn.close()
    return out


def test_v2_file_migrates_to_v3_with_its_rows_and_the_same_schema_as_a_new_file(tmp_path):
    old = tmp_path / "old.vsproj"
    _make_v2(old)
    with ProjectStore.open(old) as store:
        assert store._read("PRAGMA user_version")[0][0] == SCHEMA_VERSION == 3
        assert store.annotation(1).source == "model:r1"
        assert store.image_tags(1) == (1,) and store.image_tag_sources(1) == {1: ""}
        assert store.proposals() == [] and store.queue_scores() == {}
        (p,) = store.add_proposals([Proposal(0, 1, 1, "bbox", (1, 1, 5, 5), None, 0.9, "r2")])
        assert store.proposals(1) == [p]
        assert store.integrity_check() == "ok"
    ProjectStore.create(tmp_path / "new.vsproj").close()
    assert _tables(old) == _tables(tmp_path / "new.vsproj")


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
        Proposal(0, 2, 2, "tag", None, None, 0.75, "run2"),
    ])


def test_add_read_filter_count(store):
    props = _three(store)
    assert [p.id for p in props] == [1, 2, 3]
    assert props[1].bbox == (10.0, 10.0, 20.0, 20.0)  # the polygon's bbox
    assert store.proposals() == props
    assert store.proposals(1) == props[:2]
    assert store.proposals(min_score=0.5) == [props[0], props[2]]
    assert store.proposals(1, min_score=0.5) == [props[0]]
    assert store.proposal_counts() == {1: 2, 2: 1}
    assert store.annotation_count() == 0 and store.all_image_tags() == {}


@pytest.mark.parametrize("bad", [
    Proposal(0, 1, 1, "circle", (1, 1, 2, 2), None, 0.5, "r"),
    Proposal(0, 1, 1, "bbox", (1, 1, 0, 2), None, 0.5, "r"),
    Proposal(0, 1, 1, "bbox", (1, 1, 2, 2), None, 1.5, "r"),
    Proposal(0, 1, 1, "polygon", None, None, 0.5, "r"),
    Proposal(0, 1, 1, "polygon", None, [[1, 2, 3, 4]], 0.5, "r"),
    Proposal(0, 1, 1, "tag", (1, 1, 2, 2), None, 0.5, "r"),
    Proposal(0, 9, 1, "bbox", (1, 1, 2, 2), None, 0.5, "r"),
])
def test_invalid_proposals_are_refused_and_nothing_is_kept(store, bad):
    with pytest.raises(StoreError):
        store.add_proposals([Proposal(0, 1, 1, "bbox", (1, 1, 2, 2), None, 0.5, "r"), bad])
    assert store.proposals() == []


def test_delete_then_restore_gives_the_same_ids(store):
    props = _three(store)
    gone = store.delete_proposals([1, 3, 99])
    assert gone == [props[0], props[2]]
    assert store.proposals() == [props[1]]
    store.restore_proposals(gone)
    assert store.proposals() == props
    later = store.add_proposals([Proposal(0, 2, 1, "bbox", (0, 0, 4, 4), None, 0.3, "run3")])
    assert later[0].id == 4  # ids are never reused
    with pytest.raises(StoreError):
        store.restore_proposals(gone)  # taken again


def test_accept_as_is_creates_a_model_annotation_and_deletes_the_proposal(store):
    props = _three(store)
    ann = store.accept_proposal(props[0].id)
    assert isinstance(ann, Annotation)
    assert store.annotation(ann.id) == ann
    assert (ann.image_id, ann.category_id, ann.bbox, ann.polygons, ann.source) == \
        (1, 1, (2.0, 3.0, 10.0, 12.0), (), "model:run1")
    assert ann.area == pytest.approx(120.0)
    poly = store.accept_proposal(props[1].id)
    assert poly.polygons == (tuple(SQUARE),) and poly.bbox == (10.0, 10.0, 20.0, 20.0)
    assert poly.source == "model:run1"
    assert [p.id for p in store.proposals()] == [3]
    with pytest.raises(StoreError):
        store.accept_proposal(props[0].id)


def test_accept_edited_marks_the_source_edited(store):
    props = _three(store)
    moved = store.accept_proposal(props[0].id, bbox=(5, 5, 8, 8))
    assert moved.bbox == (5.0, 5.0, 8.0, 8.0) and moved.source == "model:run1:edited"
    tri = [12.0, 12.0, 28.0, 12.0, 20.0, 26.0]
    reshaped = store.accept_proposal(props[1].id, segmentation=[tri])
    assert reshaped.polygons == (tuple(tri),) and reshaped.source == "model:run1:edited"
    assert reshaped.bbox == (12.0, 12.0, 16.0, 14.0)


def test_accept_tag_tags_the_image_with_its_provenance(store):
    props = _three(store)
    store.set_image_tags(2, [1])
    before = store.accept_proposal(props[2].id)
    assert before == (1,)
    assert store.image_tags(2) == (1, 2)
    assert store.image_tag_sources(2) == {1: "", 2: "model:run2"}
    assert store.proposals(2) == []
    store.set_image_tags(2, before)  # the undo the return value allows
    assert store.image_tags(2) == (1,)


def test_a_failed_accept_keeps_the_proposal(store):
    props = _three(store)
    with pytest.raises(StoreError):
        store.accept_proposal(props[0].id, bbox=(1, 1, 0, 0))
    assert store.proposals(1)[0] == props[0] and store.annotation_count() == 0


def test_deleting_an_image_deletes_its_proposals_and_scores_and_undo_puts_them_back(store):
    _three(store)
    store.set_queue_scores("entropy", "run1", {1: 0.2, 2: 0.7})
    store.delete_image(2)
    assert store.proposal_counts() == {1: 2} and store.queue_scores() == {1: 0.2}
    removed = remove_images(store, [1])
    assert store.proposals() == [] and store.queue_scores() == {}
    restore_images(store, removed)
    assert store.proposal_counts() == {1: 2} and store.queue_scores() == {1: 0.2}


def test_queue_scores_replace_per_strategy_and_default_to_the_last_set(store):
    assert store.queue_scores() == {}
    store.set_queue_scores("entropy", "run1", {1: 0.2, 2: 0.7})
    store.set_queue_scores("margin", "run1", {1: 0.9})
    assert store.queue_scores() == {1: 0.9}
    assert list(store.queue_scores("entropy").items()) == [(2, 0.7), (1, 0.2)]  # highest first
    store.set_queue_scores("entropy", "run2", {1: 0.5})
    assert store.queue_scores() == {1: 0.5}
    assert store.queue_strategies() == {"entropy": "run2", "margin": "run1"}
    with pytest.raises(StoreError):
        store.set_queue_scores("entropy", "run2", {1: float("nan")})
    with pytest.raises(StoreError):
        store.set_queue_scores("entropy", "run2", {42: 0.1})
    assert store.queue_scores("entropy") == {1: 0.5}  # the failed set rolled back


def test_exports_training_data_and_ground_truth_never_include_proposals(store, tmp_path):
    from vision_studio.core.data.datasets import VisionDataset
    from vision_studio.core.data.transforms import build_transforms
    from vision_studio.core.data.snapshot import take_snapshot
    from vision_studio.core.evaluation.ground_truth import classification_gt, ground_truth_from_store
    from vision_studio.core.io.coco_write import write_coco
    from vision_studio.core.io.masks import write_masks
    from vision_studio.core.io.voc import write_voc

    real = store.add_annotation(Annotation(1, 1, (20.0, 5.0, 10.0, 10.0),
                                           polygons=((20, 5, 30, 5, 30, 15, 20, 15),)))
    store.set_image_tags(1, [1])
    _three(store)
    store.add_proposals([Proposal(0, 2, 1, "bbox", (1, 1, 30, 30), None, 0.99, "run1"),
                         Proposal(0, 2, 1, "mask", None, [SQUARE], 0.8, "run1")])

    write_coco(store, tmp_path / "out" / "c.json")
    coco = json.loads((tmp_path / "out" / "c.json").read_text())
    assert len(coco["annotations"]) == 1 and coco["annotations"][0]["bbox"] == list(real.bbox)

    write_voc(store, tmp_path / "voc")
    objects = [len(ET.parse(p).getroot().findall("object")) for p in sorted((tmp_path / "voc").glob("*.xml"))]
    assert objects == [1, 0]

    written = write_masks(store, tmp_path / "masks")
    label_b = np.asarray(Image.open(written[2]))
    assert (label_b == 255).all()  # image 2 has only proposals: nothing painted
    label_a = np.asarray(Image.open(written[1]))
    assert (label_a != 255).sum() == 100  # the one real 10 x 10 mask, not the proposal square

    snap = take_snapshot(store, Task.INSTANCE_SEGMENTATION)
    boxes = {s.image_id: [a.bbox for a in s.annotations] for s in snap.samples}
    assert boxes == {1: [real.bbox], 2: []}
    data = VisionDataset(snap, list(snap.samples), build_transforms(
        Task.INSTANCE_SEGMENTATION, False, 50, (0.5,) * 3, (0.5,) * 3))
    targets = [data[i][1] for i in range(len(data))]
    assert [len(t["boxes"]) for t in targets] == [1, 0]  # image 2's proposals are no target
    assert [int(t["masks"].sum()) for t in targets] == [100, 0]
    cls = take_snapshot(store, Task.CLASSIFICATION)
    assert [s.image_id for s in cls.samples] == [1]  # the tag proposal on image 2 is no label

    images = store.images()
    gt = ground_truth_from_store(store, images, [{"id": 1, "name": "ant"}, {"id": 2, "name": "bee"}])
    assert [a["id"] for a in gt["annotations"]] == [real.id]
    assert classification_gt(store, images, [{"id": 1}, {"id": 2}]).tolist() == [0, -1]
