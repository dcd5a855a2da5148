"""Crash safety: a process editing through the GUI code path is killed with SIGKILL
mid-stream; every edit it reported as done is in the reopened file, which is sound.

The child (``_crash_child.py``) runs the real canvas, tags widget and undo stack
offscreen, doing random edits as fast as it can and printing a snapshot of the image's
annotations and tags after each committed edit. The parent kills it at a random point
(while it keeps editing, so usually inside or between transactions), reopens the file,
runs ``PRAGMA integrity_check`` and compares every image with the last snapshot the
child reported: equal, except for the one edit that was in flight at the kill, which may
or may not have been committed (at most one annotation or the tags differ).
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vision_studio.core.store import ProjectStore
from vision_studio.core.types import ImageRecord

CHILD = Path(__file__).with_name("_crash_child.py")
REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX SIGKILL")


def make_project(tmp_path: Path) -> Path:
    path = tmp_path / "crash.vsproj"
    with ProjectStore.create(path) as store:
        for i in range(3):
            Image.fromarray(np.full((48, 64, 3), 40 * i, np.uint8)).save(tmp_path / f"{i}.png")
            store.add_image(ImageRecord(path=f"{i}.png", width=64, height=48))
        for name in ("a", "b", "c"):
            store.add_category(name)
    return path


def run_and_kill(path: Path, seed: int, kill_after: int) -> tuple[dict[int, dict], tuple[int, int] | None, int]:
    """Run the child until it reported ``kill_after`` done edits, SIGKILL it, and return
    (last done snapshot per image id, (k, image id) of the edit in flight or None, edits done)."""
    env = dict(os.environ, PYTHONPATH=str(REPO), QT_QPA_PLATFORM="offscreen")
    proc = subprocess.Popen([sys.executable, str(CHILD), str(path), str(seed)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env, text=True, bufsize=1)
    snapshots: dict[int, dict] = {}
    pending: tuple[int, int] | None = None
    done = 0
    deadline = time.monotonic() + 60
    try:
        for line in proc.stdout:
            word, rest = line.split(" ", 1)
            if word == "begin":
                k, image_id = map(int, rest.split())
                pending = (k, image_id)
            elif word == "done":
                k, image_id, snap = rest.split(" ", 2)
                snapshots[int(image_id)] = json.loads(snap)
                pending = None
                done += 1
                if done == kill_after:
                    os.kill(proc.pid, signal.SIGKILL)  # the child is editing on meanwhile
                    break
            assert time.monotonic() < deadline, "child too slow"
        # lines already written before the kill are still in the pipe: they count too
        for line in proc.stdout:
            word, rest = line.split(" ", 1)
            if word == "begin":
                pending = tuple(map(int, rest.split()))
            elif word == "done":
                k, image_id, snap = rest.split(" ", 2)
                snapshots[int(image_id)] = json.loads(snap)
                pending = None
                done += 1
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read()[-2000:]
    return snapshots, pending, done


def on_disk(store: ProjectStore, image_id: int) -> dict:
    return {"anns": {str(a.id): [a.category_id, list(a.bbox), [list(p) for p in a.polygons]]
                     for a in store.annotations(image_id)},
            "tags": list(store.image_tags(image_id))}


def differences(a: dict, b: dict) -> int:
    """Number of annotations (by id) and tag sets that differ between two snapshots."""
    ids = set(a["anns"]) | set(b["anns"])
    n = sum(a["anns"].get(i) != b["anns"].get(i) for i in ids)
    return n + (a["tags"] != b["tags"])


def test_sigkill_mid_stream_loses_no_reported_edit(tmp_path):
    path = make_project(tmp_path)
    last: dict[int, dict] = {}
    total = 0
    for round_, kill_after in enumerate((40, 73, 111)):  # three crashes on the same file
        snapshots, pending, done = run_and_kill(path, seed=round_, kill_after=kill_after)
        total += done
        last.update(snapshots)
        with ProjectStore.open(path) as store:  # WAL recovery happens here
            assert store.integrity_check() == "ok"
            assert store.images() and len(store.categories()) == 3
            for image_id, expected in last.items():
                got = on_disk(store, image_id)
                if pending is not None and pending[1] == image_id:
                    assert differences(got, expected) <= 1, (image_id, got, expected)
                    last[image_id] = got  # the in-flight edit may have been committed
                else:
                    assert got == expected, (round_, image_id)
    assert total >= 40 + 73 + 111
    assert any(s["anns"] for s in last.values())
