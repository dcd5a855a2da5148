"""The project file's SQL schema, its version and migrations, and table-level constants."""
from __future__ import annotations

SCHEMA_VERSION = 3
PROJECT_SUFFIX = ".vsproj"

SETTING_COCO_INFO = "coco_info"
"""Settings key of the imported COCO file's top-level ``info`` object (JSON)."""
SETTING_COCO_LICENSES = "coco_licenses"
"""Settings key of the imported COCO file's top-level ``licenses`` list (JSON)."""

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

_V1_TO_V2 = """
ALTER TABLE images ADD COLUMN extra TEXT;
ALTER TABLE images ADD COLUMN check_key TEXT NOT NULL DEFAULT '';
ALTER TABLE categories ADD COLUMN extra TEXT;
ALTER TABLE annotations ADD COLUMN extra TEXT;
ALTER TABLE annotations ADD COLUMN source TEXT NOT NULL DEFAULT '';
ALTER TABLE problems ADD COLUMN dismissed INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN pid INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN host TEXT NOT NULL DEFAULT '';
"""
"""Schema 2: imported fields to keep (``extra`` JSON objects on images, categories and
annotations; NULL = none), ``images.check_key`` (``''`` = not verified in full, else
``"<size>:<mtime_ns>"`` of the file when it last was), ``annotations.source`` (``''`` =
drawn or imported, ``model:<run>`` / ``model:<run>:edited``), ``problems.dismissed``
(0/1) and the process that owns a run (``runs.pid``, ``runs.host``; 0 / ``''`` =
unknown). Every new column has a default, so rows written by schema 1 read as before."""

_V2_TO_V3 = """
CREATE TABLE proposals (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    image_id INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    category_id INTEGER NOT NULL REFERENCES categories(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    x REAL, y REAL, w REAL, h REAL,
    segmentation TEXT,
    score REAL NOT NULL,
    run TEXT NOT NULL DEFAULT ''
);
CREATE INDEX proposals_image ON proposals(image_id);
CREATE TABLE queue_scores (
    strategy TEXT NOT NULL,
    image_id INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    run TEXT NOT NULL DEFAULT '',
    score REAL NOT NULL,
    PRIMARY KEY (strategy, image_id)
) WITHOUT ROWID;
CREATE INDEX queue_scores_image ON queue_scores(image_id);
ALTER TABLE image_tags ADD COLUMN source TEXT NOT NULL DEFAULT '';
"""
"""Schema 3 (issue 14): model *proposals* (``kind`` 'bbox' | 'polygon' | 'tag' | 'mask';
COCO ``x, y, w, h`` pixels or NULL; ``segmentation`` a JSON list of COCO polygons or
NULL; ``score`` in [0, 1]; the ``run`` they came from), which are not annotations
(export, training and evaluation never read them), the Label-next queue's
``queue_scores`` (one score per image and strategy, higher = label sooner) and
``image_tags.source`` (``''`` = tagged by hand, ``model:<run>`` = an accepted tag
proposal). Rows of a removed image cascade away with it."""

# Migrations: MIGRATIONS[v] upgrades a file from schema v to v + 1. A new file is made
# with the v1 script followed by every migration, so both paths give the same schema.
MIGRATIONS: dict[int, str] = {1: _V1_TO_V2, 2: _V2_TO_V3}
