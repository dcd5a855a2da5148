"""Undo commands over the project store: each redo/undo is committed to the file at once.

The file is read back through a second connection (``ProjectStore.open``) after every
step, so what is checked is what survives a crash.
"""
from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402
from pycocotools import mask as mask_utils  # noqa: E402
from PySide6.QtGui import QUndoStack  # noqa: E402

from vision_studio.core.store import ProjectStore  # noqa: E402
from vision_studio.core.types import Annotation, ImageRecord, Problem  # noqa: E402
from vision_studio.gui import undo  # noqa: E402


@pytest.fixture
def stack(qapp):
    s = QUndoStack()
    yield s
    s.clear()


@pytest.fixture
def project(new_store):
    s = new_store
    a, b = s.add_image(ImageRecord(path="a.png", width=100, height=80)), \
        s.add_image(ImageRecord(path="b.png", width=100, height=80))
    cell, blob = s.add_category("cell"), s.add_category("blob")
    s.add_category("dot")  # a category no annotation uses
    s.add_annotations([
        Annotation(image_id=a.id, category_id=cell.id, bbox=(1, 2, 10, 20)),
        Annotation(image_id=a.id, category_id=blob.id, bbox=(30, 30, 20, 20),
                   polygons=((30, 30, 50, 30, 50, 50, 30, 50),)),
        Annotation(image_id=b.id, category_id=blob.id, bbox=(5, 5, 5, 5)),
    ])
    s.set_image_tags(a.id, [cell.id])
    s.set_image_tags(b.id, [blob.id])
    return s


def snapshot(store: ProjectStore) -> tuple:
    """Everything an edit can change, read from the file by another connection."""
    with ProjectStore.open(store.path) as o:
        return (o.categories(), o.annotations(), o.all_image_tags())


def check_undo_redo(stack, store, cmd) -> tuple[tuple, tuple]:
    """Push ``cmd``, then undo and redo twice, comparing file snapshots."""
    before = snapshot(store)
    stack.push(cmd)
    assert not cmd.error
    after = snapshot(store)
    assert after != before
    for _ in range(2):
        stack.undo()
        assert snapshot(store) == before
        stack.redo()
        assert snapshot(store) == after
    return before, after


def coco_polygon_area(polys, h=200, w=200):
    """What pycocotools gives for polygons on an h x w image (an imported COCO area)."""
    return float(mask_utils.area(mask_utils.merge(mask_utils.frPyObjects(polys, h, w))))


def test_with_geometry_keeps_bbox_equal_to_polygon_extent():
    a = Annotation(image_id=1, category_id=1, bbox=(0, 0, 1, 1), area=1.0)
    b = undo.with_geometry(a, polygons=[[10, 20, 40, 20, 30, 60]])
    assert b.bbox == (10, 20, 30, 40) and b.area == coco_polygon_area([[10, 20, 40, 20, 30, 60]])
    c = undo.with_geometry(a, bbox=(1, 2, 3, 4))
    assert c.bbox == (1, 2, 3, 4) and c.polygons == () and c.area == 12.0
    with pytest.raises(ValueError):
        undo.with_geometry(a)


def test_add_and_delete_annotations_keep_ids(stack, project):
    image = project.images()[0]
    cmd = undo.AddAnnotationsCommand(project, [Annotation(image_id=image.id, category_id=1, bbox=(0, 0, 4, 4))])
    check_undo_redo(stack, project, cmd)
    assert cmd.ids and project.annotation(cmd.ids[0]).area == 16.0
    ids = [a.id for a in project.annotations(image.id)]
    _, after = check_undo_redo(stack, project, undo.DeleteAnnotationsCommand(project, ids))
    assert project.annotations(image.id) == []
    stack.undo()
    assert [a.id for a in project.annotations(image.id)] == ids


def test_geometry_commands_recompute_bbox_and_area(stack, project):
    poly = project.annotations(category_id=2)[0]
    cmd = undo.MoveVertexCommand(project, poly, 0, 2, 70, 75)
    check_undo_redo(stack, project, cmd)
    moved = project.annotation(poly.id)
    assert moved.bbox == (30, 30, 40, 45)
    # COCO's area of a polygon: its rasterised pixel count, as for an imported one
    assert moved.area == coco_polygon_area([[30, 30, 50, 30, 70, 75, 30, 50]])
    check_undo_redo(stack, project, undo.InsertVertexCommand(project, moved, 0, 1, 40, 25))
    assert project.annotation(poly.id).polygons[0][:6] == (30, 30, 40, 25, 50, 30)
    check_undo_redo(stack, project, undo.DeleteVertexCommand(project, project.annotation(poly.id), 0, 1))
    tri = project.annotation(poly.id)
    tri = undo.with_geometry(tri, polygons=[tri.polygons[0][:6]])
    project.update_annotation(tri)
    with pytest.raises(ValueError):
        undo.DeleteVertexCommand(project, project.annotation(poly.id), 0, 0)
    box = project.annotations(category_id=1)[0]
    check_undo_redo(stack, project, undo.MoveResizeBoxCommand(project, box, (2, 3, 30, 40)))
    assert project.annotation(box.id).area == 1200.0
    check_undo_redo(stack, project, undo.MoveShapesCommand(project, [project.annotation(box.id),
                                                                     project.annotation(poly.id)], 5, -1))
    assert project.annotation(box.id).bbox == (7, 2, 30, 40)


def test_change_category_and_tags(stack, project):
    anns = project.annotations(project.images()[0].id)
    check_undo_redo(stack, project, undo.ChangeCategoryCommand(project, anns, 3))
    assert {a.category_id for a in project.annotations(project.images()[0].id)} == {3}
    image = project.images()[1]
    check_undo_redo(stack, project, undo.SetImageTagsCommand(project, image.id, [1, 3]))
    assert project.image_tags(image.id) == (1, 3)


def test_category_commands(stack, project):
    add = undo.AddCategoryCommand(project, "new", "#123456")
    check_undo_redo(stack, project, add)
    assert project.category(add.category.id).name == "new"
    check_undo_redo(stack, project, undo.RenameCategoryCommand(project, 1, "red cell"))
    assert project.category(1).name == "red cell"
    check_undo_redo(stack, project, undo.RecolourCategoryCommand(project, 1, "#00ff00"))
    assert project.category(1).color == "#00ff00"
    merge = undo.MergeCategoriesCommand(project, [2, 3], 1)
    before, _ = check_undo_redo(stack, project, merge)
    assert [c.id for c in project.categories()] == [1, add.category.id]
    assert {a.category_id for a in project.annotations()} == {1}
    assert merge.image_ids == {im.id for im in project.images()}
    stack.undo()
    assert snapshot(project) == before  # categories, annotation categories and tags restored
    stack.redo()
    delete = undo.DeleteCategoryCommand(project, 1)
    check_undo_redo(stack, project, delete)
    assert project.annotations() == [] and project.all_image_tags() == {}


def test_failed_command_reports_and_leaves_the_file_unchanged(stack, project):
    ann = project.annotations()[0]
    bad = undo.MoveResizeBoxCommand(project, ann, (0, 0, 10, 0))  # zero height
    before = snapshot(project)
    stack.push(bad)
    assert "Move/resize box failed" in bad.error and "positive width" in bad.error
    assert snapshot(project) == before
    assert stack.count() == 0  # obsolete: dropped from the stack


def test_long_history_is_unbounded(stack, project):
    box = project.annotations(category_id=1)[0]
    for i in range(150):
        stack.push(undo.MoveResizeBoxCommand(project, project.annotation(box.id), (i, 0, 5, 5)))
    assert stack.count() == 150 and stack.undoLimit() == 0
    while stack.canUndo():
        stack.undo()
    assert project.annotation(box.id) == box


def test_remove_images_and_undo_restores_every_row(stack, project):
    image = project.images()[0]
    ann_ids = [a.id for a in project.annotations(image.id)]
    assert ann_ids, "the fixture's first image has shapes"
    project.add_problems([Problem(source=image.path, message="odd", image_id=image.id)])
    check_undo_redo(stack, project, undo.RemoveImagesCommand(project, [image.id]))
    assert image.id not in [im.id for im in project.images()]
    assert project.annotations(image.id) == [] and project.problems(image.id) == []
    stack.undo()
    assert project.images()[0] == image and [a.id for a in project.annotations(image.id)] == ann_ids
    assert [p.message for p in project.problems(image.id)] == ["odd"]
    assert project.image_tags(image.id) == (project.categories()[0].id,)  # the fixture's tag
