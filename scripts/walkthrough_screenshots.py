"""Walk the whole loop of the app on a real dataset, offscreen, saving a PNG per step.

New project from the folder ``raccoon_voc/images`` → File → Import → Pascal VOC for
those same images → Model tab (stratified re-split, the shared EfficientNet-Lite0
weights file, a tiny Faster R-CNN run) → Training tab → Evaluate → accept a
prediction → retrain from the first run's checkpoint. Every step drives the real
widgets of the main window (buttons, dialogs); each PNG is the window (or the dialog)
as a user would see it, and ``steps.txt`` lists what was checked at each step.

Usage::

    QT_QPA_PLATFORM=offscreen python3 scripts/walkthrough_screenshots.py --out /tmp/walk

Exits 1 with one ``error: ...`` line when a step cannot be done (the PNGs so far stay).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
DATA = SHARED / "data" / "raccoon_voc"
WEIGHTS = SHARED / "weights" / "tf_efficientnet_lite0_in1k_converted.pth"
ARCH = "fasterrcnn_timm:tf_efficientnet_lite0"


class Walk:
    """The main window, the output folder and the log of steps."""

    def __init__(self, out: Path, size: tuple[int, int] = (1400, 850)) -> None:
        from vision_studio.gui.app import make_app
        from vision_studio.gui.main_window import MainWindow

        self.app = make_app()
        self.out = out
        out.mkdir(parents=True, exist_ok=True)
        self.window = MainWindow()
        self.window.resize(*size)
        self.window.show()
        self.window.state.engine.torch_threads = int(os.environ.get("WALK_THREADS", "2"))
        self.n = 0
        self.lines: list[str] = []

    def settle(self, seconds: float = 0.3) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.app.processEvents()
            time.sleep(0.01)

    def wait(self, done: Callable[[], bool], what: str, timeout: float = 600) -> None:
        end = time.monotonic() + timeout
        while not done():
            if time.monotonic() > end:
                raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}")
            self.app.processEvents()
            time.sleep(0.02)

    def shot(self, name: str, note: str, widget: Any = None) -> Path:
        self.settle(0.4)
        self.n += 1
        path = self.out / f"{self.n:02d}_{name}.png"
        if not (widget or self.window).grab().save(str(path)):
            raise RuntimeError(f"{path}: could not write the PNG")
        self.lines.append(f"{path.name}: {note}")
        print(f"{path.name}: {note}", flush=True)
        return path


def new_project(w: Walk) -> None:
    """Step 1: a project made from the folder of images (what "New project from a
    folder of images…" does), opened in the window."""
    from vision_studio.gui.welcome import create_project_from_folder

    project = w.out / "raccoon.vsproj"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{project}{suffix}").unlink(missing_ok=True)
    create_project_from_folder(DATA / "images", project)
    assert w.window.open_project(project)
    store = w.window.state.store
    w.settle(1.0)
    w.window.annotate.model.wait_for_thumbnails(20000)
    problems = store.problems()
    w.shot("new_project", f"{store.image_count()} images, {store.annotation_count()} "
                          f"annotations, {len(problems)} problem(s) recorded at creation")


def import_labels(w: Walk) -> None:
    """Step 2: File → Import → Pascal VOC for the images already in the project."""
    dlg = w.window.show_import()
    dlg.set_format("voc")
    dlg.set_value("xml", str(DATA / "annotations"))
    dlg.set_value("images", str(DATA / "images"))
    w.shot("import_dialog", "Import dialog filled in (Pascal VOC)", dlg)
    dlg.import_button.click()
    w.wait(lambda: dlg.report is not None or bool(dlg.error), "the import")
    verifying = getattr(dlg, "verifying", lambda: False)
    w.wait(lambda: not verifying(), "the full verification of the images")
    store = w.window.state.store
    report = dlg.report
    w.shot("import_report", f"report: {report.images if report else 0} images, "
                            f"{report.annotations if report else 0} annotations imported; "
                            f"project now {store.annotation_count()} annotations; "
                            f"{len(store.problems())} problem(s)", dlg)
    dlg.close()
    w.window.show_panel("annotate")
    w.settle(1.0)
    w.shot("annotate_labelled", f"Annotate tab after the import ({store.annotation_count()} "
                                f"annotations in the project)")
    if store.annotation_count() == 0:
        raise RuntimeError("the VOC import added no annotation to the folder project "
                           "(issue 12 trap 3: labels for images already in the project)")


def configure_and_train(w: Walk, name: str, weights: str) -> None:
    """Steps 3-4: the Model tab set for a tiny run, Start, the Training tab at the end."""
    win = w.window
    panel = win.model_panel
    win.show_panel("model")
    w.settle(1.5)
    panel.arch.select_arch(ARCH)
    panel.arch.set_weights(weights)
    panel.strategy.select("fine_tune")
    panel.hyper.set_dict(dict(epochs=1, batch_size=2, image_size=256, device="cpu",
                              max_steps_per_epoch=3, max_val_batches=2, name=name))
    if not win.state.store.splits().get("val"):
        panel.val_split.setValue(0.1)  # a small val split: Evaluate predicts on it
        panel.stratified_resplit(confirm=False)
        w.settle(0.5)
        if panel.arch.current_weights() != weights:
            raise RuntimeError("the weights choice was dropped by the re-split")
    panel.update_warnings()
    w.shot(f"model_{name}", f"Model tab: {ARCH}, weights {Path(weights).name}, "
                            f"checks: {panel.warnings.text()[:160]!r}")
    ended: list[Any] = []
    win.state.engine.runEnded.connect(ended.append)
    if not panel.start_training(confirm=False):
        raise RuntimeError(f"the run did not start: {panel.start_error.text()}")
    w.wait(lambda: win.state.engine.state in ("running", "idle"), "the run to start")
    w.wait(lambda: bool(win.monitor.curves.batch_x) or bool(ended), "the first batch")
    w.shot(f"training_{name}_running", f"Training tab during {name!r}: "
                                       f"{win.monitor.progress.text()}")
    w.wait(lambda: bool(ended), f"the run {name!r}", timeout=1800)
    outcome = ended[0]
    win.state.engine.runEnded.disconnect(ended.append)
    win.show_panel("training")
    w.shot(f"training_{name}_done", f"run {name!r} {outcome.status} ({outcome.error or 'no error'}); "
                                    f"header {win.monitor.title.text()!r}")
    if outcome.status == "failed":
        raise RuntimeError(f"run {name!r} failed: {outcome.error}")


def evaluate_and_accept(w: Walk) -> None:
    """Steps 5-6: Evaluate the newest checkpoint on the val split, accept a prediction."""
    win = w.window
    ev = win.evaluate
    win.show_panel("evaluate")
    ev.refresh_choices()
    w.settle(0.5)
    done: list[int] = []
    ev.evaluated.connect(lambda: done.append(1))
    ev.failed.connect(lambda m: done.append(0))
    if not ev.start(split="val"):
        raise RuntimeError(f"the evaluation did not start: {ev.ui.status.text()}")
    w.wait(lambda: bool(done), "the evaluation", timeout=1800)
    w.shot("evaluate", f"Evaluate tab: {ev.ui.status.text()[:160]!r}")
    if not done[0]:
        raise RuntimeError(f"the evaluation failed: {ev.ui.status.text()}")
    ev.set_score_threshold(0.0)
    w.settle(1.0)
    before = win.state.store.annotation_count()
    image_id = ev.ui.viewer.image_id
    accepted = ev.accept_prediction(ev.view.shown_on_image(image_id, ev.thresholds)[0]) \
        if image_id is not None and ev.view.shown_on_image(image_id, ev.thresholds) else []
    w.shot("accepted", f"accepted {len(accepted)} prediction(s) on image {image_id}: "
                       f"{before} → {win.state.store.annotation_count()} annotations")
    if image_id is not None:
        win.annotate.show_image_id(image_id)
    win.show_panel("annotate")
    w.shot("annotate_accepted", "the accepted prediction on the Annotate canvas")


def retrain(w: Walk) -> None:
    """Step 7: "Use as starting weights" of the first run, then a second tiny run."""
    win = w.window
    store = win.state.store
    first = store.runs()[-1]
    win.show_panel("training")
    win.monitor.runs.select(first.id)
    win.monitor.runs.buttons["weights"].click()
    weights = win.model_panel.arch.current_weights()
    configure_and_train(w, "second", weights)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("/tmp/vs_walkthrough"))
    args = parser.parse_args(argv)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    sys.path.insert(0, str(ROOT))
    w = Walk(args.out)
    try:
        new_project(w)
        import_labels(w)
        configure_and_train(w, "first", str(WEIGHTS))
        evaluate_and_accept(w)
        retrain(w)
    except Exception as exc:  # a step that cannot be done ends the walk, named
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        w.lines.append(f"STOPPED: {exc}")
        return 1
    finally:
        (args.out / "steps.txt").write_text("\n".join(w.lines) + "\n", encoding="utf-8")
        w.window.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
