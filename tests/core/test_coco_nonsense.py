"""Nonsense in a COCO file is reported by name, never stored and never a traceback
(issue 13 items 6, 10, 11): each case is a named entry of the import report, or a
``FormatError`` naming the file; strict mode refuses and changes nothing."""
from __future__ import annotations

import json
import math

import pytest

from vision_studio.core.errors import FormatError, VisionStudioError
from vision_studio.core.io.coco import read_coco
from vision_studio.core.io.coco_write import coco_dict, write_coco
from vision_studio.core.store import ProjectStore
from vision_studio.core.types import Annotation, ImageRecord


def _doc(anns=None, cats=None, images=None) -> dict:
    return {"images": images if images is not None else [
                {"id": 1, "file_name": "a.png", "width": 64, "height": 48},
                {"id": 2, "file_name": "b.png", "width": 64, "height": 48}],
            "categories": cats if cats is not None else [{"id": 1, "name": "cat"},
                                                         {"id": 2, "name": "dog"}],
            "annotations": anns if anns is not None else []}


def _ann(aid=1, **kw) -> dict:
    return {"id": aid, "image_id": 1, "category_id": 1, "bbox": [1, 1, 10, 10], "area": 100,
            "iscrowd": 0, "segmentation": [], **kw}


def _import(store, tmp_path, doc, strict=False, text=None, **kw):
    path = tmp_path / "ann.json"
    path.write_text(text if text is not None else
                    json.dumps(doc).replace(json.dumps(DEEP), _deep(1000)))
    return path, read_coco(store, path, check_images=kw.pop("check_images", False),
                           strict=strict, **kw)


def _deep(n: int) -> str:
    """JSON text of an object nested ``n`` deep (json.dumps cannot write it)."""
    return '{"k":' * n + "{}" + "}" * n


DEEP = "__deep__"  # placeholder replaced by _deep(1000) in the file's text


def _state(store) -> tuple:
    return (store.images(), store.annotations(), store.categories(), store.problems(),
            store.get_setting("coco_info"))


@pytest.mark.parametrize("text, needle", [
    ("[" * 5000 + "]" * 5000, "nested too deeply"),
    ('{"images": [], "annotations": [{"id": ' + "7" * 5000 + "}]}", "not valid JSON"),
])
def test_unparseable_json_is_a_format_error_naming_the_file(new_store, tmp_path, text, needle):
    with pytest.raises(FormatError, match=needle) as info:
        _import(new_store, tmp_path, None, text=text)
    assert str(tmp_path / "ann.json") in str(info.value)
    assert new_store.image_count() == 0


@pytest.mark.parametrize("ann, kind", [
    (_ann(iscrowd="abc"), "bad_iscrowd"), (_ann(iscrowd=math.nan), "bad_iscrowd"),
    (_ann(iscrowd=-1), "bad_iscrowd"), (_ann(iscrowd=[1]), "bad_iscrowd"),
    (_ann(iscrowd="0"), "bad_iscrowd"), (_ann(iscrowd=2), "bad_iscrowd"),
    (_ann(category_id=True), "unknown_category"), (_ann(category_id=1.0), "unknown_category"),
    (_ann(image_id=True), "unknown_image"), (_ann(id=True), "bad_annotation"),
    (_ann(id=1.5), "bad_annotation"),
    (_ann(segmentation="poly"), "bad_segmentation"), (_ann(segmentation=5), "bad_segmentation"),
    (_ann(segmentation=[[100, 100, 120, 100, 120, 130]]), "bad_polygon"),  # outside 64x48
    (_ann(segmentation=[[1, 1, 5, 5, 9, 9]]), "bad_polygon"),  # all points on one line
    (_ann(segmentation=[[1, 1, 5, 1, 5, 1e6]]), "bad_polygon"),  # reaches far outside
    (_ann(segmentation=[[1, 1, 5, 1, 5, 10 ** 400]]), "bad_polygon"),  # int too big for a float
    (_ann(segmentation={"size": [48, 64], "counts": "!!!"}), "bad_rle"),
    (_ann(segmentation={"size": [48, 64], "counts": "0`"}), "bad_rle"),  # truncated number
    (_ann(segmentation={"size": [48, 64], "counts": "ooooooo1"}), "bad_rle"),
    (_ann(segmentation={"size": [48, 64], "counts": [10, -5, 3067]}), "bad_rle"),
    (_ann(segmentation={"size": [48, 64], "counts": [10, 5]}), "bad_rle"),  # sum != h*w
    (_ann(segmentation={"size": [48, 64], "counts": [True, 3071]}), "bad_rle"),
    (_ann(segmentation={"size": [48, 64], "counts": {"a": 1}}), "bad_rle"),
    (_ann(segmentation={"size": [4, 4], "counts": [16]}), "bad_rle"),  # not the image size
    (_ann(bbox=[1, 1, 1e-300, 1e-300]), "bad_bbox"), (_ann(bbox=[1, 1, 10 ** 300, 5]), None),
    (_ann(bbox=[-10 ** 300, 1, 10 ** 300, 5]), "bbox_outside"),
    (_ann(bbox=[1, 1, math.inf, 5]), "bad_bbox"), (_ann(bbox={"x": 1}), "bad_bbox"),
    (_ann(attributes=DEEP), "bad_attributes"),
    (_ann(attributes=[1, 2]), "bad_attributes"), (_ann(area="big"), None),
    ("not an object", "bad_annotation"),
])
def test_nonsense_annotation_is_reported_not_stored(new_store, tmp_path, ann, kind):
    path, report = _import(new_store, tmp_path, _doc([ann, _ann(2, image_id=2)]))
    kinds = report.counts_by_kind()
    assert kinds == ({kind: 1} if kind else {}), report.summary()
    assert all(str(path) in str(s) for s in report.skipped)
    assert not any(a.iscrowd for a in new_store.annotations())
    assert new_store.integrity_check() == "ok"
    if kind is None:
        return
    new_store.delete_image(new_store.images()[0].id)
    new_store.delete_image(new_store.images()[0].id)
    before = _state(new_store)
    with pytest.raises(FormatError, match="ann.json: annotation"):
        _import(new_store, tmp_path, _doc([ann]), strict=True)
    assert _state(new_store) == before


@pytest.mark.parametrize("cats, kind", [
    ([{"id": True, "name": "t"}], "bad_category"), ([{"id": 1.5, "name": "f"}], "bad_category"),
    ([{"id": 3, "name": 5}], "bad_category"), ([{"id": 3, "name": None}], "bad_category"),
    ([{"id": 3, "name": ["x"]}], "bad_category"), ([{"id": 3, "name": " "}], "bad_category"),
])
def test_nonsense_category_is_reported(new_store, tmp_path, cats, kind):
    _, report = _import(new_store, tmp_path, _doc(cats=cats + [{"id": 1, "name": "cat"}]))
    assert kind in {s.kind for s in report.skipped + report.notes}
    names = [c.name for c in new_store.categories()]
    assert all(isinstance(n, str) and n for n in names)
    assert "category 3" in names or len(names) == 1
    before = _state(new_store)
    with pytest.raises(FormatError, match="ann.json: category"):
        _import(new_store, tmp_path, _doc(cats=cats, images=[]), strict=True)
    assert _state(new_store) == before


def test_duplicate_annotation_ids_import_once(new_store, tmp_path):
    copies = [_ann(7) for _ in range(12_000)]
    _, report = _import(new_store, tmp_path, _doc(copies))
    assert report.annotations == 1 and report.counts_by_kind() == {"duplicate_annotation": 11_999}
    assert "annotation 7: id listed before in this file" in report.summary()


def test_file_names_outside_the_dataset_folder_are_named(new_store, tmp_path):
    (tmp_path / "outside.png").write_bytes(b"")
    data = tmp_path / "data"
    data.mkdir()
    doc = _doc(images=[{"id": 1, "file_name": "../outside.png", "width": 64, "height": 48},
                       {"id": 2, "file_name": "/no/such/abs.png", "width": 64, "height": 48},
                       {"id": 3, "file_name": "x" * 5000 + ".png", "width": 64, "height": 48},
                       {"id": 4, "file_name": "nul\x00.png", "width": 64, "height": 48}])
    path = data / "ann.json"
    path.write_text(json.dumps(doc))
    report = read_coco(new_store, path, check_images=False)
    notes = [n for n in report.notes if n.kind == "outside_folder"]
    assert [n.reason.split(":")[0] for n in notes] == ["image id 1", "image id 2"]
    assert "'../outside.png' is absolute or climbs out" in notes[0].reason
    assert report.counts_by_kind() == {"missing_image": 1, "bad_image": 1}
    assert [im.path for im in new_store.images()][0].endswith("outside.png")
    other = ProjectStore.create(tmp_path / "other.vsproj")
    with pytest.raises(FormatError, match="climbs out of the dataset folder"):
        read_coco(other, path, check_images=False, strict=True)
    assert other.image_count() == 0
    other.close()
    report = read_coco(new_store, path, check_images=True)  # file checks: no traceback
    assert {s.kind for s in report.skipped} <= {"duplicate_image", "missing_image",
                                                "unreadable_image", "bad_image"}


def test_absurd_image_sizes_are_reported(new_store, tmp_path):
    doc = _doc(images=[{"id": 1, "file_name": "a.png", "width": 10 ** 30, "height": 4},
                       {"id": 2, "file_name": "b.png", "width": True, "height": -3}])
    _, report = _import(new_store, tmp_path, doc)
    assert report.counts_by_kind() == {"bad_image": 2} and new_store.image_count() == 0


def test_deep_attributes_never_break_an_export(new_store, tmp_path):
    cat = new_store.add_category("c")
    im = new_store.add_image(ImageRecord(path="a.png", width=10, height=10))
    deep = _deep(1000)
    new_store.add_annotation_rows([(im.id, cat.id, 1.0, 1.0, 2.0, 2.0, "", "", 0, 4.0, deep)])
    with pytest.raises(VisionStudioError, match="annotation 1: its attributes are nested"):
        write_coco(new_store, tmp_path / "x.json")
    assert not [p for p in tmp_path.iterdir() if p.name.startswith((".x", "x"))]
    with pytest.raises(VisionStudioError, match="nested more than 32 deep"):
        coco_dict(new_store)
    other = ProjectStore.create(tmp_path / "other.vsproj")  # 20 deep is fine
    cat = other.add_category("c")
    im = other.add_image(ImageRecord(path="a.png", width=10, height=10))
    ok = other.add_annotation(Annotation(image_id=im.id, category_id=cat.id, bbox=(1, 1, 2, 2),
                                         attributes=json.loads(_deep(20))))
    out = json.loads(write_coco(other, tmp_path / "y.json") and
                     (tmp_path / "y.json").read_text())
    other.close()
    assert out["annotations"][0]["attributes"] == dict(ok.attributes)
