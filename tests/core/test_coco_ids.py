"""The COCO ids a project exports with (core/io/coco_ids.py): imported ids kept, every
other record offset past them, the same map used by the writer."""
from __future__ import annotations

import json

import pytest

from vision_studio.core.io.coco import read_coco
from vision_studio.core.io.coco_ids import CocoIdMaps, assign_ids, export_id_maps
from vision_studio.core.io.coco_write import write_coco
from vision_studio.core.types import ImageRecord


def test_assign_ids_keeps_imported_and_offsets_the_rest():
    got = assign_ids([(3, 90), (1, 7), (2, None), (4, 7), (5, -2)])
    assert got == {1: 7, 3: 90, 5: -2, 2: 92, 4: 94}  # 7 claimed by store id 1 first
    assert len(set(got.values())) == len(got)
    assert assign_ids([(1, None), (2, None)]) == {1: 1, 2: 2}  # app-made: store ids
    assert assign_ids([(1, -5), (2, None)]) == {1: -5, 2: 2}  # offset never below 0
    assert assign_ids([]) == {}


def _coco(tmp_path, cat_ids, image_ids):
    doc = {"images": [{"id": i, "file_name": f"{i}.png", "width": 20, "height": 10}
                      for i in image_ids],
           "categories": [{"id": c, "name": f"c{c}"} for c in cat_ids],
           "annotations": [{"id": k + 1, "image_id": i, "category_id": cat_ids[k % len(cat_ids)],
                            "bbox": [1, 1, 4, 4]} for k, i in enumerate(image_ids)]}
    path = tmp_path / "gt.json"
    path.write_text(json.dumps(doc))
    return path, doc


def test_export_id_maps_cover_the_project_and_match_the_written_file(new_store, tmp_path):
    src, doc = _coco(tmp_path, [0, 18, 90], [397133, 5, 42])
    assert read_coco(new_store, src, check_images=False).ok
    extra = new_store.add_category("drawn in the app")
    maps = export_id_maps(new_store)
    assert isinstance(maps, CocoIdMaps)
    with pytest.raises(TypeError):
        maps.category[extra.id] = 1  # read-only
    cats = {c.name: maps.category[c.id] for c in new_store.categories()}
    assert cats == {"c0": 0, "c18": 18, "c90": 90, "drawn in the app": 90 + extra.id}
    assert set(maps.image) == {im.id for im in new_store.images()}
    out = json.loads(write_coco(new_store, tmp_path / "out.json") and
                     (tmp_path / "out.json").read_text())
    assert {c["id"] for c in out["categories"]} == set(maps.category.values())
    assert [i["id"] for i in out["images"]] == [maps.image[im.id] for im in new_store.images()]
    assert {a["category_id"] for a in out["annotations"]} <= set(maps.category.values())


def test_imported_image_ids_are_kept(new_store, tmp_path):
    src, doc = _coco(tmp_path, [1, 3], [397133, 5, 42])
    read_coco(new_store, src, check_images=False)
    new = new_store.add_image(ImageRecord(path="drawn.png", width=4, height=4))
    maps = export_id_maps(new_store)
    by_path = {im.path: maps.image[im.id] for im in new_store.images()}
    assert by_path["397133.png"] == 397133 and by_path["5.png"] == 5
    assert by_path["drawn.png"] == 397133 + new.id


@pytest.mark.parametrize("chunk", [2, 3, 20_000])
def test_annotation_ids_kept_and_unique_when_imports_overlap(new_store, tmp_path, monkeypatch,
                                                             chunk):
    """Roboflow numbers each split's images and annotations from 0: exported per split
    every id is kept; exported together, the first annotation keeps an id and the later
    ones are numbered past the largest imported id (chunks of ``chunk`` rows)."""
    import vision_studio.core.io.coco_write as coco_write

    monkeypatch.setattr(coco_write, "_CHUNK", chunk)
    for split in ("train", "valid"):
        folder = tmp_path / split
        folder.mkdir()
        doc = {"images": [{"id": i, "file_name": f"{i}.png", "width": 20, "height": 10}
                          for i in range(3)],
               "categories": [{"id": 0, "name": "c"}],
               "annotations": [{"id": k, "image_id": k % 3, "category_id": 0,
                                "bbox": [1, 1, 4, 4], "area": 16} for k in range(5)]}
        (folder / "a.json").write_text(json.dumps(doc))
        assert read_coco(new_store, folder / "a.json", check_images=False).ok
    for split in ("train", "val"):
        out = json.loads(write_coco(new_store, tmp_path / f"{split}.json", split=split) and
                         (tmp_path / f"{split}.json").read_text())
        assert [a["id"] for a in out["annotations"]] == [0, 1, 2, 3, 4]
        assert [i["id"] for i in out["images"]] == [0, 1, 2]
    both = json.loads(write_coco(new_store, tmp_path / "all.json") and
                      (tmp_path / "all.json").read_text())
    ids = [a["id"] for a in both["annotations"]]
    assert ids == [0, 1, 2, 3, 4] + [4 + sid for sid in range(6, 11)]  # offset 4 + store id
    assert [i["id"] for i in both["images"]] == [0, 1, 2, 2 + 4, 2 + 5, 2 + 6]
    image_of = {i["id"]: i["file_name"] for i in both["images"]}
    assert sorted(image_of[a["image_id"]] for a in both["annotations"]) == \
        sorted(f"{s}/{k % 3}.png" for s in ("train", "valid") for k in range(5))
