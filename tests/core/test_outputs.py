"""Safe outputs on real files: protected project paths, no silent overwrite, atomic
writes that leave nothing half-written after a kill."""
from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
import textwrap

import pytest

from vision_studio.core.errors import OutputExistsError, ProtectedPathError, VisionStudioError
from vision_studio.core.outputs import (
    TMP_MARK,
    atomic_output,
    atomic_write_bytes,
    atomic_write_text,
    check_output,
    clean_stale_temps,
    protected_paths,
)
from vision_studio.core.store import ProjectStore
from vision_studio.core.types import ImageRecord


@pytest.fixture
def project(tmp_path):
    (tmp_path / "imgs").mkdir()
    (tmp_path / "imgs" / "a.jpg").write_bytes(b"jpeg bytes")
    store = ProjectStore.create(tmp_path / "p.vsproj")
    store.add_image(ImageRecord("imgs/a.jpg", 2, 2))
    yield store
    store.close()


def test_protected_paths_are_refused_even_with_overwrite(project, tmp_path):
    prot = protected_paths(project)
    for target in [tmp_path / "p.vsproj", tmp_path / "p.vsproj-wal", tmp_path / "p.vsproj-shm",
                   tmp_path / "imgs" / "a.jpg", tmp_path / "imgs" / ".." / "imgs" / "a.jpg"]:
        with pytest.raises(ProtectedPathError, match="part of the project") as info:
            check_output(target, overwrite=True, protected=prot)
        assert isinstance(info.value, VisionStudioError)
    link = tmp_path / "link.json"
    link.symlink_to(tmp_path / "p.vsproj")  # a symlink to the project is the project
    with pytest.raises(ProtectedPathError):
        check_output(link, overwrite=True, protected=prot)
    before = (tmp_path / "p.vsproj").read_bytes()
    with pytest.raises(ProtectedPathError):
        atomic_write_text(tmp_path / "p.vsproj", "{}", protected=prot)
    assert (tmp_path / "p.vsproj").read_bytes() == before
    assert project.integrity_check() == "ok"
    # plain paths (not from protected_paths) are resolved too
    with pytest.raises(ProtectedPathError):
        check_output(tmp_path / "imgs" / "a.jpg", overwrite=True, protected=[str(tmp_path / "imgs/a.jpg")])


def test_existing_file_or_non_empty_folder_needs_overwrite(project, tmp_path):
    prot = protected_paths(project)
    out = tmp_path / "out.json"
    assert check_output(out, overwrite=False, protected=prot) == out  # new file: fine
    out.write_text("mine")
    with pytest.raises(OutputExistsError, match="already exists") as info:
        check_output(out, overwrite=False, protected=prot)
    assert info.value.path == out
    assert check_output(out, overwrite=True, protected=prot) == out
    folder = tmp_path / "folder"
    folder.mkdir()
    assert check_output(folder, overwrite=False) == folder  # empty folder: fine
    (folder / "x.xml").write_text("<a/>")
    with pytest.raises(OutputExistsError, match="not empty"):
        check_output(folder, overwrite=False)
    check_output(folder, overwrite=True)
    assert (folder / "x.xml").read_text() == "<a/>"  # checking never deletes anything


def test_errors_pickle_across_processes(tmp_path):
    err = pickle.loads(pickle.dumps(OutputExistsError(tmp_path, "already exists")))
    assert (type(err), err.path, str(err)) == (OutputExistsError, tmp_path, f"{tmp_path}: already exists")


def test_atomic_writes_replace_and_keep_the_suffix(tmp_path):
    target = tmp_path / "sub" / "out.json"
    atomic_write_text(target, "first")
    atomic_write_text(target, "ünïcode")
    assert target.read_text(encoding="utf-8") == "ünïcode"
    atomic_write_bytes(tmp_path / "raw.bin", b"\x00\x01")
    assert (tmp_path / "raw.bin").read_bytes() == b"\x00\x01"
    from PIL import Image

    with atomic_output(tmp_path / "mask.png") as tmp:
        assert tmp.suffix == ".png" and tmp.parent == tmp_path and TMP_MARK in tmp.name
        Image.new("L", (3, 2), 7).save(tmp)  # PIL picks the format from the suffix
    assert Image.open(tmp_path / "mask.png").size == (3, 2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mask.png", "raw.bin", "sub"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "out.json"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_output(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("writer failed")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


_WRITER = textwrap.dedent("""
    import sys, time
    from vision_studio.core.outputs import atomic_output
    with atomic_output(sys.argv[1]) as tmp:
        with open(tmp, "w") as f:
            f.write("new" * 1000)
            f.flush()
            print("writing", flush=True)
            time.sleep(60)
""")


def test_a_killed_writer_leaves_the_old_file_and_its_temporary_is_cleaned_next_time(tmp_path):
    target = tmp_path / "out.json"
    target.write_text("old")
    child = subprocess.Popen([sys.executable, "-c", _WRITER, str(target)], stdout=subprocess.PIPE,
                             text=True, cwd=os.getcwd())
    assert child.stdout.readline().strip() == "writing"
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    stale = [p for p in tmp_path.iterdir() if TMP_MARK in p.name]
    assert len(stale) == 1 and stale[0].name.startswith(".out.vs-tmp-")
    assert target.read_text() == "old"
    # a folder holding only stale temporaries counts as empty, and is cleaned
    check_output(target, overwrite=True)
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


def test_temporaries_of_live_writers_are_kept(tmp_path):
    with atomic_output(tmp_path / "x.json") as tmp:
        tmp.write_text("x")
        leftover = tmp_path / f".x{TMP_MARK}{os.getpid()}-abcd.json"  # not being written
        leftover.write_text("")
        assert clean_stale_temps(tmp_path) == 1
        assert tmp.exists() and not leftover.exists()
    assert (tmp_path / "x.json").read_text() == "x"
    dead = tmp_path / f".y{TMP_MARK}999999999-abcd.png"
    dead.write_bytes(b"")
    live = tmp_path / f".y{TMP_MARK}{os.getppid()}-abcd.png"
    live.write_bytes(b"")
    assert clean_stale_temps(tmp_path) == 1
    assert live.exists() and not dead.exists()


def test_images_behind_a_symlinked_folder_are_protected_under_their_real_path(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    (real / "b.png").write_bytes(b"png")
    (tmp_path / "proj").mkdir()
    (tmp_path / "proj" / "link").symlink_to(real)
    with ProjectStore.create(tmp_path / "proj" / "p.vsproj") as store:
        store.add_images([ImageRecord("link/b.png", 1, 1), ImageRecord("../real/../real/c.png", 1, 1)])
        prot = protected_paths(store)
    for target in (real / "b.png", tmp_path / "proj" / "link" / "b.png", real / "c.png"):
        with pytest.raises(ProtectedPathError):
            check_output(target, overwrite=True, protected=prot)
    check_output(real / "d.png", overwrite=False, protected=prot)  # a new name is fine
