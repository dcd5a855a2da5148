"""Child process of ``test_crash_safety.py``: edits a project through the GUI code path
until it is killed.

Usage: ``python _crash_child.py PROJECT SEED``. Opens PROJECT, builds the real
``AnnotationCanvas`` and ``ImageTagsWidget`` (offscreen) on one ``QUndoStack``, and loops
forever over random edits made through the canvas/widget methods the mouse handlers
call (draw box/polygon, move/resize, move/insert/delete vertex, change category,
delete, paste, tags, undo, redo). Before each edit it prints ``begin K IMAGE_ID``; after
the command returned (committed) it prints ``done K IMAGE_ID SNAPSHOT`` where SNAPSHOT is
the JSON of that image's annotations and tags as read back by its own connection.
"""
from __future__ import annotations

import json
import os
import random
import sys

os.environ["QT_QPA_PLATFORM"] = "offscreen"

from PySide6.QtGui import QUndoStack  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from vision_studio.core.store import ProjectStore  # noqa: E402
from vision_studio.gui.widgets.canvas import AnnotationCanvas  # noqa: E402
from vision_studio.gui.widgets.tags import ImageTagsWidget  # noqa: E402


def snapshot(store: ProjectStore, image_id: int) -> dict:
    """``{"anns": {id: [category, bbox, polygons]}, "tags": [...]}`` of one image."""
    return {"anns": {str(a.id): [a.category_id, list(a.bbox), [list(p) for p in a.polygons]]
                     for a in store.annotations(image_id)},
            "tags": list(store.image_tags(image_id))}


def edit(canvas: AnnotationCanvas, tags: ImageTagsWidget, stack: QUndoStack, rng: random.Random,
         cats: list[int]) -> None:
    """One random edit through the canvas / tags widget / undo stack."""
    im = canvas.image
    items = canvas.shape_items
    boxes = [i for i, it in items.items() if it.kind == "box"]
    polys = [i for i, it in items.items() if it.kind == "polygon"]
    op = rng.choice(["box", "box", "polygon", "move", "vertex", "insert", "delvertex", "category",
                     "delete", "paste", "tags", "undo", "redo"])
    x, y = rng.uniform(0, im.width - 12), rng.uniform(0, im.height - 12)
    if op == "box" or (op == "move" and not boxes):
        canvas.set_current_category(rng.choice(cats), apply_to_selection=False)
        canvas.add_box(x, y, rng.uniform(2, 10), rng.uniform(2, 10))
    elif op == "polygon" or (op in ("vertex", "insert", "delvertex") and not polys):
        canvas.add_polygon([x, y, x + 10, y, x + 10, y + 10, x, y + 8])
    elif op == "move":
        canvas.set_box(rng.choice(boxes), x, y, 5, 6)
    elif op == "vertex":
        canvas.move_vertex(rng.choice(polys), 0, 0, x, y)
    elif op == "insert":
        canvas.insert_vertex(rng.choice(polys), 0, 1, x, y)
    elif op == "delvertex":
        pid = rng.choice(polys)
        if len(items[pid].polygons[0]) > 4:
            canvas.delete_vertex(pid, 0, 1)
    elif op == "category" and items:
        canvas.set_selection([rng.choice(list(items))])
        canvas.set_selection_category(rng.choice(cats))
    elif op == "delete" and items:
        canvas.set_selection([rng.choice(list(items))])
        canvas.delete_selection()
    elif op == "paste" and items:
        canvas.set_selection([rng.choice(list(items))])
        canvas.copy_selection()
        canvas.paste()
    elif op == "tags":
        tags.toggle(rng.choice(cats))
    elif op == "undo" and stack.canUndo() and stack.command(stack.index() - 1).image_ids == {im.id}:
        stack.undo()
    elif op == "redo" and stack.canRedo() and stack.command(stack.index()).image_ids == {im.id}:
        stack.redo()


def main() -> None:
    path, seed = sys.argv[1], int(sys.argv[2])
    app = QApplication([])  # noqa: F841 - needed by the widgets
    store = ProjectStore.open(path)
    stack = QUndoStack()
    canvas = AnnotationCanvas(store, stack)
    canvas.resize(300, 300)
    tags = ImageTagsWidget(store, stack)
    rng = random.Random(seed)
    images = store.images()
    cats = [c.id for c in store.categories()]
    k = 0
    while True:
        if k % 25 == 0:  # next image; undo history stays (commands name their images)
            im = images[(k // 25) % len(images)]
            canvas.show_image(im)
            tags.set_image(im.id)
        im = canvas.image
        print(f"begin {k} {im.id}", flush=True)
        edit(canvas, tags, stack, rng, cats)
        print(f"done {k} {im.id} {json.dumps(snapshot(store, im.id))}", flush=True)
        k += 1


if __name__ == "__main__":
    main()
