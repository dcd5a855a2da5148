"""The project store: one SQLite file per project.

The file holds categories, images (paths relative to the project root, never copied),
annotations, image-level tags, problems found in the data, training runs and settings.
It is opened in WAL mode with ``synchronous=NORMAL``: every public mutation is one
committed transaction, so killing the process never loses an edit that returned, and
never leaves a half-written one. ``ProjectStore.transaction()`` groups several
mutations into one all-or-nothing transaction (used by strict imports).

Reads return the frozen dataclasses of :mod:`vision_studio.core.types`.

Parts: ``schema`` (SQL, version, migrations), ``rows`` (row <-> dataclass), ``base``
(open/create, transactions, settings), ``files`` (the file on disk: connections,
atomic creation, migrations, interrupted runs), ``faults`` (``sqlite3`` errors in
words), and one mixin per group of tables (``categories``, ``images``,
``annotations``, ``records``, ``proposals``), joined in ``project``.

Every storage fault is a :class:`~vision_studio.core.errors.StoreError`, never a raw
``sqlite3`` error: ``StoreBusyError`` (another writer held the lock past the busy
timeout and a retry), ``StoreReadOnlyError`` (open with ``readonly=True`` instead),
``StoreFullError`` (disk full; nothing committed is lost), ``StoreClosedError``.
"""
from vision_studio.core.store.project import ProjectStore
from vision_studio.core.store.rows import StoreError
from vision_studio.core.store.schema import (
    BULK_MIN_ROWS,
    MIGRATIONS,
    PALETTE,
    PROJECT_SUFFIX,
    SCHEMA_VERSION,
    SETTING_COCO_INFO,
    SETTING_COCO_LICENSES,
)

__all__ = ["BULK_MIN_ROWS", "MIGRATIONS", "PALETTE", "PROJECT_SUFFIX", "SCHEMA_VERSION",
           "SETTING_COCO_INFO", "SETTING_COCO_LICENSES", "ProjectStore", "StoreError"]
