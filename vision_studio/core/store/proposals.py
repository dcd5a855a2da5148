"""Model proposals (boxes, polygons, tags, masks waiting for review) and the Label-next
queue's uncertainty scores (schema 3, issue 14).

Proposals are not annotations: they live in their own table, which no exporter, training
snapshot or evaluation reads. Accepting one turns it into an ordinary annotation (or image
tag) carrying its provenance in ``source`` (``model:<run>``, or ``model:<run>:edited`` when
the reviewer changed its geometry) and deletes the proposal, in one transaction.
"""
from __future__ import annotations

import json
import math
import sqlite3
from dataclasses import replace
from typing import Iterable, Mapping, Sequence

from vision_studio.core.geometry import polygons_bbox
from vision_studio.core.store.rows import StoreError, _annotation_params, _next_id, _with_id
from vision_studio.core.types import Annotation, BBox, Proposal

_PROP_COLS = "id, image_id, category_id, kind, x, y, w, h, segmentation, score, run"
_QUEUE_LAST = "queue_last_strategy"
"""Settings key of the strategy :meth:`ProposalsMixin.set_queue_scores` stored last."""


def _proposal(row: tuple) -> Proposal:
    bbox = None if row[4] is None else (row[4], row[5], row[6], row[7])
    seg = json.loads(row[8]) if row[8] else None
    return Proposal(id=row[0], image_id=row[1], category_id=row[2], kind=row[3], bbox=bbox,
                    segmentation=seg, score=row[9], run=row[10])


def _checked_polygons(seg: Sequence[Sequence[float]] | None) -> list[list[float]] | None:
    if seg is None:
        return None
    polys = [[float(v) for v in p] for p in seg]
    for p in polys:
        if len(p) < 6 or len(p) % 2 or not all(math.isfinite(v) for v in p):
            raise StoreError(f"a polygon needs at least 3 finite (x, y) points, got {len(p) // 2}")
    return polys or None


def _proposal_params(p: Proposal) -> tuple:
    """The row of a proposal (without id), checked.

    Raises:
        StoreError: unknown kind, a score outside [0, 1], a box without positive size, a
            polygon/mask without polygons, a tag with geometry.
    """
    if p.kind not in Proposal.KINDS:
        raise StoreError(f"unknown proposal kind {p.kind!r} (one of {', '.join(Proposal.KINDS)})")
    score = float(p.score)
    if not 0.0 <= score <= 1.0:
        raise StoreError(f"a proposal score is in [0, 1], got {p.score}")
    seg = _checked_polygons(p.segmentation)
    bbox: BBox | None = None if p.bbox is None else tuple(float(v) for v in p.bbox)
    if p.kind == "tag":
        if bbox is not None or seg is not None:
            raise StoreError("a tag proposal has no bbox or segmentation")
    else:
        if p.kind in ("polygon", "mask"):
            if seg is None:
                raise StoreError(f"a {p.kind} proposal needs a segmentation")
            bbox = bbox or polygons_bbox([tuple(q) for q in seg])
        if bbox is None or not (bbox[2] > 0 and bbox[3] > 0):
            raise StoreError(f"a {p.kind} proposal needs a bbox of positive size, got {p.bbox}")
    x, y, w, h = bbox if bbox is not None else (None, None, None, None)
    return (int(p.image_id), int(p.category_id), p.kind, x, y, w, h,
            json.dumps(seg, separators=(",", ":")) if seg else None, score, str(p.run))


class ProposalsMixin:
    """Proposals and queue scores.

    Mixed into :class:`~vision_studio.core.store.ProjectStore`; relies on its
    ``_write()`` / ``_read()`` and the settings methods.
    """

    # ------------------------------------------------------------------ proposals
    def add_proposals(self, proposals: Iterable[Proposal]) -> list[Proposal]:
        """Insert proposals in one transaction (their ``id`` is ignored; pass 0).

        Returns:
            The proposals as stored, with their new ids (consecutive, in order) and, for
            polygon/mask proposals given without a bbox, the polygons' bbox.

        Raises:
            StoreError: an invalid proposal (see the kinds in
                :class:`~vision_studio.core.types.Proposal`), or an unknown image or
                category; nothing of the batch is kept.
        """
        items = list(proposals)
        params = [_proposal_params(p) for p in items]
        with self._write() as c:
            try:
                first = _next_id(c, "proposals")
                c.executemany(f"INSERT INTO proposals({_PROP_COLS[4:]}) "
                              "VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", params)
            except sqlite3.IntegrityError as exc:
                raise StoreError(f"proposal refers to an unknown image or category ({exc})") from exc
        return [_proposal((first + i, *row)) for i, row in enumerate(params)]

    def proposals(self, image_id: int | None = None, *, min_score: float = 0.0,
                  category_id: int | None = None) -> list[Proposal]:
        """Proposals ordered by id, optionally of one image and/or one category, with
        ``score >= min_score``."""
        sql, params = f"SELECT {_PROP_COLS} FROM proposals WHERE score >= ?", [float(min_score)]
        if image_id is not None:
            sql += " AND image_id = ?"
            params.append(int(image_id))
        if category_id is not None:
            sql += " AND category_id = ?"
            params.append(int(category_id))
        return [_proposal(r) for r in self._read(sql + " ORDER BY id", params)]

    def proposal_counts(self) -> dict[int, int]:
        """``{image_id: number of proposals}`` for every image that has some."""
        return dict(self._read("SELECT image_id, COUNT(*) FROM proposals GROUP BY image_id"))

    def delete_proposals(self, ids: Iterable[int]) -> list[Proposal]:
        """Delete proposals (rejected); returns what was deleted, for undo. Unknown ids are
        ignored."""
        ids = [int(i) for i in ids]
        out: list[Proposal] = []
        with self._write() as c:
            for i in range(0, len(ids), 900):
                chunk = ids[i:i + 900]
                marks = ",".join("?" * len(chunk))
                out += [_proposal(r) for r in c.execute(
                    f"SELECT {_PROP_COLS} FROM proposals WHERE id IN ({marks}) ORDER BY id", chunk)]
                c.execute(f"DELETE FROM proposals WHERE id IN ({marks})", chunk)
        return out

    def restore_proposals(self, proposals: Iterable[Proposal]) -> None:
        """Re-insert deleted proposals under their original ids (undo).

        Raises:
            StoreError: an id is taken, or its image or category is gone.
        """
        rows = [(int(p.id), *_proposal_params(p)) for p in proposals]
        with self._write() as c:
            try:
                c.executemany(f"INSERT INTO proposals({_PROP_COLS}) "
                              "VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
            except sqlite3.IntegrityError as exc:
                raise StoreError(f"cannot restore proposals ({exc})") from exc

    def accept_proposal(self, proposal_id: int, *, bbox: Sequence[float] | None = None,
                        segmentation: Sequence[Sequence[float]] | None = None,
                        category_id: int | None = None) -> Annotation | tuple[int, ...]:
        """Turn a proposal into an annotation (or, for a ``"tag"``, an image tag) and
        delete the proposal, in one transaction.

        Args:
            proposal_id: The proposal.
            bbox: The reviewer's box (COCO xywh pixels), replacing the proposed one.
            segmentation: The reviewer's polygons, replacing the proposed ones. Given
                either, the result's source is ``model:<run>:edited``, else
                ``model:<run>``. A polygon edited without a bbox gets its polygons' bbox.
            category_id: The reviewer's category, replacing the proposed one (the number
                keys of the review); a category other than the proposal's makes the
                source ``model:<run>:edited`` too.

        Returns:
            The new :class:`~vision_studio.core.types.Annotation` (``bbox``, ``polygons``
            for polygon/mask kinds, area computed by the store); for a tag, the image's
            tags *before* (give them to ``set_image_tags`` to undo); the tag is added to
            the image's others with ``image_tags.source = model:<run>``.

        Raises:
            StoreError: unknown proposal id or category, or an invalid edited geometry;
                the proposal is then kept.
        """
        with self._write() as c:
            rows = c.execute(f"SELECT {_PROP_COLS} FROM proposals WHERE id = ?",
                             (int(proposal_id),)).fetchall()
            if not rows:
                raise StoreError(f"unknown proposal id {proposal_id}")
            p = _proposal(rows[0])
            recategorised = category_id is not None and int(category_id) != p.category_id
            if recategorised:
                if not c.execute("SELECT 1 FROM categories WHERE id = ?", (int(category_id),)).fetchone():
                    raise StoreError(f"unknown category id {category_id}")
                p = replace(p, category_id=int(category_id))
            edited = bbox is not None or segmentation is not None or recategorised
            source = f"model:{p.run}:edited" if edited else f"model:{p.run}"
            c.execute("DELETE FROM proposals WHERE id = ?", (p.id,))
            if p.kind == "tag":
                before = tuple(r[0] for r in c.execute(
                    "SELECT category_id FROM image_tags WHERE image_id = ? ORDER BY category_id",
                    (p.image_id,)))
                c.execute("INSERT OR IGNORE INTO image_tags(image_id, category_id, source) "
                          "VALUES(?, ?, ?)", (p.image_id, p.category_id, source))
                return before
            return self._insert_accepted(c, p, bbox, segmentation, source)

    @staticmethod
    def _insert_accepted(c: sqlite3.Connection, p: Proposal, bbox: Sequence[float] | None,
                         segmentation: Sequence[Sequence[float]] | None, source: str) -> Annotation:
        polys = _checked_polygons(segmentation if segmentation is not None else p.segmentation)
        if p.kind == "bbox" and segmentation is None:
            polys = None
        if bbox is None:
            bbox = polygons_bbox([tuple(q) for q in polys]) if segmentation is not None and polys \
                else p.bbox
        ann = Annotation(image_id=p.image_id, category_id=p.category_id,
                         bbox=tuple(float(v) for v in bbox),
                         polygons=tuple(tuple(q) for q in polys or ()), source=source)
        params = _annotation_params(ann)
        first = _next_id(c, "annotations")
        c.execute("INSERT INTO annotations(image_id, category_id, x, y, w, h, polygons, rle, "
                  "iscrowd, area, attributes, extra, source) "
                  "VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", params)
        return _with_id(ann, first, params[9])

    def image_tag_sources(self, image_id: int) -> dict[int, str]:
        """``{category_id: source}`` of an image's tags (``''`` = by hand,
        ``model:<run>`` = an accepted tag proposal)."""
        return dict(self._read("SELECT category_id, source FROM image_tags WHERE image_id = ?",
                               (int(image_id),)))

    def tag_sources(self, category_id: int) -> dict[tuple[int, int], str]:
        """``{(image_id, category_id): source}`` of the tags of one category that came
        from a model (source not ``''``): what a category delete or merge would lose."""
        return {(int(i), int(c)): str(src) for i, c, src in self._read(
            "SELECT image_id, category_id, source FROM image_tags WHERE category_id = ? "
            "AND source != ''", (int(category_id),))}

    def set_tag_sources(self, sources: Mapping[tuple[int, int], str]) -> None:
        """Set the ``source`` of existing image tags (``{(image_id, category_id):
        source}``; tags that do not exist are skipped), in one transaction (undo)."""
        with self._write() as c:
            c.executemany("UPDATE image_tags SET source = ? WHERE image_id = ? AND category_id = ?",
                          [(str(src), int(i), int(cid)) for (i, cid), src in sources.items()])

    # ------------------------------------------------------------------ queue scores
    def set_queue_scores(self, strategy: str, run: str, scores: Mapping[int, float]) -> None:
        """Replace the Label-next scores of ``strategy`` (higher = label sooner) by
        ``scores`` (``{image_id: score}``, from run ``run``), in one transaction; this
        strategy becomes the one :meth:`queue_scores` returns by default.

        Raises:
            StoreError: an empty strategy name, a non-finite score, an unknown image.
        """
        if not strategy:
            raise StoreError("a queue strategy needs a name")
        rows = [(strategy, int(i), str(run), float(s)) for i, s in scores.items()]
        if not all(math.isfinite(r[3]) for r in rows):
            raise StoreError("queue scores must be finite numbers")
        with self._write() as c:
            c.execute("DELETE FROM queue_scores WHERE strategy = ?", (strategy,))
            try:
                c.executemany("INSERT INTO queue_scores(strategy, image_id, run, score) "
                              "VALUES(?, ?, ?, ?)", rows)
            except sqlite3.IntegrityError as exc:
                raise StoreError(f"queue score of an unknown image ({exc})") from exc
            c.execute("INSERT INTO settings(key, value) VALUES(?, ?) ON CONFLICT(key) "
                      "DO UPDATE SET value = excluded.value", (_QUEUE_LAST, json.dumps(strategy)))

    def queue_scores(self, strategy: str | None = None) -> dict[int, float]:
        """``{image_id: score}`` of ``strategy`` (default: the one set last), highest
        first; ``{}`` when none is stored."""
        strategy = strategy or self.get_setting(_QUEUE_LAST)
        if not strategy:
            return {}
        return dict(self._read("SELECT image_id, score FROM queue_scores WHERE strategy = ? "
                               "ORDER BY score DESC, image_id", (strategy,)))

    def queue_strategies(self) -> dict[str, str]:
        """``{strategy: run}`` of every stored set of queue scores."""
        return dict(self._read("SELECT strategy, MIN(run) FROM queue_scores GROUP BY strategy"))
