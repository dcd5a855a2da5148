"""Datasets from a store snapshot: labels per task, masks from polygons / RLE, boxes and
masks following the v2 augmentations, decode errors skipped, and the split helpers."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from vision_studio.core.data import (IGNORE_INDEX, VisionDataset, assign_splits, build_transforms,
                                     check_examples, collate, group_key, stratified_split,
                                     take_snapshot)
from vision_studio.core.errors import ConfigError
from vision_studio.core.types import Annotation, ImageRecord

NO_AUG_FLIP = {"hflip": 1.0, "color_jitter": 0.0, "scale": [1.0, 1.0]}


def _image(store, name: str, w: int = 40, h: int = 30, split: str = "train",
           color=(200, 30, 30)) -> ImageRecord:
    path = store.root / name
    Image.new("RGB", (w, h), color).save(path)
    return store.add_image(ImageRecord(path=name, width=w, height=h, split=split))


def test_group_key_keeps_roboflow_copies_together():
    a = group_key("train/image-100_png.rf.6abdf26b50dab0f99c9288738cd320d1.jpg")
    b = group_key("train/image-100_png.rf.a1940646f3e26a8220d0d4465f019f22.jpg")
    assert a == b == "train/image-100"
    assert group_key("x/cat.rf.0123abcd.jpg") == "x/cat"
    assert group_key("img/plain.jpg") == "img/plain" != group_key("img/plain2.jpg")


def test_classification_labels_follow_category_order_and_skip_untagged(new_store):
    bee, ant, unused = (new_store.add_category(n) for n in ("bee", "ant", "unused"))
    ims = [_image(new_store, f"{i}.png") for i in range(3)]
    new_store.set_image_tags(ims[0].id, [ant.id])
    new_store.set_image_tags(ims[1].id, [bee.id])
    snap = take_snapshot(new_store, "classification")
    assert [c.name for c in snap.categories] == ["bee", "ant"] and snap.dropped == ("unused",)
    assert [(s.image_id, s.label) for s in snap.samples] == [(ims[0].id, 1), (ims[1].id, 0)]
    ds = VisionDataset(snap, snap.samples, build_transforms("classification", False, 32,
                                                            (0.5,) * 3, (0.5,) * 3))
    batch = collate([ds[0], ds[1]])
    assert batch.images.shape == (2, 3, 32, 32) and batch.images.dtype == torch.float32
    assert batch.targets.tolist() == [1, 0]
    # red (200/255) normalised with mean/std 0.5
    assert batch.images[0, 0].mean().item() == pytest.approx(200 / 255 * 2 - 1, abs=0.02)


def test_no_labelled_images_and_missing_training_examples_are_config_errors(new_store):
    with pytest.raises(ConfigError, match="no labelled images"):
        take_snapshot(new_store, "detection")
    a, b = new_store.add_category("a"), new_store.add_category("b")
    im1, im2 = _image(new_store, "1.png"), _image(new_store, "2.png", split="val")
    new_store.set_image_tags(im1.id, [a.id])
    new_store.set_image_tags(im2.id, [b.id])
    snap = take_snapshot(new_store, "classification")
    train, val, _ = assign_splits(snap, 0.2, seed=0)
    with pytest.raises(ConfigError, match="no training example of 'b'"):
        check_examples(snap, train)
    with pytest.raises(ConfigError, match="categories: unknown category id"):
        take_snapshot(new_store, "classification", categories=[99])


def test_detection_boxes_follow_a_horizontal_flip_and_empty_images_are_kept(new_store):
    cat = new_store.add_category("cell")
    im = _image(new_store, "a.png", w=40, h=30)
    _image(new_store, "empty.png")
    new_store.add_annotation(Annotation(image_id=im.id, category_id=cat.id, bbox=(2, 3, 10, 5)))
    snap = take_snapshot(new_store, "detection")
    assert len(snap.samples) == 2 and snap.label_of(cat.id) == 1 and snap.num_classes == 2
    tf = build_transforms("detection", True, 40, (0,) * 3, (1,) * 3, NO_AUG_FLIP, normalize=False)
    ds = VisionDataset(snap, snap.samples, tf)
    image, target = ds[0]
    assert image.shape == (3, 30, 40)
    assert target["boxes"].tolist() == [[28.0, 3.0, 38.0, 8.0]]  # x -> 40 - x
    assert target["labels"].tolist() == [1] and target["size"] == (30, 40)
    empty_img, empty = ds[1]
    assert empty["boxes"].shape == (0, 4) and empty["labels"].shape == (0,)
    batch = collate([ds[0], ds[1]])
    assert isinstance(batch.images, list) and len(batch) == 2


def test_instance_masks_from_polygons_follow_the_boxes(new_store):
    cat = new_store.add_category("tumour")
    im = _image(new_store, "a.png", w=40, h=30)
    square = (4.0, 4.0, 14.0, 4.0, 14.0, 14.0, 4.0, 14.0)
    new_store.add_annotation(Annotation(image_id=im.id, category_id=cat.id, bbox=(4, 4, 10, 10),
                                        polygons=(square,)))
    snap = take_snapshot(new_store, "instance_segmentation")
    tf = build_transforms("instance_segmentation", True, 80, (0,) * 3, (1,) * 3, NO_AUG_FLIP,
                          normalize=False)
    image, target = VisionDataset(snap, snap.samples, tf)[0]
    assert image.shape == (3, 60, 80)  # longer side resized to 80
    mask = target["masks"][0]
    assert mask.shape == (60, 80) and mask.dtype == torch.uint8
    ys, xs = torch.nonzero(mask, as_tuple=True)
    x1, y1, x2, y2 = target["boxes"][0].tolist()
    assert xs.min() >= x1 - 1 and xs.max() <= x2 + 1 and ys.min() >= y1 - 1 and ys.max() <= y2 + 1
    assert x1 > 40  # flipped to the right half
    assert mask.sum().item() == pytest.approx(400, rel=0.15)  # 10x10 px scaled x2


def test_semantic_label_map_from_rle_with_ignore_or_background(new_store):
    from pycocotools import mask as mask_utils

    road, car = new_store.add_category("road"), new_store.add_category("car")
    im = _image(new_store, "a.png", w=8, h=6)
    m = np.zeros((6, 8), np.uint8)
    m[3:, :] = 1
    rle = mask_utils.encode(np.asfortranarray(m))
    rle = {"size": rle["size"], "counts": rle["counts"].decode()}
    new_store.add_annotation(Annotation(image_id=im.id, category_id=car.id, bbox=(0, 3, 8, 3),
                                        rle=rle, attributes={"source": "mask"}))
    for unlabelled, fill, label in (("ignore", IGNORE_INDEX, 1), ("background", 0, 2)):
        snap = take_snapshot(new_store, "semantic_segmentation", categories=[road.id, car.id],
                             unlabelled_as=unlabelled)
        tf = build_transforms("semantic_segmentation", False, 8, (0,) * 3, (1,) * 3)
        _, target = VisionDataset(snap, snap.samples, tf)[0]
        assert target.dtype == torch.int64 and target.shape == (8, 8)
        assert set(target[:4].unique().tolist()) == {fill}
        assert set(target[-3:].unique().tolist()) == {label}


def test_a_corrupt_image_is_skipped_and_reported_not_fatal(new_store):
    cat = new_store.add_category("x")
    good = _image(new_store, "good.png")
    (new_store.root / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    bad = new_store.add_image(ImageRecord(path="bad.png", width=40, height=30, split="train"))
    new_store.add_image_tags([(good.id, cat.id), (bad.id, cat.id)])
    snap = take_snapshot(new_store, "classification")
    ds = VisionDataset(snap, snap.samples, build_transforms("classification", True, 16,
                                                            (0.5,) * 3, (0.5,) * 3))
    batch = collate([ds[0], ds[1]])
    assert len(batch) == 1 and batch.images.shape[0] == 1
    assert [s.source for s in batch.skipped] == ["bad.png"] and batch.skipped[0].reason


def test_stratified_split_is_deterministic_stratified_and_group_aware(new_store):
    a, b = new_store.add_category("a"), new_store.add_category("b")
    tags = []
    for i in range(40):
        cat = a if i % 4 else b  # 30 a, 10 b
        for copy in range(3):  # three augmented copies of each original
            im = new_store.add_image(ImageRecord(path=f"img-{i}_png.rf.{copy}abc.jpg",
                                                 width=4, height=4))
            tags.append((im.id, cat.id))
    new_store.add_image_tags(tags)
    snap = take_snapshot(new_store, "classification")
    train, val = stratified_split(snap.samples, "classification", 0.25, seed=3)
    train2, val2 = stratified_split(snap.samples, "classification", 0.25, seed=3)
    assert [s.image_id for s in val] == [s.image_id for s in val2]
    assert len(val) == pytest.approx(30, abs=6)
    assert not {group_key(s.rel_path) for s in train} & {group_key(s.rel_path) for s in val}
    share_b = sum(s.label == 1 for s in val) / len(val)
    assert share_b == pytest.approx(0.25, abs=0.1)
    t, v, how = assign_splits(snap, 0.25, seed=3)
    assert len(t) + len(v) == 120 and "stratified" in how


def test_rbc_coco_snapshot_uses_the_project_splits_and_drops_the_placeholder(tmp_path, data_dir):
    from vision_studio.core.io.coco import read_coco
    from vision_studio.core.store import ProjectStore

    root = data_dir("rbc_coco")
    with ProjectStore.create(tmp_path / "p.vsproj") as store:
        read_coco(store, root / "train" / "_annotations.coco.json", split="train",
                  check_images=False)
        read_coco(store, root / "valid" / "_annotations.coco.json", split="val",
                  check_images=False)
        snap = take_snapshot(store, "detection")
    names = sorted(c.name for c in snap.categories)
    assert "rbc" in names and "wbc" in names and len(names) <= 3
    train, val, how = assign_splits(snap, 0.2, seed=0)
    assert how == "project splits" and len(train) > len(val) > 0
    check_examples(snap, train)
    # the project-less split would keep augmented copies together
    tr, va = stratified_split(train, "detection", 0.2, seed=0)
    assert not {group_key(s.rel_path) for s in tr} & {group_key(s.rel_path) for s in va}
