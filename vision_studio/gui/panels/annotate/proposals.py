"""Reviewing model proposals on the annotation canvas at keyboard speed (issue 14).

:class:`ProposalReview` draws the current image's proposals
(:class:`~vision_studio.gui.widgets.proposal_items.ProposalItem`: dashed, with their
score) over the canvas, hides those under the score threshold (the toolbar's slider),
and turns the reviewer's keys and drags into undo commands of
:mod:`vision_studio.gui.undo_proposals`:

* click a proposal: select it (Tab / Shift+Tab: the next / previous one, highest score
  first; the best one is selected when an image is shown);
* Enter: accept the selected proposal; Shift+Enter: accept every shown one of the image;
* Backspace (or Del): reject the selected proposal; Shift+Backspace: reject every shown
  one of the image ("reject the rest" after accepting the good ones: the image is then
  marked done when it has an annotation or tag);
* 1–9 (through :func:`~vision_studio.gui.panels.annotate.keys.number_key`): accept the
  selected proposal under category number n of the list, as edited
  (``source = "model:<run>:edited"``) when that is not the proposed category — one key
  per proposal: Enter (right), Backspace (wrong), a number (right object, wrong class);
* drag a proposal (body, box handle or polygon vertex): it is accepted as edited
  (``source = "model:<run>:edited"``) with the new geometry.

It works as an event filter on the canvas (keys) and its viewport (mouse) in the
"select" tool: events that hit a proposal are handled here and never reach the canvas,
every other event goes on to the canvas unchanged. After any change of the undo stack
(this review, undo, redo, another panel) it re-reads the proposals from the store.
"""
from __future__ import annotations

import logging
import math
import sqlite3
from dataclasses import dataclass, field

from PySide6.QtCore import QEvent, QObject, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QKeyEvent, QMouseEvent
from PySide6.QtWidgets import QToolTip

from vision_studio.gui.undo_proposals import AcceptProposalsCommand, RejectProposalsCommand
from vision_studio.gui.widgets.canvas import AnnotationCanvas
from vision_studio.gui.widgets.canvas_items import HandleItem, weak_slot
from vision_studio.gui.widgets.canvas_tools import GRAB_PX, box_handles, resize_rect, route_overlay_event
from vision_studio.gui.widgets.proposal_items import ProposalItem, place_labels, provenance_text

log = logging.getLogger(__name__)

LEFT = Qt.MouseButton.LeftButton
ENTER_KEYS = (Qt.Key.Key_Return, Qt.Key.Key_Enter)


@dataclass
class _Drag:
    kind: str            # "move", "resize" or "vertex"
    pid: int
    start: QPointF
    handle: object = None
    moved: bool = False
    orig: QRectF = field(default_factory=QRectF)


class ProposalReview(QObject):
    """The proposals of the image shown on ``canvas``, and their review.

    Args:
        canvas: The annotation canvas (its store and undo stack are used).

    Attributes:
        threshold: Proposals scoring below it are hidden (0–1).

    Signals:
        countsChanged(int, int): proposals shown, proposals of the image.
        selectionChanged(int): the selected proposal id (0: none).
    """

    countsChanged = Signal(int, int)
    selectionChanged = Signal(int)

    def __init__(self, canvas: AnnotationCanvas, threshold: float = 0.5) -> None:
        super().__init__(canvas)
        self.canvas = canvas
        self.store = canvas.store
        self.threshold = float(threshold)
        self._items: dict[int, ProposalItem] = {}
        self._handles: list[HandleItem] = []
        self._selected = 0
        self._hidden: set[int] = set()
        self._drag: _Drag | None = None
        self._viewport = canvas.viewport()
        canvas.installEventFilter(self)
        self._viewport.installEventFilter(self)
        canvas.undo_stack.indexChanged.connect(weak_slot(self, "reload"))
        canvas.selectionChanged.connect(weak_slot(self, "_on_shapes_selected"))
        canvas.zoomChanged.connect(weak_slot(self, "place_labels"))

    def _on_shapes_selected(self, ids: list) -> None:
        """Shapes selected on the canvas: no proposal stays selected, so that the keys
        (Enter, 1–9, Del) act on one thing only."""
        if ids and self._selected:
            self.select(0)

    # ------------------------------------------------------------------ state
    @property
    def items(self) -> dict[int, ProposalItem]:
        """``{proposal id: item}`` of the current image (read-only use)."""
        return dict(self._items)

    @property
    def selected_id(self) -> int:
        """The selected proposal's id, 0 when none."""
        return self._selected

    def shown_ids(self) -> list[int]:
        """Ids of the shown proposals, highest score first."""
        shown = [it for it in self._items.values() if it.shown]
        return [it.proposal.id for it in sorted(shown, key=lambda it: (-it.proposal.score, it.proposal.id))]

    def set_threshold(self, value: float) -> None:
        """Hide proposals scoring below ``value`` (0–1)."""
        self.threshold = float(value)
        self._apply_visibility()

    def set_hidden_categories(self, ids: set[int]) -> None:
        """Hide the proposals of these categories too."""
        self._hidden = set(ids)
        self._apply_visibility()

    # ------------------------------------------------------------------ content
    def reload(self, *_args) -> None:
        """Re-read the current image's proposals from the store."""
        image = self.canvas.image
        scene = self.canvas.scene()
        for item in self._items.values():
            scene.removeItem(item)
        self._items.clear()
        self._drag = None
        if image is not None:
            try:
                props = self.store.proposals(image.id)
                cats = {c.id: c for c in self.store.categories()}
            except sqlite3.ProgrammingError:  # the project was closed
                props, cats = [], {}
            tags = 0
            for p in sorted(props, key=lambda q: (-q.score, q.id)):
                cat = cats.get(p.category_id)
                color = QColor(cat.color) if cat else QColor("#ffffff")
                item = ProposalItem(p, color, cat.name if cat else f"? {p.category_id}",
                                    image.width, image.height, tags)
                tags += p.kind == "tag"
                scene.addItem(item)
                self._items[p.id] = item
        if self._selected in self._items:  # the new item of the kept selection is the highlighted one
            self._items[self._selected].set_selected(True)
        self._apply_visibility()

    def _apply_visibility(self) -> None:
        for item in self._items.values():
            p = item.proposal
            item.set_shown(p.score >= self.threshold and p.category_id not in self._hidden)
        shown = self.shown_ids()
        self.place_labels()
        if self._selected not in shown:
            self.select(shown[0] if shown else 0)
        else:
            self._update_handles()
        self.countsChanged.emit(len(shown), len(self._items))

    def place_labels(self, *_args) -> None:
        """Lay the shown proposals' labels out so that none covers another (best first)."""
        place_labels([self._items[i] for i in self.shown_ids()], self.canvas.zoom())

    def select(self, pid: int) -> None:
        """Select proposal ``pid`` (0: none); the canvas's shapes are deselected."""
        pid = pid if pid in self._items and self._items[pid].shown else 0
        if self._selected in self._items:
            self._items[self._selected].set_selected(False)
        self._selected = pid
        if pid:
            self._items[pid].set_selected(True)
            self.canvas.set_selection([])
        self._update_handles()
        self.selectionChanged.emit(pid)

    def step(self, delta: int) -> None:
        """Select the next (+1) / previous (-1) shown proposal (highest score first)."""
        shown = self.shown_ids()
        if not shown:
            return
        k = shown.index(self._selected) if self._selected in shown else -delta
        self.select(shown[(k + delta) % len(shown)])

    # ------------------------------------------------------------------ review
    def accept_selected(self) -> bool:
        """Accept the selected proposal; the next one is selected. False when none."""
        if not self._selected:
            return False
        return self._push_accept([self._selected], {})

    def accept_shown(self) -> int:
        """Accept every shown proposal of the image (one undo command); how many."""
        ids = self.shown_ids()
        if ids and self._push_accept(ids, {}):
            return len(ids)
        return 0

    def recategorise_selected(self, category_id: int) -> bool:
        """Accept the selected proposal as category ``category_id`` (edited when that is
        not its own); the next one is selected. False when none is selected."""
        if not self._selected:
            return False
        item = self._items[self._selected]
        name = next((c.name for c in self.store.categories() if c.id == int(category_id)), "?")
        text = f"Accept {item.label.text} as {name}" + (
            " (edited)" if int(category_id) != item.proposal.category_id else "")
        return self._push_accept([self._selected], {}, {self._selected: int(category_id)}, text)

    def reject_selected(self) -> bool:
        """Reject (delete) the selected proposal; the next one is selected."""
        if not self._selected:
            return False
        return self._push_reject([self._selected])

    def reject_shown(self) -> int:
        """Reject every shown proposal of the image (one undo command); how many."""
        ids = self.shown_ids()
        if ids and self._push_reject(ids):
            return len(ids)
        return 0

    def _push_reject(self, ids: list[int]) -> bool:
        nxt = self._next_after(ids)
        cmd = RejectProposalsCommand(self.store, [self._items[i].proposal for i in ids],
                                     review_threshold=self.threshold)
        ok = self._push(cmd)
        self.select(nxt)
        self._say_done(ok, cmd)
        return ok

    def _push_accept(self, ids: list[int], edits: dict, categories: dict | None = None,
                     text: str | None = None) -> bool:
        nxt = self._next_after(ids)
        cmd = AcceptProposalsCommand(self.store, [self._items[i].proposal for i in ids], edits,
                                     review_threshold=self.threshold, categories=categories, text=text)
        ok = self._push(cmd)
        self.select(nxt)
        self._say_done(ok, cmd)
        return ok

    def _say_done(self, ok: bool, cmd) -> None:
        if ok and cmd.done_images:
            self.canvas.statusMessage.emit(f"{cmd.text()}: nothing left to review, image marked done")

    def _next_after(self, ids: list[int]) -> int:
        shown = self.shown_ids()
        rest = [i for i in shown if i not in ids]
        if not rest:
            return 0
        k = shown.index(ids[0]) if ids[0] in shown else 0
        after = [i for i in shown[k:] if i not in ids]
        return after[0] if after else rest[-1]

    def _push(self, cmd) -> bool:
        self.canvas.undo_stack.push(cmd)  # its indexChanged reloads the canvas and this
        if cmd.error:
            self.canvas.statusMessage.emit(cmd.error)
            self.reload()
            return False
        self.canvas.statusMessage.emit(cmd.text())
        return True

    # ------------------------------------------------------------------ events
    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        """Keys on the canvas, mouse on its viewport (see the module docstring)."""
        return route_overlay_event(self, obj, event, self.canvas,
                                   self.canvas.tool == "select")

    def _key(self, event: QKeyEvent) -> bool:
        key, shift = event.key(), bool(event.modifiers() & Qt.KeyboardModifier.ShiftModifier)
        if key in ENTER_KEYS and shift:
            return self.accept_shown() > 0
        if key in ENTER_KEYS:
            return self.accept_selected()
        if key in (Qt.Key.Key_Backspace, Qt.Key.Key_Delete) and shift:
            return self.reject_shown() > 0
        if key in (Qt.Key.Key_Backspace, Qt.Key.Key_Delete):
            return self.reject_selected()
        if key in (Qt.Key.Key_Tab, Qt.Key.Key_Backtab) and self.shown_ids():
            self.step(-1 if key == Qt.Key.Key_Backtab or shift else 1)
            return True
        if key == Qt.Key.Key_Escape and self._selected:
            self.select(0)
            return True
        return False

    def _scene(self, event: QMouseEvent) -> QPointF:
        return self.canvas.mapToScene(event.position().toPoint())

    def _view_dist(self, a: QPointF, b: QPointF) -> float:
        pa, pb = self.canvas.mapFromScene(a), self.canvas.mapFromScene(b)
        return math.hypot(pa.x() - pb.x(), pa.y() - pb.y())

    def proposal_at(self, p: QPointF) -> ProposalItem | None:
        """The shown proposal under scene point ``p``: the selected one first, then the
        smallest (a tag frame is hit on its outline only)."""
        tol = GRAB_PX / max(abs(self.canvas.transform().m11()), 1e-6)
        best, key = None, None
        for item in self._items.values():
            if not item.shown:
                continue
            r = item.bounds()
            near_edge = r.adjusted(-tol, -tol, tol, tol).contains(p) and not r.adjusted(tol, tol, -tol, -tol).contains(p)
            inside = item.outline().contains(p - item.pos()) if item.editable else False
            if not (inside or near_edge):
                continue
            k = (item.proposal.id != self._selected, r.width() * r.height())
            if key is None or k < key:
                best, key = item, k
        return best

    def _handle_at(self, p: QPointF) -> tuple[str, object] | None:
        item = self._items.get(self._selected)
        if item is None or not item.editable:
            return None
        if not item.polygons:
            for i, h in enumerate(box_handles(item.rect)):
                if self._view_dist(h, p) <= GRAB_PX:
                    return ("resize", i)
            return None
        for pi, poly in enumerate(item.polygons):
            for vi, v in enumerate(poly):
                if self._view_dist(v, p) <= GRAB_PX:
                    return ("vertex", (pi, vi))
        return None

    def _press(self, event: QMouseEvent) -> bool:
        if event.button() != LEFT or getattr(self.canvas, "_space", False):
            return False
        p = self._scene(event)
        hit = self._handle_at(p)
        if hit is not None:
            item = self._items[self._selected]
            self._drag = _Drag(hit[0], self._selected, p, hit[1], orig=QRectF(item.rect))
            return True
        item = self.proposal_at(p)
        if item is None:
            if self._selected:
                self.select(0)
            return False  # the canvas selects its shapes as usual
        self.select(item.proposal.id)
        self.canvas.setFocus()
        if item.editable:
            self._drag = _Drag("move", item.proposal.id, p)
        return True

    def _move(self, event: QMouseEvent) -> bool:
        d = self._drag
        p = self._scene(event)
        if d is None:
            self._hover(p, event)
            return False
        item = self._items.get(d.pid)
        if item is None:
            self._drag = None
            return False
        if not d.moved and self._view_dist(d.start, p) > 2:
            d.moved = True
        q = self._clamp(p)
        if d.kind == "move":
            item.setPos(*self._offset(item, d.start, p))
        elif d.kind == "resize":
            item.set_rect(resize_rect(d.orig, d.handle, q))
        else:
            item.set_vertex(*d.handle, q)
        self._update_handles()
        return True

    def _release(self, event: QMouseEvent) -> bool:
        d, self._drag = self._drag, None
        if d is None or event.button() != LEFT:
            return d is not None
        item = self._items.get(d.pid)
        if item is None:
            return True
        if not d.moved:
            item.set_annotation(item.ann)
            self._update_handles()
            return True
        if item.polygons:
            edit = (None, item.flat_polygons())
        else:
            r = item.bounds()
            if r.width() < 1 or r.height() < 1:
                item.set_annotation(item.ann)
                self._update_handles()
                return True
            edit = ((r.x(), r.y(), r.width(), r.height()), None)
        self._push_accept([d.pid], {d.pid: edit})
        return True

    def _hover(self, p: QPointF, event: QMouseEvent) -> None:
        item = self.proposal_at(p)
        gpos = event.globalPosition().toPoint()
        if item is not None:
            pr = item.proposal
            QToolTip.showText(gpos, f"Proposal of model {pr.run}: {item.label.text} — Enter accepts, "
                                    "Backspace rejects, drag to edit", self.canvas)
            return
        shape = self.canvas.shape_at(p)
        if shape is not None and shape.ann.source:
            QToolTip.showText(gpos, f"{shape.label.text}: {provenance_text(shape.ann.source)} "
                                    f"({shape.ann.source})", self.canvas)

    # ------------------------------------------------------------------ geometry helpers
    def _clamp(self, p: QPointF) -> QPointF:
        im = self.canvas.image
        return QPointF(min(max(p.x(), 0.0), float(im.width)), min(max(p.y(), 0.0), float(im.height)))

    def _offset(self, item: ProposalItem, start: QPointF, p: QPointF) -> tuple[float, float]:
        im, r = self.canvas.image, item.rect
        dx = max(-r.left(), min(im.width - r.right(), p.x() - start.x()))
        dy = max(-r.top(), min(im.height - r.bottom(), p.y() - start.y()))
        return round(dx, 2), round(dy, 2)

    def _update_handles(self) -> None:
        scene = self.canvas.scene()
        for h in self._handles:
            scene.removeItem(h)
        self._handles = []
        item = self._items.get(self._selected)
        if item is None or not item.shown or not item.editable:
            return
        off = item.pos()
        points = box_handles(item.rect) if not item.polygons else [v for poly in item.polygons for v in poly]
        for pt in points:
            h = HandleItem(pt + off, item.color)
            h.setZValue(h.zValue() + 1)
            scene.addItem(h)
            self._handles.append(h)
