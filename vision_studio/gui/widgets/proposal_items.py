"""Graphics items of model *proposals* on the annotation canvas (issue 14).

A proposal is drawn like a shape (:class:`~vision_studio.gui.widgets.canvas_items.ShapeItem`,
scene = image pixels, COCO convention) but dashed, unfilled until selected, above the
annotations, and labelled ``"<category> <score>"`` so it cannot be taken for an accepted
annotation. An image-tag proposal (``kind == "tag"``, classification) is a dashed frame
just inside the image border, labelled with the proposed tag and its probability.

Labels have a constant size on screen, so the labels of overlapping proposals sharing a
corner would be drawn on top of each other; :func:`place_labels` moves them apart.

Also here: :func:`provenance_label` / :func:`provenance_text`, how an accepted
annotation shows where it came from (``Annotation.source``).
"""
from __future__ import annotations

from typing import Iterable

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QPen

from vision_studio.core.types import Annotation, Proposal
from vision_studio.gui.widgets.canvas_items import Z_HANDLE, Z_SELECTED, ShapeItem

Z_PROPOSAL = (Z_SELECTED + Z_HANDLE) / 2
"""Proposals lie above the annotations (and their selection), below the handles."""


def proposal_annotation(p: Proposal, width: int, height: int, index: int = 0) -> Annotation:
    """The geometry of ``p`` as an :class:`Annotation` (for drawing and hit testing).

    A tag proposal gets a frame inset ``index`` steps inside an image of ``width`` x
    ``height`` pixels (several tag proposals of one image do not overlap).
    """
    polys = tuple(tuple(float(v) for v in poly) for poly in (p.segmentation or ()) if len(poly) >= 6)
    if p.bbox is not None:
        bbox = tuple(float(v) for v in p.bbox)
    elif polys:
        xs = [v for poly in polys for v in poly[0::2]]
        ys = [v for poly in polys for v in poly[1::2]]
        bbox = (min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys))
    else:
        step = 0.03 * min(width, height) * (index + 1)
        bbox = (step, step, max(width - 2 * step, 1.0), max(height - 2 * step, 1.0))
    return Annotation(image_id=p.image_id, category_id=p.category_id, bbox=bbox,
                      polygons=polys, id=p.id)


class ProposalItem(ShapeItem):
    """One proposal: dashed outline in the category colour and a ``name score`` label.

    Unlike a :class:`ShapeItem` (painted by the canvas's layer unless selected), a
    proposal item is always drawn by itself: an image has tens of proposals, not
    thousands.

    Attributes:
        proposal: The proposal as read from the store.
    """

    def __init__(self, proposal: Proposal, color: QColor, name: str, width: int, height: int,
                 index: int = 0) -> None:
        self.proposal = proposal
        super().__init__(proposal_annotation(proposal, width, height, index), color,
                         f"{name} {proposal.score:.2f}")
        self.setZValue(Z_PROPOSAL)
        self.setVisible(True)

    @property
    def editable(self) -> bool:
        """Whether the geometry can be dragged (not for a tag proposal)."""
        return self.proposal.kind != "tag"

    def set_selected(self, selected: bool) -> None:
        """Highlight (thicker outline, light fill)."""
        self._selected = selected
        self.setZValue(Z_PROPOSAL + (0.5 if selected else 0.0))
        self.setVisible(self.shown)
        self._restyle()

    def set_shown(self, shown: bool) -> None:
        """Show/hide (the score slider, hidden categories)."""
        self.shown = shown
        self.setVisible(shown)

    def _restyle(self) -> None:
        pen = QPen(self._color, 3.0 if self._selected else 2.0)
        pen.setCosmetic(True)
        pen.setStyle(Qt.PenStyle.DashLine)
        self.setPen(pen)
        fill = QColor(self._color)
        fill.setAlpha(60)
        self.setBrush(QBrush(fill) if self._selected else QBrush(Qt.BrushStyle.NoBrush))
        self.layer_pen, self.layer_brush = pen, QBrush(Qt.BrushStyle.NoBrush)

    def bounds(self) -> QRectF:
        """The live bounding box (scene pixels, with a drag offset)."""
        return self.rect.translated(self.pos())


STACK_STEPS = 8
"""How many label heights above its box a label may be pushed when every spot is taken."""


def _candidates(item: ProposalItem, w: float, h: float) -> list[QPointF]:
    """Spots for the label of ``item`` (its bottom-left corner, item coordinates) in order
    of preference, for a label ``w`` x ``h`` scene pixels: the usual spot, then inside the
    box at its top-left, above / inside its top-right corner, below / inside its bottom
    edge, then stacked higher above it."""
    r = item.rect
    right = max(r.left(), r.right() - w)
    spots = [item.label_anchor(),
             QPointF(r.left(), r.top() + h), QPointF(right, r.top()), QPointF(right, r.top() + h),
             QPointF(r.left(), r.bottom() + h), QPointF(r.left(), r.bottom()),
             QPointF(right, r.bottom() + h), QPointF(right, r.bottom())]
    spots += [QPointF(r.left(), r.top() - k * h) for k in range(1, STACK_STEPS + 1)]
    return spots


def label_rect(item: ShapeItem, zoom: float, anchor: QPointF | None = None) -> QRectF:
    """The scene rectangle the label of ``item`` covers at ``zoom`` (screen pixels per
    image pixel), with its bottom-left corner at ``anchor`` (item coordinates; default
    where it is now)."""
    pm = item.label.pixmap()
    w, h = pm.width() / zoom, pm.height() / zoom
    a = (item.label.pos() if anchor is None else anchor) + item.pos()
    return QRectF(a.x(), a.y() - h, w, h)


def place_labels(items: Iterable[ProposalItem], zoom: float) -> None:
    """Move the labels of ``items`` so that they do not overlap one another.

    Labels are placed in the order given (pass the best proposal first: it keeps the
    usual spot above its top-left corner); each takes the first spot of
    :func:`_candidates` that intersects no label placed before it, else the spot
    overlapping them least. Label sizes are constant on screen, so call again when the
    zoom changes.

    Args:
        items: The shown proposals, in order of priority.
        zoom: Screen pixels per image pixel (the view's scale, > 0).
    """
    zoom = max(float(zoom), 1e-6)
    placed: list[QRectF] = []
    for item in items:
        pm = item.label.pixmap()
        w, h = pm.width() / zoom, pm.height() / zoom
        best, best_overlap = None, None
        for spot in _candidates(item, w, h):
            rect = label_rect(item, zoom, spot)
            overlap = sum(_area(rect.intersected(o)) for o in placed)
            if best_overlap is None or overlap < best_overlap:
                best, best_overlap = (spot, rect), overlap
            if overlap == 0:
                break
        item.label.setPos(best[0])
        placed.append(best[1])


def _area(r: QRectF) -> float:
    return max(r.width(), 0.0) * max(r.height(), 0.0)


def provenance_text(source: str) -> str:
    """Words for ``Annotation.source``: ``""`` → ``""``; ``"model:r1"`` → ``"proposed by
    model r1, accepted"``; ``"model:r1:edited"`` → ``"proposed by model r1, edited"``."""
    if not source.startswith("model:"):
        return source
    run = source[len("model:"):]
    if run.endswith(":edited"):
        return f"proposed by model {run[:-len(':edited')]}, edited"
    return f"proposed by model {run}, accepted"


def provenance_label(name: str, source: str) -> str:
    """The canvas label of an annotation: the category name, plus ``" · model"`` /
    ``" · model, edited"`` for an accepted proposal (the run is in the tooltip)."""
    if not source.startswith("model:"):
        return name
    return f"{name} · model, edited" if source.endswith(":edited") else f"{name} · model"
