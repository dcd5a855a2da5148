"""A tiny classification project with a trained checkpoint and some unlabelled images,
for the model-assistance tests (pre-labelling, Label next; issue 14). Imported by them
(``tests/gui`` is on ``sys.path`` under pytest)."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QPointF, Qt

from _eval_fixtures import train_tiny
from _train_fixtures import make_cls_project
from vision_studio.core.store import ProjectStore


def cls_project_with_run(tmp_path: Path, make_images, unlabelled: int = 5) -> tuple[Path, Path, list[int]]:
    """16 real PNGs tagged red / blue, a checkpoint of mobilenet_v3_small trained 2 steps
    on them (random start: real but poor), then the last ``unlabelled`` images lose their
    tags. Returns ``(project, checkpoint, unlabelled image ids)``."""
    project = make_cls_project(tmp_path, make_images)
    ckpt = train_tiny(project, tmp_path / "run", "classification", "mobilenet_v3_small",
                      image_size=32, steps=2, batch_size=4)
    with ProjectStore.open(project) as s:
        unl = [im.id for im in s.images()[-unlabelled:]]
        for i in unl:
            s.set_image_tags(i, ())
    return project, ckpt, unl


def drag(qtbot, canvas, a, b, button=Qt.MouseButton.LeftButton,
         mods=Qt.KeyboardModifier.NoModifier, steps: int = 4) -> None:
    """Press ``button`` at image point ``a`` of the canvas, move in ``steps``, release at ``b``."""
    v = canvas.viewport()
    qtbot.mousePress(v, button, mods, canvas.mapFromScene(QPointF(*a)))
    for k in range(1, steps + 1):
        t = k / steps
        qtbot.mouseMove(v, canvas.mapFromScene(QPointF(a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1]))))
    qtbot.mouseRelease(v, button, mods, canvas.mapFromScene(QPointF(*b)))
