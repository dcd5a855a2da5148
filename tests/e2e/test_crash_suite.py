"""Crash suite: SIGKILL a child at random moments while it edits a project, and while
``vision-studio import`` builds one, then check that nothing committed was lost and that
every file opens.

* Store edits: the child announces each edit (``INTENT ...``) before it runs it and
  reports ``OK`` after it returned (committed). After each kill the project must pass
  ``PRAGMA integrity_check`` and hold exactly the state of the reported edits, or that
  plus the one edit in flight (all of it: a multi-row transaction is all or nothing).
* CLI import into a new project: after each kill the project file is absent or opens
  and passes the integrity check, with no annotation or all of them (one transaction).

Kill counts: ``VS_CRASH_KILLS`` (default 100) each. Slow: run with ``-m slow``; it
prints the figures (kills, edits verified, kills that landed mid-edit).
"""
from __future__ import annotations

import json
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

from vision_studio.core.store import ProjectStore
from vision_studio.core.types import ImageRecord

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
KILLS = int(os.environ.get("VS_CRASH_KILLS", "100"))

_EDITOR = textwrap.dedent("""
    import json, random, sys
    from vision_studio.core.store import ProjectStore
    from vision_studio.core.types import Annotation, ImageRecord

    store = ProjectStore.open(sys.argv[1])
    rng = random.Random(int(sys.argv[2]))
    tag = int(sys.argv[3])  # first unused tag
    image_id, cat_id = store.images()[0].id, store.categories()[0].id
    live = {a.attributes["tag"]: a.id for a in store.annotations()}
    print("ready", flush=True)

    def say(*words):
        print(json.dumps(words), flush=True)

    while True:
        op = rng.choice(["add", "batch", "update", "delete"] if live else ["add", "batch"])
        if op == "add":
            x = rng.uniform(0, 50)
            say("INTENT", "add", [[tag, x]])
            a = store.add_annotation(Annotation(image_id, cat_id, (x, 1, 5, 5), attributes={"tag": tag}))
            live[tag] = a.id
            tag += 1
        elif op == "batch":  # one transaction of many rows plus an image
            rows = [[tag + i, rng.uniform(0, 50)] for i in range(rng.randint(2, 400))]
            say("INTENT", "add", rows)
            with store.transaction():
                im = store.add_image(ImageRecord(f"img/{tag}.png", 64, 64))
                anns = store.add_annotations(Annotation(im.id, cat_id, (x, 1, 5, 5),
                                                        attributes={"tag": t}) for t, x in rows)
            live.update({t: a.id for (t, _), a in zip(rows, anns)})
            tag += len(rows)
        elif op == "update":
            t = rng.choice(sorted(live))
            x = rng.uniform(0, 50)
            say("INTENT", "update", [[t, x]])
            store.update_annotation(Annotation(image_id, cat_id, (x, 1, 5, 5),
                                               attributes={"tag": t}, id=live[t]))
        else:
            gone = rng.sample(sorted(live), min(len(live), rng.randint(1, 20)))
            say("INTENT", "delete", gone)
            store.delete_annotations([live.pop(t) for t in gone])
        say("OK")
""")


def _apply(state: dict[int, float], op: str, args: list) -> dict[int, float]:
    out = dict(state)
    if op == "delete":
        for t in args:
            out.pop(t)
    else:
        out.update({t: x for t, x in args})
    return out


def _stored(path: Path) -> dict[int, float]:
    """``{tag: x}`` of the project's annotations, after an integrity check, read with
    plain sqlite3 (not through the code under test)."""
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        return {json.loads(attrs)["tag"]: x for x, attrs in
                conn.execute("SELECT x, attributes FROM annotations")}
    finally:
        conn.close()


def _one_kill(path: Path, rng: random.Random, state: dict[int, float], seed: int) -> tuple[dict, bool]:
    """Run the editor, kill it, check; returns the new state and whether an edit was
    in flight when the kill landed."""
    next_tag = max(state, default=0) + 1
    proc = subprocess.Popen([sys.executable, "-c", _EDITOR, str(path), str(seed), str(next_tag)],
                            cwd=REPO, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    time.sleep(rng.uniform(0.01, 0.6))
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    pending = None
    for line in proc.stdout.read().splitlines():
        try:
            words = json.loads(line)
        except ValueError:  # a line cut by the kill
            continue
        if words[0] == "INTENT":
            pending = words[1:]
        elif words[0] == "OK" and pending:
            state, pending = _apply(state, *pending), None
    stored = _stored(path)
    if pending is not None and stored != state:
        state = _apply(state, *pending)  # the edit in flight had committed
    assert stored == state, "a committed edit was lost, or half of an edit was kept"
    return state, pending is not None


def test_kills_during_store_edits_lose_nothing_committed(tmp_path):
    path = tmp_path / "p.vsproj"
    with ProjectStore.create(path) as store:
        store.add_image(ImageRecord("img/base.png", 64, 64))
        store.add_category("cell")
    rng, state, in_flight = random.Random(2026), {}, 0
    for k in range(KILLS):
        state, flying = _one_kill(path, rng, state, seed=k)
        in_flight += flying
    with ProjectStore.open(path) as store:
        assert store.integrity_check() == "ok" and store.annotation_count() == len(state)
    print(f"\nstore edits: {KILLS} kills, {in_flight} during an edit, "
          f"{len(state)} annotations verified at the end")


def test_kills_during_cli_import_leave_no_unopenable_project(tmp_path, data_dir):
    coco = data_dir("rbc_coco") / "train" / "_annotations.coco.json"
    total = len(json.loads(coco.read_text())["annotations"])
    rng = random.Random(11)
    outcomes = {"absent": 0, "empty": 0, "complete": 0}
    for k in range(KILLS):
        path = tmp_path / f"k{k}" / "p.vsproj"
        proc = subprocess.Popen([sys.executable, "-m", "vision_studio.cli", "import", "--format",
                                 "coco", str(coco), "--project", str(path), "--quiet",
                                 "--no-check-images"], cwd=REPO, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.2, 1.3))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        if not path.exists():
            outcomes["absent"] += 1
            continue
        with ProjectStore.open(path) as store:  # never an unopenable file
            assert store.integrity_check() == "ok"
            n = store.annotation_count()
        assert n in (0, total), f"kill {k}: {n} of {total} annotations (half an import)"
        outcomes["empty" if n == 0 else "complete"] += 1
    print(f"\nCLI import: {KILLS} kills: {outcomes}")
    assert outcomes["absent"] + outcomes["empty"] + outcomes["complete"] == KILLS
