"""What the Evaluate tab says while it predicts (seen under Xvfb on 2100–8000 px photos of
raccoon_voc): "Predicting 1 images…" sat at 0 % for two minutes per image — large images
are predicted tile by tile (sliced inference, hundreds of tiles for a 6000 x 8000 photo)
and the progress and the Cancel check moved once per image — and a click on Cancel
changed nothing on screen. The status now says that large images are predicted tile by
tile, the bar moves within an image (progress after every tile batch), and Cancel says
it is stopping."""
from __future__ import annotations

from types import SimpleNamespace

from PySide6.QtCore import QObject, Signal

from vision_studio.core.types import ImageRecord
from vision_studio.gui.panels.evaluate import opening
from vision_studio.gui.panels.evaluate.panel import EvaluatePanel
from vision_studio.gui.state import AppState


class FakeWorker(QObject):
    progress = Signal(float, int)
    done = Signal(object)
    failed = Signal(str)

    def __init__(self, inputs, paths, device):
        super().__init__()
        self.inputs, self.cancelled, self.started = inputs, False, False

    def start(self):
        self.started = True

    def cancel(self):
        self.cancelled = True

    def stop(self, timeout_ms=0):
        return True


def _panel(qtbot, small_project, monkeypatch) -> EvaluatePanel:
    monkeypatch.setattr(opening, "PredictWorker", FakeWorker)
    state = AppState()
    state.open_project(small_project)
    p = EvaluatePanel(state, device="cpu")
    qtbot.addWidget(p)
    return p


def _inputs(*sizes):
    ims = tuple(ImageRecord(path=f"images/img_{k:03d}.png", width=w, height=h, split="val", id=k + 1)
                for k, (w, h) in enumerate(sizes))
    return SimpleNamespace(images=ims)


def test_predicting_says_how_many_images_and_that_large_ones_go_tile_by_tile(qtbot, small_project, monkeypatch):
    p = _panel(qtbot, small_project, monkeypatch)
    try:
        assert p._begin(("checkpoint", "x.pt", "val"))
        p._start_prediction(_inputs((640, 480)))
        assert p.ui.status.text() == "Predicting 1 image…" and p.worker.started
        p._fail("cancelled")
        assert p._begin(("checkpoint", "x.pt", "val"))
        p._start_prediction(_inputs((640, 480), (6000, 8000)))
        text = p.ui.status.text()
        assert text.startswith("Predicting 2 images") and "tile by tile" in text, text
    finally:
        p._fail("cancelled")
        p.shutdown()
        p.state.close_project()


def test_the_bar_moves_within_a_large_image(qtbot, small_project, monkeypatch):
    p = _panel(qtbot, small_project, monkeypatch)
    try:
        assert p._begin(("checkpoint", "x.pt", "val"))
        p._start_prediction(_inputs((640, 480), (6000, 8000)))
        p.worker.progress.emit(1.25, 2)  # the second image a quarter done
        assert (p.ui.progress.value(), p.ui.progress.maximum()) == (125, 200)
    finally:
        p._fail("cancelled")
        p.shutdown()
        p.state.close_project()


def test_cancel_while_predicting_says_it_is_stopping(qtbot, small_project, monkeypatch):
    p = _panel(qtbot, small_project, monkeypatch)
    try:
        assert p._begin(("checkpoint", "x.pt", "val"))
        p._start_prediction(_inputs((6000, 8000)))
        assert p.ui.cancel_btn.isEnabled()
        p.ui.cancel_btn.click()
        assert p.worker.cancelled
        assert "Stopping" in p.ui.status.text()
        assert not p.ui.cancel_btn.isEnabled()  # clicked once: nothing more to do
        p.worker.failed.emit("cancelled")  # the worker stops at its next tile batch
        assert p.worker is None and not p.ui.evaluate_btn.isHidden() and p.ui.cancel_btn.isHidden()
        assert p.ui.status.text() == "Not evaluated: cancelled"
        assert p._begin(("checkpoint", "x.pt", "val"))  # a new opening can be cancelled again
        assert p.ui.cancel_btn.isEnabled()
    finally:
        p._fail("cancelled")
        p.shutdown()
        p.state.close_project()
