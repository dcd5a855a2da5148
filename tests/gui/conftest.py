"""GUI test set-up: offscreen Qt before any QApplication, QSettings and the per-user data
folder redirected to ``tmp_path``, and small generated projects with real image files."""
from __future__ import annotations

import json
import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402


@pytest.fixture(autouse=True)
def _isolated_settings(tmp_path_factory, monkeypatch):
    """QSettings (recent projects, window layout) and ``user_data_dir()`` in a temp folder,
    never the developer's real ones."""
    from PySide6.QtCore import QSettings

    root = tmp_path_factory.mktemp("settings")
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(root / "qsettings"))
    QSettings.setPath(QSettings.Format.NativeFormat, QSettings.Scope.UserScope, str(root / "qsettings"))
    monkeypatch.setenv("VISION_STUDIO_HOME", str(root / "home"))
    yield root


def write_images(folder: Path, n: int, size: tuple[int, int] = (64, 48)) -> list[Path]:
    """``n`` small real PNG files ``img_000.png`` … with distinct flat colours."""
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        arr = np.zeros((size[1], size[0], 3), np.uint8)
        arr[..., 0] = (37 * i) % 256
        arr[..., 1] = (91 * i) % 256
        arr[8:20, 10:30] = 255  # a white block, to see boxes on
        path = folder / f"img_{i:03d}.png"
        Image.fromarray(arr).save(path)
        out.append(path)
    return out


@pytest.fixture
def make_images():
    """The :func:`write_images` helper, for tests (tests/ is not a package)."""
    return write_images


@pytest.fixture
def small_project(tmp_path):
    """A project of 6 real 64×48 PNGs: splits train ×4 / val ×2; categories cat, dog, bird;
    images 1–2 with boxes, image 3 tagged "dog", image 6 with a recorded problem.

    Returns the project file path (the store is closed).
    """
    from vision_studio.core.store import ProjectStore
    from vision_studio.core.types import Annotation, ImageRecord, Problem

    files = write_images(tmp_path / "images", 6)
    path = tmp_path / "small.vsproj"
    with ProjectStore.create(path) as store:
        cat, dog, bird = store.add_categories([("cat", None, ""), ("dog", None, ""), ("bird", None, "")])
        ims = store.add_images(ImageRecord(path=f"images/{f.name}", width=64, height=48,
                                           split="train" if i < 4 else "val")
                               for i, f in enumerate(files))
        store.add_annotations([
            Annotation(image_id=ims[0].id, category_id=cat.id, bbox=(10, 8, 20, 12)),
            Annotation(image_id=ims[0].id, category_id=dog.id, bbox=(30, 20, 10, 10)),
            Annotation(image_id=ims[1].id, category_id=cat.id, bbox=(5, 5, 10, 10),
                       polygons=((5, 5, 15, 5, 15, 15, 5, 15),)),
        ])
        store.add_image_tags([(ims[2].id, dog.id)])
        store.add_problems([Problem(source=f"images/{files[5].name}", image_id=ims[5].id,
                                    kind="bbox_outside", message="box 9 lies outside the image")])
    return path


@pytest.fixture
def coco_dir(tmp_path, make_images):
    """A COCO file over 3 real PNGs plus one missing image and one box outside its image."""
    folder = tmp_path / "coco"
    make_images(folder, 3)
    images = [{"id": i + 1, "file_name": f"img_{i:03d}.png", "width": 64, "height": 48} for i in range(3)]
    images.append({"id": 4, "file_name": "gone.png", "width": 64, "height": 48})
    anns = [
        {"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 8, 20, 12], "area": 240, "iscrowd": 0},
        {"id": 2, "image_id": 2, "category_id": 2, "bbox": [4, 4, 10, 10], "area": 100, "iscrowd": 0,
         "segmentation": [[4, 4, 14, 4, 14, 14, 4, 14]]},
        {"id": 3, "image_id": 3, "category_id": 1, "bbox": [200, 200, 5, 5], "area": 25, "iscrowd": 0},
        {"id": 4, "image_id": 4, "category_id": 1, "bbox": [1, 1, 5, 5], "area": 25, "iscrowd": 0},
    ]
    cats = [{"id": 0, "name": "cells", "supercategory": "none"},
            {"id": 1, "name": "rbc", "supercategory": "cells"},
            {"id": 2, "name": "wbc", "supercategory": "cells"}]
    (folder / "ann.json").write_text(json.dumps({"images": images, "annotations": anns, "categories": cats}))
    return folder


@pytest.fixture
def main_window(qtbot):
    """A shown :class:`MainWindow` (shut down after the test: threads stopped, project closed)."""
    from vision_studio.gui.main_window import MainWindow

    win = MainWindow()
    qtbot.addWidget(win)
    win.resize(1200, 800)
    win.show()
    qtbot.waitExposed(win)
    yield win
    win.shutdown()
