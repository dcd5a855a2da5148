"""The "category score" labels of overlapping proposals do not cover one another, at the
fitted zoom and after zooming (labels keep their size on screen, so the layout is redone
on every zoom)."""
from __future__ import annotations

from itertools import combinations
from pathlib import Path

import pytest
from PySide6.QtCore import QRectF

from vision_studio.core.store import ProjectStore
from vision_studio.core.types import Proposal


@pytest.fixture
def project(small_project: Path) -> Path:
    """small_project with five overlapping proposals on img_003 (64 x 48 pixels): three
    boxes sharing their top-left corner, one nested inside them, a polygon over them."""
    with ProjectStore.open(small_project) as s:
        cat, dog, bird = (c.id for c in s.categories())
        im3 = s.images()[3].id
        s.add_proposals([
            Proposal(0, im3, cat, "bbox", (10, 8, 30, 20), None, 0.95, "r1"),
            Proposal(0, im3, dog, "bbox", (10, 8, 28, 22), None, 0.81, "r1"),
            Proposal(0, im3, cat, "bbox", (10, 8, 24, 16), None, 0.77, "r1"),
            Proposal(0, im3, bird, "bbox", (12, 10, 20, 12), None, 0.66, "r1"),
            Proposal(0, im3, dog, "polygon", None, [[10, 8, 40, 8, 40, 30, 10, 30]], 0.6, "r1"),
        ])
    return small_project


def label_rects(canvas, review) -> dict[str, QRectF]:
    """``{label text: rectangle on the viewport}`` of the shown proposals' labels."""
    out = {}
    for pid in review.shown_ids():
        label = review.items[pid].label
        out[label.text] = label.deviceTransform(canvas.viewportTransform()).mapRect(
            label.boundingRect())
    return out


def assert_apart(rects: dict[str, QRectF]) -> None:
    assert len(rects) == 5
    hits = [(a, b) for a, b in combinations(rects, 2) if rects[a].intersects(rects[b])]
    assert hits == [], {k: rects[k].getRect() for k in rects}


def test_labels_of_overlapping_proposals_do_not_intersect(main_window, project, qtbot):
    assert main_window.open_project(project)
    panel = main_window.annotate
    assert panel.show_image_id(panel.model.image_ids()[3])
    canvas, review = panel.canvas, panel.assist.review
    assert len(review.shown_ids()) == 5
    rects = label_rects(canvas, review)
    assert_apart(rects)
    best = review.items[review.shown_ids()[0]]
    assert best.label.text == "cat 0.95" and best.label.pos() == best.rect.topLeft()
    canvas.zoom_by(0.3)  # zoomed out: the labels are large against the boxes
    assert_apart(label_rects(canvas, review))
    canvas.zoom_by(8.0)
    assert_apart(label_rects(canvas, review))
    canvas.fit()
    assert label_rects(canvas, review) == rects
