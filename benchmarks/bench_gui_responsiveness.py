"""GUI responsiveness while training: Qt event-loop latency during a CPU training run.

A ``QTimer`` fires every ``--interval-ms``; the latency of a tick is how late it fires
(measured with ``time.perf_counter``). The same measurement is taken first with the app
idle (baseline) and then while the shared :class:`TrainingEngine` trains on the CPU, with
the Training monitor shown and drawing its live curves, once per ``--workers`` value:
``0`` loads the images in the training thread (the old behaviour: decoding and
augmenting hold the GIL), ``auto`` in persistent DataLoader worker processes (the
default). Prints p50 / p99 / max for each and the ratios. Target: p99 < 50 ms while
training.

Data: ``../shared/data/hymenoptera`` imported with the core ImageFolder importer, timm
EfficientNet-Lite0 with the ImageNet weights in ``../shared/weights``, fine-tuning.

Run by hand: ``python benchmarks/bench_gui_responsiveness.py [--steps 20]``.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("VISION_STUDIO_SHARED", REPO.parent / "shared"))


def _percentiles(lat_ms: list[float]) -> str:
    import numpy as np

    a = np.asarray(lat_ms)
    return (f"n={a.size:5d}  p50={np.percentile(a, 50):6.2f} ms  p99={np.percentile(a, 99):6.2f} ms  "
            f"max={a.max():7.2f} ms")


def measure(app, interval_ms: int, until) -> list[float]:
    """Tick every ``interval_ms`` until ``until()`` is true; returns each tick's lateness."""
    from PySide6.QtCore import Qt, QTimer

    lat: list[float] = []
    last = [time.perf_counter()]

    def tick() -> None:
        now = time.perf_counter()
        lat.append(max(0.0, (now - last[0]) * 1000 - interval_ms))
        last[0] = now

    timer = QTimer()
    timer.setTimerType(Qt.TimerType.PreciseTimer)
    timer.timeout.connect(tick)
    timer.start(interval_ms)
    while not until():
        app.processEvents()
        time.sleep(0.001)
    timer.stop()
    return lat[1:]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=20, help="optimizer steps per epoch")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--image-size", type=int, default=160)
    p.add_argument("--interval-ms", type=int, default=10)
    p.add_argument("--idle-s", type=float, default=5.0)
    p.add_argument("--workers", default="0,auto",
                   help="comma-separated num_workers values to compare (auto = default)")
    args = p.parse_args()

    from PySide6.QtWidgets import QApplication

    from vision_studio.core.io.imagefolder import read_imagefolder
    from vision_studio.core.store import ProjectStore
    from vision_studio.gui.panels.monitor.panel import MonitorPanel
    from vision_studio.gui.state import AppState

    data, weights = SHARED / "data" / "hymenoptera", SHARED / "weights" / "tf_efficientnet_lite0_in1k_converted.pth"
    if not data.is_dir() or not weights.is_file():
        print(f"needs {data} and {weights}", file=sys.stderr)
        return 2
    app = QApplication.instance() or QApplication([])
    tmp = Path(tempfile.mkdtemp(prefix="bench_gui_"))
    project = tmp / "h.vsproj"
    with ProjectStore.create(project) as store:
        read_imagefolder(store, data)
    state = AppState()
    state.open_project(project)
    monitor = MonitorPanel(state)
    monitor.resize(1200, 800)
    monitor.show()
    import torch  # noqa: F401  (imported before measuring, as the app has by then)

    end = time.perf_counter() + args.idle_s
    idle = measure(app, args.interval_ms, lambda: time.perf_counter() > end)
    results = {}
    for workers in args.workers.split(","):
        busy = _train_once(app, state, project, tmp, weights, args, workers, monitor)
        results[workers] = busy
        print(f"training, num_workers={workers:4s} {_percentiles(busy)}")
    print(f"idle                      {_percentiles(idle)}")
    import numpy as np

    p99_idle = np.percentile(idle, 99)
    for workers, busy in results.items():
        p99 = np.percentile(busy, 99)
        print(f"num_workers={workers}: p99 ratio training/idle {p99 / max(p99_idle, 1e-3):.1f}x; "
              f"target p99 < 50 ms: {'met' if p99 < 50 else 'NOT met'}")
    if "0" in results and len(results) > 1:
        base = np.percentile(results["0"], 99)
        for workers, busy in results.items():
            if workers != "0":
                print(f"p99 num_workers={workers} / num_workers=0: "
                      f"{np.percentile(busy, 99) / max(base, 1e-3):.2f}")
    state.engine.shutdown()
    state.close_project()
    return 0


def _train_once(app, state, project, tmp, weights, args, workers: str, monitor) -> list[float]:
    """One training run on the engine; returns the event-loop latencies during it."""
    from vision_studio.core.training.config import TrainConfig

    cfg = TrainConfig.from_dict(dict(
        task="classification", arch="timm:tf_efficientnet_lite0", weights=str(weights),
        strategy={"name": "fine_tune"}, epochs=args.epochs, batch_size=8, lr=0.01,
        image_size=args.image_size, device="cpu", seed=0, max_steps_per_epoch=args.steps,
        max_val_batches=3, out_dir=str(tmp / f"run-{workers}"),
        num_workers=None if workers == "auto" else int(workers)))
    done: list[object] = []

    def ended(outcome: object) -> None:
        done.append(outcome)

    state.engine.runEnded.connect(ended)
    t0 = time.perf_counter()
    state.engine.start(project, cfg)
    busy = measure(app, args.interval_ms, lambda: bool(done))
    wall = time.perf_counter() - t0
    state.engine.runEnded.disconnect(ended)
    print(f"num_workers={workers}: torch threads for training: {state.engine.torch_threads}; "
          f"CPU cores: {os.cpu_count()}; run: {done[0].status}, {done[0].epochs_done} epochs "
          f"in {wall:.1f} s; batches drawn: {len(monitor.curves.batch_x)}")
    return busy


if __name__ == "__main__":
    raise SystemExit(main())
