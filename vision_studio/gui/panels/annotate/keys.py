"""What the number keys 1–9 and the "next unlabelled image" key do in the annotate panel.

A number key ``n`` means category ``n`` of the category list, and

* with shapes selected on the canvas: gives them that category (one undo command) —
  right after a box or polygon is closed it is selected, so ``1``–``9`` recategorise it;
* else, with a model proposal selected (issue 14): accepts it under that category, as
  edited when the model proposed another one (one undo command, saved at once), and
  the next proposal is selected; a tag proposal with "then show the next image" on
  moves to the next image once the image has no proposal left to review;
* else, when the tags widget's "number keys tag the image" is on (the default in a
  classification project: tags and no shapes): tags the current image — single-label
  replaces its tag, multi-label toggles that one — then, with "then show the next image"
  on, moves to the next image;
* else: makes it the category of the next shape drawn.

Every key press is handled to the end (store written, next image shown) before the next
one is read from the event queue, so typing fast loses no key.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the panel imports this module
    from vision_studio.gui.panels.annotate.panel import AnnotatePanel

NEXT_UNLABELLED_KEY = "N"
"""Shortcut of "Next unlabelled image"."""


def number_key(panel: AnnotatePanel, n: int) -> str:
    """Handle number key ``n`` (1–9) as the module docstring says.

    Returns:
        What was done: ``"recategorised"``, ``"proposal"``, ``"tagged"``,
        ``"category"`` or ``""`` when there is no ``n``-th category (or the proposal
        could not be accepted: the status bar says why).
    """
    cats = panel.categories.categories()
    if not 1 <= n <= len(cats):
        panel.state.statusMessage.emit(f"There is no category number {n}")
        return ""
    cid = cats[n - 1].id
    canvas, tags = panel.canvas, panel.tags
    if canvas is not None and canvas.selected_ids:
        panel.categories.set_current_category(cid)  # the next shape gets it too
        canvas.set_selection_category(cid)
        return "recategorised"
    review = panel.assist.review
    if review is not None and review.selected_id:
        tag = review.items[review.selected_id].proposal.kind == "tag"
        if not review.recategorise_selected(cid):
            return ""
        if tag and tags is not None and tags.advance and not review.shown_ids():
            panel.step(1)
        return "proposal"
    if tags is not None and tags.keys_tag and panel.state.current_image is not None:
        tags.tag_by_key(cid)
        if tags.advance:
            panel.step(1)
        return "tagged"
    panel.categories.set_current_category(cid)
    return "category"


def next_unlabelled(panel: AnnotatePanel) -> bool:
    """Show the next image of the list (after the current one, wrapping around) with no
    label: no tag when number keys tag images, else no tag and no shape.

    Returns:
        False (with a status message) when every listed image is labelled.
    """
    store = panel.state.store
    if store is None:
        return False
    tags = panel.tags
    labelled = set(store.all_image_tags()) if tags is not None and tags.keys_tag \
        else store.labelled_image_ids()
    ids = panel.model.image_ids()
    start = panel.browser.current_row()
    for k in range(1, len(ids) + 1):
        row = (start + k) % len(ids)
        if ids[row] not in labelled:
            return panel.browser.select_row(row)
    panel.state.statusMessage.emit("Every image of the list is labelled")
    return False
