"""``--smoke PROJECT``: a self-test of the (built or source) app on a real project.

It starts the GUI stack, opens the project given on the command line, builds one small
model (random weights, no download), runs one prediction on one of the project's images,
renders every tab of the main window offscreen to PNGs, and exits 0 — or prints which
step failed and why and exits 1. Each step is timed; the report also goes to
``smoke_report.txt`` in the output folder, since the Windows GUI executable has no
console to print to.

Usage (the frozen GUI executable or ``python -m vision_studio``)::

    vision-studio --smoke PROJECT.vsproj [--smoke-out DIR] [--smoke-arch ARCH]
                  [--smoke-task TASK] [--smoke-window-only]

``--smoke-window-only`` stops once the main window is shown: the start-up time to the
first window, measured from process start (see :func:`process_age_s`).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import traceback
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

_IMPORTED_AT = time.monotonic()

# Smallest listed architecture per task: quick to build and to run on a CPU.
SMALL_ARCH = {
    "classification": "mobilenet_v3_large",
    "detection": "fasterrcnn_mobilenet_v3_large_320_fpn",
    "instance_segmentation": "maskrcnn_fpn:mobilenet_v3_large",
    "semantic_segmentation": "lraspp_mobilenet_v3_large",
}


def process_age_s() -> float:
    """Seconds since this process started (Linux: from ``/proc``; elsewhere: since this
    module was imported, which misses the interpreter's own start-up)."""
    try:
        stat = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        start_ticks = int(stat[19])  # field 22 of proc(5); fields 1-2 are cut off above
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        return uptime - start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, AttributeError):
        return time.monotonic() - _IMPORTED_AT


@dataclass
class Step:
    """One timed step of the smoke run."""

    name: str
    ok: bool = False
    seconds: float = 0.0
    detail: str = ""


@dataclass
class SmokeReport:
    """Every step, printed as it ends and written to ``report_path`` at the end."""

    steps: list[Step] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every step passed."""
        return bool(self.steps) and all(s.ok for s in self.steps)

    def say(self, line: str) -> None:
        """Print ``line`` (when there is a console) and keep it for the report file."""
        self.lines.append(line)
        if sys.stdout is not None:
            print(line, flush=True)

    @contextmanager
    def step(self, name: str) -> Iterator[Step]:
        """Time the block; an exception marks the step failed (the run goes on)."""
        step = Step(name)
        self.steps.append(step)
        t0 = time.perf_counter()
        try:
            yield step
            step.ok = True
        except Exception as exc:  # the smoke test reports every failure, then exits 1
            where = traceback.extract_tb(exc.__traceback__)[-1]
            step.detail = (f"{type(exc).__name__}: {exc} "
                           f"(at {Path(where.filename).name}:{where.lineno})")
        step.seconds = time.perf_counter() - t0
        status = "ok  " if step.ok else "FAIL"
        self.say(f"[smoke] {status} {name:<24} {step.seconds:7.2f} s  {step.detail}")

    def passed(self, name: str) -> bool:
        """Whether step ``name`` ran and passed."""
        return any(s.name == name and s.ok for s in self.steps)


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """The smoke options; other arguments of the GUI command line are ignored."""
    p = argparse.ArgumentParser(prog="vision-studio --smoke", add_help=False)
    p.add_argument("--smoke", type=Path, required=True, metavar="PROJECT")
    p.add_argument("--smoke-out", type=Path, default=None, metavar="DIR")
    p.add_argument("--smoke-arch", default=None, metavar="ARCH")
    p.add_argument("--smoke-task", default=None, metavar="TASK")
    p.add_argument("--smoke-window-only", action="store_true")
    args, _unknown = p.parse_known_args(list(argv))
    return args


def _ensure_platform() -> None:
    """Offscreen Qt when there is no display (a headless Linux box or CI)."""
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY")
                                                 or os.environ.get("WAYLAND_DISPLAY")):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def project_task(store: Any) -> str:
    """Guess the project's task from its labels (the smoke run needs one).

    Masks from label images → semantic segmentation; polygons or RLE → instance
    segmentation; boxes only → detection; image tags only → classification.
    """
    anns = store.annotations()[:500]
    if any((a.attributes or {}).get("source") == "mask" for a in anns):
        return "semantic_segmentation"
    if any(a.polygons or a.rle for a in anns):
        return "instance_segmentation"
    if anns:
        return "detection"
    return "classification"


def _predict(built: Any, task: str, image: Path, categories: list[dict]) -> str:
    """One prediction with the core's predict functions; returns a one-line summary."""
    from vision_studio.core.evaluation import predict as P

    names = [c["name"] for c in categories]
    spec = built.spec
    if task in ("detection", "instance_segmentation"):
        raw = P.predict_detections(built.model, [image], categories, device="cpu",
                                   raw_max_per_image=20)
        return f"{len(raw)} raw detections on {image.name}"
    if task == "classification":
        out = P.predict_classification(built.model, [image], names, built.mean, built.std,
                                       spec.input_size, device="cpu")
        return f"probabilities {tuple(out.probs.shape)} on {image.name}"
    out = P.predict_semantic(built.model, [image], names, built.mean, built.std,
                             spec.input_size, device="cpu")
    return f"label map {out.label_maps[0].shape} on {image.name}"


def _device_line() -> str:
    """torch's build and what the first-run GPU check would say (informative only)."""
    import torch

    from vision_studio.gui.first_run import check_gpu, gpu_problem

    status = check_gpu()
    problem = gpu_problem(status)
    return (f"torch {torch.__version__}, CUDA build {status.torch_cuda}, CUDA available "
            f"{status.cuda_available}, NVIDIA GPU {status.nvidia_gpu}"
            + (f"; GPU notice: {problem[0]}" if problem else ""))


def _settle(app: Any, seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.01)


def _check_png(path: Path) -> str:
    """Raise if the PNG is missing or one flat colour (nothing was drawn)."""
    from PySide6.QtGui import QImage

    img = QImage(str(path))
    if img.isNull() or img.width() < 50 or img.height() < 50:
        raise RuntimeError(f"{path}: not a readable window capture")
    colours = {img.pixel(x, y) for x in range(0, img.width(), max(1, img.width() // 40))
               for y in range(0, img.height(), max(1, img.height() // 40))}
    if len(colours) < 3:
        raise RuntimeError(f"{path}: the capture is blank ({len(colours)} colour(s))")
    return f"{img.width()}x{img.height()}, {len(colours)} colours sampled"


def _render_tabs(app: Any, window: Any, out: Path, say: Callable[[str], None]) -> int:
    """Show each tab of the main window and save it as ``<out>/panel_<i>_<name>.png``."""
    tabs = window.tabs
    for i in range(tabs.count()):
        tabs.setCurrentIndex(i)
        _settle(app, 0.3)
        if tabs.currentWidget() is getattr(window, "annotate", None):
            model = getattr(window.annotate, "model", None)
            if model is not None and hasattr(model, "wait_for_thumbnails"):
                model.wait_for_thumbnails(20000)
            _settle(app, 0.3)
            canvas = getattr(window.annotate, "canvas", None)
            if canvas is not None and hasattr(canvas, "fit"):
                canvas.fit()  # the image fills the view, as a user first sees it
            _settle(app, 0.2)
        name = "".join(ch for ch in tabs.tabText(i).lower() if ch.isalnum()) or f"tab{i}"
        png = out / f"panel_{i}_{name}.png"
        if not window.grab().save(str(png)):
            raise RuntimeError(f"{png}: could not write the PNG")
        say(f"[smoke]      {png.name}: {_check_png(png)}")
    return tabs.count()


def run_smoke(args: argparse.Namespace, report: SmokeReport) -> None:
    """Run every step into ``report`` (failures are recorded, not raised)."""
    out = args.smoke_out
    out.mkdir(parents=True, exist_ok=True)
    report.say(f"[smoke] vision-studio smoke test of {args.smoke} -> {out}")
    app = window = store = None
    with report.step("start"):
        _ensure_platform()
        from vision_studio import __version__
        from vision_studio.gui.app import make_app
        from vision_studio.gui.main_window import MainWindow

        app = make_app()
        window = MainWindow()
        window.resize(1400, 850)  # the same captures whatever size the user last left
        window.show()
        _settle(app, 0.05)
        report.say(f"[smoke]      version {__version__}, Qt platform {app.platformName()}, "
                   f"first window after {process_age_s():.2f} s since process start")
    if args.smoke_window_only or window is None:
        _finish(window, app)
        return
    with report.step("open project"):
        store = window.state.open_project(args.smoke)  # raises StoreError naming the file
        report.say(f"[smoke]      {store.image_count()} images, {len(store.categories())} "
                   f"categories, {store.annotation_count()} annotations")
    built = task = None
    with report.step("build model"):
        if store is None:
            raise RuntimeError("skipped: the project did not open")
        from vision_studio.core.models.registry import build_model

        task = args.smoke_task or project_task(store)
        arch = args.smoke_arch or SMALL_ARCH[task]
        built = build_model(arch, task, max(1, len(store.categories())), weights=None)
        report.say(f"[smoke]      {arch} ({task}), {built.spec.param_count} M parameters")
        report.say(f"[smoke]      {_device_line()}")
    with report.step("predict"):
        if built is None:
            raise RuntimeError("skipped: no model was built")
        images = store.images(limit=1)
        if not images:
            raise RuntimeError(f"{args.smoke}: the project has no images")
        cats = [{"id": c.id, "name": c.name} for c in store.categories()]
        report.say(f"[smoke]      {_predict(built, task, store.resolve(images[0]), cats)}")
    with report.step("render panels"):
        n = _render_tabs(app, window, out, report.say)
        report.say(f"[smoke]      {n} panels rendered")
    _finish(window, app)


def _finish(window: Any, app: Any) -> None:
    if window is not None:
        window.shutdown()
        window.close()
        window.deleteLater()
    if app is not None:
        app.processEvents()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the smoke test; returns 0 when every step passed, else 1."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    args.smoke_out = args.smoke_out or Path(tempfile.mkdtemp(prefix="vision-studio-smoke-"))
    report = SmokeReport()
    t0 = time.perf_counter()
    try:
        run_smoke(args, report)
    except Exception as exc:  # a failure outside the steps (e.g. the output folder)
        report.say(f"[smoke] FAIL {type(exc).__name__}: {exc}")
        report.steps.append(Step("setup", detail=str(exc)))
    failed = [s for s in report.steps if not s.ok]
    report.say(f"[smoke] {'PASSED' if not failed else 'FAILED'}: {len(report.steps) - len(failed)}"
               f" of {len(report.steps)} steps in {time.perf_counter() - t0:.2f} s")
    for s in failed:
        report.say(f"[smoke] failed step {s.name}: {s.detail}")
    try:
        (args.smoke_out / "smoke_report.txt").write_text("\n".join(report.lines) + "\n")
    except OSError:
        pass
    return 0 if not failed else 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
