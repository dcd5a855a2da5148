"""ImageFolder (classification) import: hymenoptera and generated trees."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from PIL import Image

from vision_studio.core.errors import FormatError
from vision_studio.core.io.imagefolder import read_imagefolder


def _img(path: Path, size=(12, 8), fmt: str | None = None, orientation: int | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    img = Image.new("RGB", size, (10, 200, 30))
    kwargs = {}
    if orientation is not None:
        exif = Image.Exif()
        exif[0x0112] = orientation
        kwargs["exif"] = exif
    img.save(path, format=fmt, **kwargs)
    return path


def _class_of(store) -> dict[str, str]:
    """``{file name: class name}`` from the image tags."""
    names = {c.id: c.name for c in store.categories()}
    tags = store.all_image_tags()
    return {Path(im.path).name: "/".join(names[c] for c in tags.get(im.id, ())) for im in store.images()}


def test_hymenoptera_imports_and_reports_the_gif(new_store, data_dir):
    root = data_dir("hymenoptera")
    files = [p for p in root.rglob("*") if p.is_file()]
    calls = []
    report = read_imagefolder(new_store, root, progress=lambda d, t: calls.append((d, t)))

    assert [(Path(s.source).relative_to(root).as_posix(), s.kind) for s in report.skipped] == \
        [("train/ants/imageNotFound.gif", "not_a_photo")]
    # it decodes (a 300x300 "image not found" placeholder of a few dozen colours)
    assert "300x300 palette image with 33 colours and 1 frame(s)" in report.skipped[0].reason
    assert report.images == len(files) - 1 == new_store.image_count() == 397
    assert report.tags == 397 and calls[-1] == (len(files), len(files))
    assert [c.name for c in new_store.categories()] == ["ants", "bees"]
    assert new_store.splits() == {"train": 244, "val": 153}
    # each image has exactly one tag: its class folder
    names = {c.id: c.name for c in new_store.categories()}
    tags = new_store.all_image_tags()
    for im in new_store.images():
        assert len(tags[im.id]) == 1
        assert Path(im.path).parent.name == names[tags[im.id][0]]
        assert Path(im.path).parts[-3] == im.split
    formica = [im for im in new_store.images() if im.path.endswith("formica.jpeg")]
    assert [(im.width, im.height, im.split) for im in formica] == [(193, 130, "train")]
    # the skipped GIF is a recorded problem too (shown by `info` and the GUI)
    assert [p.source for p in new_store.problems()] == [report.skipped[0].source]


def test_flat_layout_with_split_argument_and_aliases(new_store, tmp_path):
    _img(tmp_path / "flat" / "cat" / "a.png")
    _img(tmp_path / "flat" / "dog" / "deep" / "b.jpg")
    report = read_imagefolder(new_store, tmp_path / "flat", split="test")
    assert report.ok and report.images == 2
    assert _class_of(new_store) == {"a.png": "cat", "b.jpg": "dog"}
    assert new_store.splits() == {"test": 2}

    _img(tmp_path / "sp" / "Valid" / "cat" / "c.png")
    _img(tmp_path / "sp" / "validation" / "dog" / "d.png")
    _img(tmp_path / "sp" / "training" / "dog" / "e.png")
    read_imagefolder(new_store, tmp_path / "sp")
    assert {Path(i.path).name: i.split for i in new_store.images()} == \
        {"a.png": "test", "b.jpg": "test", "c.png": "val", "d.png": "val", "e.png": "train"}
    assert len(new_store.categories()) == 2  # classes reused by name


def test_non_images_corrupt_files_and_strays_are_reported(new_store, tmp_path):
    root = tmp_path / "data"
    _img(root / "train" / "cat" / "ok.png")
    (root / "train" / "cat" / "notes.txt").write_text("hello")
    (root / "train" / "cat" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (root / "train" / "cat" / ".DS_Store").write_bytes(b"\0")
    (root / "train" / "stray.png").write_bytes(b"")
    (root / "extras").mkdir()
    (root / "README").write_text("x")
    _img(root / "train" / "cat" / "anim.gif", fmt="GIF")
    report = read_imagefolder(new_store, root)
    kinds = {Path(s.source).name: s.kind for s in report.skipped}
    assert kinds == {"notes.txt": "not_an_image", "broken.jpg": "decode_error",
                     "stray.png": "outside_class", "extras": "outside_split",
                     "README": "outside_class", "anim.gif": "not_a_photo"}
    broken = next(s for s in report.skipped if s.source.endswith("broken.jpg"))
    assert "broken.jpg" in broken.source and broken.reason
    assert report.images == 1 and _class_of(new_store) == {"ok.png": "cat"}
    assert len(new_store.problems()) == len(report.skipped)


def test_gif_accepted_when_asked_and_exif_size(new_store, tmp_path):
    _img(tmp_path / "r" / "cat" / "anim.gif", fmt="GIF")
    _img(tmp_path / "r" / "cat" / "rot.jpg", size=(12, 8), orientation=8)
    exts = {".gif", ".jpg"}
    report = read_imagefolder(new_store, tmp_path / "r", extensions=exts)
    assert report.ok and report.images == 2
    sizes = {Path(i.path).name: (i.width, i.height) for i in new_store.images()}
    assert sizes == {"anim.gif": (12, 8), "rot.jpg": (8, 12)}


def test_strict_mode_raises_and_changes_nothing(new_store, tmp_path):
    new_store.add_category("kept")
    _img(tmp_path / "r" / "cat" / "a.png")
    (tmp_path / "r" / "cat" / "b.txt").write_text("x")
    with pytest.raises(FormatError, match=r"b\.txt"):
        read_imagefolder(new_store, tmp_path / "r", strict=True)
    assert new_store.image_count() == 0 and new_store.problems() == []
    assert [c.name for c in new_store.categories()] == ["kept"]


def test_reimport_and_bad_roots(new_store, tmp_path):
    _img(tmp_path / "r" / "cat" / "a.png")
    read_imagefolder(new_store, tmp_path / "r")
    again = read_imagefolder(new_store, tmp_path / "r")
    assert again.ok and again.images == 0 and again.existing == 1
    assert new_store.image_count() == 1 and len(new_store.all_image_tags()) == 1
    (im,) = new_store.images()
    new_store.set_image_tags(im.id, [new_store.add_category("dog").id])  # relabelled by hand
    read_imagefolder(new_store, tmp_path / "r")  # add: the folder's class is added back
    assert sorted(new_store.category(t).name for t in new_store.image_tags(im.id)) == ["cat", "dog"]
    read_imagefolder(new_store, tmp_path / "r", on_existing="replace")
    assert [new_store.category(t).name for t in new_store.image_tags(im.id)] == ["cat"]
    _img(tmp_path / "r2" / "cat" / "a.png")  # the same name in another folder: another image
    assert read_imagefolder(new_store, tmp_path / "r2").images == 1
    with pytest.raises(FormatError, match="folder not found"):
        read_imagefolder(new_store, tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FormatError, match="no class folder"):
        read_imagefolder(new_store, tmp_path / "empty")


def test_verify_reports_truncated_images(new_store, tmp_path):
    good = _img(tmp_path / "r" / "cat" / "good.jpg", size=(64, 48))
    data = good.read_bytes()
    (tmp_path / "r" / "cat" / "cut.jpg").write_bytes(data[: len(data) // 2])
    report = read_imagefolder(new_store, tmp_path / "r", verify=True)
    assert [(Path(s.source).name, s.kind) for s in report.skipped] == [("cut.jpg", "decode_error")]
    assert "truncated" in report.skipped[0].reason
    assert report.images == 1


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes need POSIX")
def test_named_pipe_in_a_class_folder_does_not_hang_the_import(new_store, tmp_path):
    import threading

    _img(tmp_path / "r" / "cat" / "a.png")
    os.mkfifo(tmp_path / "r" / "cat" / "b.jpg")
    out = {}
    t = threading.Thread(target=lambda: out.update(r=read_imagefolder(new_store, tmp_path / "r")),
                         daemon=True)
    t.start()
    t.join(20)
    assert not t.is_alive(), "the import hung on a named pipe"
    report = out["r"]
    assert report.images == 1 and [Path(s.source).name for s in report.skipped] == ["b.jpg"]
    assert "not a regular file" in report.skipped[0].reason
