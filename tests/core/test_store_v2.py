"""Schema 2: imported ``extra`` fields, ``check_key``, annotation ``source``, dismissed
problems, the process of a run, and the migration of a schema-1 file."""
from __future__ import annotations

import json
import os
import socket
import sqlite3

import pytest

from vision_studio.core.store import SCHEMA_VERSION, ProjectStore, StoreError
from vision_studio.core.store.schema import _SCHEMA_V1
from vision_studio.core.types import Annotation, Category, ImageRecord, Problem, RunRecord

COCO_IMAGE = {"coco_id": 397133, "license": 4, "coco_url": "http://x/397133.jpg",
              "flickr_url": "http://f/1.jpg", "date_captured": "2013-11-14 17:02:52"}


def _columns(store: ProjectStore, table: str) -> set[str]:
    return {r[1] for r in store._read(f"PRAGMA table_info({table})")}


def _make_v1(path) -> None:
    """A project file exactly as schema 1 wrote it, with one row in every table."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.executescript("BEGIN;" + _SCHEMA_V1 + "PRAGMA user_version = 1; COMMIT;")
    conn.execute("INSERT INTO categories(name, color, supercategory) VALUES('rbc', '#ff0000', 'cell')")
    conn.execute("INSERT INTO images(path, width, height, split) VALUES('a.png', 40, 30, 'train')")
    conn.execute("INSERT INTO annotations(image_id, category_id, x, y, w, h, iscrowd, area, attributes) "
                 "VALUES(1, 1, 1, 2, 3, 4, 0, 12, '{\"difficult\":true}')")
    conn.execute("INSERT INTO problems(image_id, source, kind, message) VALUES(1, 'a.png', 'k', 'bad')")
    conn.execute("INSERT INTO runs(name, task, out_dir, config, status, created_at) "
                 "VALUES('r', 'detection', 'runs/1', '{}', 'finished', '2026-01-01T00:00:00+00:00')")
    conn.close()


def test_schema_1_file_opens_migrated_and_old_rows_read_with_defaults(tmp_path):
    path = tmp_path / "old.vsproj"
    _make_v1(path)
    with ProjectStore.open(path) as store:
        assert store._read("PRAGMA user_version")[0][0] == SCHEMA_VERSION == 3
        assert {"extra", "check_key"} <= _columns(store, "images")
        assert store.image(1) == ImageRecord("a.png", 40, 30, "train", id=1)
        assert store.category(1) == Category(1, "rbc", "#ff0000", "cell")
        ann = store.annotation(1)
        assert (ann.extra, ann.source, ann.attributes) == ({}, "", {"difficult": True})
        assert store.problems() == [Problem("a.png", "bad", 1, "k", id=1)]
        run = store.run(1)
        assert (run.pid, run.host, run.status) == (0, "", "finished")
        store.update_image(1, check_key="10:20")  # the new columns are writable
        assert store.integrity_check() == "ok"
    with ProjectStore.open(path) as store:  # a second open does not migrate again
        assert store.image(1).check_key == "10:20"


def test_new_and_migrated_files_have_the_same_schema(tmp_path):
    old = tmp_path / "old.vsproj"
    _make_v1(old)
    ProjectStore.open(old).close()
    ProjectStore.create(tmp_path / "new.vsproj").close()

    def schema(p):
        conn = sqlite3.connect(p)
        out = {t: [r[1:] for r in conn.execute(f"PRAGMA table_info({t})")] for (t,) in
               conn.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")}
        conn.close()
        return out

    assert schema(old) == schema(tmp_path / "new.vsproj")


def test_extra_and_source_round_trip_through_every_write_path(tmp_path):
    path = tmp_path / "p.vsproj"
    with ProjectStore.create(path) as store:
        cat = store.add_category("person", extra={"coco_id": 1})
        (cat2,) = store.add_categories([("dog", None, "animal", {"coco_id": 18})])
        im = store.add_image(ImageRecord("a.jpg", 640, 480, extra=COCO_IMAGE, check_key="5:6"))
        first = store.add_image_rows([("b.jpg", 10, 10, "", "", "new", json.dumps({"coco_id": 7}), ""),
                                      ("c.jpg", 10, 10, "", "", "new", "", "")])
        store.add_image_rows([("d.jpg", 10, 10, "", "", "new")])  # schema-1 width still works
        ann = store.add_annotation(Annotation(im.id, cat.id, (1, 2, 3, 4), area=11.5,
                                              extra={"coco_id": 1768, "area_imported": True},
                                              source="model:3"))
        store.add_annotation_rows([(im.id, cat2.id, 1, 1, 2, 2, "", "", 0, 4.0, "",
                                    '{"coco_id":9}', "model:3:edited")])
        store.add_annotation_rows([(im.id, cat2.id, 1, 1, 2, 2, "", "", 0, 4.0, "")])
    with ProjectStore.open(path) as store:
        assert store.category(cat.id).extra == {"coco_id": 1}
        assert store.category(cat2.id).extra == {"coco_id": 18}
        got = store.image(im.id)
        assert (got.extra, got.check_key) == (COCO_IMAGE, "5:6") and got == im
        assert store.image(first).extra == {"coco_id": 7} and store.image(first + 1).extra == {}
        assert store.image_by_path("d.jpg").extra == {}
        a1, a2, a3 = store.annotations()
        assert a1 == ann and a1.extra == {"coco_id": 1768, "area_imported": True}
        assert (a2.extra, a2.source, a3.extra, a3.source) == ({"coco_id": 9}, "model:3:edited", {}, "")
        rows = list(store.iter_annotation_rows(extended=True))
        assert [r[12:] for r in rows] == [('{"coco_id":1768,"area_imported":true}', "model:3"),
                                          ('{"coco_id":9}', "model:3:edited"), (None, "")]
        assert all(len(r) == 12 for r in store.iter_annotation_rows())  # schema-1 shape
        edited = store.update_annotation(Annotation(im.id, cat.id, (1, 2, 5, 5), id=a1.id,
                                                    extra=a1.extra, source="model:3:edited"))
        assert store.annotation(a1.id) == edited and edited.source == "model:3:edited"
        deleted = store.delete_annotations([a1.id])
        store.restore_annotations(deleted)
        assert store.annotation(a1.id) == edited
        dead, anns, _ = store.delete_category(cat2.id)
        store.restore_category(dead)
        assert store.category(cat2.id).extra == {"coco_id": 18}
        assert store.update_category(cat.id, name="human").extra == {"coco_id": 1}
        assert store.update_category(cat.id, extra={}).extra == {}


def test_extra_that_is_not_a_json_object_is_refused(new_store):
    with pytest.raises(StoreError, match="extra"):
        new_store.add_image(ImageRecord("a.jpg", 1, 1, extra=[1, 2]))
    with pytest.raises(StoreError, match="extra"):
        new_store.add_category("x", extra={"v": float("nan")})
    assert new_store.image_count() == 0 and new_store.categories() == []


def test_bulk_rows_of_a_wrong_width_are_refused(new_store):
    with pytest.raises(StoreError, match="6 or 8"):
        new_store.add_image_rows([("a.jpg", 1, 1, "", "")])
    with pytest.raises(StoreError, match="different widths"):
        new_store.add_image_rows([("a.jpg", 1, 1, "", "", "new"),
                                  ("b.jpg", 1, 1, "", "", "new", "", "")])
    assert new_store.image_count() == 0


def test_check_keys(new_store):
    a, b = new_store.add_images([ImageRecord("a.jpg", 1, 1), ImageRecord("b.jpg", 1, 1)])
    new_store.set_check_keys({a.id: "100:1700000000000000000", b.id: "7:8"})
    assert [im.check_key for im in new_store.images()] == ["100:1700000000000000000", "7:8"]
    new_store.set_check_keys({b.id: ""})
    assert new_store.image(b.id).check_key == ""
    assert new_store.update_image(a.id, split="val").check_key == "100:1700000000000000000"


def test_dismissed_problems_are_left_out_unless_asked(new_store):
    from vision_studio.core.store.filters import ImageFilter, filter_image_ids, problem_image_ids

    a, b = new_store.add_images([ImageRecord("a.jpg", 1, 1), ImageRecord("b.jpg", 1, 1)])
    new_store.add_problems([Problem("a.jpg", "truncated", a.id, "decode_error"),
                            Problem("b.jpg", "box outside", b.id, "bbox_outside")])
    first, second = new_store.problems()
    got = new_store.dismiss_problem(first.id)
    assert got.dismissed and got.id == first.id
    assert new_store.problems() == [second]
    assert [p.id for p in new_store.problems(include_dismissed=True)] == [first.id, second.id]
    assert new_store.problems(a.id) == [] and len(new_store.problems(a.id, include_dismissed=True)) == 1
    assert problem_image_ids(new_store, [a.id, b.id]) == {b.id}
    assert filter_image_ids(new_store, ImageFilter(has_problems=True)) == [b.id]
    new_store.dismiss_problem(first.id, dismissed=False)
    assert len(new_store.problems()) == 2
    with pytest.raises(StoreError, match="unknown problem"):
        new_store.dismiss_problem(999)


def test_runs_record_their_process(new_store):
    run = new_store.add_run(RunRecord("r", "detection", "runs/1"))
    assert (run.pid, run.host) == (os.getpid(), socket.gethostname())
    other = new_store.add_run(RunRecord("r2", "detection", "runs/2", pid=12345, host="elsewhere"))
    assert (other.pid, other.host) == (12345, "elsewhere")
    assert new_store.update_run(other.id, pid=99, host="h").pid == 99
