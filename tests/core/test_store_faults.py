"""Storage faults on real files and real processes: kills during creation, runs whose
process died, a second writer holding the lock, read-only files, a full disk."""
from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from vision_studio.core.errors import StoreBusyError, StoreError, StoreFullError, StoreReadOnlyError
from vision_studio.core.outputs import TMP_MARK
from vision_studio.core.store import SCHEMA_VERSION, ProjectStore, files
from vision_studio.core.types import ImageRecord, RunRecord

REPO = Path(__file__).resolve().parents[2]
KILLS = int(os.environ.get("VS_CREATE_KILLS", "6"))


def _child(code: str, *args: str) -> subprocess.Popen:
    """A Python child running ``code`` from the repository root; its first stdout line
    is read by the caller."""
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), *args], cwd=REPO,
                            stdout=subprocess.PIPE, text=True)


def _kill(proc: subprocess.Popen) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()


# ---------------------------------------------------------------- creation, blank files
def test_blank_sqlite_files_are_initialised_not_refused(tmp_path):
    empty = tmp_path / "empty.vsproj"
    empty.write_bytes(b"")
    wal_only = tmp_path / "wal.vsproj"  # what a kill inside the old create() left: 4 KiB
    conn = sqlite3.connect(wal_only)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.close()
    assert wal_only.stat().st_size == 4096
    for path in (empty, wal_only):
        with ProjectStore.open(path) as store:
            store.add_category("x")
            assert store.integrity_check() == "ok"
        with ProjectStore.open(path) as store:
            assert [c.name for c in store.categories()] == ["x"]
    again = tmp_path / "again.vsproj"
    again.write_bytes(b"")
    with ProjectStore.create(again, root=tmp_path / "imgs") as store:  # create accepts it too
        assert store.root == (tmp_path / "imgs").resolve()
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE t(x)").connection.close()
    with pytest.raises(StoreError, match="not a Vision Studio project"):
        ProjectStore.open(other)  # a database with something in it is never touched
    with pytest.raises(StoreError, match="already exists"):
        ProjectStore.create(other)


_CREATOR = """
    import sys
    from pathlib import Path
    from vision_studio.core.store import ProjectStore
    folder = Path(sys.argv[1])
    print("ready", flush=True)
    i = 0
    while True:
        ProjectStore.create(folder / f"p{i}.vsproj", root=folder).close()
        print(i, flush=True)
        i += 1
"""


def test_a_kill_during_creation_leaves_no_file_or_a_complete_project(tmp_path):
    rng = random.Random(13)
    made = 0
    for k in range(KILLS):
        folder = tmp_path / f"k{k}"
        folder.mkdir()
        proc = _child(_CREATOR, str(folder))
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.0, 0.25))
        _kill(proc)
        reported = [int(line) for line in proc.stdout.read().split()]
        finals = sorted(folder.glob("p*.vsproj"))
        # every file under a final name is complete before any program opens it
        for path in finals:
            conn = sqlite3.connect(path)  # may replay the WAL of the killed writer
            assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION, path
            conn.close()
        assert {int(p.stem[1:]) for p in finals} >= set(reported)
        for path in finals:
            with ProjectStore.open(path) as store:
                assert store.integrity_check() == "ok" and store.root == folder.resolve()
        made += len(finals)
        ProjectStore.create(folder / "next.vsproj").close()  # cleans a killed creator's temp
        assert not [p.name for p in folder.iterdir() if TMP_MARK in p.name]
    assert made > 0  # the kills did land while projects were being made


_BUILDER = """
    import sys, time
    from vision_studio.core.store import ProjectStore
    from vision_studio.core.types import ImageRecord
    with ProjectStore.building(sys.argv[1]) as store:
        store.add_images(ImageRecord(f"{i}.jpg", 2, 2) for i in range(100))
        print("filled", flush=True)
        time.sleep(120)
"""


def test_building_a_project_appears_only_when_the_block_succeeds(tmp_path):
    path = tmp_path / "new.vsproj"
    with ProjectStore.building(path, root=tmp_path / "imgs") as store:
        store.add_image(ImageRecord("a.jpg", 2, 2))
        assert not path.exists() and store.path.parent == tmp_path
        assert store.root == (tmp_path / "imgs").resolve()
    with ProjectStore.open(path) as store:
        assert store.image_count() == 1 and store.root == (tmp_path / "imgs").resolve()
    failed = tmp_path / "failed.vsproj"
    with pytest.raises(RuntimeError):
        with ProjectStore.building(failed) as store:
            store.add_image(ImageRecord("a.jpg", 2, 2))
            raise RuntimeError("the import failed")
    assert not failed.exists()
    with pytest.raises(StoreError, match="already exists"):
        with ProjectStore.building(path):
            pass
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new.vsproj"]


def test_a_kill_while_building_leaves_no_project(tmp_path):
    path = tmp_path / "p.vsproj"
    proc = _child(_BUILDER, str(path))
    assert proc.stdout.readline().strip() == "filled"
    _kill(proc)
    assert not path.exists()
    left = [p.name for p in tmp_path.iterdir()]
    assert left and all(TMP_MARK in n for n in left)  # the temporary project (and its WAL)
    with ProjectStore.building(path):  # the next creation there cleans them
        assert [p for p in tmp_path.iterdir() if p.name in left] == []


# ---------------------------------------------------------------- runs of dead processes
_RUNNER = """
    import sys, time
    from vision_studio.core.store import ProjectStore
    from vision_studio.core.types import RunRecord
    store = ProjectStore.open(sys.argv[1])
    run = store.add_run(RunRecord("child", "detection", "runs/child", status="running"))
    print(run.id, flush=True)
    time.sleep(120)
"""


def test_a_run_whose_process_was_killed_is_interrupted_on_open(tmp_path):
    path = tmp_path / "p.vsproj"
    ProjectStore.create(path).close()
    killed, alive = _child(_RUNNER, str(path)), _child(_RUNNER, str(path))
    try:
        dead_id, live_id = int(killed.stdout.readline()), int(alive.stdout.readline())
        _kill(killed)
        with ProjectStore.open(path) as store:
            assert store.interrupted_runs == [dead_id]
            store.add_run(RunRecord("elsewhere", "detection", "runs/x", status="running",
                                    pid=killed.pid, host="another-host"))
            store.add_run(RunRecord("mine", "detection", "runs/m", status="running"))
        with ProjectStore.open(path) as store:
            assert store.interrupted_runs == []  # nothing new to mark
            by_name = {r.name: r for r in store.runs()}
            assert store.run(dead_id).status == "interrupted"
            assert store.run(dead_id).pid == killed.pid
            assert store.run(live_id).status == "running"  # its process is still there
            assert by_name["elsewhere"].status == "running"  # another host: cannot tell
            assert by_name["mine"].status == "running"  # this process
    finally:
        _kill(alive)
    with ProjectStore.open(path, readonly=True) as store:  # read-only: reported as stored
        assert store.run(live_id).status == "running" and store.interrupted_runs == []


# ---------------------------------------------------------------- a second writer
_LOCKER = """
    import sqlite3, sys, time
    conn = sqlite3.connect(sys.argv[1], isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("INSERT INTO settings(key, value) VALUES('locker', '1')")
    print("locked", flush=True)
    time.sleep(120)
"""


def test_a_project_locked_by_another_writer(tmp_path, monkeypatch):
    monkeypatch.setattr(files, "BUSY_TIMEOUT_S", 0.3)
    monkeypatch.setattr(files, "BUSY_RETRIES", 1)
    path = tmp_path / "p.vsproj"
    with ProjectStore.create(path) as store:
        store.add_category("kept")
    store = ProjectStore.open(path)
    locker = _child(_LOCKER, str(path))
    try:
        assert locker.stdout.readline().strip() == "locked"
        assert [c.name for c in store.categories()] == ["kept"]  # reads go on (WAL)
        start = time.perf_counter()
        with pytest.raises(StoreBusyError, match="another Vision Studio window or command") as info:
            store.add_category("blocked")
        waited = time.perf_counter() - start
        assert str(path) in str(info.value) and f"process {locker.pid} " in str(info.value)
        assert waited >= 0.5  # the busy timeout, twice (one retry)
        assert not isinstance(info.value, sqlite3.Error) or isinstance(info.value, StoreError)
    finally:
        _kill(locker)
    store.add_category("after")  # the lock went with the process; the store still works
    assert [c.name for c in store.categories()] == ["kept", "after"]
    assert store.get_setting("locker") is None  # the killed writer's change was rolled back
    store.close()


# ---------------------------------------------------------------- read-only
def _project_with_image(path: Path) -> None:
    with ProjectStore.create(path) as store:
        store.add_image(ImageRecord("a.jpg", 4, 3, "train"))


def test_open_readonly_reads_and_refuses_every_write(tmp_path):
    path = tmp_path / "p.vsproj"
    _project_with_image(path)
    before = path.read_bytes()
    with ProjectStore.open(path, readonly=True) as store:
        assert store.readonly and store.image_count() == 1 and store.image(1).split == "train"
        with pytest.raises(StoreReadOnlyError, match="read-only"):
            store.add_category("x")
        with pytest.raises(StoreReadOnlyError):
            with store.transaction():
                pass
    assert path.read_bytes() == before
    assert not Path(f"{path}-wal").exists() or Path(f"{path}-wal").stat().st_size == 0


def test_readonly_open_sees_commits_left_in_the_wal_of_a_killed_writer(tmp_path):
    path = tmp_path / "p.vsproj"
    ProjectStore.create(path).close()
    proc = _child(_RUNNER, str(path))
    run_id = int(proc.stdout.readline())
    _kill(proc)
    assert Path(f"{path}-wal").stat().st_size > 0  # the run is only in the WAL
    Path(f"{path}-shm").unlink()  # as after a reboot on some systems: the index is rebuilt
    with ProjectStore.open(path, readonly=True) as store:
        assert store.run(run_id).name == "child"


def test_readonly_open_of_an_older_schema_migrates_only_a_copy(tmp_path):
    from tests.core.test_store_v2 import _make_v1

    path = tmp_path / "old.vsproj"
    _make_v1(path)
    with ProjectStore.open(path, readonly=True) as store:
        assert store.image(1).check_key == "" and store.annotation(1).source == ""
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 1  # the file is untouched
    conn.close()


@pytest.fixture
def ro_mount(tmp_path):
    """``(source folder, the same folder mounted read-only)``; skips where bind mounts
    are not permitted (not root, or no CAP_SYS_ADMIN)."""
    src, dst = tmp_path / "src", tmp_path / "ro"
    src.mkdir()
    dst.mkdir()
    ok = subprocess.run(["mount", "--bind", str(src), str(dst)], capture_output=True).returncode == 0
    if not ok:
        pytest.skip("bind mounts are not permitted here (needs root / CAP_SYS_ADMIN)")
    try:
        if subprocess.run(["mount", "-o", "remount,bind,ro", str(dst)],
                          capture_output=True).returncode != 0:
            pytest.skip("read-only remount is not permitted here")
        yield src, dst
    finally:
        if subprocess.run(["umount", str(dst)], capture_output=True).returncode:
            subprocess.run(["umount", "-l", str(dst)], capture_output=True)


def test_a_project_on_a_read_only_file_system(ro_mount):
    src, ro = ro_mount
    _project_with_image(src / "p.vsproj")
    with pytest.raises(StoreReadOnlyError, match="read-only.*open it read-only"):
        ProjectStore.open(ro / "p.vsproj")
    with ProjectStore.open(ro / "p.vsproj", readonly=True) as store:
        assert store.image_count() == 1
    with pytest.raises(StoreReadOnlyError, match="read-only"):
        ProjectStore.create(ro / "new.vsproj")
    out = subprocess.run([sys.executable, "-m", "vision_studio.cli", "info", "--project",
                          str(ro / "p.vsproj")], cwd=REPO, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "1" in out.stdout and "read-only" in out.stderr


# ---------------------------------------------------------------- a full disk
def _fill_until_full(store: ProjectStore) -> tuple[int, StoreFullError]:
    """Commit one image at a time until the disk is full; returns how many committed."""
    committed = 0
    for i in range(1_000_000):
        try:
            store.add_image(ImageRecord(f"img/{i:07d}_{'x' * 200}.jpg", 640, 480))
        except StoreFullError as exc:
            return committed, exc
        committed += 1
    raise AssertionError("the disk never filled")


def test_a_full_database_max_page_count(tmp_path):
    """SQLITE_FULL simulated with ``PRAGMA max_page_count`` (runs everywhere)."""
    path = tmp_path / "p.vsproj"
    store = ProjectStore.create(path)
    pages = store._read("PRAGMA page_count")[0][0]
    store._conn.execute(f"PRAGMA max_page_count = {pages + 20}")
    committed, exc = _fill_until_full(store)
    assert committed > 0 and "disk is full" in str(exc) and "saved before it is intact" in str(exc)
    store.close()
    with ProjectStore.open(path) as store:
        assert store.image_count() == committed and store.integrity_check() == "ok"


@pytest.fixture
def small_tmpfs(tmp_path):
    """A 1 MiB tmpfs; skips where mounting is not permitted."""
    mnt = tmp_path / "tmpfs"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)],
                      capture_output=True).returncode != 0:
        pytest.skip("mounting a tmpfs is not permitted here (needs root / CAP_SYS_ADMIN)")
    yield mnt
    if subprocess.run(["umount", str(mnt)], capture_output=True).returncode:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)  # still open: lazily


def test_a_really_full_disk(small_tmpfs):
    path = small_tmpfs / "p.vsproj"
    store = ProjectStore.create(path)
    committed, exc = _fill_until_full(store)
    assert committed > 10 and "disk is full" in str(exc)
    store.close()
    with ProjectStore.open(path) as store:  # still full: opening and reading work
        assert store.image_count() == committed
        assert store.integrity_check() == "ok"


def test_a_closed_store_raises_store_closed_error(tmp_path):
    from vision_studio.core.errors import StoreClosedError

    store = ProjectStore.create(tmp_path / "p.vsproj")
    store.close()
    for call in (store.categories, lambda: store.add_category("x")):
        with pytest.raises(StoreClosedError, match="closed") as info:
            call()
        assert isinstance(info.value, sqlite3.ProgrammingError)  # what older callers catch
