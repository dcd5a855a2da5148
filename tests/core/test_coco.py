"""COCO import/export: real datasets round-trip through pycocotools, and every kind of
bad input is reported (or, in strict mode, changes nothing)."""
from __future__ import annotations

import contextlib
import io
import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO

from vision_studio.core.errors import FormatError
from vision_studio.core.io.coco import read_coco
from vision_studio.core.io.coco_ids import CATEGORY_IDS_SETTING
from vision_studio.core.io.coco_write import coco_dict, write_coco
from vision_studio.core.io.common import split_from_path
from vision_studio.core.types import Annotation, ImageRecord

pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation:DeprecationWarning")  # pycocotools decode, numpy 2

SPLITS = {"train": "train", "valid": "val", "test": "test"}


def load_coco(path: Path) -> COCO:
    """pycocotools.COCO of a file, failing the test on any warning, quietly."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with contextlib.redirect_stdout(io.StringIO()):
            return COCO(str(path))


def _by_file(coco: COCO, folder: Path) -> dict[Path, list[dict]]:
    """``{resolved image path: [annotations in id order]}``."""
    out = {}
    for img in coco.dataset["images"]:
        anns = sorted(coco.imgToAnns[img["id"]], key=lambda a: a["id"])
        out[(folder / img["file_name"]).resolve()] = (img, anns)
    return out


def _rle_key(rle: dict) -> tuple:
    counts = rle["counts"]
    return list(rle["size"]), counts.decode() if isinstance(counts, bytes) else counts


def assert_same_annotations(original: Path, exported: Path) -> int:
    """Images, per-image/category counts, bbox/polygons (1e-6) and masks
    (``annToMask``) equal; returns the number of annotations compared."""
    a, b = load_coco(original), load_coco(exported)
    cats_a = {c["id"]: (c["name"], c["supercategory"]) for c in a.dataset["categories"]}
    cats_b = {c["id"]: (c["name"], c["supercategory"]) for c in b.dataset["categories"]}
    assert cats_a == cats_b  # original ids, names, unused and duplicate names kept
    files_a, files_b = _by_file(a, original.parent), _by_file(b, exported.parent)
    assert files_a.keys() == files_b.keys()
    compared = 0
    for path, (img_a, anns_a) in files_a.items():
        img_b, anns_b = files_b[path]
        assert (img_a["width"], img_a["height"]) == (img_b["width"], img_b["height"])
        count = lambda anns: sorted((x["category_id"] for x in anns))  # noqa: E731
        assert count(anns_a) == count(anns_b), path.name
        for x, y in zip(anns_a, anns_b):
            assert x["category_id"] == y["category_id"]
            np.testing.assert_allclose(x["bbox"], y["bbox"], atol=1e-6, rtol=0)
            assert x.get("iscrowd", 0) == y["iscrowd"]
            if x["segmentation"]:
                if isinstance(x["segmentation"], list):
                    assert len(x["segmentation"]) == len(y["segmentation"])
                    for p, q in zip(x["segmentation"], y["segmentation"]):
                        np.testing.assert_allclose(p, q, atol=1e-6, rtol=0)
                rle_a, rle_b = a.annToRLE(x), b.annToRLE(y)
                assert _rle_key(rle_a) == _rle_key(rle_b)  # same RLE: same mask pixel for pixel
                if compared < 25:  # and decoded (slow at 640x640: a sample suffices)
                    np.testing.assert_array_equal(a.annToMask(x), b.annToMask(y))
            else:
                assert y["segmentation"] == []
            if "area" in x:  # the imported area is written again, exactly
                assert y["area"] == x["area"]
            elif x["segmentation"]:  # else computed: pycocotools mask area / w * h
                assert y["area"] == float(mask_utils.area(b.annToRLE(y)))
            else:
                assert y["area"] == pytest.approx(y["bbox"][2] * y["bbox"][3])
            compared += 1
    ids = [x["id"] for x in b.dataset["annotations"]]
    assert len(ids) == len(set(ids))
    return compared


@pytest.mark.parametrize("name", ["rbc_coco", "brain_tumor_coco_seg"])
def test_real_dataset_round_trip(data_dir, new_store, tmp_path, name):
    root = data_dir(name)
    for folder, split in SPLITS.items():
        report = read_coco(new_store, root / folder / "_annotations.coco.json")
        assert report.ok, report.summary()
    assert new_store.splits() == {
        s: len(json.loads((root / f / "_annotations.coco.json").read_text())["images"])
        for f, s in SPLITS.items()}
    for folder, split in SPLITS.items():
        out = tmp_path / "export" / f"{split}.json"
        summary = write_coco(new_store, out, split=split)
        original = root / folder / "_annotations.coco.json"
        n = assert_same_annotations(original, out)
        assert n == summary["annotations"] == len(json.loads(original.read_text())["annotations"])


def test_brain_tumor_duplicate_names_and_unused_category(data_dir, new_store):
    root = data_dir("brain_tumor_coco_seg")
    for folder in SPLITS:
        read_coco(new_store, root / folder / "_annotations.coco.json")
    cats = new_store.categories()
    assert [c.name for c in cats] == ["Tumor", "Tumor"] and cats[0].id != cats[1].id
    mapping = new_store.get_setting(CATEGORY_IDS_SETTING)
    assert sorted(mapping.values()) == [0, 1]
    counts = new_store.annotation_counts()
    unused = next(c.id for c in cats if mapping[str(c.id)] == 0)
    assert not any(cid == unused for _, cid in counts)  # id 0 is a placeholder
    expected = sum(len(json.loads((root / f / "_annotations.coco.json").read_text())
                       ["annotations"]) for f in SPLITS)
    assert sum(counts.values()) == expected > 0


# ---------------------------------------------------------------- synthetic data
def _image(path: Path, w: int = 64, h: int = 48, orientation: int = 1) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    img = Image.fromarray(np.full((h, w, 3), 128, np.uint8))
    exif = img.getexif()
    if orientation != 1:
        exif[0x0112] = orientation
    img.save(path, exif=exif)


def _dataset(folder: Path, annotations: list[dict], n_images: int = 2,
             categories: list[dict] | None = None, name: str = "ann.json") -> Path:
    images = []
    for i in range(n_images):
        _image(folder / "imgs" / f"im{i}.jpg")
        images.append({"id": 10 + i, "file_name": f"imgs/im{i}.jpg", "width": 64, "height": 48})
    cats = categories if categories is not None else [
        {"id": 0, "name": "placeholder", "supercategory": "none"},
        {"id": 3, "name": "cat", "supercategory": "animal"},
        {"id": 7, "name": "dog", "supercategory": "animal"}]
    path = folder / name
    path.write_text(json.dumps({"images": images, "annotations": annotations,
                                "categories": cats}))
    return path


def _ann(aid: int, bbox, image_id: int = 10, category_id: int = 3, **kw) -> dict:
    return {"id": aid, "image_id": image_id, "category_id": category_id, "bbox": bbox,
            "segmentation": [], "iscrowd": 0, **kw}


def test_rle_polygon_and_box_round_trip(new_store, tmp_path):
    mask = np.zeros((48, 64), np.uint8, order="F")
    mask[10:20, 5:30] = 1
    compressed = mask_utils.encode(mask)
    uncompressed = {"size": [48, 64], "counts": _uncompressed(mask)}
    anns = [
        _ann(1, [5, 10, 25, 10], segmentation={"size": [48, 64],
                                               "counts": compressed["counts"].decode()},
             iscrowd=1),
        _ann(2, [5, 10, 25, 10], image_id=11, category_id=7, segmentation=uncompressed,
             iscrowd=1),
        _ann(3, [1.5, 2.5, 20.25, 10.125], segmentation=[[1.5, 2.5, 21.75, 2.5, 21.75, 12.625]]),
        _ann(4, [30.5, 20.5, 3.25, 4.75]),
    ]
    src = _dataset(tmp_path / "train", anns)
    report = read_coco(new_store, src)
    assert report.ok and (report.images, report.annotations, report.categories) == (2, 4, 3)
    stored = new_store.annotations()
    assert all(isinstance(a.rle["counts"], str) for a in stored[:2])  # stored compressed
    assert stored[0].rle == stored[1].rle and stored[0].iscrowd and stored[0].area == 250
    out = tmp_path / "out" / "export.json"
    write_coco(new_store, out)
    assert assert_same_annotations(src, out) == 4
    exported = json.loads(out.read_text())
    assert [c["id"] for c in exported["categories"]] == [0, 3, 7]  # original, non-contiguous
    assert exported["images"][0]["file_name"] == "../train/imgs/im0.jpg"
    assert Path(out.parent / exported["images"][0]["file_name"]).resolve() == \
        (tmp_path / "train/imgs/im0.jpg").resolve()


def _uncompressed(mask: np.ndarray) -> list[int]:
    """COCO uncompressed RLE counts (column-major runs starting with zeros)."""
    flat = mask.flatten(order="F")
    counts, current, run = [], 0, 0
    for v in flat:
        if v != current:
            counts.append(run)
            current, run = v, 0
        run += 1
    counts.append(run)
    return counts


def test_bad_annotations_are_reported_with_file_and_id(new_store, tmp_path):
    anns = [
        _ann(1, [1, 1, 10, 10]),                                    # fine
        _ann(2, [1, 1, 10, 10], category_id=99),                    # unknown category
        _ann(3, [1, 1, 10, 10], image_id=12345),                    # unknown image
        _ann(4, [1, 1, 0, 10]),                                     # zero width
        _ann(5, [1, 1, 10, -3]),                                    # negative height
        _ann(6, [1, 1, 10, 10], segmentation=[[1, 1, 5, 5]]),       # 2-point polygon
        _ann(7, [100, 100, 10, 10]),                                # wholly outside 64x48
        _ann(8, [60, 40, 10, 10]),                                  # partly outside: clipped
        _ann(9, ["a", 1, 2, 3]),                                    # not numbers
    ]
    src = _dataset(tmp_path / "valid", anns)
    report = read_coco(new_store, src)
    kinds = report.counts_by_kind()
    assert kinds == {"unknown_category": 1, "unknown_image": 1, "bad_bbox": 3,
                     "bad_polygon": 1, "bbox_outside": 1}
    reasons = "\n".join(str(s) for s in report.skipped)
    assert all(str(src) in str(s) for s in report.skipped)
    for needle in ("annotation 2: unknown category id 99", "annotation 3: unknown image id 12345",
                   "annotation 4: box of zero or negative size", "annotation 6: polygon 0 has 2",
                   "annotation 7: box [100, 100, 10, 10] lies wholly outside the 64x48 image",
                   "annotation 9: no valid bbox"):
        assert needle in reasons
    assert [n.kind for n in report.notes] == ["bbox_clipped"]
    boxes = [a.bbox for a in new_store.annotations()]
    assert boxes == [(1, 1, 10, 10), (1, 1, 10, 10), (60, 40, 4, 8)]  # 6 kept as a box
    assert report.annotations == 3 and new_store.images()[0].split == "val"
    problems = new_store.problems()
    assert len(problems) == 8 and {p.kind for p in problems} >= {"bbox_clipped", "bad_bbox"}
    assert "annotation 6" in report.summary() or "bad_polygon (1)" in report.summary()


def test_missing_corrupt_and_exif_rotated_images(new_store, tmp_path):
    src = _dataset(tmp_path / "test", [_ann(1, [1, 1, 5, 5]), _ann(2, [1, 1, 5, 5], image_id=11),
                                       _ann(3, [1, 1, 5, 5], image_id=12)], n_images=3)
    (tmp_path / "test/imgs/im1.jpg").unlink()
    (tmp_path / "test/imgs/im2.jpg").write_bytes(b"\xff\xd8\xff garbage")
    _image(tmp_path / "test/imgs/im0.jpg", w=48, h=64, orientation=6)  # shows as 64x48
    report = read_coco(new_store, src)
    assert report.counts_by_kind() == {"missing_image": 1, "unreadable_image": 1}
    missing = next(s for s in report.skipped if s.kind == "missing_image")
    assert missing.source.endswith("im1.jpg") and "1 annotation(s) skipped" in missing.reason
    assert not report.notes  # EXIF-corrected size 64x48 equals the JSON's
    assert [(im.width, im.height) for im in new_store.images()] == [(64, 48)]

    _image(tmp_path / "m/imgs/im0.jpg", w=40, h=30)
    bad = tmp_path / "m" / "ann.json"
    bad.write_text(json.dumps({"images": [{"id": 1, "file_name": "imgs/im0.jpg", "width": 64,
                                           "height": 48}], "annotations": [],
                               "categories": []}))
    report = read_coco(new_store, bad)
    assert [n.kind for n in report.notes] == ["size_mismatch"]
    assert "the JSON says 64x48 but the file is 40x30" in report.notes[0].reason


def test_strict_mode_changes_nothing(new_store, tmp_path):
    good = _dataset(tmp_path / "train", [_ann(1, [1, 1, 10, 10])])
    read_coco(new_store, good)
    before = (new_store.image_count(), new_store.annotation_count(), len(new_store.categories()),
              new_store.get_setting(CATEGORY_IDS_SETTING), len(new_store.problems()))
    broken = _dataset(tmp_path / "valid", [_ann(1, [1, 1, 10, 10]), _ann(2, [1, 1, 10, 10],
                                                                          category_id=42)],
                      categories=[{"id": 3, "name": "cat"}, {"id": 8, "name": "new class"}])
    with pytest.raises(FormatError, match=r"valid/ann.json: annotation 2: unknown category id 42"):
        read_coco(new_store, broken, strict=True)
    after = (new_store.image_count(), new_store.annotation_count(), len(new_store.categories()),
             new_store.get_setting(CATEGORY_IDS_SETTING), len(new_store.problems()))
    assert after == before and new_store.integrity_check() == "ok"


def test_reimport_adds_nothing_twice_and_keeps_project(new_store, tmp_path):
    src = _dataset(tmp_path / "train", [_ann(1, [1, 1, 10, 10]), _ann(2, [2, 2, 5, 5])])
    read_coco(new_store, src)
    again = read_coco(new_store, src)  # images already there: identical boxes not added
    assert again.images == 0 and again.annotations == 0 and again.categories == 0
    assert again.ok and again.existing == 2
    assert new_store.annotation_count() == 2 and len(new_store.categories()) == 3
    replaced = read_coco(new_store, src, on_existing="replace")
    assert (replaced.removed, replaced.annotations) == (2, 2) and new_store.annotation_count() == 2
    skipped = read_coco(new_store, src, on_existing="skip")
    assert skipped.annotations == 0 and {n.kind for n in skipped.notes} == {"existing_image"}


def test_same_file_listed_twice_in_one_json(new_store, tmp_path):
    src = _dataset(tmp_path / "train", [_ann(1, [1, 1, 10, 10]), _ann(2, [1, 1, 5, 5],
                                                                      image_id=11)])
    doc = json.loads(src.read_text())
    doc["images"][1]["file_name"] = doc["images"][0]["file_name"]
    src.write_text(json.dumps(doc))
    report = read_coco(new_store, src)
    assert report.counts_by_kind() == {"duplicate_image": 1}
    assert (new_store.image_count(), new_store.annotation_count()) == (1, 1)
    assert new_store.problems()[0].image_id is None and new_store.integrity_check() == "ok"


def test_broken_and_non_coco_json_name_the_file(new_store, tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_text('{"images": [\n{"id": 1,,}]}')
    with pytest.raises(FormatError, match=r"broken.json: not valid JSON \(line 2"):
        read_coco(new_store, broken)
    other = tmp_path / "list.json"
    other.write_text("[1, 2]")
    with pytest.raises(FormatError, match="list.json: not a COCO file"):
        read_coco(new_store, other)
    with pytest.raises(FormatError, match="nope.json: COCO JSON file not found"):
        read_coco(new_store, tmp_path / "nope.json")
    assert new_store.image_count() == 0


def test_split_names_and_options(new_store, tmp_path):
    assert split_from_path("data/valid/_annotations.coco.json") == "val"
    assert split_from_path("coco/annotations/instances_val2017.json") == "val"
    assert split_from_path("x/train/a.json") == "train" and split_from_path("x/a.json") == ""
    src = _dataset(tmp_path / "somewhere", [_ann(1, [1, 1, 10, 10])], name="labels.json")
    moved = tmp_path / "elsewhere" / "labels.json"
    moved.parent.mkdir()
    moved.write_text(src.read_text())
    seen = []
    report = read_coco(new_store, moved, image_dir=tmp_path / "somewhere", split="holdout",
                       progress=lambda done, total: seen.append((done, total)))
    assert report.ok and seen[-1] == (1, 1)
    assert {im.split for im in new_store.images()} == {"holdout"}
    out = write_coco(new_store, tmp_path / "e" / "x.json", image_root=tmp_path)
    names = [im["file_name"] for im in json.loads(Path(out["path"]).read_text())["images"]]
    assert names == ["somewhere/imgs/im0.jpg", "somewhere/imgs/im1.jpg"]


def test_check_images_false_trusts_json_sizes(new_store, tmp_path):
    path = tmp_path / "big.json"
    path.write_text(json.dumps({
        "images": [{"id": 1, "file_name": "not/there.jpg", "width": 1000, "height": 800}],
        "annotations": [_ann(1, [10, 10, 100, 100], image_id=1, category_id=1)],
        "categories": [{"id": 1, "name": "x"}]}))
    report = read_coco(new_store, path, check_images=False)
    assert report.ok and (new_store.images()[0].width, new_store.images()[0].height) == (1000, 800)


def test_export_from_store_edits_and_in_memory_dict(new_store, tmp_path):
    """A project built through the store API (no COCO origin) exports valid COCO."""
    cat = new_store.add_category("thing")
    im = new_store.add_image(ImageRecord(path="a.jpg", width=50, height=40, split="train"))
    new_store.add_annotation(Annotation(image_id=im.id, category_id=cat.id, bbox=(1, 2, 3, 4),
                                        attributes={"difficult": True}))
    new_store.add_annotation(Annotation(image_id=im.id, category_id=cat.id, bbox=(0, 0, 10, 10),
                                        polygons=((0, 0, 10, 0, 10, 10, 0, 10),)))
    out = tmp_path / "x.json"
    write_coco(new_store, out, recompute_area=True)
    coco = load_coco(out)
    assert coco.getCatIds() == [cat.id] and len(coco.anns) == 2
    anns = sorted(coco.anns.values(), key=lambda a: a["id"])
    assert anns[0]["attributes"] == {"difficult": True} and anns[0]["area"] == 12
    assert anns[1]["area"] == float(coco.annToMask(anns[1]).sum())
    doc = coco_dict(new_store)
    assert [a["bbox"] for a in doc["annotations"]] == [a["bbox"] for a in anns]
    assert write_coco(new_store, tmp_path / "val.json", split="val")["images"] == 0


def test_store_row_fast_paths_match_annotation_api(new_store):
    cat = new_store.add_category("c")
    im = new_store.add_image(ImageRecord(path="a.png", width=10, height=10))
    n = new_store.add_annotation_rows([(im.id, cat.id, 1.0, 2.0, 3.0, 4.0, "[[0,0,4,0,4,4]]",
                                        None, 0, 8.0, '{"k":1}')])
    assert n == 1
    a = new_store.annotations()[0]
    assert a.bbox == (1, 2, 3, 4) and a.polygons == ((0, 0, 4, 0, 4, 4),)
    assert a.attributes == {"k": 1} and a.area == 8
    rows = list(new_store.iter_annotation_rows(batch=1))
    assert rows == [(a.id, im.id, cat.id, 1.0, 2.0, 3.0, 4.0, "[[0,0,4,0,4,4]]", None, 0, 8.0,
                     '{"k":1}')]
    from vision_studio.core.store import StoreError
    with pytest.raises(StoreError, match="unknown image or category"):
        new_store.add_annotation_rows([(999, cat.id, 1, 1, 1, 1, None, None, 0, 1, None)])
    assert new_store.annotation_count() == 1
