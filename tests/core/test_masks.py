"""Semantic masks: import of image + label PNG pairs and label PNG export (round trip)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_utils

from vision_studio.core.errors import FormatError
from vision_studio.core.io.masks import (
    load_class_table,
    load_label,
    mask_annotation,
    read_masks,
    write_masks,
)
from vision_studio.core.types import Annotation, ImageRecord

# pycocotools' decode trips NumPy 2's __array__(copy=) deprecation; not ours to fix
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

CAMVID = ["Sky", "Building", "Pole", "Road", "Pavement", "Tree", "SignSymbol", "Fence", "Car",
          "Pedestrian", "Bicyclist"]


def _png(path: Path, arr: np.ndarray, mode: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    img = Image.fromarray(arr)
    if mode == "P":
        img = img.convert("P") if arr.ndim == 3 else Image.fromarray(arr).convert("L")
    img.save(path)
    return path


def _pair(tmp: Path, name: str, label: np.ndarray, image_size=None) -> None:
    h, w = label.shape[:2]
    iw, ih = image_size or (w, h)
    _png(tmp / "img" / f"{name}.jpg", np.full((ih, iw, 3), 90, np.uint8))
    _png(tmp / "ann" / f"{name}.png", label)


def _read(path: Path) -> np.ndarray:
    return np.array(Image.open(path))


# ---------------------------------------------------------------------------- real data


def test_camvid_imports_as_rle_and_round_trips(new_store, data_dir, tmp_path):
    root = data_dir("camvid_small")
    classes = dict(enumerate(CAMVID))
    r_train = read_masks(new_store, root / "train", root / "trainannot", classes, 11, split="train")
    r_val = read_masks(new_store, root / "val", root / "valannot", classes, 11, split="val")
    assert r_train.ok and r_val.ok
    assert (r_train.images, r_val.images) == (120, 40)
    assert new_store.splits() == {"train": 120, "val": 40}
    assert [c.name for c in new_store.categories()] == CAMVID
    assert r_train.categories == 11 and r_val.categories == 0

    # one RLE annotation per class present; bbox/area as pycocotools computes them
    img = new_store.images("val")[0]
    label = _read(root / "valannot" / Path(img.path).name)
    anns = new_store.annotations(image_id=img.id)
    present = sorted(int(v) for v in np.unique(label) if v != 11)
    assert sorted(a.category_id - 1 for a in anns) == present
    for a in anns:
        m = mask_utils.decode(dict(a.rle)).astype(bool)
        np.testing.assert_array_equal(m, label == a.category_id - 1)
        assert list(a.bbox) == pytest.approx(list(mask_utils.toBbox(dict(a.rle))))
        assert a.area == int(m.sum()) and not a.iscrowd and a.attributes == {"source": "mask"}

    # export with the CamVid void value: every label image equal pixel for pixel
    written = write_masks(new_store, tmp_path / "out", ignore_value=11)
    assert len(written) == 160
    for image_id, path in written.items():
        split = new_store.image(image_id).split
        original = _read(root / f"{split}annot" / path.name)
        np.testing.assert_array_equal(_read(path), original, err_msg=str(path))
    assert (tmp_path / "out" / "classes.txt").read_text().split() == CAMVID
    assert load_class_table(tmp_path / "out" / "classes.txt") == classes

    # default ignore value 255: void pixels become 255, the rest unchanged
    val = write_masks(new_store, tmp_path / "out255", split="val")
    path = next(iter(val.values()))
    original = _read(root / "valannot" / path.name)
    np.testing.assert_array_equal(_read(path), np.where(original == 11, 255, original))


def test_membrane_binary_masks_round_trip(new_store, data_dir, tmp_path):
    root = data_dir("membrane")
    classes = {0: "membrane", 255: "cell"}
    report = read_masks(new_store, root / "image", root / "label", classes)
    assert report.ok and report.images == 30 and report.annotations == 60
    written = write_masks(new_store, tmp_path / "out", classes=classes, ignore_value=128)
    for path in written.values():
        np.testing.assert_array_equal(_read(path), _read(root / "label" / path.name))
    assert (tmp_path / "out" / "classes.txt").read_text().splitlines() == ["0 membrane", "255 cell"]
    assert load_class_table(tmp_path / "out" / "classes.txt") == classes
    # default export: class index in category order (membrane 0, cell 1)
    idx = write_masks(new_store, tmp_path / "idx")
    p = next(iter(idx.values()))
    np.testing.assert_array_equal(_read(p), (_read(root / "label" / p.name) == 255).astype(np.uint8))


# ---------------------------------------------------------------------------- generated files


def test_unknown_values_are_reported_and_left_unlabelled(new_store, tmp_path):
    label = np.zeros((8, 10), np.uint8)
    label[2:4, 3:6] = 1
    label[5, 5] = 7
    label[6, 1:3] = 9
    _pair(tmp_path, "a", label)
    report = read_masks(new_store, tmp_path / "img", tmp_path / "ann", {0: "bg", 1: "fg"})
    (skip,) = report.skipped
    assert skip.kind == "unknown_value" and skip.source.endswith("a.png")
    assert "7, 9" in skip.reason and "3 pixels" in skip.reason
    assert report.images == 1 and report.annotations == 2
    out = _read(write_masks(new_store, tmp_path / "out")[1])
    np.testing.assert_array_equal(out, np.where(np.isin(label, [7, 9]), 255, label))


def test_size_mismatch_and_unmatched_files_are_skipped(new_store, tmp_path):
    _pair(tmp_path, "ok", np.zeros((8, 10), np.uint8))
    _pair(tmp_path, "small", np.zeros((8, 10), np.uint8), image_size=(12, 8))
    _png(tmp_path / "img" / "lonely.jpg", np.zeros((4, 4, 3), np.uint8))
    _png(tmp_path / "ann" / "orphan.png", np.zeros((4, 4), np.uint8))
    report = read_masks(new_store, tmp_path / "img", tmp_path / "ann", {0: "bg"})
    kinds = {Path(s.source).name: s for s in report.skipped}
    assert kinds["small.png"].kind == "size_mismatch"
    assert "10x8" in kinds["small.png"].reason and "12x8" in kinds["small.png"].reason
    assert kinds["lonely.jpg"].kind == "unmatched_image"
    assert kinds["orphan.png"].kind == "unmatched_mask"
    assert report.images == 1 and [i.path.rsplit("/", 1)[1] for i in new_store.images()] == ["ok.jpg"]


def test_strict_mode_raises_and_changes_nothing(new_store, tmp_path):
    new_store.add_category("kept")
    _pair(tmp_path, "a", np.zeros((8, 10), np.uint8))
    bad = np.zeros((8, 10), np.uint8)
    bad[0, 0] = 5
    _pair(tmp_path, "b", bad)
    with pytest.raises(FormatError, match=r"b\.png.*5"):
        read_masks(new_store, tmp_path / "img", tmp_path / "ann", {0: "bg"}, strict=True)
    assert new_store.image_count() == 0 and new_store.annotation_count() == 0
    assert [c.name for c in new_store.categories()] == ["kept"] and new_store.problems() == []


def test_colour_coded_labels_with_a_colour_table(new_store, tmp_path):
    rgb = np.zeros((6, 8, 3), np.uint8)
    rgb[:3] = (128, 0, 0)
    rgb[3:, :4] = (0, 128, 0)
    rgb[5, 7] = (255, 255, 255)  # void
    _pair(tmp_path, "a", rgb)
    colors = {(0, 0, 0): 0, (128, 0, 0): 1, (0, 128, 0): 2, (255, 255, 255): 255}
    report = read_masks(new_store, tmp_path / "img", tmp_path / "ann",
                        {0: "background", 1: "road", 2: "grass"}, 255, colors=colors)
    assert report.ok and report.annotations == 3
    out = _read(write_masks(new_store, tmp_path / "out")[1])
    assert (out[:3] == 1).all() and (out[3:, :4] == 2).all() and out[5, 7] == 255 and out[4, 6] == 0
    # an RGB label image without a colour table is reported, not guessed
    store2 = new_store.__class__.create(tmp_path / "second.vsproj")
    report = read_masks(store2, tmp_path / "img", tmp_path / "ann", {0: "background"})
    assert report.images == 0 and report.skipped[0].kind == "bad_mask"
    assert "colour table" in report.skipped[0].reason
    store2.close()


def test_palette_and_16_bit_labels(tmp_path):
    pal = Image.fromarray(np.array([[0, 1], [2, 1]], np.uint8), mode="L").convert("P")
    pal.putpalette([0, 0, 0, 200, 0, 0, 0, 200, 0] + [0] * 759)
    pal.save(tmp_path / "p.png")
    np.testing.assert_array_equal(load_label(tmp_path / "p.png"), [[0, 1], [2, 1]])
    deep = np.array([[0, 300], [1000, 7]], np.uint16)
    Image.fromarray(deep).save(tmp_path / "d.png")
    np.testing.assert_array_equal(load_label(tmp_path / "d.png"), deep)
    Image.fromarray(np.array([[[3, 255], [4, 0]]], np.uint8), mode="LA").save(tmp_path / "la.png")
    np.testing.assert_array_equal(load_label(tmp_path / "la.png"), [[3, 4]])
    grey = np.repeat(np.array([[5, 6]], np.uint8)[..., None], 3, axis=2)
    Image.fromarray(grey).save(tmp_path / "g.png")
    np.testing.assert_array_equal(load_label(tmp_path / "g.png"), [[5, 6]])


def test_write_masks_paints_polygons_and_ignore_regions(new_store, tmp_path):
    cat_a, cat_b = new_store.add_category("a"), new_store.add_category("b")
    img = new_store.add_image(ImageRecord(path="x.png", width=10, height=8))
    new_store.add_annotations([
        Annotation(img.id, cat_a.id, (0, 0, 10, 8), polygons=((0, 0, 10, 0, 10, 8, 0, 8),)),
        mask_annotation(np.pad(np.ones((2, 2), bool), ((1, 5), (1, 7))), cat_b.id, img.id),
        Annotation(img.id, cat_b.id, (6, 4, 2, 2), polygons=((6, 4, 8, 4, 8, 6, 6, 6),),
                   iscrowd=True, attributes={"ignore": True}),
        Annotation(img.id, cat_b.id, (0, 0, 5, 5)),  # bbox only: not drawn
    ])
    out = _read(write_masks(new_store, tmp_path / "o", ignore_value=9)[img.id])
    expected = np.zeros((8, 10), np.uint8)  # the full polygon of "a" (value 0) underneath
    expected[1:3, 1:3] = 1                  # the RLE of "b" on top
    expected[4:6, 6:8] = 9                  # the ignore region, painted last
    np.testing.assert_array_equal(out, expected)  # every pixel, no region left out
    with pytest.raises(FormatError, match="ignore value 1"):
        write_masks(new_store, tmp_path / "o2", ignore_value=1)


def test_missing_folders_and_empty_table_raise(new_store, tmp_path):
    (tmp_path / "img").mkdir()
    with pytest.raises(FormatError, match="folder not found"):
        read_masks(new_store, tmp_path / "img", tmp_path / "nope", {0: "bg"})
    with pytest.raises(FormatError, match="class table"):
        read_masks(new_store, tmp_path / "img", tmp_path / "img", {})


def test_class_table_files(tmp_path):
    (tmp_path / "names.txt").write_text("Sky\nBuilding\n\n# comment\nRoad\n")
    assert load_class_table(tmp_path / "names.txt") == {0: "Sky", 1: "Building", 2: "Road"}
    (tmp_path / "values.txt").write_text("0 membrane\n255 cell wall\n")
    assert load_class_table(tmp_path / "values.txt") == {0: "membrane", 255: "cell wall"}
    (tmp_path / "mixed.txt").write_text("0 a\nb\n")
    with pytest.raises(FormatError, match="mix"):
        load_class_table(tmp_path / "mixed.txt")
    with pytest.raises(FormatError, match="cannot read"):
        load_class_table(tmp_path / "none.txt")


def test_two_values_of_one_class_make_one_annotation(new_store, tmp_path):
    label = np.zeros((4, 6), np.uint8)
    label[0, :] = 1
    label[3, :] = 2
    _pair(tmp_path, "a", label)
    report = read_masks(new_store, tmp_path / "img", tmp_path / "ann", {0: "bg", 1: "edge", 2: "edge"})
    assert report.ok and report.annotations == 2 and report.categories == 2
    edge = [a for a in new_store.annotations() if a.category_id == 2]
    assert len(edge) == 1 and edge[0].area == 12 and edge[0].bbox == (0.0, 0.0, 6.0, 4.0)
