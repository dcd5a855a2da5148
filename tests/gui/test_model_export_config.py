""""Export for another machine" from the Model tab on a real project: the dialog writes
the config Start would use (it loads back equal) and the commands file it shows, copies
the commands, and never replaces an existing file unless the user agrees."""
from __future__ import annotations

import shlex

import pytest
from PySide6.QtGui import QGuiApplication
from _train_fixtures import det_project, shown_panel

from vision_studio.cli import build_parser
from vision_studio.core.training.config import TrainConfig
from vision_studio.gui.panels.model.buttons import export_dialog
from vision_studio.gui.panels.model.panel import ModelPanel
from vision_studio.gui.state import AppState


@pytest.fixture
def panel(qtbot, tmp_path, make_images):
    state = AppState()
    p = shown_panel(qtbot, ModelPanel(state))
    state.open_project(det_project(tmp_path, make_images))
    yield p
    p.shutdown()
    state.engine.shutdown()
    state.close_project()


def _dialog(qtbot, panel, folder):
    dialog = export_dialog(panel)
    qtbot.addWidget(dialog)
    dialog.folder.setText(str(folder))
    return dialog


def test_export_writes_the_start_config_and_its_commands(qtbot, panel, tmp_path):
    assert panel.export_btn.isVisible() and panel.export_btn.isEnabled()
    panel.hyper.w["epochs"].setValue(7)
    panel.hyper.w["name"].setText("det run")
    panel.tiles.mode.setCurrentIndex(panel.tiles.mode.findData("on"))
    dialog = _dialog(qtbot, panel, tmp_path / "export")
    assert dialog.name.text() == "det-run"
    dialog.gpus.setValue(4)
    dialog.nodes.setValue(2)
    assert dialog.export()
    config = tmp_path / "export" / "det-run.config.json"
    commands = tmp_path / "export" / "det-run.commands.txt"
    assert dialog.exported.config == config and config.is_file() and commands.is_file()
    loaded = TrainConfig.load(config)
    assert loaded == TrainConfig.from_dict({**panel.config().to_dict(), "out_dir": None})
    assert loaded.epochs == 7 and loaded.tiles == "on"
    text = commands.read_text()
    assert text == dialog.commands.toPlainText()  # what the dialog shows is what was written
    line = next(ln.strip() for ln in text.splitlines() if "--nproc-per-node 4" in ln and "vision-studio" in ln)
    args = build_parser().parse_args(shlex.split(line)[1:])
    assert (args.command, args.nproc_per_node, str(args.config)) == ("train", 4, config.name)
    assert str(args.project) == panel.state.store.path.name
    assert "--nnodes 2" in text and "Copy the project folder too" in text
    assert dialog.commands.isReadOnly()
    dialog.copy_btn.click()
    assert QGuiApplication.clipboard().text() == text


def test_export_asks_before_replacing(qtbot, panel, tmp_path):
    folder = tmp_path / "export"
    folder.mkdir()
    dialog = _dialog(qtbot, panel, folder)
    dialog.name.setText("mine")
    own = folder / "mine.config.json"
    own.write_text("the user's own file\n")
    asked = []
    dialog.confirm = lambda path: asked.append(path) or False
    assert not dialog.export()
    assert asked == [own] and own.read_text() == "the user's own file\n"
    assert not (folder / "mine.commands.txt").exists()
    assert "kept" in dialog.result_label.text()
    dialog.confirm = lambda path: True
    assert dialog.export()
    assert TrainConfig.load(own).to_dict() == {**panel.config().to_dict(), "out_dir": None}
    # a folder that cannot be created is said in the dialog, not raised
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    dialog.folder.setText(str(blocker / "sub"))
    assert not dialog.export() and "Not exported" in dialog.result_label.text()
