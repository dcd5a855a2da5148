"""The fast paths of large imports: batched image inserts, the store's bulk transaction
(annotation indexes rebuilt once, all or nothing), JSON parsing through orjson with the
standard library as the judge of what it refuses, and the paused garbage collector."""
from __future__ import annotations

import gc
import json
import math

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from vision_studio.core.store import schema as store_module
from vision_studio.core.errors import FormatError
from vision_studio.core.io import common
from vision_studio.core.io.coco import read_coco
from vision_studio.core.io.common import gc_paused, load_json
from vision_studio.core.store import ProjectStore, StoreError
from vision_studio.core.types import ImageRecord

ANN_INDEXES = ("annotations_category", "annotations_image")


def _indexes(store: ProjectStore) -> dict[str, str]:
    return dict(store._read("SELECT name, sql FROM sqlite_master WHERE type = 'index' "
                            "AND tbl_name = 'annotations' AND sql IS NOT NULL"))


def _rows(n: int, image_id: int, category_id: int) -> list[tuple]:
    return [(image_id, category_id, 1.0, 1.0, 2.0, 2.0, None, None, 0, 4.0, None)] * n


def _two_images(store: ProjectStore):
    cat = store.add_category("c")
    a, b = store.add_images([ImageRecord("a.png", 10, 10), ImageRecord("b.png", 10, 10)])
    return cat, a, b


def test_add_images_batch_ids_match_the_stored_rows(new_store):
    first = new_store.add_images(ImageRecord(f"x/{i}.png", 8, 6, "train") for i in range(5))
    new_store.delete_image(first[-1].id)  # AUTOINCREMENT: the deleted id is never reused
    more = new_store.add_images([ImageRecord(f"y/{i}.png", 4 + i, 3, "val", "sum", "done")
                                 for i in range(300)])
    assert [im.id for im in first] == [1, 2, 3, 4, 5] and more[0].id == 6
    for im in more[::37] + more[-1:]:
        assert new_store.image(im.id) == im
    assert new_store.image_by_path("y/299.png") == more[-1] and more[-1].width == 303
    with pytest.raises(StoreError, match="already in the project"):
        new_store.add_images([ImageRecord("z/new.png", 1, 1), ImageRecord("y/3.png", 1, 1)])
    assert new_store.image_count() == 304 and new_store.image_by_path("z/new.png") is None


def test_add_image_rows_returns_the_first_of_consecutive_ids(new_store):
    new_store.add_images([ImageRecord("a.png", 1, 1)])
    new_store.delete_image(1)
    first = new_store.add_image_rows([("r/0.png", 7, 5, "test", "", "new"),
                                      ("r/1.png", 9, 4, "", "abc", "done")])
    assert first == 2
    assert new_store.image(3) == ImageRecord("r/1.png", 9, 4, "", "abc", "done", id=3)
    with pytest.raises(StoreError, match="already in the project"):
        new_store.add_image_rows([("r/2.png", 1, 1, "", "", "new"), ("r/0.png", 1, 1, "", "",
                                                                     "new")])
    assert new_store.image_count() == 2


def test_annotation_rows_store_empty_json_text_as_null(new_store):
    """``""`` (the importers' fast spelling) and ``None`` both store NULL."""
    cat, a, _ = _two_images(new_store)
    new_store.add_annotation_rows([(a.id, cat.id, 1.0, 2.0, 3.0, 4.0, "", "", 0, 12.0, ""),
                                   (a.id, cat.id, 1.0, 2.0, 3.0, 4.0, None, None, 1, 12.0, None),
                                   (a.id, cat.id, 0, 0, 4, 4, "[[0,0,4,0,4,4]]", "", 0, 8.0,
                                    '{"k":1}')])
    rows = [r[7:10] + r[11:] for r in new_store.iter_annotation_rows()]
    assert rows == [(None, None, 0, None), (None, None, 1, None),
                    ("[[0,0,4,0,4,4]]", None, 0, '{"k":1}')]
    assert new_store._read("SELECT COUNT(*) FROM annotations WHERE polygons IS NULL AND "
                           "rle IS NULL AND attributes IS NULL")[0][0] == 2
    first = new_store.annotations()[0]
    assert first.polygons == () and first.rle is None and first.attributes == {}


def test_bulk_transaction_rebuilds_the_annotation_indexes(new_store, monkeypatch):
    cat, a, b = _two_images(new_store)
    before = _indexes(new_store)
    assert set(before) == set(ANN_INDEXES)
    monkeypatch.setattr(store_module, "BULK_MIN_ROWS", 100)
    with new_store.bulk_transaction(150):
        assert _indexes(new_store) == {}  # dropped for the duration of the block
        new_store.add_annotation_rows(_rows(100, a.id, cat.id) + _rows(50, b.id, cat.id))
        with pytest.raises(StoreError, match="unknown image or category"):  # FKs still on
            new_store.add_annotation_rows(_rows(1, 999, cat.id))
        assert new_store.annotation_count(b.id) == 50  # reads are right without them
    assert _indexes(new_store) == before
    plan = " ".join(str(r) for r in new_store._read(
        "EXPLAIN QUERY PLAN SELECT id FROM annotations WHERE image_id = ?", (a.id,)))
    assert "annotations_image" in plan
    assert new_store.annotation_count() == 150 and new_store.integrity_check() == "ok"


def test_bulk_transaction_failure_changes_nothing(new_store, monkeypatch):
    cat, a, _ = _two_images(new_store)
    new_store.add_annotation_rows(_rows(3, a.id, cat.id))
    before = _indexes(new_store)
    monkeypatch.setattr(store_module, "BULK_MIN_ROWS", 10)
    with pytest.raises(RuntimeError, match="interrupted"):
        with new_store.bulk_transaction(20):
            new_store.add_images([ImageRecord("c.png", 5, 5)])
            new_store.add_annotation_rows(_rows(20, a.id, cat.id))
            raise RuntimeError("interrupted")
    assert _indexes(new_store) == before
    assert (new_store.image_count(), new_store.annotation_count()) == (2, 3)
    assert new_store.integrity_check() == "ok"


@pytest.mark.parametrize("expected, stored", [(9, 0), (10, 11)])
def test_bulk_transaction_keeps_indexes_for_small_batches(new_store, monkeypatch, expected,
                                                         stored):
    """Below the threshold, or fewer new rows than stored ones: indexes are updated."""
    cat, a, _ = _two_images(new_store)
    new_store.add_annotation_rows(_rows(stored, a.id, cat.id))
    monkeypatch.setattr(store_module, "BULK_MIN_ROWS", 10)
    with new_store.bulk_transaction(expected):
        assert set(_indexes(new_store)) == set(ANN_INDEXES)
        new_store.add_annotation_rows(_rows(expected, a.id, cat.id))
    assert new_store.annotation_count() == expected + stored


def test_read_coco_in_bulk_mode_stores_the_same_rows(data_dir, tmp_path, monkeypatch):
    """A real dataset imported with the indexes rebuilt equals the row-by-row import."""
    src = data_dir("rbc_coco") / "train" / "_annotations.coco.json"
    stores = []
    for threshold in (10**9, 1):
        monkeypatch.setattr(store_module, "BULK_MIN_ROWS", threshold)
        store = ProjectStore.create(tmp_path / f"p{threshold}.vsproj")
        stores.append((store, read_coco(store, src)))
    (plain, r1), (bulk, r2) = stores
    assert r1.annotations == r2.annotations > 0 and r1.images == r2.images
    assert list(plain.iter_annotation_rows()) == list(bulk.iter_annotation_rows())
    assert _indexes(plain) == _indexes(bulk) and set(_indexes(bulk)) == set(ANN_INDEXES)
    for store, _ in stores:
        store.close()


@pytest.mark.parametrize("text", [
    '{"a": [1, 2.5, -0.0, 1e-7, 0.1, 12345678901234567890123], "b": "\\u00e9\\ud83d\\ude00"}',
    '{"a": [18446744073709551615, -9223372036854775809, 1.25, 1e-300, 3, 18446744073709551616]}',
    '{"bbox": [NaN, Infinity, -Infinity, 1e400]}',  # json.dump writes these; orjson refuses
    '\ufeff{"images": []}',                          # UTF-8 byte-order mark
    '{"k": 1, "k": 2, "s": "\\ud800"}',             # duplicate key, lone surrogate
])
def test_load_json_equals_the_standard_library(tmp_path, text):
    path = tmp_path / "doc.json"
    path.write_bytes(text.encode("utf-8"))
    got, want = load_json(path), json.loads(path.read_bytes())
    assert json.dumps(got, sort_keys=True) == json.dumps(want, sort_keys=True)
    assert [type(v) for v in got.get("a", [])] == [type(v) for v in want.get("a", [])]
    if "a" in want:
        assert {type(v) for v in want["a"]} == {int, float}


def test_long_digit_runs_are_found_across_scan_pieces():
    """Integers of 19+ digits (which orjson would turn into floats) send the text to the
    standard library, wherever they fall relative to the scan's pieces."""
    for offset in range(40):
        assert common._has_long_digit_run(b"a" * offset + b"9" * 19 + b"]", step=16)
        assert not common._has_long_digit_run(b"a" * offset + b"9" * 18 + b"]", step=16)
    assert not common._has_long_digit_run(b'{"x": [1234567890123456.5, 12345678901234567]}')


def test_load_json_uses_orjson_and_words_errors_like_the_standard_library(tmp_path):
    assert common._orjson is not None  # a dependency (pyproject.toml)
    path = tmp_path / "bad.json"
    path.write_text('{"images": [\n  {"id": 1,,}]}')
    with pytest.raises(FormatError, match=r"bad.json: not valid JSON \(line 2, column 12: "
                                          r"Expecting property name"):
        load_json(path)
    path.write_bytes(b'{"name": "\xff"}')
    with pytest.raises(FormatError, match="bad.json: not valid JSON"):
        load_json(path)


def test_load_json_without_orjson(tmp_path, monkeypatch):
    """The standard-library fallback gives the same values."""
    path = tmp_path / "doc.json"
    path.write_text('{"x": [1.5, 2, NaN]}')
    monkeypatch.setattr(common, "_orjson", None)
    got = load_json(path)
    assert got["x"][:2] == [1.5, 2] and math.isnan(got["x"][2])


def test_gc_paused_restores_the_collector(new_store, tmp_path):
    assert gc.isenabled()
    with gc_paused():
        assert not gc.isenabled()
        with gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the outer block still holds it
    assert gc.isenabled()
    gc.disable()
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()  # left as the caller had it
    finally:
        gc.enable()
    broken = tmp_path / "broken.json"
    broken.write_text('{"images": [{"id": 1, "file_name": "a.png", "width": 4, "height": 4}], '
                      '"annotations": [{"id": 1, "image_id": 1, "category_id": 7, '
                      '"bbox": [0, 0, 1, 1]}], "categories": []}')
    with pytest.raises(FormatError, match="unknown category id 7"):
        read_coco(new_store, broken, strict=True, check_images=False)
    assert gc.isenabled() and new_store.image_count() == 0


def test_bulk_import_areas_are_pycocotools_mask_areas(new_store, tmp_path, monkeypatch):
    """A bulk import (threshold lowered) of polygons, RLE and boxes stores the
    pycocotools mask area, and the rebuilt indexes serve per-image reads."""
    monkeypatch.setattr(store_module, "BULK_MIN_ROWS", 2)
    rle = mask_utils.encode(np.asfortranarray(np.arange(30 * 40).reshape(30, 40) % 7 == 0,
                                              dtype=np.uint8))
    anns = [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 10, 8],
             "segmentation": [[1, 1, 11, 1, 11, 9, 4, 9]], "iscrowd": 0},
            {"id": 2, "image_id": 1, "category_id": 1, "bbox": [0, 0, 40, 30],
             "segmentation": {"size": [30, 40], "counts": rle["counts"].decode()}, "iscrowd": 1},
            {"id": 3, "image_id": 2, "category_id": 1, "bbox": [2, 2, 3.5, 4]}]
    path = tmp_path / "d.json"
    path.write_text(json.dumps({"images": [
        {"id": 1, "file_name": "a.png", "width": 40, "height": 30},
        {"id": 2, "file_name": "b.png", "width": 40, "height": 30}],
        "annotations": anns, "categories": [{"id": 1, "name": "x"}]}))
    report = read_coco(new_store, path, check_images=False)
    assert report.ok and report.annotations == 3
    got = {a.bbox: a.area for a in new_store.annotations()}
    poly = mask_utils.frPyObjects([[1, 1, 11, 1, 11, 9, 4, 9]], 30, 40)
    assert got[(1, 1, 10, 8)] == float(mask_utils.area(poly)[0])
    assert got[(0, 0, 40, 30)] == float(mask_utils.area(rle))
    assert got[(2, 2, 3.5, 4)] == 14.0
    assert len(new_store.annotations(image_id=new_store.images()[1].id)) == 1
    assert set(_indexes(new_store)) == set(ANN_INDEXES)
