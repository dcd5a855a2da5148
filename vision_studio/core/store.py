"""The project store: one SQLite file per project.

The file holds categories, images (paths relative to the project root, never copied),
annotations, image-level tags, problems found in the data, training runs and settings.
It is opened in WAL mode with ``synchronous=NORMAL``: every public mutation is one
committed transaction, so killing the process never loses an edit that returned, and
never leaves a half-written one. ``ProjectStore.transaction()`` groups several
mutations into one all-or-nothing transaction (used by strict imports).

Reads return the frozen dataclasses of :mod:`vision_studio.core.types`.
"""
from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
from collections import defaultdict
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence

from vision_studio.core.errors import VisionStudioError
from vision_studio.core.types import (
    Annotation,
    Category,
    ImageRecord,
    Problem,
    RunRecord,
)

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
PROJECT_SUFFIX = ".vsproj"

# Distinct, readable colours (Sasha Trubetskoy's "20 simple colours").
PALETTE = (
    "#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6",
    "#bfef45", "#fabed4", "#469990", "#dcbeff", "#9a6324", "#fffac8", "#800000",
    "#aaffc3", "#808000", "#ffd8b1", "#000075", "#a9a9a9", "#ffe119",
)

_SCHEMA_V1 = """
CREATE TABLE categories (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    color TEXT NOT NULL,
    supercategory TEXT NOT NULL DEFAULT ''
);
CREATE TABLE images (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    path TEXT NOT NULL UNIQUE,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    split TEXT NOT NULL DEFAULT '',
    checksum TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL DEFAULT 'new'
);
CREATE INDEX images_split ON images(split);
CREATE TABLE annotations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    image_id INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    category_id INTEGER NOT NULL REFERENCES categories(id) ON DELETE CASCADE,
    x REAL NOT NULL, y REAL NOT NULL, w REAL NOT NULL, h REAL NOT NULL,
    polygons TEXT,
    rle TEXT,
    iscrowd INTEGER NOT NULL DEFAULT 0,
    area REAL NOT NULL,
    attributes TEXT
);
CREATE INDEX annotations_image ON annotations(image_id);
CREATE INDEX annotations_category ON annotations(category_id);
CREATE TABLE image_tags (
    image_id INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    category_id INTEGER NOT NULL REFERENCES categories(id) ON DELETE CASCADE,
    PRIMARY KEY (image_id, category_id)
) WITHOUT ROWID;
CREATE INDEX image_tags_category ON image_tags(category_id);
CREATE TABLE problems (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    image_id INTEGER REFERENCES images(id) ON DELETE CASCADE,
    source TEXT NOT NULL,
    kind TEXT NOT NULL DEFAULT '',
    message TEXT NOT NULL
);
CREATE INDEX problems_image ON problems(image_id);
CREATE TABLE runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    task TEXT NOT NULL,
    out_dir TEXT NOT NULL,
    config TEXT NOT NULL,
    status TEXT NOT NULL,
    best_metric REAL,
    metric_name TEXT NOT NULL DEFAULT '',
    notes TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL
);
CREATE TABLE settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""

BULK_MIN_ROWS = 50_000
"""Annotations a :meth:`ProjectStore.bulk_transaction` must expect before it rebuilds
the annotation indexes instead of updating them row by row."""

# Migrations: MIGRATIONS[v] upgrades a file from schema v to v + 1.
MIGRATIONS: dict[int, str] = {}


class StoreError(VisionStudioError):
    """A project file cannot be opened, or an operation on it is invalid."""


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _json_or_none(value: Any) -> str | None:
    if value is None or value == () or value == {} or value == []:
        return None
    return json.dumps(value, separators=(",", ":"))


def _category(row: sqlite3.Row | tuple) -> Category:
    return Category(id=row[0], name=row[1], color=row[2], supercategory=row[3])


def _image(row: sqlite3.Row | tuple) -> ImageRecord:
    return ImageRecord(id=row[0], path=row[1], width=row[2], height=row[3],
                       split=row[4], checksum=row[5], status=row[6])


_ANN_COLS = "id, image_id, category_id, x, y, w, h, polygons, rle, iscrowd, area, attributes"


def _annotation(row: sqlite3.Row | tuple) -> Annotation:
    polys = tuple(tuple(p) for p in json.loads(row[7])) if row[7] else ()
    return Annotation(
        id=row[0], image_id=row[1], category_id=row[2], bbox=(row[3], row[4], row[5], row[6]),
        polygons=polys, rle=json.loads(row[8]) if row[8] else None, iscrowd=bool(row[9]),
        area=row[10], attributes=json.loads(row[11]) if row[11] else {},
    )


def _annotation_params(a: Annotation) -> tuple:
    x, y, w, h = (float(v) for v in a.bbox)
    if not (w > 0 and h > 0):
        raise StoreError(f"bbox must have positive width and height, got {a.bbox}")
    area = float(a.area) if a.area else _default_area(a, w, h)
    polys = [list(map(float, p)) for p in a.polygons]
    for p in polys:
        if len(p) < 6 or len(p) % 2:
            raise StoreError(f"a polygon needs at least 3 (x, y) points, got {len(p) // 2}")
    return (a.image_id, a.category_id, x, y, w, h, _json_or_none(polys),
            _json_or_none(dict(a.rle) if a.rle else None), int(bool(a.iscrowd)), area,
            _json_or_none(dict(a.attributes)))


def _polygon_area(p: Sequence[float]) -> float:
    """Shoelace area of a flat polygon, in square pixels."""
    xs, ys = p[0::2], p[1::2]
    n = len(xs)
    return abs(sum(xs[i] * ys[(i + 1) % n] - xs[(i + 1) % n] * ys[i] for i in range(n))) / 2.0


def _default_area(a: Annotation, w: float, h: float) -> float:
    """Area when none is given: the RLE's pixel count (``pycocotools.mask.area``), else
    the polygons' shoelace area, else ``w * h``."""
    if a.rle:
        from pycocotools import mask as mask_utils

        rle = dict(a.rle)
        if isinstance(rle.get("counts"), str):
            rle["counts"] = rle["counts"].encode("ascii")
        return float(mask_utils.area(rle))
    if a.polygons:
        return float(sum(_polygon_area(p) for p in a.polygons))
    return w * h


def _run(row: sqlite3.Row | tuple) -> RunRecord:
    return RunRecord(id=row[0], name=row[1], task=row[2], out_dir=row[3],
                     config=json.loads(row[4]), status=row[5], best_metric=row[6],
                     metric_name=row[7], notes=row[8], created_at=row[9])


class ProjectStore:
    """A project file: open with :meth:`create` or :meth:`open`, close with :meth:`close`.

    The project *root* (the folder image paths are relative to) is the folder that holds
    the project file unless the ``root`` setting says otherwise (a path, absolute or
    relative to the file's folder).

    A store may be used from several threads; calls are serialised by a lock. Each
    public mutation commits before it returns, unless it runs inside
    :meth:`transaction`, whose block commits as a whole or not at all.

    Raises:
        StoreError: on a file that is not a project, a newer schema than this program
            knows, or an invalid operation (unknown id, empty name, bad bbox...).
    """

    def __init__(self, path: Path, conn: sqlite3.Connection) -> None:
        self.path = Path(path)
        self._conn = conn
        self._lock = threading.RLock()
        self._depth = 0  # nesting of transaction() blocks

    # ------------------------------------------------------------------ open/close
    @classmethod
    def create(cls, path: str | os.PathLike, root: str | os.PathLike | None = None) -> ProjectStore:
        """Create a new, empty project file.

        Args:
            path: The file to create (conventionally ``*.vsproj``); must not exist.
            root: The folder image paths are relative to; default the file's folder.

        Raises:
            StoreError: if the file exists.
        """
        path = Path(path)
        if path.exists():
            raise StoreError(f"{path}: a file already exists there")
        path.parent.mkdir(parents=True, exist_ok=True)
        store = cls(path, cls._connect(path))
        store._conn.executescript(
            "BEGIN;" + _SCHEMA_V1 + "PRAGMA user_version = %d; COMMIT;" % SCHEMA_VERSION)
        if root is not None:
            store.set_root(root)
        return store

    @classmethod
    def open(cls, path: str | os.PathLike) -> ProjectStore:
        """Open an existing project file, migrating an older schema in place.

        Raises:
            StoreError: if the file is missing, not a project, or from a newer version.
        """
        path = Path(path)
        if not path.is_file():
            raise StoreError(f"{path}: no such project file")
        try:
            conn = cls._connect(path)
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{path}: not a Vision Studio project ({exc})") from exc
        if version == 0 or "annotations" not in tables:
            conn.close()
            raise StoreError(f"{path}: not a Vision Studio project (no schema)")
        if version > SCHEMA_VERSION:
            conn.close()
            raise StoreError(f"{path}: made by a newer Vision Studio (schema {version} > {SCHEMA_VERSION})")
        store = cls(path, conn)
        store._migrate(version)
        return store

    @classmethod
    def open_or_create(cls, path: str | os.PathLike, root: str | os.PathLike | None = None) -> ProjectStore:
        """Open ``path`` if it exists, else create it (with ``root``)."""
        return cls.open(path) if Path(path).exists() else cls.create(path, root)

    @staticmethod
    def _connect(path: Path) -> sqlite3.Connection:
        conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA busy_timeout=5000")
        return conn

    def _migrate(self, version: int) -> None:
        while version < SCHEMA_VERSION:
            self._conn.executescript("BEGIN;" + MIGRATIONS[version]
                                     + "PRAGMA user_version = %d; COMMIT;" % (version + 1))
            version += 1
            log.info("%s: migrated to schema %d", self.path, version)

    def close(self) -> None:
        """Checkpoint the WAL into the main file and close."""
        with self._lock:
            try:
                self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.Error:  # pragma: no cover - best effort
                pass
            self._conn.close()

    def __enter__(self) -> ProjectStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ transactions
    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write: its own transaction, or part of an enclosing :meth:`transaction`."""
        with self._lock:
            if self._depth:
                yield self._conn
                return
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    @contextmanager
    def transaction(self) -> Iterator[ProjectStore]:
        """Group mutations: all commit at the end of the block, or none if it raises."""
        with self._lock:
            outer = self._depth == 0
            if outer:
                self._conn.execute("BEGIN IMMEDIATE")
            self._depth += 1
            try:
                yield self
            except BaseException:
                self._depth -= 1
                if outer:
                    self._conn.execute("ROLLBACK")
                raise
            self._depth -= 1
            if outer:
                self._conn.execute("COMMIT")

    @contextmanager
    def bulk_transaction(self, expected_annotations: int) -> Iterator[ProjectStore]:
        """:meth:`transaction` for a large import: all commits at the end, or nothing.

        When ``expected_annotations`` is at least :data:`BULK_MIN_ROWS` and at least the
        number of annotations already stored, the annotation indexes are dropped at the
        start of the block and rebuilt at its end, inside the same transaction (so a
        failure, or a crash, rolls the drop back with everything else). Building an
        index once over all rows costs less than updating it row by row (measured in
        ``benchmarks/bench_coco_io.py``: about 0.9 s less per 1M rows). Foreign keys
        stay enforced. Reads inside the block are correct but do not use those indexes.

        Args:
            expected_annotations: About how many annotations the block will insert.
        """
        with self.transaction():  # holds the lock for the whole block
            c = self._conn
            rebuild = (expected_annotations >= BULK_MIN_ROWS and expected_annotations
                       >= c.execute("SELECT COUNT(*) FROM annotations").fetchone()[0])
            indexes = c.execute(
                "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND "
                "tbl_name = 'annotations' AND sql IS NOT NULL ORDER BY name").fetchall() \
                if rebuild else []
            for name, _ in indexes:
                c.execute(f'DROP INDEX "{name}"')
            yield self
            for _, sql in indexes:
                c.execute(sql)

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    def integrity_check(self) -> str:
        """``PRAGMA integrity_check``: ``"ok"`` for a sound file."""
        return self._read("PRAGMA integrity_check")[0][0]

    # ------------------------------------------------------------------ settings, root
    def get_setting(self, key: str, default: Any = None) -> Any:
        """A JSON value stored under ``key``, or ``default``."""
        rows = self._read("SELECT value FROM settings WHERE key = ?", (key,))
        return json.loads(rows[0][0]) if rows else default

    def set_setting(self, key: str, value: Any) -> None:
        """Store a JSON-serialisable ``value`` under ``key``."""
        with self._write() as c:
            c.execute("INSERT INTO settings(key, value) VALUES(?, ?) "
                      "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                      (key, json.dumps(value)))

    @property
    def root(self) -> Path:
        """Absolute folder that image paths are relative to."""
        root = self.get_setting("root")
        base = self.path.resolve().parent
        return (base / root).resolve() if root else base

    def set_root(self, root: str | os.PathLike) -> None:
        """Set the image root; stored relative to the project file when possible."""
        root_path = Path(root).resolve()
        base = self.path.resolve().parent
        try:
            value = os.path.relpath(root_path, base)
        except ValueError:  # another drive on Windows
            value = str(root_path)
        self.set_setting("root", Path(value).as_posix())

    def relative_path(self, file: str | os.PathLike) -> str:
        """The POSIX path of ``file`` relative to :attr:`root` (may contain ``..``)."""
        file = Path(file).resolve()
        try:
            return Path(os.path.relpath(file, self.root)).as_posix()
        except ValueError:
            return file.as_posix()

    def resolve(self, image: ImageRecord | str) -> Path:
        """Absolute path of an image (record or stored relative path)."""
        rel = image.path if isinstance(image, ImageRecord) else image
        return (self.root / rel).resolve()

    # ------------------------------------------------------------------ categories
    def add_category(self, name: str, color: str | None = None, supercategory: str = "") -> Category:
        """Add a category; a colour from :data:`PALETTE` is chosen when none is given.

        Raises:
            StoreError: if ``name`` is empty.
        """
        return self.add_categories([(name, color, supercategory)])[0]

    def add_categories(self, items: Iterable[tuple[str, str | None, str]]) -> list[Category]:
        """Add several ``(name, color or None, supercategory)`` categories at once."""
        out = []
        with self._write() as c:
            n = c.execute("SELECT COUNT(*) FROM categories").fetchone()[0]
            for name, color, supercategory in items:
                name = (name or "").strip()
                if not name:
                    raise StoreError("a category needs a name")
                color = color or PALETTE[n % len(PALETTE)]
                cur = c.execute("INSERT INTO categories(name, color, supercategory) VALUES(?, ?, ?)",
                                (name, color, supercategory or ""))
                out.append(Category(id=cur.lastrowid, name=name, color=color,
                                    supercategory=supercategory or ""))
                n += 1
        return out

    def categories(self) -> list[Category]:
        """All categories ordered by id."""
        return [_category(r) for r in self._read(
            "SELECT id, name, color, supercategory FROM categories ORDER BY id")]

    def category(self, category_id: int) -> Category:
        """One category. Raises StoreError if unknown."""
        rows = self._read("SELECT id, name, color, supercategory FROM categories WHERE id = ?",
                          (category_id,))
        if not rows:
            raise StoreError(f"unknown category id {category_id}")
        return _category(rows[0])

    def update_category(self, category_id: int, *, name: str | None = None,
                        color: str | None = None, supercategory: str | None = None) -> Category:
        """Rename / recolour a category; returns the updated record."""
        old = self.category(category_id)
        new = Category(id=old.id, name=(name.strip() if name is not None else old.name),
                       color=color or old.color,
                       supercategory=old.supercategory if supercategory is None else supercategory)
        if not new.name:
            raise StoreError("a category needs a name")
        with self._write() as c:
            c.execute("UPDATE categories SET name = ?, color = ?, supercategory = ? WHERE id = ?",
                      (new.name, new.color, new.supercategory, category_id))
        return new

    def restore_category(self, category: Category) -> None:
        """Re-insert a deleted category with its original id (for undo)."""
        with self._write() as c:
            c.execute("INSERT INTO categories(id, name, color, supercategory) VALUES(?, ?, ?, ?)",
                      (category.id, category.name, category.color, category.supercategory))

    def delete_category(self, category_id: int) -> tuple[Category, list[Annotation], list[tuple[int, int]]]:
        """Delete a category with its annotations and image tags.

        Returns:
            What was deleted, ``(category, annotations, tags)``, so that an undo can
            restore it with :meth:`restore_category`, :meth:`restore_annotations` and
            :meth:`add_image_tags`.
        """
        cat = self.category(category_id)
        with self._write() as c:
            anns = [_annotation(r) for r in c.execute(
                f"SELECT {_ANN_COLS} FROM annotations WHERE category_id = ?", (category_id,))]
            tags = [tuple(r) for r in c.execute(
                "SELECT image_id, category_id FROM image_tags WHERE category_id = ?", (category_id,))]
            c.execute("DELETE FROM categories WHERE id = ?", (category_id,))
        return cat, anns, tags

    def merge_categories(self, source_ids: Iterable[int], target_id: int) -> int:
        """Move every annotation and tag of ``source_ids`` to ``target_id`` and delete
        the source categories. Returns the number of annotations moved."""
        self.category(target_id)
        sources = [s for s in source_ids if s != target_id]
        moved = 0
        with self._write() as c:
            for s in sources:
                moved += c.execute("UPDATE annotations SET category_id = ? WHERE category_id = ?",
                                   (target_id, s)).rowcount
                c.execute("INSERT OR IGNORE INTO image_tags(image_id, category_id) "
                          "SELECT image_id, ? FROM image_tags WHERE category_id = ?", (target_id, s))
                c.execute("DELETE FROM categories WHERE id = ?", (s,))
        return moved

    # ------------------------------------------------------------------ images
    def add_image(self, image: ImageRecord) -> ImageRecord:
        """Insert one image (its ``id`` is ignored); returns it with the new id.

        Raises:
            StoreError: if the path is already in the project.
        """
        return self.add_images([image])[0]

    def add_images(self, images: Iterable[ImageRecord]) -> list[ImageRecord]:
        """Insert images in one batch (``executemany``); returns them with their new ids.

        Raises:
            StoreError: on a path already in the project (or twice in ``images``).
        """
        params = [(im.path, int(im.width), int(im.height), im.split, im.checksum, im.status)
                  for im in images]
        first = self.add_image_rows(params)
        return [ImageRecord(id=first + i, path=p[0], width=p[1], height=p[2], split=p[3],
                            checksum=p[4], status=p[5]) for i, p in enumerate(params)]

    def add_image_rows(self, rows: Sequence[tuple]) -> int:
        """Bulk-insert images given as column tuples (fast path of importers).

        Each row is ``(path, width, height, split, checksum, status)``: the project-
        relative POSIX path, the size in pixels (ints) and strings, as
        :class:`~vision_studio.core.types.ImageRecord` holds them.

        Returns:
            The id of the first row; the rows get consecutive ids in order (the table is
            ``AUTOINCREMENT`` and the insert runs under the write lock in one transaction).

        Raises:
            StoreError: a path is already in the project (or twice in ``rows``); nothing
                of the batch is kept unless an enclosing :meth:`transaction` goes on.
        """
        with self._write() as c:
            try:
                first = _next_id(c, "images")
                c.executemany("INSERT INTO images(path, width, height, split, checksum, status) "
                              "VALUES(?, ?, ?, ?, ?, ?)", rows)
            except sqlite3.IntegrityError as exc:
                raise StoreError(f"image already in the project: {exc}") from exc
        return first

    def image(self, image_id: int) -> ImageRecord:
        """One image. Raises StoreError if unknown."""
        rows = self._read("SELECT id, path, width, height, split, checksum, status FROM images "
                          "WHERE id = ?", (image_id,))
        if not rows:
            raise StoreError(f"unknown image id {image_id}")
        return _image(rows[0])

    def image_by_path(self, path: str) -> ImageRecord | None:
        """The image stored under the relative ``path``, or ``None``."""
        rows = self._read("SELECT id, path, width, height, split, checksum, status FROM images "
                          "WHERE path = ?", (path,))
        return _image(rows[0]) if rows else None

    def images(self, split: str | None = None, offset: int = 0, limit: int = -1) -> list[ImageRecord]:
        """Images ordered by id, optionally of one split, paged by ``offset``/``limit``."""
        sql = "SELECT id, path, width, height, split, checksum, status FROM images"
        params: list[Any] = []
        if split is not None:
            sql += " WHERE split = ?"
            params.append(split)
        sql += " ORDER BY id LIMIT ? OFFSET ?"
        params += [limit, offset]
        return [_image(r) for r in self._read(sql, params)]

    def image_count(self, split: str | None = None) -> int:
        """Number of images, optionally of one split."""
        if split is None:
            return self._read("SELECT COUNT(*) FROM images")[0][0]
        return self._read("SELECT COUNT(*) FROM images WHERE split = ?", (split,))[0][0]

    def splits(self) -> dict[str, int]:
        """Image count per split name (``""`` = unassigned)."""
        return dict(self._read("SELECT split, COUNT(*) FROM images GROUP BY split ORDER BY split"))

    def update_image(self, image_id: int, *, split: str | None = None, status: str | None = None,
                     width: int | None = None, height: int | None = None,
                     checksum: str | None = None) -> ImageRecord:
        """Change fields of an image; returns the updated record."""
        old = self.image(image_id)
        new = ImageRecord(id=old.id, path=old.path,
                          width=old.width if width is None else int(width),
                          height=old.height if height is None else int(height),
                          split=old.split if split is None else split,
                          checksum=old.checksum if checksum is None else checksum,
                          status=old.status if status is None else status)
        with self._write() as c:
            c.execute("UPDATE images SET width = ?, height = ?, split = ?, checksum = ?, status = ? "
                      "WHERE id = ?", (new.width, new.height, new.split, new.checksum, new.status,
                                       image_id))
        return new

    def set_splits(self, splits: Mapping[int, str]) -> None:
        """Assign splits to many images in one transaction (``{image_id: split}``)."""
        with self._write() as c:
            c.executemany("UPDATE images SET split = ? WHERE id = ?",
                          [(s, i) for i, s in splits.items()])

    def delete_image(self, image_id: int) -> None:
        """Remove an image from the project with its annotations, tags and problems
        (the file on disk is untouched)."""
        with self._write() as c:
            c.execute("DELETE FROM images WHERE id = ?", (image_id,))

    # ------------------------------------------------------------------ annotations
    def add_annotation(self, ann: Annotation) -> Annotation:
        """Insert one annotation (its ``id`` is ignored); returns it with id and area.

        Raises:
            StoreError: unknown image/category, non-positive bbox size, a polygon with
                fewer than 3 points.
        """
        return self.add_annotations([ann])[0]

    def add_annotations(self, anns: Iterable[Annotation]) -> list[Annotation]:
        """Insert annotations in one batch (``executemany``); returns them with ids."""
        anns = list(anns)
        params = [_annotation_params(a) for a in anns]
        with self._write() as c:
            try:
                first = _next_id(c, "annotations")
                c.executemany(
                    "INSERT INTO annotations(image_id, category_id, x, y, w, h, polygons, rle, "
                    "iscrowd, area, attributes) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", params)
            except sqlite3.IntegrityError as exc:
                raise StoreError(f"annotation refers to an unknown image or category ({exc})") from exc
        return [_with_id(a, first + i, p[9]) for i, (a, p) in enumerate(zip(anns, params))]

    def add_annotation_rows(self, rows: Sequence[tuple]) -> int:
        """Bulk-insert annotations given as column tuples (fast path of importers).

        Each row is ``(image_id, category_id, x, y, w, h, polygons_json, rle_json,
        iscrowd, area, attributes_json)`` where the ``*_json`` values are compact JSON
        text (as :meth:`add_annotations` stores them), or ``None`` or ``""`` for none
        (both are stored as NULL; ``""`` is the fast spelling: the ``sqlite3`` module
        binds ``str``, ``int`` and ``float`` directly but sends ``None`` through its
        adapter look-up, which costs about 0.8 s of CPU per 1M rows of three ``None``).
        The caller has validated the rows (``w``/``h`` > 0, polygons of >= 3 points,
        finite numbers, area computed); only referential integrity is checked here.

        Returns:
            The number of rows inserted.

        Raises:
            StoreError: a row refers to an unknown image or category.
        """
        with self._write() as c:
            try:
                c.executemany(
                    "INSERT INTO annotations(image_id, category_id, x, y, w, h, polygons, rle, "
                    "iscrowd, area, attributes) VALUES(?, ?, ?, ?, ?, ?, NULLIF(?, ''), "
                    "NULLIF(?, ''), ?, ?, NULLIF(?, ''))", rows)
            except sqlite3.IntegrityError as exc:
                raise StoreError(f"annotation refers to an unknown image or category ({exc})") from exc
        return len(rows)

    def iter_annotation_rows(self, batch: int = 20000) -> Iterator[tuple]:
        """All annotations ordered by id as raw column tuples ``(id, image_id,
        category_id, x, y, w, h, polygons_json, rle_json, iscrowd, area,
        attributes_json)`` (JSON text or ``None``), read in batches: the fast path of
        streaming exports, which can copy the JSON text without parsing it."""
        last = 0
        while True:
            rows = self._read(f"SELECT {_ANN_COLS} FROM annotations WHERE id > ? ORDER BY id LIMIT ?",
                              (last, batch))
            if not rows:
                return
            yield from rows
            last = rows[-1][0]

    def restore_annotations(self, anns: Iterable[Annotation]) -> None:
        """Re-insert deleted annotations with their original ids (for undo)."""
        anns = list(anns)
        with self._write() as c:
            c.executemany(
                "INSERT INTO annotations(id, image_id, category_id, x, y, w, h, polygons, rle, "
                "iscrowd, area, attributes) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(a.id, *_annotation_params(a)) for a in anns])

    def annotation(self, ann_id: int) -> Annotation:
        """One annotation. Raises StoreError if unknown."""
        rows = self._read(f"SELECT {_ANN_COLS} FROM annotations WHERE id = ?", (ann_id,))
        if not rows:
            raise StoreError(f"unknown annotation id {ann_id}")
        return _annotation(rows[0])

    def annotations(self, image_id: int | None = None, category_id: int | None = None) -> list[Annotation]:
        """Annotations ordered by id, optionally of one image and/or one category."""
        sql, params = f"SELECT {_ANN_COLS} FROM annotations", []
        where = []
        if image_id is not None:
            where.append("image_id = ?")
            params.append(image_id)
        if category_id is not None:
            where.append("category_id = ?")
            params.append(category_id)
        if where:
            sql += " WHERE " + " AND ".join(where)
        return [_annotation(r) for r in self._read(sql + " ORDER BY id", params)]

    def iter_annotations(self, batch: int = 20000) -> Iterator[Annotation]:
        """All annotations ordered by id, read in batches (for exports of 1M rows)."""
        last = 0
        while True:
            rows = self._read(f"SELECT {_ANN_COLS} FROM annotations WHERE id > ? ORDER BY id LIMIT ?",
                              (last, batch))
            if not rows:
                return
            for r in rows:
                yield _annotation(r)
            last = rows[-1][0]

    def annotations_by_image(self, image_ids: Iterable[int] | None = None) -> dict[int, list[Annotation]]:
        """``{image_id: [annotations]}`` in one query (all images when ``None``)."""
        out: dict[int, list[Annotation]] = defaultdict(list)
        if image_ids is None:
            for a in self.iter_annotations():
                out[a.image_id].append(a)
            return dict(out)
        ids = list(image_ids)
        for i in range(0, len(ids), 900):
            chunk = ids[i:i + 900]
            marks = ",".join("?" * len(chunk))
            for r in self._read(f"SELECT {_ANN_COLS} FROM annotations WHERE image_id IN ({marks}) "
                                "ORDER BY id", chunk):
                a = _annotation(r)
                out[a.image_id].append(a)
        return dict(out)

    def annotation_count(self, image_id: int | None = None) -> int:
        """Number of annotations, optionally of one image."""
        if image_id is None:
            return self._read("SELECT COUNT(*) FROM annotations")[0][0]
        return self._read("SELECT COUNT(*) FROM annotations WHERE image_id = ?", (image_id,))[0][0]

    def update_annotation(self, ann: Annotation) -> Annotation:
        """Replace the stored annotation with id ``ann.id``; returns it as stored."""
        p = _annotation_params(ann)
        with self._write() as c:
            n = c.execute("UPDATE annotations SET image_id = ?, category_id = ?, x = ?, y = ?, w = ?, "
                          "h = ?, polygons = ?, rle = ?, iscrowd = ?, area = ?, attributes = ? "
                          "WHERE id = ?", (*p, ann.id)).rowcount
            if not n:
                raise StoreError(f"unknown annotation id {ann.id}")
        return _with_id(ann, ann.id, p[9])

    def delete_annotations(self, ann_ids: Iterable[int]) -> list[Annotation]:
        """Delete annotations; returns what was deleted (for undo)."""
        ids = list(ann_ids)
        out = []
        with self._write() as c:
            for i in range(0, len(ids), 900):
                chunk = ids[i:i + 900]
                marks = ",".join("?" * len(chunk))
                out += [_annotation(r) for r in c.execute(
                    f"SELECT {_ANN_COLS} FROM annotations WHERE id IN ({marks}) ORDER BY id", chunk)]
                c.execute(f"DELETE FROM annotations WHERE id IN ({marks})", chunk)
        return out

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
            c.executemany("INSERT INTO problems(image_id, source, kind, message) VALUES(?, ?, ?, ?)",
                          [(p.image_id, p.source, p.kind, p.message) for p in problems])

    def problems(self, image_id: int | None = None) -> list[Problem]:
        """Recorded problems, optionally of one image."""
        sql = "SELECT id, image_id, source, kind, message FROM problems"
        params: tuple = ()
        if image_id is not None:
            sql += " WHERE image_id = ?"
            params = (image_id,)
        return [Problem(id=r[0], image_id=r[1], source=r[2], kind=r[3], message=r[4])
                for r in self._read(sql + " ORDER BY id", params)]

    def clear_problems(self, image_id: int | None = None) -> None:
        """Forget recorded problems (of one image, or all)."""
        with self._write() as c:
            if image_id is None:
                c.execute("DELETE FROM problems")
            else:
                c.execute("DELETE FROM problems WHERE image_id = ?", (image_id,))

    # ------------------------------------------------------------------ runs
    def add_run(self, run: RunRecord) -> RunRecord:
        """Record a training run; returns it with id and ``created_at``."""
        created = run.created_at or _now()
        with self._write() as c:
            cur = c.execute("INSERT INTO runs(name, task, out_dir, config, status, best_metric, "
                            "metric_name, notes, created_at) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?)",
                            (run.name, run.task, run.out_dir, json.dumps(dict(run.config)), run.status,
                             run.best_metric, run.metric_name, run.notes, created))
        return self.run(cur.lastrowid)

    def run(self, run_id: int) -> RunRecord:
        """One run. Raises StoreError if unknown."""
        rows = self._read("SELECT id, name, task, out_dir, config, status, best_metric, metric_name, "
                          "notes, created_at FROM runs WHERE id = ?", (run_id,))
        if not rows:
            raise StoreError(f"unknown run id {run_id}")
        return _run(rows[0])

    def runs(self) -> list[RunRecord]:
        """All runs, oldest first."""
        return [_run(r) for r in self._read(
            "SELECT id, name, task, out_dir, config, status, best_metric, metric_name, notes, "
            "created_at FROM runs ORDER BY id")]

    def update_run(self, run_id: int, **fields: Any) -> RunRecord:
        """Change fields of a run (``name``, ``status``, ``best_metric``, ``metric_name``,
        ``notes``, ``config``, ``out_dir``)."""
        allowed = {"name", "status", "best_metric", "metric_name", "notes", "config", "out_dir"}
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


def _next_id(c: sqlite3.Connection, table: str) -> int:
    """The id SQLite's AUTOINCREMENT gives the next row of ``table`` (ids never reused,
    so undo can restore deleted rows under their old ids)."""
    seq = c.execute("SELECT seq FROM sqlite_sequence WHERE name = ?", (table,)).fetchone()
    top = c.execute(f"SELECT COALESCE(MAX(id), 0) FROM {table}").fetchone()[0]
    return max(seq[0] if seq else 0, top) + 1


def _with_id(a: Annotation, ann_id: int, area: float) -> Annotation:
    return Annotation(image_id=a.image_id, category_id=a.category_id,
                      bbox=tuple(float(v) for v in a.bbox), polygons=a.polygons, rle=a.rle,
                      iscrowd=a.iscrowd, area=area, attributes=a.attributes, id=ann_id)
