"""Issue 12's traps on the Model tab, driven through its real widgets on real projects:
the chosen weights survive every rebuild of the list, the settings are kept in the
project, a start that fails says so on this tab (download progress and Cancel), long
messages never widen the window, gradient clipping is a field, the mouse wheel scrolls
the form, and "Start training" stays visible."""
from __future__ import annotations

import http.server
import threading
import time
from pathlib import Path

import pytest
from _train_fixtures import det_project, make_cls_project, shown_panel
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication, QFileDialog, QMessageBox

from vision_studio.core.store import ProjectStore
from vision_studio.core.types import RunRecord
from vision_studio.gui.panels.model import weights_status as ws
from vision_studio.gui.panels.model.panel import ModelPanel
from vision_studio.gui.state import AppState

SHARED_WEIGHTS = Path(__file__).resolve().parents[2] / ".." / "shared" / "weights" / \
    "tf_efficientnet_lite0_in1k_converted.pth"


@pytest.fixture
def panel(qtbot):
    state = AppState()
    p = shown_panel(qtbot, ModelPanel(state))
    yield p
    p.shutdown()
    assert state.engine.shutdown(120_000)
    state.close_project()


def _pick_file(qtbot, panel, monkeypatch, path: Path) -> None:
    """Choose ``path`` with the "Use a weights file…" button (the file dialog answers)."""
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(path), ""))
    qtbot.mouseClick(panel.arch.pick_file, Qt.MouseButton.LeftButton)


def _add_finished_run(store: ProjectStore, root: Path, name: str) -> Path:
    folder = root / "runs" / name
    folder.mkdir(parents=True)
    (folder / "best.pt").write_bytes(b"checkpoint")
    store.add_run(RunRecord(name=name, task="detection", out_dir=str(folder), config={},
                            status="finished"))
    return folder / "best.pt"


def test_picked_weights_survive_resplit_and_a_finished_run(qtbot, panel, tmp_path,
                                                           make_images, monkeypatch):
    panel.state.open_project(det_project(tmp_path, make_images, n=20))
    weights = tmp_path / "my_weights.pth"
    weights.write_bytes(b"w")
    _pick_file(qtbot, panel, monkeypatch, weights)
    assert panel.config().weights == str(weights)
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    before = panel.state.store.splits()
    qtbot.mouseClick(panel.resplit, Qt.MouseButton.LeftButton)  # rebuilds the weights list
    assert panel.state.store.splits() != before and "val" in panel.state.store.splits()
    assert panel.config().weights == str(weights)
    assert panel.arch.weights.currentText() == "File — my_weights.pth"
    best = _add_finished_run(panel.state.store, tmp_path, "first")
    panel.state.runsChanged.emit()  # what the monitor emits when a run ends
    offered = [panel.arch.weights.itemData(i) for i in range(panel.arch.weights.count())]
    assert str(best) in offered and str(weights) in offered
    assert panel.config().weights == str(weights)
    # choosing None on purpose is kept too
    panel.arch.weights.setCurrentIndex(0)
    panel.state.runsChanged.emit()
    assert panel.config().weights is None


def test_settings_are_saved_in_the_project_and_restored(qtbot, tmp_path, make_images, monkeypatch):
    project = det_project(tmp_path, make_images, n=20)
    weights = tmp_path / "w.pth"
    weights.write_bytes(b"w")
    state = AppState()
    first = shown_panel(qtbot, ModelPanel(state))
    state.open_project(project)
    first.arch.select_arch("ssdlite320_mobilenet_v3_large")
    _pick_file(qtbot, first, monkeypatch, weights)
    first.strategy.select("gradual")
    first.hyper.w["lr"].setValue(0.0042)
    first.hyper.w["epochs"].setValue(9)
    first.hyper.w["grad_clip"].setValue(7.5)
    first.aug["rotation"].setValue(15)
    wanted = {**first.config().to_dict(), "out_dir": None}
    qtbot.waitUntil(lambda: state.store.get_setting(ModelPanel.SETTING) == wanted, timeout=5000)
    first.shutdown()
    state.close_project()
    state.engine.shutdown()
    # reopen in a new window: every field comes back from the project file
    state2 = AppState()
    second = shown_panel(qtbot, ModelPanel(state2))
    state2.open_project(project)
    got = second.config()
    assert got.to_dict() == wanted
    assert (got.arch, got.weights, got.lr, got.epochs, got.grad_clip) == (
        "ssdlite320_mobilenet_v3_large", str(weights), 0.0042, 9, 7.5)
    assert second.strategy.strategy.currentData() == "gradual"
    with ProjectStore.open(project) as store:  # what is on disk, read independently
        assert store.get_setting("model_config")["lr"] == 0.0042
    second.shutdown()
    state2.close_project()
    state2.engine.shutdown()


def test_grad_clip_field_reaches_the_config(panel, tmp_path, make_images):
    panel.state.open_project(det_project(tmp_path, make_images))
    panel.hyper.w["grad_clip"].setValue(5.0)
    assert panel.config().grad_clip == 5.0
    panel.hyper.w["grad_clip"].setValue(0)
    assert panel.hyper.w["grad_clip"].text() == "off" and panel.config().grad_clip == 0.0  # 0 = off


def test_offline_library_weights_fail_at_once_on_the_model_tab(qtbot, panel, tmp_path,
                                                                make_images, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    # a real refused connection (nothing listens on port 9 of this machine)
    monkeypatch.setattr(ws, "weights_url", lambda spec, name: ("http://127.0.0.1:9/w-1234.pth", None))
    panel.state.open_project(make_cls_project(tmp_path, make_images))
    panel.arch.select_arch("mobilenet_v3_small")
    panel.arch.set_weights("IMAGENET1K_V1")
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    t0 = time.monotonic()
    qtbot.mouseClick(panel.start, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.start_error.isVisible(), timeout=20_000)
    assert time.monotonic() - t0 < 20
    text = panel.start_error.text()
    assert "Downloading the weights failed" in text and "Use a weights file" in text and "None" in text
    assert panel.state.engine.state == "idle" and not panel.state.store.runs()  # nothing started
    assert not panel.arch.progress.isVisible() and not panel.arch.cancel_download.isVisible()


def test_a_run_that_fails_before_starting_says_so_on_the_model_tab(qtbot, panel, tmp_path,
                                                                    make_images, monkeypatch):
    panel.state.engine.torch_threads = 1
    panel.state.open_project(make_cls_project(tmp_path, make_images))
    panel.arch.select_arch("mobilenet_v3_small")
    broken = tmp_path / "broken.pth"
    broken.write_bytes(b"this is not a checkpoint")
    _pick_file(qtbot, panel, monkeypatch, broken)
    panel.hyper.set_dict(dict(epochs=1, batch_size=4, image_size=32, device="cpu",
                              max_steps_per_epoch=1, max_val_batches=1))
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    with qtbot.waitSignal(panel.state.engine.runEnded, timeout=120_000) as ended:
        qtbot.mouseClick(panel.start, Qt.MouseButton.LeftButton)
    assert ended.args[0].status == "failed"
    assert panel.start_error.isVisible() and "Training did not start" in panel.start_error.text()
    assert ended.args[0].error in panel.start_error.text()
    # the next start clears the old error first
    panel.hyper.w["epochs"].setValue(0)  # refused by the spin box minimum: still 1
    panel.launcher.clear()
    assert not panel.start_error.isVisible()


class _SlowWeights(http.server.BaseHTTPRequestHandler):
    """Serves a 64 MiB "weights file" slowly (1 MiB per 0.2 s) so it can be cancelled."""

    def do_GET(self) -> None:  # noqa: N802 - http.server API
        self.send_response(200)
        self.send_header("Content-Length", str(64 << 20))
        self.end_headers()
        try:
            for _ in range(64):
                self.wfile.write(b"\0" * (1 << 20))
                time.sleep(0.2)
        except OSError:
            pass

    def log_message(self, *args) -> None:
        pass


def test_download_shows_progress_and_can_be_cancelled(qtbot, panel, tmp_path, make_images,
                                                      monkeypatch):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _SlowWeights)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/slow-abcdef12.pth"
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(ws, "weights_url", lambda spec, name: (url, None))
    try:
        panel.state.open_project(make_cls_project(tmp_path, make_images))
        panel.arch.select_arch("mobilenet_v3_small")
        panel.arch.set_weights("IMAGENET1K_V1")
        monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
        qtbot.mouseClick(panel.start, Qt.MouseButton.LeftButton)
        bar = panel.arch.progress
        qtbot.waitUntil(lambda: bar.maximum() == 64 << 20 and bar.value() > 0, timeout=20_000)
        assert panel.arch.cancel_download.isVisible()
        qtbot.mouseClick(panel.arch.cancel_download, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: panel.launcher.task is None, timeout=20_000)
        assert "cancelled" in panel.start_error.text()
        assert panel.state.engine.state == "idle" and not panel.state.store.runs()
        assert not list((tmp_path / "torch").rglob("*.pth"))  # nothing half-written kept
    finally:
        server.shutdown()


def test_long_messages_do_not_widen_the_window(qtbot, panel, tmp_path, make_images, monkeypatch):
    panel.state.open_project(det_project(tmp_path, make_images))
    deep = tmp_path.joinpath(*["very_long_folder_name_" * 8] * 4) / ("weights_" * 25 + ".pth")
    deep.parent.mkdir(parents=True)
    deep.write_bytes(b"w")
    _pick_file(qtbot, panel, monkeypatch, deep)
    panel.launcher.show_error("error: " + "x" * 3000)
    panel.warnings.setText("⚠ " + "categories_" * 300)
    QApplication.processEvents()
    assert panel.minimumSizeHint().width() < 1000
    assert panel.sizeHint().width() < 1600
    assert panel.arch.weights_note.toolTip() == str(deep)
    # the weights list does not ask for the width of its long file name
    assert panel.arch.weights.sizeHint().width() < 400


def _wheel(widget, dy: int = -120) -> None:
    pos = QPointF(widget.width() / 2, widget.height() / 2)
    ev = QWheelEvent(pos, widget.mapToGlobal(pos), QPoint(0, 0), QPoint(0, dy),
                     Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier,
                     Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(widget, ev)


def test_wheel_scrolls_the_form_and_start_stays_visible(qtbot, panel, tmp_path, make_images):
    panel.state.open_project(det_project(tmp_path, make_images))
    panel.resize(1100, 420)
    QApplication.processEvents()
    bar = panel.scrolls[0].verticalScrollBar()
    assert bar.maximum() > 0  # the form is taller than the window
    lr, batch = panel.hyper.w["lr"], panel.hyper.w["batch_size"]
    before, start_at = lr.value(), bar.value()
    _wheel(lr)
    assert lr.value() == before and bar.value() > start_at  # the form scrolled
    combo = panel.arch.arch
    index = combo.currentIndex()
    _wheel(combo, dy=120)
    assert combo.currentIndex() == index
    batch.setFocus()
    qtbot.waitUntil(batch.hasFocus)
    value = batch.value()
    _wheel(batch, dy=120)
    assert batch.value() != value  # a focused field still takes the wheel
    # "Start training" is inside the window, whatever the scroll position
    top_left = panel.start.mapTo(panel, QPoint(0, 0))
    assert panel.start.isVisible() and 0 <= top_left.y()
    assert top_left.y() + panel.start.height() <= panel.height()
    assert panel.start.parent() is panel  # not inside a scroll area
