"""The ``import`` / ``export`` commands, run through ``vision_studio.cli.main`` (the same
entry point as the console script)."""
from __future__ import annotations

import io
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vision_studio.cli import main
from vision_studio.commands.io import parse_classes
from vision_studio.core.errors import ConfigError
from vision_studio.core.store import ProjectStore


def _counts(project: Path) -> tuple:
    with ProjectStore.open(project) as s:
        return (s.image_count(), s.annotation_count(), len(s.categories()), s.splits(),
                len(s.problems()), s.integrity_check())


def test_import_all_rbc_splits_then_export(data_dir, tmp_path, capsys):
    root = data_dir("rbc_coco")
    project = tmp_path / "rbc.vsproj"
    srcs = [str(root / f / "_annotations.coco.json") for f in ("train", "valid", "test")]
    assert main(["import", "--format", "coco", *srcs, "--project", str(project)]) == 0
    out = capsys.readouterr().out
    assert "imported coco: 240 images, 5638 annotations, 3 new categories" in out
    assert _counts(project)[:4] == (240, 5638, 3, {"train": 210, "val": 20, "test": 10})

    assert main(["export", "--format", "coco", str(tmp_path / "x" / "all.json"), "--project",
                 str(project)]) == 0
    assert len(json.loads((tmp_path / "x" / "all.json").read_text())["annotations"]) == 5638
    (tmp_path / "exp").mkdir()  # an existing folder gets annotations.json
    assert main(["export", "--format", "coco", str(tmp_path / "exp"), "--project", str(project),
                 "--split", "val"]) == 0
    doc = json.loads((tmp_path / "exp" / "annotations.json").read_text())
    assert len(doc["images"]) == 20 and len(doc["annotations"]) == 470
    assert (tmp_path / "exp" / doc["images"][0]["file_name"]).resolve().is_file()
    assert "wrote 20 images, 470 annotations, 3 categories" in capsys.readouterr().out


def _coco(folder: Path, annotations: list, name: str = "ann.json") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.zeros((20, 30, 3), np.uint8)).save(folder / "a.png")
    path = folder / name
    path.write_text(json.dumps({"images": [{"id": 1, "file_name": "a.png", "width": 30,
                                            "height": 20}],
                                "annotations": annotations,
                                "categories": [{"id": 1, "name": "thing"}]}))
    return path


def test_strict_failure_leaves_existing_project_unchanged(tmp_path, capsys):
    project = tmp_path / "p.vsproj"
    good = _coco(tmp_path / "train", [{"id": 1, "image_id": 1, "category_id": 1,
                                       "bbox": [1, 1, 5, 5]}])
    assert main(["import", "--format", "coco", str(good), "--project", str(project)]) == 0
    before = _counts(project)
    bad = _coco(tmp_path / "valid", [{"id": 1, "image_id": 1, "category_id": 1,
                                      "bbox": [1, 1, 5, 5]},
                                     {"id": 2, "image_id": 1, "category_id": 5,
                                      "bbox": [1, 1, 5, 5]}])
    capsys.readouterr()
    rc = main(["import", "--format", "coco", str(bad), "--project", str(project), "--strict"])
    err = capsys.readouterr().err.strip()
    assert rc == 1 and err.count("\n") == 0
    assert err.startswith("error: ") and "valid/ann.json: annotation 2: unknown category id 5" in err
    assert _counts(project) == before and before[-1] == "ok"
    # without --strict the valid part is imported and the rest reported
    assert main(["import", "--format", "coco", str(bad), "--project", str(project)]) == 0
    out = capsys.readouterr().out
    assert "skipped: 1" in out and "unknown_category (1)" in out
    assert _counts(project)[:2] == (2, 2)


def test_broken_json_names_the_file_and_leaves_no_project(tmp_path, capsys):
    good = _coco(tmp_path / "train", [])
    broken = tmp_path / "broken.json"
    broken.write_text('{"images": [}')
    project = tmp_path / "new.vsproj"
    rc = main(["import", "--format", "coco", str(good), str(broken), "--project", str(project)])
    err = capsys.readouterr().err
    assert rc == 1 and "error:" in err and "broken.json: not valid JSON" in err
    assert not project.exists()  # created by the command, removed on failure
    assert main(["import", "--format", "coco", str(tmp_path / "missing.json"),
                 "--project", str(project)]) == 1
    assert "missing.json: no such file or folder" in capsys.readouterr().err


def test_voc_import_with_default_image_folder_and_export(data_dir, tmp_path, capsys):
    root = data_dir("raccoon_voc")
    project = tmp_path / "r.vsproj"
    assert main(["import", "--format", "voc", str(root / "annotations"), "--project",
                 str(project), "--split", "train"]) == 0
    assert _counts(project)[:4] == (200, 217, 1, {"train": 200})
    assert main(["export", "--format", "voc", str(tmp_path / "voc"), "--project",
                 str(project)]) == 0
    assert len(list((tmp_path / "voc").glob("*.xml"))) == 200
    evil = tmp_path / "evil"
    evil.mkdir()
    (evil / "x.xml").write_text('<?xml version="1.0"?><!DOCTYPE a [<!ENTITY e "x">]>'
                                "<annotation><filename>&e;</filename></annotation>")
    capsys.readouterr()
    assert main(["import", "--format", "voc", str(evil), "--image-dir", str(root / "images"),
                 "--project", str(project)]) == 1
    assert "x.xml: unsafe XML rejected" in capsys.readouterr().err
    assert _counts(project)[:2] == (200, 217)


def test_masks_and_imagefolder_dispatch(tmp_path, capsys):
    img, ann = tmp_path / "img", tmp_path / "ann"
    img.mkdir()
    ann.mkdir()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(img / "a.png")
    label = np.zeros((8, 8), np.uint8)
    label[:4] = 1
    label[0, 0] = 9
    Image.fromarray(label).save(ann / "a.png")
    project = tmp_path / "m.vsproj"
    assert main(["import", "--format", "masks", str(img), "--project", str(project)]) == 1
    assert "needs --classes and --mask-dir" in capsys.readouterr().err
    assert main(["import", "--format", "masks", str(img), "--mask-dir", str(ann), "--classes",
                 "0=ground,1=sky", "--ignore-value", "9", "--project", str(project)]) == 0
    assert _counts(project)[:3] == (1, 2, 2)
    assert main(["export", "--format", "masks", str(tmp_path / "out"), "--project",
                 str(project)]) == 0
    assert (tmp_path / "out" / "a.png").is_file()

    folder = tmp_path / "cls"
    for split in ("train", "val"):
        for c in ("ant", "bee"):
            (folder / split / c).mkdir(parents=True)
            Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(folder / split / c / "x.jpg")
    assert main(["import", "--format", "imagefolder", str(folder), "--project",
                 str(tmp_path / "c.vsproj")]) == 0
    assert _counts(tmp_path / "c.vsproj")[3] == {"train": 2, "val": 2}


def test_parse_classes_and_export_errors(tmp_path, capsys):
    assert parse_classes("0=Sky, 1=Building,11=Void") == {0: "Sky", 1: "Building", 11: "Void"}
    table = tmp_path / "classes.txt"
    table.write_text("background\ncat\n")
    assert parse_classes(str(table)) == {0: "background", 1: "cat"}
    with pytest.raises(ConfigError, match="value=name"):
        parse_classes("Sky,Building")
    assert main(["export", "--format", "coco", str(tmp_path / "x.json"), "--project",
                 str(tmp_path / "nope.vsproj")]) == 1
    assert "nope.vsproj: no such project file" in capsys.readouterr().err
    ProjectStore.create(tmp_path / "e.vsproj").close()
    assert main(["export", "--format", "coco", str(tmp_path / "x.json"), "--project",
                 str(tmp_path / "e.vsproj"), "--split", "train"]) == 1
    assert "no such split" in capsys.readouterr().err


def test_console_entry_point_exit_codes(tmp_path):
    """The installed command path: a separate process, exit code and one-line error."""
    broken = tmp_path / "b.json"
    broken.write_text("nope")
    proc = subprocess.run([sys.executable, "-m", "vision_studio.cli", "import", "--format",
                           "coco", str(broken), "--project", str(tmp_path / "p.vsproj")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1].startswith("error: ")
    assert "Traceback" not in proc.stderr


def test_images_format_on_existing_and_bad_images_named(data_dir, tmp_path, capsys):
    root = data_dir("raccoon_voc")
    folder = tmp_path / "photos"
    shutil.copytree(root / "images", folder / "raccoon")
    data = (folder / "raccoon" / "raccoon-1.jpg").read_bytes()
    (folder / "raccoon" / "raccoon-1.jpg").write_bytes(data[: len(data) // 2])  # truncated
    (folder / "notes.txt").write_text("not an image")
    if hasattr(os, "mkfifo"):
        os.mkfifo(folder / "pipe.jpg")  # must be reported, not waited on
    project = tmp_path / "p.vsproj"
    assert main(["import", "--format", "images", str(folder), "--project", str(project),
                 "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "imported images: 200 images" in out and "raccoon-1.jpg: truncated" in out
    assert "notes.txt: not an image file" in out
    if hasattr(os, "mkfifo"):
        assert "pipe.jpg: not a regular file" in out
    assert _counts(project)[:2] == (200, 0)
    assert main(["info", "--project", str(project)]) == 0
    info = capsys.readouterr().out
    assert "raccoon-1.jpg: not an image this program can open in full: truncated" in info

    args = ["import", "--format", "voc", str(root / "annotations"), "--image-dir",
            str(folder / "raccoon"), "--project", str(project), "--quiet"]
    assert main(args) == 0
    assert "labels for 200 images already in the project" in capsys.readouterr().out
    assert _counts(project)[:2] == (200, 217)
    assert main(args) == 0 and _counts(project)[:2] == (200, 217)  # add: not twice
    with ProjectStore.open(project) as s:
        im = s.images()[5]
        s.delete_annotations([a.id for a in s.annotations(im.id)])
    assert main(args + ["--on-existing", "skip"]) == 0
    kept = _counts(project)[1]
    assert kept < 217  # skip left the emptied image as it was
    capsys.readouterr()
    assert main(args + ["--on-existing", "replace"]) == 0 and _counts(project)[1] == 217
    assert f"({kept} of their annotations replaced)" in capsys.readouterr().out
    capsys.readouterr()
    assert main(["import", "--format", "images", str(folder), "--project", str(project),
                 "--no-check-images", "--quiet"]) == 0
    assert "imported images: 0 images" in capsys.readouterr().out


_KILLER = """
import os, signal, sys
import vision_studio.core.io.voc as voc
real = voc.read_voc
def read_voc(store, *a, **k):
    real(store, *a, **k)
    os.kill(os.getpid(), signal.SIGKILL)  # killed in the middle of the import
voc.read_voc = read_voc
from vision_studio.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")
def test_killed_import_into_a_new_project_leaves_no_project(data_dir, tmp_path):
    root = data_dir("raccoon_voc")
    project = tmp_path / "new.vsproj"
    args = ["import", "--format", "voc", str(root / "annotations"), "--project", str(project),
            "--quiet"]
    proc = subprocess.run([sys.executable, "-c", _KILLER, *args], capture_output=True,
                          text=True, timeout=120, cwd=Path(__file__).resolve().parents[2])
    assert proc.returncode == -signal.SIGKILL
    assert not project.exists()  # the build file is not the project
    leftovers = list(tmp_path.glob(".new.vsproj.vs-build-*"))
    assert leftovers and not any(p.name.endswith(".vsproj") for p in tmp_path.iterdir())
    assert main(args) == 0  # the next import cleans up the stale build file
    assert _counts(project)[:2] == (200, 217)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".new")] == []


def _digest(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def test_exports_never_destroy_their_sources(data_dir, tmp_path, capsys):
    voc = shutil.copytree(data_dir("raccoon_voc"), tmp_path / "raccoon")
    project = tmp_path / "r.vsproj"
    assert main(["import", "--format", "voc", str(voc / "annotations"), "--project",
                 str(project), "--quiet", "--no-check-images"]) == 0
    sources, before = _digest(voc / "annotations"), _counts(project)
    capsys.readouterr()
    export = ["export", "--format", "voc", str(voc / "annotations"), "--project", str(project)]
    assert main(export) == 1  # the folder the XMLs came from: refused
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "annotations: is a folder that is not empty" in err
    assert "--overwrite" in err and _digest(voc / "annotations") == sources
    assert main(export + ["--overwrite"]) == 0  # asked for: replaced, with integer boxes
    assert set(_digest(voc / "annotations")) == set(sources) | {"labels.txt"}
    assert _counts(project) == before
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["export", "--format", "voc", str(empty), "--project", str(project)]) == 0
    assert main(["export", "--format", "voc", str(tmp_path), "--project", str(project),
                 "--overwrite"]) == 0  # the project's own folder: its file is not touched
    assert _counts(project) == before and not list(tmp_path.glob("*.vs-tmp-*"))

    cam = data_dir("camvid_small")
    img, lab = tmp_path / "cam" / "val", tmp_path / "cam" / "valannot"
    img.mkdir(parents=True)
    lab.mkdir()
    for p in sorted((cam / "val").glob("*.png"))[:3]:
        shutil.copy(p, img)
        shutil.copy(cam / "valannot" / p.name, lab)
    mp = tmp_path / "m.vsproj"
    assert main(["import", "--format", "masks", str(img), "--mask-dir", str(lab), "--classes",
                 ",".join(f"{i}={i}" for i in range(11)), "--ignore-value", "11", "--project",
                 str(mp), "--quiet"]) == 0
    labels, photos = _digest(lab), _digest(img)
    capsys.readouterr()
    masks = ["export", "--format", "masks", str(lab), "--project", str(mp)]
    assert main(masks) == 1 and "valannot: is a folder that is not empty" in capsys.readouterr().err
    assert _digest(lab) == labels  # void 11 was not rewritten as 255
    # the label PNGs would have the photos' names there: never written, even with --overwrite
    assert main(["export", "--format", "masks", str(img), "--project", str(mp),
                 "--overwrite"]) == 1
    assert "part of the project" in capsys.readouterr().err and _digest(img) == photos
    assert main(masks + ["--overwrite", "--ignore-value", "11"]) == 0
    for name in labels:  # asked for: the same values written back, pixel for pixel
        assert (np.asarray(Image.open(lab / name)) == np.asarray(Image.open(io.BytesIO(labels[name])))).all()
