"""The Dataset health panel on real data: 24 hymenoptera photos (12 ants, 12 bees) with
one injected label flip, an exact copy in the same split (duplicate) and a resized,
recompressed copy in another split (leak); features from the real ImageNet lite0
weights, computed once per module (the cache beside the project), so each test's search
takes about a second. The real MainWindow, real store, real undo stack."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from PIL import Image
from PySide6.QtCore import QPointF, Qt

from _eval_fixtures import LITE0, shared_data
from vision_studio.core.health import find_issues
from vision_studio.core.io.imagefolder import read_imagefolder
from vision_studio.core.store import ProjectStore
from vision_studio.core.types import ImageRecord
from vision_studio.gui.panels.health.commands import DISMISSED_SETTING
from vision_studio.gui.panels.health.map_view import points_in_polygon

import numpy as np

PER_CLASS = 12
FLIPPED = "data/bees/1297972485_33266a18d9.jpg"  # a bee, relabelled ants
SEARCH_MS = 120_000


@pytest.fixture(scope="module")
def base_project(tmp_path_factory) -> Path:
    """The project (features cached once); tests work on copies of it."""
    src = shared_data("hymenoptera") / "val"
    if not LITE0.is_file():
        pytest.skip(f"needs the shared weights {LITE0}")
    tmp = tmp_path_factory.mktemp("health_gui")
    for cls in ("ants", "bees"):
        (tmp / "data" / cls).mkdir(parents=True)
        for f in sorted((src / cls).glob("*.jpg"))[:PER_CLASS]:
            shutil.copyfile(f, tmp / "data" / cls / f.name)
    ant = sorted((tmp / "data" / "ants").glob("*.jpg"))[0]
    bee = sorted((tmp / "data" / "bees").glob("*.jpg"))[1]
    shutil.copyfile(ant, tmp / "ant_copy.jpg")
    with Image.open(bee) as im:
        im.convert("RGB").resize((int(im.width * 0.7), int(im.height * 0.7))).save(
            tmp / "bee_small.jpg", quality=75)
    path = tmp / "h.vsproj"
    with ProjectStore.create(path, root=tmp) as store:
        read_imagefolder(store, tmp / "data", split="val")
        cats = {c.name: c.id for c in store.categories()}
        for name, split, cls in (("ant_copy.jpg", "val", "ants"), ("bee_small.jpg", "train", "bees")):
            w, h = Image.open(tmp / name).size
            rec = store.add_image(ImageRecord(path=name, width=w, height=h, split=split))
            store.set_image_tags(rec.id, [cats[cls]])
        flipped = store.image_by_path(FLIPPED)
        store.set_image_tags(flipped.id, [cats["ants"]])
        store.set_setting("test_pairs", {"dup": [ant.relative_to(tmp).as_posix(), "ant_copy.jpg"],
                                         "leak": [bee.relative_to(tmp).as_posix(), "bee_small.jpg"]})
        find_issues(store, weights=LITE0)  # fills <project>.health/ once for the module
    return path


@pytest.fixture
def project(base_project: Path, request) -> Path:
    """A fresh copy of the project and its feature cache, beside it (same root)."""
    name = request.node.name.replace("[", "_").replace("]", "")
    dst = base_project.with_name(f"{name}.vsproj")
    shutil.copyfile(base_project, dst)
    shutil.copytree(base_project.with_name("h.vsproj.health"), dst.with_name(dst.name + ".health"))
    return dst


@pytest.fixture
def health(main_window, project, qtbot):
    """The main window on ``project``, Health tab shown, a search done."""
    assert main_window.open_project(project)
    main_window.show_panel("health")
    panel = main_window.health
    panel.set_weights(LITE0)
    panel.options = type(panel.options)(**{**panel.options.__dict__, "map_method": "pca"})
    qtbot.mouseClick(panel.find_button, Qt.MouseButton.LeftButton)
    assert panel.busy()
    qtbot.waitUntil(lambda: not panel.busy(), timeout=SEARCH_MS)
    assert panel.result is not None, panel.status.text()
    return panel


def _select(panel, pred) -> object:
    """Select the first listed issue for which ``pred(issue)`` holds; return it."""
    for row, issue in enumerate(panel.model.issues):
        if pred(issue):
            panel.table.selectRow(row)
            panel.table.setFocus()
            assert panel.current_issue() == issue
            return issue
    raise AssertionError(f"no such issue in {[(i.kind, i.file_name) for i in panel.model.issues]}")


def test_flip_listed_accept_and_undo(health, main_window, qtbot) -> None:
    store = main_window.state.store
    cats = {c.name: c.id for c in store.categories()}
    scores = [i.score for i in health.model.issues]
    assert scores == sorted(scores, reverse=True), "not worst first"
    issue = _select(health, lambda i: i.kind == "label" and i.file_name == FLIPPED)
    assert (issue.given, issue.suggested) == ("ants", "bees")
    assert health.detail.buttons["accept"].isVisible()
    image_id = issue.image_id
    qtbot.keyClick(health.table, Qt.Key.Key_A)
    assert store.image_tags(image_id) == (cats["bees"],)
    with ProjectStore.open(store.path, readonly=True) as other:  # saved at once
        assert other.image_tags(image_id) == (cats["bees"],)
    assert FLIPPED not in [i.file_name for i in health.model.issues if i.kind == "label"]
    main_window.state.undo_stack.undo()
    assert store.image_tags(image_id) == (cats["ants"],)
    assert FLIPPED in [i.file_name for i in health.model.issues if i.kind == "label"]


def test_keep_is_remembered_and_undoable(health, main_window, qtbot) -> None:
    store = main_window.state.store
    issue = _select(health, lambda i: i.kind == "label")
    n = len(health.model.issues)
    qtbot.keyClick(health.table, Qt.Key.Key_K)
    assert len(health.model.issues) == n - 1 and issue not in health.model.issues
    assert len(store.get_setting(DISMISSED_SETTING)) == 1
    qtbot.mouseClick(health.find_button, Qt.MouseButton.LeftButton)  # a new search
    qtbot.waitUntil(lambda: not health.busy(), timeout=SEARCH_MS)
    assert issue not in health.model.issues and len(health.model.issues) == n - 1
    main_window.state.undo_stack.undo()
    assert store.get_setting(DISMISSED_SETTING) == []
    assert issue in health.model.issues


def test_duplicate_pair_remove_and_undo(health, main_window, qtbot) -> None:
    store = main_window.state.store
    pair = set(store.get_setting("test_pairs")["dup"])
    issue = _select(health, lambda i: i.kind == "duplicate" and {i.file_name, i.other_file_name} == pair)
    assert health.detail.right.isVisible() and health.detail.buttons["remove"].isVisible()
    assert not health.detail.left.picture.pixmap().isNull()
    assert not health.detail.right.picture.pixmap().isNull()
    count = store.image_count()
    qtbot.keyClick(health.table, Qt.Key.Key_Delete)
    assert store.image_count() == count - 1 and store.image_by_path(issue.file_name) is None
    assert issue not in health.model.issues
    main_window.state.undo_stack.undo()
    assert store.image_count() == count
    assert store.image_by_path(issue.file_name).id == issue.image_id
    assert issue in health.model.issues


def test_leak_moved_to_twins_split_and_undo(health, main_window, qtbot) -> None:
    store = main_window.state.store
    pair = set(store.get_setting("test_pairs")["leak"])
    issue = _select(health, lambda i: i.kind == "leak" and {i.file_name, i.other_file_name} == pair)
    before = store.image(issue.image_id).split
    twin = store.image(issue.other_image_id).split
    assert before != twin
    qtbot.keyClick(health.table, Qt.Key.Key_M)
    assert store.image(issue.image_id).split == twin
    assert issue not in health.model.issues
    main_window.state.undo_stack.undo()
    assert store.image(issue.image_id).split == before
    assert issue in health.model.issues
    _select(health, lambda i: i == issue)
    with qtbot.waitSignal(health.openInAnnotate, timeout=2000) as sig:
        qtbot.keyClick(health.table, Qt.Key.Key_Return)
    assert sig.args == [issue.image_id]
    qtbot.waitUntil(lambda: main_window.state.current_image is not None
                    and main_window.state.current_image.id == issue.image_id, timeout=5000)


def test_map_points_click_opens_in_annotate(health, main_window, qtbot) -> None:
    store = main_window.state.store
    health.pages.setCurrentWidget(health.map)
    m = health.map
    assert m.point_count() == store.image_count() == len(m.image_ids)
    for mode in ("split", "label quality", "label"):
        m.colour_by.setCurrentText(mode)
        assert m.point_count() == store.image_count()
    qtbot.wait(50)
    row = 5
    tip = m.scatter.opts["tip"](x=0.0, y=0.0, data=row)  # what hovering the point shows
    assert tip.startswith(m.paths[row]) and m.paths[row] == store.image(int(m.image_ids[row])).path
    x, y = m.xy[row]
    others = np.delete(m.xy, row, axis=0)
    assert np.min(np.hypot(*(others - m.xy[row]).T)) > 0  # an unambiguous point
    scene = m.view.mapViewToScene(QPointF(float(x), float(y)))
    pos = m.plot.mapFromScene(scene)
    qtbot.mouseClick(m.plot.viewport(), Qt.MouseButton.LeftButton, pos=pos)
    assert m.selected and m.chosen.count() >= 1
    chosen = int(m.chosen.item(0).data(Qt.ItemDataRole.UserRole))
    assert chosen in {int(i) for i in m.image_ids}
    with qtbot.waitSignal(health.openInAnnotate, timeout=2000) as sig:
        qtbot.mouseClick(m.open_button, Qt.MouseButton.LeftButton)
    assert sig.args == [chosen]
    assert main_window.tabs.currentWidget() is main_window.annotate
    qtbot.waitUntil(lambda: main_window.state.current_image is not None
                    and main_window.state.current_image.id == chosen, timeout=5000)


def test_lasso_selects_the_points_inside(health) -> None:
    m = health.map
    lo, hi = m.xy.min(axis=0), m.xy.max(axis=0)
    mid = (lo + hi) / 2
    left_half = np.array([[lo[0] - 1, lo[1] - 1], [mid[0], lo[1] - 1], [mid[0], hi[1] + 1],
                          [lo[0] - 1, hi[1] + 1]])
    m.view.lassoFinished.emit(left_half)
    expected = sorted(np.flatnonzero(m.xy[:, 0] < mid[0]).tolist())
    assert sorted(m.selected) == expected and m.chosen.count() == len(expected) > 0


def test_points_in_polygon_even_odd() -> None:
    square = np.array([[0, 0], [2, 0], [2, 2], [0, 2]], float)
    pts = np.array([[1, 1], [3, 1], [-0.5, 1], [1, 2.5], [1.9, 0.1]])
    assert points_in_polygon(pts, square).tolist() == [True, False, False, False, True]


def test_cancel_stops_the_search(main_window, project, qtbot) -> None:
    assert main_window.open_project(project)
    panel = main_window.health
    panel.set_weights(LITE0)
    assert panel.find_problems()
    panel.cancel()
    qtbot.waitUntil(lambda: not panel.busy(), timeout=SEARCH_MS)
    assert panel.result is None and panel.status.text() == "Cancelled."
    assert panel.find_button.isEnabled()


def test_bad_input_is_a_dialog_not_a_crash(main_window, tmp_path, qtbot) -> None:
    from PySide6.QtWidgets import QMessageBox

    panel = main_window.health
    assert not panel.find_problems() and panel.status.text() == "Open a project first."
    empty = tmp_path / "empty.vsproj"
    ProjectStore.create(empty).close()
    assert main_window.open_project(empty)
    assert panel.find_problems()
    qtbot.waitUntil(lambda: not panel.busy(), timeout=SEARCH_MS)
    assert panel.result is None and "no images" in panel.status.text()
    boxes = [b for b in panel.findChildren(QMessageBox) if b.isVisible()]
    assert len(boxes) == 1 and "no images" in boxes[0].text()
    assert panel.find_button.isEnabled()


@pytest.mark.slow  # numba compiles UMAP on first use: ~70 s here
def test_umap_map_follows_the_pca_map(main_window, project, qtbot) -> None:
    assert main_window.open_project(project)
    panel = main_window.health
    panel.set_weights(LITE0)
    assert panel.options.map_method == "auto"
    pca = []
    assert panel.find_problems()
    panel.worker.done.connect(lambda r: pca.append(r.map_method))
    qtbot.waitUntil(lambda: not panel.busy(), timeout=600_000)
    assert pca == ["pca"] and panel.map.info.text().endswith("UMAP")
    assert panel.map.point_count() == main_window.state.store.image_count()
    assert not np.allclose(panel.map.xy, panel.result.xy)  # the UMAP layout replaced PCA's


def test_map_child_reports_errors_and_cancels() -> None:
    import time

    from vision_studio.core.errors import VisionStudioError
    from vision_studio.gui.panels.health.map_process import MapCancelled, embed_2d_in_child

    x = np.random.default_rng(0).normal(size=(8, 16)).astype(np.float32)
    xy, method = embed_2d_in_child(x, "pca")
    assert method == "pca" and xy.shape == (8, 2)
    with pytest.raises(VisionStudioError, match="unknown map method"):
        embed_2d_in_child(x, "tsne")
    t0 = time.monotonic()
    with pytest.raises(MapCancelled):
        embed_2d_in_child(x, "pca", cancelled=lambda: time.monotonic() - t0 > 0.05, poll_s=0.01)
