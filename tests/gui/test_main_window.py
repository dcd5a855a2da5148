"""The main window driven with keys and the mouse (offscreen): open projects (good and
bad), the welcome page (demo, new project from a folder), next/previous with D/A, tools
with W/P, categories with 1–9, undo/redo keys, menus, shortcut sheet, screenshots."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QLabel, QMessageBox

from vision_studio.core.store import ProjectStore
from vision_studio.gui import settings
from vision_studio.gui.dialogs.help import shortcut_rows

LEFT, NOMOD = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier


def key(qtbot, win, k, mods=NOMOD):
    """A key press sent to the focused widget of the window, as a user types it."""
    win.activateWindow()
    qtbot.keyClick(win.annotate.canvas, k, mods)


def drag_box(qtbot, canvas, a, b):
    v = canvas.viewport()
    qtbot.mousePress(v, LEFT, NOMOD, canvas.mapFromScene(QPointF(*a)))
    for t in (0.25, 0.5, 0.75, 1.0):
        p = QPointF(a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1]))
        qtbot.mouseMove(v, canvas.mapFromScene(p))
    qtbot.mouseRelease(v, LEFT, NOMOD, canvas.mapFromScene(QPointF(*b)))


def stored(path: Path):
    with ProjectStore.open(path) as s:
        return [(a.image_id, a.category_id, tuple(round(v) for v in a.bbox)) for a in s.annotations()]


def test_open_project_shows_the_four_tabs_and_is_remembered(main_window, small_project):
    win = main_window
    assert win.stack.currentWidget() is win.welcome
    assert not win.actions["export"].isEnabled()
    assert win.open_project(small_project)
    assert win.stack.currentWidget() is win.tabs
    assert [win.tabs.tabText(i) for i in range(4)] == ["Annotate", "Model", "Training", "Evaluate"]
    assert win.tabs.widget(3) is win.evaluate and win.tabs.findChild(QLabel, "placeholder_evaluate") is None
    assert win.tabs.widget(1) is win.model_panel and win.tabs.widget(2) is win.monitor
    assert win.annotate.filters.count.text() == "6 images"
    assert win.state.current_image.path == "images/img_000.png"
    assert win.actions["export"].isEnabled()
    assert settings.recent_projects() == [small_project.resolve()]
    win.close_project()
    assert win.stack.currentWidget() is win.welcome and win.state.store is None
    assert win.welcome.recent.count() == 1


def test_bad_project_file_is_reported_not_crashing(main_window, tmp_path, monkeypatch):
    bad = tmp_path / "notes.vsproj"
    bad.write_text("this is not sqlite")
    shown = []
    monkeypatch.setattr(QMessageBox, "warning", lambda *a, **k: shown.append(a[2]))
    assert not main_window.open_project(bad)
    assert not main_window.open_project(tmp_path / "missing.vsproj")
    assert len(shown) == 2 and str(bad) in shown[0] and "not a Vision Studio project" in shown[0]
    assert "missing.vsproj" in shown[1]
    assert main_window.stack.currentWidget() is main_window.welcome


def test_keyboard_next_previous_tools_category_undo_redo(main_window, small_project, qtbot):
    win = main_window
    win.open_project(small_project)
    canvas = win.annotate.canvas
    paths = []
    win.state.currentImageChanged.connect(lambda im: paths.append(im.path))
    key(qtbot, win, Qt.Key.Key_D)
    key(qtbot, win, Qt.Key.Key_D)
    key(qtbot, win, Qt.Key.Key_A)
    assert paths == ["images/img_001.png", "images/img_002.png", "images/img_001.png"]
    assert canvas.image.path == "images/img_001.png"
    key(qtbot, win, Qt.Key.Key_P)
    assert canvas.tool == "polygon" and win.annotate.actions["polygon"].isChecked()
    key(qtbot, win, Qt.Key.Key_W)
    assert canvas.tool == "box"
    key(qtbot, win, Qt.Key.Key_3)  # third category: bird
    bird = win.annotate.categories.categories()[2]
    assert win.annotate.categories.current_category_id() == bird.id
    before = stored(small_project)
    image_id = canvas.image.id
    drag_box(qtbot, canvas, (20, 10), (50, 40))
    after = stored(small_project)
    assert after == before + [(image_id, bird.id, (20, 10, 30, 30))]
    assert win.annotate.categories.tree.topLevelItem(2).text(1) == "1"  # bird count follows
    key(qtbot, win, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert stored(small_project) == before
    key(qtbot, win, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert stored(small_project) == after
    key(qtbot, win, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    key(qtbot, win, Qt.Key.Key_Y, Qt.KeyboardModifier.ControlModifier)
    assert stored(small_project) == after
    fit = min(canvas.viewport().width() / 64, canvas.viewport().height() / 48)
    canvas.zoom_by(3.0)
    assert canvas.zoom() > 2 * fit
    key(qtbot, win, Qt.Key.Key_F)
    assert abs(canvas.zoom() / fit - 1) < 0.02  # fitInView keeps a 2-pixel margin


def test_problem_click_jumps_to_image_even_when_filtered(main_window, small_project):
    win = main_window
    win.open_project(small_project)
    win.annotate.filters.split.setCurrentIndex(win.annotate.filters.split.findData("train"))
    assert win.annotate.model.rowCount() == 4
    target = [i for i in win.annotate.model.image_ids()][0] + 5  # img_005 is in val
    dlg = win.show_problems()
    item = dlg.view.problems.topLevelItem(0)
    assert dlg.view.problems.topLevelItemCount() == 1 and item.text(1) == "box 9 lies outside the image"
    dlg.view.problems.itemActivated.emit(item, 0)
    assert win.state.current_image.id == target
    assert win.annotate.problems.current_image_problems() == ["box 9 lies outside the image"]
    dlg.close()


def test_menus_and_shortcut_sheet_list_every_key(main_window):
    rows = shortcut_rows(main_window.menuBar())
    keys = {r[1] for r in rows}
    for k in ("D", "A", "W", "P", "Del", "F", "1", "9", "Ctrl+Z", "Ctrl+Shift+Z, Ctrl+Y",
              "Ctrl+O", "Ctrl+I", "Ctrl+E", "F1"):
        assert k in keys, k
    for act in main_window.annotate.actions.values():
        assert act.toolTip() and "(" in act.toolTip()  # tooltips name the key
    from PySide6.QtWidgets import QMenu

    menus = [a.menu() for a in main_window.menuBar().actions() if isinstance(a.menu(), QMenu)]
    assert len(menus) == 5 and all(m.toolTipsVisible() for m in menus)
    dlg = main_window.show_shortcuts()
    assert dlg.table.rowCount() == len(rows) + 7
    dlg.close()


def test_welcome_demo_in_one_click_and_new_project_from_folder(main_window, qtbot, tmp_path, make_images):
    win = main_window
    with qtbot.waitSignal(win.state.projectOpened, timeout=60000):
        win.welcome.demo_button.click()
    assert win.state.store.path.name == "demo.vsproj" and win.annotate.model.rowCount() > 10
    folder = tmp_path / "photos"
    make_images(folder / "sub", 3)
    (folder / "broken.jpg").write_bytes(b"\xff\xd8 not really")
    with qtbot.waitSignal(win.state.projectOpened, timeout=30000):
        win.welcome.new_project(folder, tmp_path / "photos.vsproj")
    store = win.state.store
    assert store.path == tmp_path / "photos.vsproj" and store.image_count() == 3
    assert [p.kind for p in store.problems()] == ["decode_error"]
    assert "broken.jpg" in store.problems()[0].source


def test_close_saves_layout_and_next_window_restores_it(main_window, qtbot):
    from vision_studio.gui.main_window import MainWindow

    main_window.annotate.splitter.setSizes([200, 700, 300])
    sizes = main_window.annotate.splitter.sizes()
    main_window.close()
    geometry, _state = settings.window_geometry()
    assert geometry is not None and len(geometry) > 0
    again = MainWindow()
    qtbot.addWidget(again)
    again.show()
    assert again.annotate.splitter.sizes() == sizes
    again.shutdown()


def test_screenshot_command_writes_png(small_project, tmp_path, qtbot):
    from vision_studio.cli import main

    out = tmp_path / "shot.png"
    assert main(["screenshot", "--project", str(small_project), "--panel", "annotate",
                 "--out", str(out), "--size", "1100x700", "--image", "2"]) == 0
    img = QImage(str(out))
    assert (img.width(), img.height()) == (1100, 700)
    assert main(["screenshot", "--project", str(tmp_path / "nope.vsproj"), "--out", str(out)]) == 1


def test_import_menu_refreshes_panels_and_problem_click_shows_image(main_window, small_project,
                                                                   coco_dir, qtbot):
    win = main_window
    win.open_project(small_project)
    dlg = win.show_import()
    dlg.set_format("coco")
    dlg.set_value("json", str(coco_dir / "ann.json"))
    with qtbot.waitSignal(dlg.imported, timeout=20000):
        dlg.start()
    qtbot.waitUntil(dlg.import_button.isEnabled, timeout=5000)
    assert win.annotate.filters.count.text() == "9 images"  # 6 + 3 imported
    names = [c.name for c in win.annotate.categories.categories()]
    assert names[:3] == ["cat", "dog", "bird"] and {"rbc", "wbc"} <= set(names)
    problems = dlg.report_view.problems
    item = next(problems.topLevelItem(i) for i in range(problems.topLevelItemCount())
                if problems.topLevelItem(i).data(0, Qt.ItemDataRole.UserRole) not in (None, 6))
    win.annotate.filters.status.setCurrentIndex(1)  # "Labelled": the target may be hidden
    problems.itemActivated.emit(item, 0)
    assert win.state.current_image.id == item.data(0, Qt.ItemDataRole.UserRole)
    assert win.state.current_image.path.endswith("img_002.png")  # its box lies outside
    assert win.tabs.currentWidget() is win.annotate
    dlg.close()


def test_welcome_opens_a_shared_dataset_in_one_click(main_window, qtbot, data_dir):
    folder = data_dir("labelme")
    win = main_window
    names = [win.welcome.datasets.item(i).data(Qt.ItemDataRole.UserRole)
             for i in range(win.welcome.datasets.count())]
    assert "labelme" in names and "rbc_coco" in names
    win.welcome.datasets.setCurrentRow(names.index("labelme"))
    with qtbot.waitSignal(win.state.projectOpened, timeout=60000):
        win.welcome.dataset_button.click()
    store = win.state.store
    assert store.root == folder.resolve() and store.image_count() == 3
    assert store.annotation_count() > 0 and win.annotate.canvas.image is not None


def test_missing_and_corrupt_images_are_reported_while_browsing(main_window, small_project, qtbot):
    folder = small_project.parent / "images"
    (folder / "img_001.png").unlink()
    (folder / "img_002.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    win = main_window
    messages = []
    win.state.statusMessage.connect(messages.append)
    win.open_project(small_project)
    key(qtbot, win, Qt.Key.Key_D)
    key(qtbot, win, Qt.Key.Key_D)
    assert win.state.current_image.path == "images/img_002.png"  # browsing went on
    assert any("img_001.png" in m for m in messages) and any("img_002.png" in m for m in messages)
    assert "img_002.png" in win.statusBar().currentMessage()


def test_error_text_never_shows_a_traceback():
    from vision_studio.core.errors import FormatError
    from vision_studio.gui.app import error_text

    assert error_text(FormatError("a.json: line 3: expected ']'")) == "a.json: line 3: expected ']'"
    text = error_text(KeyError("bbox"))
    assert text.startswith("Unexpected error (KeyError)") and "saved" in text and "Traceback" not in text


def long_path_project(tmp_path: Path) -> Path:
    """A project whose one image has a 300-character path."""
    from PIL import Image

    from vision_studio.core.types import ImageRecord

    folder = tmp_path / ("a_rather_long_folder_name_" * 6) / ("and_another_one_" * 4)
    folder.mkdir(parents=True)
    Image.new("RGB", (64, 48), "white").save(folder / ("photo_" * 10 + ".png"))
    path = tmp_path / "long.vsproj"
    with ProjectStore.create(path) as store:
        rel = store.relative_path(folder / ("photo_" * 10 + ".png"))
        store.add_image(ImageRecord(path=rel, width=64, height=48))
    return path


def test_long_messages_and_paths_never_widen_the_window(main_window, tmp_path, qtbot):
    win = main_window
    win.resize(900, 600)
    assert win.open_project(long_path_project(tmp_path))
    message = "error: " + "/some/folder/name" * 200 + ": cannot read"
    win.state.statusMessage.emit(message)
    qtbot.wait(50)  # let the layouts run
    assert win.width() == 900 and win.minimumSizeHint().width() <= 900
    shown = win.statusBar().currentMessage()
    assert shown != message and shown.startswith("error: ") and "…" in shown
    assert win.statusBar().fontMetrics().horizontalAdvance(shown) <= win.statusBar().width()
    assert win.statusBar().toolTip() == message  # the full text is one hover away
    label = win.annotate.image_label
    full = str(win.state.store.resolve(win.state.current_image))
    assert len(full) > 300 and label.toolTip() == full and label.width() < 900


def test_saved_geometry_larger_than_the_screen_is_clamped_on_start(qtbot):
    from PySide6.QtCore import QRect
    from PySide6.QtWidgets import QMainWindow

    from vision_studio.gui.main_window import MainWindow

    huge = QMainWindow()  # a window as big as the one trap 5 saved, larger than any screen
    qtbot.addWidget(huge)
    available = huge.screen().availableGeometry()
    huge.setGeometry(QRect(available.x() - 50, available.y(), available.width() + 700,
                           available.height() + 400))
    huge.show()
    settings.save_window(huge.saveGeometry(), huge.saveState())
    win = MainWindow()
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    frame = win.frameGeometry()
    assert frame.width() <= available.width() and frame.height() <= available.height()
    assert available.contains(frame.topLeft()) and available.contains(frame.bottomRight())
    win.shutdown()


def test_the_image_fits_the_canvas_on_first_show_and_on_every_open(main_window, small_project,
                                                                   qtbot):
    from PySide6.QtCore import QRectF

    win = main_window
    for _ in range(2):  # the first open, then again after closing (a new canvas)
        assert win.open_project(small_project)
        qtbot.wait(50)  # the layouts give the canvas its size
        canvas = win.annotate.canvas
        view = canvas.viewport().rect()
        shown = canvas.mapFromScene(QRectF(0, 0, canvas.image.width, canvas.image.height)
                                    ).boundingRect()
        assert view.width() > 300 and view.height() > 200
        # the whole image on screen, filling the view's width or height (not ~20 px)
        assert shown.width() >= 0.85 * view.width() or shown.height() >= 0.85 * view.height()
        assert view.adjusted(-2, -2, 2, 2).contains(shown)
        win.close_project()


def test_ctrl_e_exports_even_while_the_search_box_has_focus(main_window, small_project, qtbot):
    from vision_studio.gui.dialogs.export_dialog import ExportDialog

    win = main_window
    win.open_project(small_project)
    search = win.annotate.filters.search
    win.activateWindow()
    search.setFocus()
    qtbot.keyClicks(search, "img")
    qtbot.waitUntil(search.hasFocus, timeout=2000)
    assert win.actions["export"].shortcut().toString() == "Ctrl+E"
    qtbot.keyClick(search, Qt.Key.Key_E, Qt.KeyboardModifier.ControlModifier)
    dialogs = [d for d in win.findChildren(ExportDialog) if d.isVisible()]
    assert len(dialogs) == 1 and search.text() == "img"
    dialogs[0].close()


def test_ctrl_e_in_the_search_box_under_a_real_x11_server():
    """Qt's X11 key bindings map Ctrl+E to "end of line" in a line edit (the offscreen
    platform does not), so the test above runs again on the xcb platform under Xvfb."""
    import os
    import shutil
    import subprocess
    import sys

    import pytest

    if os.environ.get("QT_QPA_PLATFORM") == "xcb":
        pytest.skip("already running under X11")
    if shutil.which("xvfb-run") is None:
        pytest.skip("xvfb-run is not installed (apt-get install xvfb)")
    env = dict(os.environ, QT_QPA_PLATFORM="xcb")
    out = subprocess.run(
        ["xvfb-run", "-a", "-s", "-screen 0 1600x1000x24", sys.executable, "-m", "pytest", "-q",
         "-p", "no:cacheprovider", f"{__file__}::test_ctrl_e_exports_even_while_the_search_box_has_focus"],
        capture_output=True, text=True, env=env, timeout=300, cwd=Path(__file__).parents[2])
    assert out.returncode == 0 and "1 passed" in out.stdout, out.stdout[-3000:] + out.stderr[-2000:]
