"""File → "Attach checkpoint trained elsewhere…" in the real main window (offscreen): only
the file dialog is patched (it returns the checkpoint's path); the attach runs in its
thread on the real project, and the run then shows in Evaluate's list of checkpoints and
in the lists of the Pre-label and Label-next dialogs. A checkpoint of other categories
gives a dialog naming the file and the categories, and adds nothing."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QFileDialog

from tests.core._checkpoints import make_checkpoint
from vision_studio.core.evaluation.session import checkpoint_choices


def _checkpoint(folder: Path, names) -> Path:
    """A tiny real classification checkpoint (random weights) of categories ``names``."""
    return make_checkpoint(folder, "classification", "timm:test_resnet", names, image_size=32)


def _choose(monkeypatch, path: Path) -> list:
    asked = []

    def dialog(parent, title, start, filt):
        asked.append((title, start, filt))
        return str(path), filt
    monkeypatch.setattr(QFileDialog, "getOpenFileName", dialog)
    return asked


def _evaluate_items(win) -> list[str]:
    box = win.evaluate.ui.checkpoint
    return [str(box.itemData(i)) for i in range(box.count())]


def test_menu_attaches_the_file_and_every_runs_list_offers_it(main_window, small_project, tmp_path,
                                                              qtbot, monkeypatch):
    win = main_window
    ckpt = _checkpoint(tmp_path / "gpu-box" / "night-run", ["dog", "cat"])
    assert not win.actions["attach_run"].isEnabled()  # no project yet
    assert win.open_project(small_project)
    assert win.actions["attach_run"].isEnabled()
    asked = _choose(monkeypatch, ckpt)
    file_menu = win.menuBar().actions()[0].menu()
    assert win.actions["attach_run"] in file_menu.actions()
    with qtbot.waitSignal(win.attach_run.attached, timeout=20000) as got:
        win.actions["attach_run"].trigger()
    done = got.args[0]
    assert asked and "*.pt" in asked[0][2]
    assert asked[0][1] == str(small_project.parent)  # first time: the project's folder
    store = win.state.store
    run = store.runs()[-1]
    assert (run.name, run.status, run.id) == ("night-run", "finished", done.run.id)
    assert done.uncovered == ("bird",)
    assert str(done.checkpoint) in _evaluate_items(win)  # Evaluate re-read the runs (runsChanged)
    box = win.evaluate.ui.checkpoint
    assert "night-run" in box.itemText(box.currentIndex())  # the newest finished run is chosen
    assert done.checkpoint in [c.path for c in checkpoint_choices(store)]  # Pre-label / Label next
    assert "night-run" in win.statusBar().currentMessage() and "bird" in win.statusBar().currentMessage()


def test_a_checkpoint_of_other_categories_is_refused_in_a_dialog(main_window, small_project, tmp_path,
                                                                 qtbot, monkeypatch):
    win = main_window
    ckpt = _checkpoint(tmp_path / "elsewhere", ["dog", "horse"])
    assert win.open_project(small_project)
    _choose(monkeypatch, ckpt)
    shown = []

    def close_box():
        box = QApplication.activeModalWidget()
        if box is None:
            QTimer.singleShot(50, close_box)
            return
        shown.append((box.windowTitle(), box.text()))
        box.close()
    QTimer.singleShot(50, close_box)
    with qtbot.waitSignal(win.attach_run.failed, timeout=20000) as got:
        win.actions["attach_run"].trigger()
    qtbot.waitUntil(lambda: bool(shown), timeout=5000)
    assert got.args[0].startswith(f"{ckpt}: the model predicts 'horse', not in this project")
    assert shown == [("Cannot attach the checkpoint", got.args[0])]
    assert win.state.store.runs() == [] and not _evaluate_items(win)
    assert not (small_project.parent / "runs").exists() or not any((small_project.parent / "runs").iterdir())
