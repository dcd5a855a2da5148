"""The SQLite project store: round trips, transactions, undo support, summaries."""
from __future__ import annotations

import sqlite3

import pytest

from vision_studio.core.store import SCHEMA_VERSION, ProjectStore, StoreError
from vision_studio.core.types import Annotation, ImageRecord, Problem, RunRecord


def _fill(store: ProjectStore):
    cell, wbc = store.add_categories([("rbc", None, "cell"), ("wbc", "#123456", "cell")])
    a, b = store.add_images([ImageRecord("img/a.png", 40, 30, "train"),
                             ImageRecord("img/b.png", 40, 30, "val")])
    return cell, wbc, a, b


def test_create_reopen_round_trip(tmp_path):
    path = tmp_path / "p.vsproj"
    with ProjectStore.create(path) as store:
        cell, wbc, a, b = _fill(store)
        ann = store.add_annotation(Annotation(a.id, cell.id, (1.5, 2, 10, 5),
                                              polygons=((1.5, 2, 11.5, 2, 11.5, 7),),
                                              attributes={"difficult": True}))
        rle = {"size": [30, 40], "counts": "0`0"}
        crowd = store.add_annotation(Annotation(b.id, wbc.id, (0, 0, 1, 1), rle=rle, iscrowd=True))
    with ProjectStore.open(path) as store:
        assert [c.name for c in store.categories()] == ["rbc", "wbc"]
        assert store.category(wbc.id).color == "#123456"
        got = store.annotation(ann.id)
        assert got == ann
        assert got.area == pytest.approx(25.0)  # shoelace area of the triangle
        assert got.attributes == {"difficult": True}
        assert store.annotation(crowd.id).iscrowd and store.annotation(crowd.id).rle == rle
        assert store.splits() == {"train": 1, "val": 1}
        assert store.integrity_check() == "ok"
        assert store._read("PRAGMA user_version")[0][0] == SCHEMA_VERSION
        assert store._read("PRAGMA journal_mode")[0][0] == "wal"


def test_open_rejects_non_project(tmp_path):
    junk = tmp_path / "junk.vsproj"
    junk.write_bytes(b"not a database at all" * 100)
    with pytest.raises(StoreError, match="junk.vsproj"):
        ProjectStore.open(junk)
    plain = tmp_path / "plain.db"
    sqlite3.connect(plain).execute("CREATE TABLE t(x)").connection.close()
    with pytest.raises(StoreError, match="not a Vision Studio project"):
        ProjectStore.open(plain)
    with pytest.raises(StoreError, match="no such project"):
        ProjectStore.open(tmp_path / "missing.vsproj")


def test_invalid_annotations_are_rejected(new_store):
    cell, _, a, _ = _fill(new_store)
    with pytest.raises(StoreError, match="positive width"):
        new_store.add_annotation(Annotation(a.id, cell.id, (0, 0, 0, 5)))
    with pytest.raises(StoreError, match="at least 3"):
        new_store.add_annotation(Annotation(a.id, cell.id, (0, 0, 2, 2), polygons=((0, 0, 2, 2),)))
    with pytest.raises(StoreError, match="unknown image or category"):
        new_store.add_annotation(Annotation(999, cell.id, (0, 0, 2, 2)))
    assert new_store.annotation_count() == 0


def test_transaction_is_all_or_nothing(new_store):
    cell, _, a, _ = _fill(new_store)
    new_store.add_annotation(Annotation(a.id, cell.id, (0, 0, 2, 2)))
    with pytest.raises(StoreError):
        with new_store.transaction():
            new_store.add_annotations([Annotation(a.id, cell.id, (0, 0, 3, 3))] * 5)
            new_store.add_category("half-done")
            new_store.add_annotation(Annotation(a.id, cell.id, (0, 0, -1, 3)))
    assert new_store.annotation_count() == 1
    assert [c.name for c in new_store.categories()] == ["rbc", "wbc"]


def test_delete_and_restore_keeps_ids(new_store):
    cell, _, a, _ = _fill(new_store)
    anns = new_store.add_annotations([Annotation(a.id, cell.id, (i, i, 2, 2)) for i in range(3)])
    deleted = new_store.delete_annotations([anns[1].id])
    newer = new_store.add_annotation(Annotation(a.id, cell.id, (9, 9, 2, 2)))
    assert newer.id not in {x.id for x in anns}  # ids are never reused
    new_store.restore_annotations(deleted)
    assert [x.id for x in new_store.annotations(a.id)] == [anns[0].id, anns[1].id, anns[2].id, newer.id]
    assert new_store.annotation(anns[1].id) == anns[1]


def test_category_delete_merge_and_restore(new_store):
    cell, wbc, a, b = _fill(new_store)
    new_store.add_annotations([Annotation(a.id, cell.id, (0, 0, 2, 2)), Annotation(b.id, wbc.id, (0, 0, 2, 2))])
    new_store.set_image_tags(a.id, [wbc.id])
    cat, anns, tags = new_store.delete_category(wbc.id)
    assert new_store.annotation_count() == 1 and new_store.image_tags(a.id) == ()
    new_store.restore_category(cat)
    new_store.restore_annotations(anns)
    new_store.add_image_tags(tags)
    assert new_store.annotation_count() == 2 and new_store.image_tags(a.id) == (wbc.id,)
    moved = new_store.merge_categories([wbc.id], cell.id)
    assert moved == 1
    assert {x.category_id for x in new_store.annotations()} == {cell.id}
    assert new_store.image_tags(a.id) == (cell.id,)
    assert [c.id for c in new_store.categories()] == [cell.id]


def test_update_and_queries(new_store):
    cell, wbc, a, b = _fill(new_store)
    ann = new_store.add_annotation(Annotation(a.id, cell.id, (0, 0, 2, 2)))
    moved = new_store.update_annotation(Annotation(a.id, wbc.id, (1, 1, 4, 4), id=ann.id))
    assert moved.area == 16 and new_store.annotation(ann.id).category_id == wbc.id
    assert new_store.update_category(cell.id, name="RBC").name == "RBC"
    assert new_store.update_image(b.id, split="test").split == "test"
    new_store.set_splits({a.id: "val"})
    assert new_store.splits() == {"test": 1, "val": 1}
    assert new_store.image_by_path("img/a.png").id == a.id
    assert new_store.images(offset=1, limit=1) == [new_store.image(b.id)]
    assert new_store.annotations_by_image([a.id, b.id]) == {a.id: [new_store.annotation(ann.id)]}
    assert new_store.annotation_counts() == {("val", wbc.id): 1}
    with pytest.raises(StoreError, match="already in the project"):
        new_store.add_image(ImageRecord("img/a.png", 1, 1))


def test_problems_runs_settings(new_store, tmp_path):
    _, _, a, _ = _fill(new_store)
    new_store.add_problems([Problem("img/a.png", "cannot decode", image_id=a.id, kind="decode_error")])
    assert new_store.problems(a.id)[0].message == "cannot decode"
    run = new_store.add_run(RunRecord("first", "classification", "runs/1", config={"epochs": 2}))
    assert run.id and run.created_at
    run = new_store.update_run(run.id, status="finished", best_metric=0.9)
    assert (run.status, run.best_metric, run.config) == ("finished", 0.9, {"epochs": 2})
    with pytest.raises(StoreError):
        new_store.update_run(run.id, bogus=1)
    new_store.set_setting("k", {"a": [1, 2]})
    assert new_store.get_setting("k") == {"a": [1, 2]}
    new_store.set_root(tmp_path / "elsewhere")
    assert new_store.root == (tmp_path / "elsewhere").resolve()
    assert new_store.relative_path(tmp_path / "elsewhere" / "x" / "y.png") == "x/y.png"


def test_many_rows_batched(new_store):
    """1,000 images x 20 annotations insert and read back in batches (no N+1)."""
    cell, *_ = _fill(new_store)
    ims = new_store.add_images(ImageRecord(f"gen/{i}.png", 64, 64, "train") for i in range(1000))
    new_store.add_annotations(Annotation(im.id, cell.id, (1, 1, 5, 5)) for im in ims for _ in range(20))
    assert new_store.annotation_count() == 20000
    assert sum(1 for _ in new_store.iter_annotations(batch=777)) == 20000
    by_image = new_store.annotations_by_image([im.id for im in ims[:950]])
    assert len(by_image) == 950 and all(len(v) == 20 for v in by_image.values())
