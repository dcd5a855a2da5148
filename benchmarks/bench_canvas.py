"""Annotation canvas speed: Next-image latency and frame time while panning.

Run by hand (offscreen)::

    python benchmarks/bench_canvas.py                 # uses ../shared/data/brain_tumor_coco_seg
    python benchmarks/bench_canvas.py --images 40 --polygons 1000
    python benchmarks/bench_canvas.py --large         # 6000x4000 photos, a 40000x40000 TIFF

1. **Next-image latency** on the real 640×640 MRI slices of ``brain_tumor_coco_seg``
   (imported with ``read_coco``): the time from ``show_image(next)`` to the end of a
   forced repaint of the viewport (``viewport().repaint()``), i.e. until the new image
   and its annotations are on screen. Three ways, in the same run:

   * *baseline, no pre-decoding*: the cache is emptied before each Next, so the file is
     decoded on the GUI thread (what a canvas without pre-decoding does);
   * *pre-decoded*: after each image is shown the canvas is asked to ``prefetch`` the
     next and previous ones, and the user looks at the image for ``--dwell`` seconds
     (events processed meanwhile) before pressing Next;
   * *pre-decoded, key held down*: the same with no dwell (Next as fast as possible; the
     canvas waits for the decode already running in the background).

   Reports p50 / p95 in milliseconds and the baseline/pre-decoded ratio. Target: p95 of
   the pre-decoded Next < 50 ms.

2. **Pan frame time**: an image with ``--polygons`` polygons of 8–14 vertices (each with
   its category label), zoomed to fit and zoomed 2×; each frame scrolls the view by 7
   pixels and forces a full repaint (``viewport().repaint()``); frames/s against the
   same image with no annotations (baseline). Target: ≥ 30 frames/s with 1,000 polygons.
   Also printed: ``show_image`` time of that image and the frame time of a zoom step
   (which redraws the cached shapes layer).
"""
from __future__ import annotations

import argparse
import math
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtGui import QUndoStack  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from vision_studio.core.io.coco import read_coco  # noqa: E402
from vision_studio.core.store import ProjectStore  # noqa: E402
from vision_studio.core.types import Annotation  # noqa: E402
from vision_studio.gui.widgets.canvas import AnnotationCanvas  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "brain_tumor_coco_seg"


def pct(values: list[float], q: float) -> float:
    """The q-th percentile (nearest rank) of values."""
    s = sorted(values)
    return s[min(len(s) - 1, max(0, math.ceil(q / 100 * len(s)) - 1))]


def wait(app: QApplication, seconds: float) -> None:
    """Process events for ``seconds`` (the user looking at the image)."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        app.processEvents()
        time.sleep(0.005)


def next_latency(app, store, images, prefetch: bool, dwell: float) -> list[float]:
    """Milliseconds from ``show_image`` to the end of the repaint, per Next."""
    canvas = AnnotationCanvas(store, QUndoStack())
    canvas.resize(900, 700)
    canvas.show()
    app.processEvents()
    canvas.show_image(images[0])
    times = []
    for i in range(1, len(images)):
        if prefetch:
            canvas.prefetch([images[i], images[i - 1]])
        else:
            canvas.cache.clear()
        wait(app, dwell)
        t0 = time.perf_counter()
        canvas.show_image(images[i])
        canvas.viewport().repaint()
        times.append((time.perf_counter() - t0) * 1000)
    canvas.cache.wait()
    canvas.close()
    return times


def pan_fps(app, canvas: AnnotationCanvas, frames: int) -> float:
    """Frames per second while scrolling 7 px per frame (forced full repaints)."""
    bar = canvas.horizontalScrollBar()
    canvas.viewport().repaint()
    t0 = time.perf_counter()
    direction = 1
    for _ in range(frames):
        if not bar.minimum() < bar.value() + 7 * direction < bar.maximum():
            direction = -direction
        bar.setValue(bar.value() + 7 * direction)
        canvas.viewport().repaint()
    return frames / (time.perf_counter() - t0)


def random_polygon(rng: random.Random, w: int, h: int) -> tuple[float, ...]:
    cx, cy, r = rng.uniform(20, w - 20), rng.uniform(20, h - 20), rng.uniform(4, 18)
    n = rng.randint(8, 14)
    pts = []
    for k in range(n):
        a = 2 * math.pi * k / n
        rr = r * rng.uniform(0.6, 1.0)
        pts += [cx + rr * math.cos(a), cy + rr * math.sin(a)]
    return tuple(pts)


def bench_pan(app, store, image, n_polygons: int, frames: int) -> None:
    rng = random.Random(0)
    cats = store.categories()
    anns = []
    for _ in range(n_polygons):
        p = random_polygon(rng, image.width, image.height)
        xs, ys = p[0::2], p[1::2]
        anns.append(Annotation(image_id=image.id, category_id=rng.choice(cats).id,
                               bbox=(min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)), polygons=(p,)))
    store.delete_annotations([a.id for a in store.annotations(image.id)])
    canvas = AnnotationCanvas(store, QUndoStack())
    canvas.resize(900, 700)
    canvas.show()
    app.processEvents()
    results = {}
    for label, count in (("no annotations (baseline)", 0), (f"{n_polygons} polygons", n_polygons)):
        if count:
            store.add_annotations(anns)
        t0 = time.perf_counter()
        canvas.show_image(image)
        load_ms = (time.perf_counter() - t0) * 1000
        canvas.fit()
        canvas.zoom_by(1.02)  # a little room to scroll
        fit = pan_fps(app, canvas, frames)
        canvas.zoom_by(2.0)
        zoomed = pan_fps(app, canvas, frames)
        t0 = time.perf_counter()
        for k in range(10):  # a zoom redraws the shapes layer (its cache is per zoom)
            canvas.zoom_by(1.1 if k % 2 else 1 / 1.1)
            canvas.viewport().repaint()
        zoom_ms = (time.perf_counter() - t0) * 100
        results[label] = (fit, zoomed)
        print(f"  {label:28s} show_image {load_ms:7.1f} ms   pan at fit {fit:6.1f} frames/s"
              f"   pan at 2x {zoomed:6.1f} frames/s   zoom step {zoom_ms:5.1f} ms/frame")
    base, full = results.values()
    print(f"  ratio (polygons / baseline frames/s): fit {full[0] / base[0]:.2f}, 2x {full[1] / base[1]:.2f}"
          f"   target >= 30 frames/s: {'met' if min(full) >= 30 else 'NOT met'}")
    canvas.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--images", type=int, default=60, help="images to step through")
    ap.add_argument("--polygons", type=int, default=1000)
    ap.add_argument("--frames", type=int, default=120)
    ap.add_argument("--dwell", type=float, default=0.15, help="seconds spent on each image")
    ap.add_argument("--large", action="store_true",
                    help="24-megapixel photos and a 40000x40000 TIFF instead (see benchmarks/_large_canvas.py)")
    args = ap.parse_args()
    if args.large:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from _large_canvas import run_large

        app = QApplication.instance() or QApplication([])
        with tempfile.TemporaryDirectory() as tmp:
            run_large(app, wait, pct, next_latency, Path(tmp), min(args.images, 12), args.dwell, args.frames)
        return
    if not DATA.is_dir():
        sys.exit(f"dataset not found: {DATA}")
    app = QApplication.instance() or QApplication([])
    with tempfile.TemporaryDirectory() as tmp:
        store = ProjectStore.create(Path(tmp) / "bench.vsproj", root=DATA)
        read_coco(store, DATA / "train" / "_annotations.coco.json", check_images=False)
        images = store.images()[: args.images]
        print(f"Next-image latency, {len(images) - 1} steps over real {images[0].width}x{images[0].height} "
              f"images of {DATA.name} (show_image + forced repaint):")
        rows = {}
        for label, pre, dwell in (("no pre-decoding (baseline)", False, args.dwell),
                                  ("pre-decoded", True, args.dwell),
                                  ("pre-decoded, key held down", True, 0.0)):
            t = next_latency(app, store, images, pre, dwell)
            rows[label] = t
            print(f"  {label:28s} p50 {statistics.median(t):6.1f} ms   p95 {pct(t, 95):6.1f} ms   "
                  f"max {max(t):6.1f} ms")
        base, pre = rows["no pre-decoding (baseline)"], rows["pre-decoded"]
        print(f"  ratio baseline/pre-decoded: p50 {statistics.median(base) / statistics.median(pre):.1f}x, "
              f"p95 {pct(base, 95) / pct(pre, 95):.1f}x   target p95 < 50 ms: "
              f"{'met' if pct(pre, 95) < 50 else 'NOT met'}")
        print(f"\nPan frame time, image {images[0].width}x{images[0].height}, canvas 900x700, "
              f"{args.frames} frames each:")
        bench_pan(app, store, images[0], args.polygons, args.frames)
        store.close()


if __name__ == "__main__":
    main()
