"""Importers agree on an image's project path when images are symlinks (one rule,
:class:`~vision_studio.core.io.common.ProjectPaths`): importing the same symlinked
files twice through different importers must not add them twice."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from vision_studio.core.io.coco import read_coco
from vision_studio.core.io.common import ProjectPaths
from vision_studio.core.io.imagefolder import read_imagefolder, read_images
from vision_studio.core.io.voc import read_voc
from vision_studio.core.store import ProjectStore

N = 4


@pytest.fixture
def links(tmp_path, data_dir) -> Path:
    """``tmp/imgs/*.jpg`` and ``tmp/xml/*.xml``: symlinks to raccoon_voc files, plus a
    COCO file and an ImageFolder class folder naming the same symlinks."""
    src = data_dir("raccoon_voc")
    (tmp_path / "imgs").mkdir()
    (tmp_path / "xml").mkdir()
    (tmp_path / "classes").mkdir()
    (tmp_path / "classes" / "raccoon").symlink_to(tmp_path / "imgs")
    entries = []
    for k, xml in enumerate(sorted((src / "annotations").glob("*.xml"))[:N], 1):
        (tmp_path / "xml" / xml.name).symlink_to(xml)
        (tmp_path / "imgs" / f"{xml.stem}.jpg").symlink_to(src / "images" / f"{xml.stem}.jpg")
        entries.append({"id": k, "file_name": f"{xml.stem}.jpg", "width": 0, "height": 0})
    coco = {"images": entries, "annotations": [],
            "categories": [{"id": 1, "name": "raccoon"}]}
    (tmp_path / "imgs" / "coco.json").write_text(json.dumps(coco))
    return tmp_path


def _voc(store, t):
    return read_voc(store, t / "xml", t / "imgs")


def _images(store, t):
    return read_images(store, t / "imgs")


def _coco(store, t):
    return read_coco(store, t / "imgs" / "coco.json")


def _folder(store, t):
    return read_imagefolder(store, t / "classes")


IMPORTERS = {"voc": _voc, "images": _images, "coco": _coco}


@pytest.mark.parametrize("first,second", [("voc", "images"), ("images", "voc"),
                                          ("coco", "images"), ("voc", "coco")])
def test_the_same_symlinks_through_two_importers_are_one_image_each(links, first, second):
    store = ProjectStore.create(links / "p.vsproj")
    assert IMPORTERS[first](store, links).images == N
    assert IMPORTERS[second](store, links).images == 0
    paths = sorted(im.path for im in store.images())
    assert len(paths) == N
    assert all(p.startswith("imgs/raccoon-") for p in paths), paths  # the link's own name


def test_a_symlinked_folder_is_named_by_its_real_place_and_the_links_by_their_names(links):
    store = ProjectStore.create(links / "p.vsproj")
    assert _voc(store, links).images == N
    # classes/raccoon is a symlink to imgs: the folder resolves, so it is the same images
    report = _folder(store, links)
    assert report.images == 0 and report.existing == N
    assert len(store.images()) == N


def test_project_paths_rule(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "a.jpg").write_bytes(b"")
    (tmp_path / "dir_link").symlink_to(tmp_path / "real")
    (tmp_path / "real" / "b.jpg").symlink_to(tmp_path / "real" / "a.jpg")
    (tmp_path / "deep" / "sub").mkdir(parents=True)
    (tmp_path / "up_link").symlink_to(tmp_path / "deep" / "sub")
    paths = ProjectPaths(tmp_path)
    assert paths(tmp_path / "real" / "a.jpg") == "real/a.jpg"
    assert paths(tmp_path / "real" / "b.jpg") == "real/b.jpg"  # a symlinked file keeps its name
    assert paths(tmp_path / "dir_link" / "a.jpg") == "real/a.jpg"  # a symlinked folder resolves
    assert paths(tmp_path / "up_link" / ".." / "x.jpg") == "deep/x.jpg"  # '..' of the real one
    assert paths(tmp_path / "top.jpg") == "top.jpg"
    cwd = os.getcwd()
    try:
        os.chdir(tmp_path / "real")
        assert paths("a.jpg") == "real/a.jpg"
    finally:
        os.chdir(cwd)
