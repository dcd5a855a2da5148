"""The project file's SQL schema, its version and migrations, and table-level constants."""
from __future__ import annotations

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
