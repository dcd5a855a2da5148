"""Image-level tags, problems found in the data, training runs and summary counts."""
from __future__ import annotations

import json
import os
import socket
import sqlite3
from collections import defaultdict
from typing import Any, Iterable

from vision_studio.core.store.rows import _RUN_COLS, StoreError, _now, _run
from vision_studio.core.types import Problem, RunRecord


class RecordsMixin:
    """Image-level tags, problems found in the data, training runs and summary counts. 

    Mixed into :class:`~vision_studio.core.store.ProjectStore`; relies on its
    ``_write()`` / ``_read()``.
    """

    # ------------------------------------------------------------------ image tags
    def image_tags(self, image_id: int) -> tuple[int, ...]:
        """Category ids tagged on an image (image-level classification labels)."""
        return tuple(r[0] for r in self._read(
            "SELECT category_id FROM image_tags WHERE image_id = ? ORDER BY category_id", (image_id,)))

    def all_image_tags(self) -> dict[int, tuple[int, ...]]:
        """``{image_id: (category ids)}`` for every tagged image."""
        out: dict[int, list[int]] = defaultdict(list)
        for i, c in self._read("SELECT image_id, category_id FROM image_tags ORDER BY image_id, category_id"):
            out[i].append(c)
        return {k: tuple(v) for k, v in out.items()}

    def set_image_tags(self, image_id: int, category_ids: Iterable[int]) -> tuple[int, ...]:
        """Replace an image's tags; returns the previous ones (for undo)."""
        old = self.image_tags(image_id)
        with self._write() as c:
            c.execute("DELETE FROM image_tags WHERE image_id = ?", (image_id,))
            c.executemany("INSERT INTO image_tags(image_id, category_id) VALUES(?, ?)",
                          [(image_id, cid) for cid in dict.fromkeys(category_ids)])
        return old

    def add_image_tags(self, pairs: Iterable[tuple[int, int]]) -> None:
        """Add ``(image_id, category_id)`` tags in one batch (existing ones are kept)."""
        with self._write() as c:
            try:
                c.executemany("INSERT OR IGNORE INTO image_tags(image_id, category_id) VALUES(?, ?)",
                              list(pairs))
            except sqlite3.IntegrityError as exc:
                raise StoreError(f"tag refers to an unknown image or category ({exc})") from exc

    # ------------------------------------------------------------------ problems
    def add_problems(self, problems: Iterable[Problem]) -> None:
        """Record problems found in the data (shown by ``info`` and the GUI)."""
        with self._write() as c:
            c.executemany("INSERT INTO problems(image_id, source, kind, message, dismissed) "
                          "VALUES(?, ?, ?, ?, ?)",
                          [(p.image_id, p.source, p.kind, p.message, int(bool(p.dismissed)))
                           for p in problems])

    def problems(self, image_id: int | None = None, *,
                 include_dismissed: bool = False) -> list[Problem]:
        """Recorded problems ordered by id, optionally of one image.

        Args:
            image_id: Only this image's problems; ``None`` = all.
            include_dismissed: Also those the user dismissed (left out by default).
        """
        where, params = [], []
        if image_id is not None:
            where.append("image_id = ?")
            params.append(image_id)
        if not include_dismissed:
            where.append("dismissed = 0")
        sql = "SELECT id, image_id, source, kind, message, dismissed FROM problems"
        if where:
            sql += " WHERE " + " AND ".join(where)
        return [Problem(id=r[0], image_id=r[1], source=r[2], kind=r[3], message=r[4],
                        dismissed=bool(r[5])) for r in self._read(sql + " ORDER BY id", params)]

    def dismiss_problem(self, problem_id: int, dismissed: bool = True) -> Problem:
        """Mark a problem as dismissed by the user (or, with ``False``, not any more).

        Returns:
            The updated problem.

        Raises:
            StoreError: unknown ``problem_id``.
        """
        with self._write() as c:
            n = c.execute("UPDATE problems SET dismissed = ? WHERE id = ?",
                          (int(bool(dismissed)), problem_id)).rowcount
            if not n:
                raise StoreError(f"unknown problem id {problem_id}")
        r = self._read("SELECT id, image_id, source, kind, message, dismissed FROM problems "
                       "WHERE id = ?", (problem_id,))[0]
        return Problem(id=r[0], image_id=r[1], source=r[2], kind=r[3], message=r[4],
                       dismissed=bool(r[5]))

    def clear_problems(self, image_id: int | None = None) -> None:
        """Forget recorded problems (of one image, or all)."""
        with self._write() as c:
            if image_id is None:
                c.execute("DELETE FROM problems")
            else:
                c.execute("DELETE FROM problems WHERE image_id = ?", (image_id,))

    # ------------------------------------------------------------------ runs
    def add_run(self, run: RunRecord) -> RunRecord:
        """Record a training run; returns it with id, ``created_at``, ``pid`` and ``host``
        (``os.getpid()`` and ``socket.gethostname()`` unless ``run`` gives them)."""
        created = run.created_at or _now()
        with self._write() as c:
            cur = c.execute("INSERT INTO runs(name, task, out_dir, config, status, best_metric, "
                            "metric_name, notes, created_at, pid, host) "
                            "VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                            (run.name, run.task, run.out_dir, json.dumps(dict(run.config)), run.status,
                             run.best_metric, run.metric_name, run.notes, created,
                             int(run.pid or os.getpid()), run.host or socket.gethostname()))
        return self.run(cur.lastrowid)

    def run(self, run_id: int) -> RunRecord:
        """One run. Raises StoreError if unknown."""
        rows = self._read(f"SELECT {_RUN_COLS} FROM runs WHERE id = ?", (run_id,))
        if not rows:
            raise StoreError(f"unknown run id {run_id}")
        return _run(rows[0])

    def runs(self) -> list[RunRecord]:
        """All runs, oldest first."""
        return [_run(r) for r in self._read(f"SELECT {_RUN_COLS} FROM runs ORDER BY id")]

    def update_run(self, run_id: int, **fields: Any) -> RunRecord:
        """Change fields of a run (``name``, ``status``, ``best_metric``, ``metric_name``,
        ``notes``, ``config``, ``out_dir``, ``pid``, ``host``: a process that takes a
        run over, e.g. a resume, records itself)."""
        allowed = {"name", "status", "best_metric", "metric_name", "notes", "config", "out_dir",
                   "pid", "host"}
        unknown = set(fields) - allowed
        if unknown:
            raise StoreError(f"cannot update run field(s) {sorted(unknown)}")
        self.run(run_id)
        if "config" in fields:
            fields["config"] = json.dumps(dict(fields["config"]))
        if fields:
            sets = ", ".join(f"{k} = ?" for k in fields)
            with self._write() as c:
                c.execute(f"UPDATE runs SET {sets} WHERE id = ?", (*fields.values(), run_id))
        return self.run(run_id)

    def delete_run(self, run_id: int) -> RunRecord:
        """Forget a run (its folder is the caller's to delete); returns the record."""
        run = self.run(run_id)
        with self._write() as c:
            c.execute("DELETE FROM runs WHERE id = ?", (run_id,))
        return run

    # ------------------------------------------------------------------ summaries
    def annotation_counts(self) -> dict[tuple[str, int], int]:
        """``{(split, category_id): number of annotations}``."""
        return {(s, c): n for s, c, n in self._read(
            "SELECT i.split, a.category_id, COUNT(*) FROM annotations a JOIN images i "
            "ON i.id = a.image_id GROUP BY i.split, a.category_id")}

    def tag_counts(self) -> dict[tuple[str, int], int]:
        """``{(split, category_id): number of tagged images}``."""
        return {(s, c): n for s, c, n in self._read(
            "SELECT i.split, t.category_id, COUNT(*) FROM image_tags t JOIN images i "
            "ON i.id = t.image_id GROUP BY i.split, t.category_id")}

    def labelled_image_ids(self) -> set[int]:
        """Ids of images with at least one annotation or tag."""
        return {r[0] for r in self._read(
            "SELECT image_id FROM annotations UNION SELECT image_id FROM image_tags")}
