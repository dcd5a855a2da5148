"""Labels imported for images already in the project (issue 12, trap 3): a project made
from a folder of images, then the labels of those images, on real datasets."""
from __future__ import annotations

import shutil

import numpy as np
import pytest
from PIL import Image

from vision_studio.core.io.common import ExistingImages
from vision_studio.core.io.imagefolder import read_imagefolder, read_images
from vision_studio.core.io.labelme import read_labelme
from vision_studio.core.io.masks import read_masks
from vision_studio.core.io.voc import read_voc
from vision_studio.core.store import ProjectStore
from vision_studio.core.types import Annotation, ImageRecord

CAMVID = {0: "Sky", 1: "Building", 2: "Pole", 3: "Road", 4: "Pavement", 5: "Tree",
          6: "SignSymbol", 7: "Fence", 8: "Car", 9: "Pedestrian", 10: "Bicyclist"}


def _boxes(store: ProjectStore) -> list[tuple]:
    return sorted((a.image_id, a.category_id, a.bbox) for a in store.annotations())


@pytest.fixture
def raccoon(data_dir, tmp_path):
    """A copy of raccoon_voc and a project made from its images folder alone."""
    root = shutil.copytree(data_dir("raccoon_voc"), tmp_path / "raccoon")
    store = ProjectStore.create(tmp_path / "p.vsproj")
    report = read_images(store, root / "images")
    assert report.ok and report.images == 200 and store.annotation_count() == 0
    yield root, store
    store.close()


def test_voc_labels_for_a_folder_project_add_replace_skip(raccoon):
    root, store = raccoon
    report = read_voc(store, root / "annotations", root / "images")
    assert report.ok, report.summary()
    assert (report.images, report.annotations, report.existing) == (0, 217, 200)
    assert store.image_count() == 200 and store.annotation_count() == 217
    assert store.problems() == []  # no "already in the project" problem per image
    reference = _boxes(store)
    fresh = ProjectStore.create(root.parent / "fresh.vsproj")  # the same labels imported anew
    read_voc(fresh, root / "annotations", root / "images")
    by_path = {im.id: im.path for im in fresh.images()}
    mine = {im.id: im.path for im in store.images()}
    assert sorted((mine[i], c, b) for i, c, b in reference) == \
        sorted((by_path[i], c, b) for i, c, b in _boxes(fresh))
    fresh.close()

    again = read_voc(store, root / "annotations", root / "images")  # add: nothing twice
    assert (again.annotations, again.existing) == (0, 200) and _boxes(store) == reference

    first = store.images()[0]
    (ann,) = store.annotations(first.id)[:1]
    store.update_annotation(Annotation(first.id, ann.category_id, (1, 1, 5, 5), id=ann.id))
    store.add_annotation(Annotation(first.id, ann.category_id, (2, 2, 3, 3)))
    assert store.annotation_count() == 218
    replaced = read_voc(store, root / "annotations", root / "images", on_existing="replace")
    assert replaced.removed == 218 and replaced.annotations == 217
    assert [(c, b) for _, c, b in _boxes(store)] == [(c, b) for _, c, b in reference]

    store.add_annotation(Annotation(first.id, ann.category_id, (2, 2, 3, 3)))
    skipped = read_voc(store, root / "annotations", root / "images", on_existing="skip")
    assert skipped.annotations == 0 and skipped.existing == 0 and skipped.ok
    assert {n.kind for n in skipped.notes} == {"existing_image"}
    assert store.annotation_count() == 218  # left as it was


def test_match_by_unique_file_name_when_paths_differ(raccoon, tmp_path):
    root, store = raccoon
    elsewhere = tmp_path / "elsewhere"  # the XMLs' images are not there: the project's are
    elsewhere.mkdir()
    report = read_voc(store, root / "annotations", elsewhere)
    assert report.ok and report.images == 0 and report.existing == 200
    assert store.annotation_count() == 217
    copy = tmp_path / "copy"  # a real file at another path is another image
    shutil.copytree(root / "images", copy)
    again = read_voc(store, root / "annotations", copy)
    assert again.images == 200 and again.existing == 0 and store.image_count() == 400


def test_ambiguous_names_and_other_sizes_are_not_matched(new_store):
    a = new_store.add_image(ImageRecord("x/a.png", 10, 10))
    new_store.add_image(ImageRecord("y/a.png", 10, 10))
    b = new_store.add_image(ImageRecord("z/b.png", 10, 10))
    existing = ExistingImages(new_store)
    assert existing.find("x/a.png") == a
    assert existing.find("other/a.png") is None  # two project images are called a.png
    Image.fromarray(np.zeros((10, 10, 3), np.uint8)).save(new_store.root / "b.png")
    assert existing.find("b.png", (10, 10)) is None  # a file is there: another image
    assert existing.find("other/b.png", (10, 10)) is None  # z/b.png missing too: can't tell
    (new_store.root / "z").mkdir()
    Image.fromarray(np.zeros((10, 10, 3), np.uint8)).save(new_store.root / "z" / "b.png")
    assert existing.find("other/b.png", (10, 10)) == b
    assert existing.find("other/b.png", (20, 10)) is None  # same name, another image
    with pytest.raises(ValueError, match="on_existing"):
        ExistingImages(new_store, "merge")


def test_masks_for_a_folder_project(data_dir, tmp_path):
    root = data_dir("camvid_small")
    img_dir = tmp_path / "val"
    img_dir.mkdir()
    lab_dir = tmp_path / "valannot"
    lab_dir.mkdir()
    for p in sorted((root / "val").glob("*.png"))[:4]:
        shutil.copy(p, img_dir)
        shutil.copy(root / "valannot" / p.name, lab_dir)
    with ProjectStore.create(tmp_path / "p.vsproj") as store:
        assert read_images(store, img_dir).images == 4
        report = read_masks(store, img_dir, lab_dir, CAMVID, 11)
        assert report.ok and report.images == 0 and report.existing == 4
        n = store.annotation_count()
        assert n == report.annotations > 0
        assert read_masks(store, img_dir, lab_dir, CAMVID, 11).annotations == 0
        assert store.annotation_count() == n
        replaced = read_masks(store, img_dir, lab_dir, CAMVID, 11, on_existing="replace")
        assert replaced.removed == n and store.annotation_count() == n


def test_labelme_and_imagefolder_for_a_folder_project(data_dir, tmp_path):
    src = shutil.copytree(data_dir("labelme"), tmp_path / "labelme")
    with ProjectStore.create(tmp_path / "p.vsproj") as store:
        added = read_images(store, src)
        assert added.images == 7 and {s.kind for s in added.skipped} == {"not_an_image"}
        report = read_labelme(store, src)
        assert report.images == 0 and report.existing == 7 and report.annotations > 0
        n = store.annotation_count()
        assert read_labelme(store, src).annotations == 0 and store.annotation_count() == n

    tree = tmp_path / "tree"
    for cls in ("cat", "dog"):
        (tree / cls).mkdir(parents=True)
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tree / cls / f"{cls}.png")
    with ProjectStore.create(tmp_path / "q.vsproj") as store:
        read_images(store, tree)
        report = read_imagefolder(store, tree)
        assert report.existing == 2 and store.image_count() == 2
        names = {c.id: c.name for c in store.categories()}
        tags = {im.path.split("/")[-1]: [names[t] for t in store.image_tags(im.id)]
                for im in store.images()}
        assert tags == {"cat.png": ["cat"], "dog.png": ["dog"]}
        read_imagefolder(store, tree, on_existing="skip")
        assert len(store.all_image_tags()) == 2


def test_coco_labels_for_a_folder_project(data_dir, tmp_path):
    from vision_studio.core.io.coco import read_coco

    src = data_dir("rbc_coco") / "valid"
    with ProjectStore.create(tmp_path / "fresh.vsproj") as fresh:
        expected = read_coco(fresh, src / "_annotations.coco.json").annotations
        n_images = fresh.image_count()
    with ProjectStore.create(tmp_path / "p.vsproj") as store:
        assert read_images(store, src).images == n_images
        report = read_coco(store, src / "_annotations.coco.json")
        assert report.ok and (report.images, report.existing) == (0, n_images)
        assert report.annotations == expected == store.annotation_count() > 0
        again = read_coco(store, src / "_annotations.coco.json")
        assert again.annotations == 0 and store.annotation_count() == expected
        replaced = read_coco(store, src / "_annotations.coco.json", on_existing="replace")
        assert replaced.removed == expected and store.annotation_count() == expected
