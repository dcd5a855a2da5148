"""``bench_canvas.py --large``: the canvas on 24-megapixel photos and a 40,000 x 40,000 TIFF.

1. **Next on large photos**: ``--images`` real photos of ``raccoon_voc`` up-scaled to
   6000 x 4000 (bicubic, JPEG quality 90, written to a temporary folder). Next latency
   (``show_image`` + forced repaint) cold (cache emptied before each Next) and
   pre-decoded (neighbours prefetched, ``--dwell`` seconds on each image), for the
   baseline — the full-resolution decode the canvas used before (forced here by raising
   ``image_cache.LARGE_SIDE`` above the image size) — and the reduced decode, in the same
   run. Targets: p95 < 50 ms pre-decoded, < 150 ms cold.
2. **Pan at 1:1** on one of those photos: frames/s of 7-pixel scrolls with forced
   repaints, after the visible full-resolution tiles have arrived (more load in the
   background as the view moves). Target >= 30.
3. **A 40,000 x 40,000 tiled pyramidal TIFF** written by the benchmark (zlib, procedural
   content, 5 levels): open-to-first-paint (``show_image`` + repaint), pan at 1:1 in
   frames/s, and the peak resident memory of the process (``ru_maxrss``) after it (run
   first, before the photos fill the decoded-image cache).
   Targets: < 1 s, >= 30 frames/s, < 1 GB.
"""
from __future__ import annotations

import resource
import statistics
import time
from pathlib import Path

import numpy as np
from PIL import Image
from PySide6.QtCore import QPointF
from PySide6.QtGui import QUndoStack

from vision_studio.core.store import ProjectStore
from vision_studio.core.types import ImageRecord
from vision_studio.gui import image_cache
from vision_studio.gui.widgets.canvas import AnnotationCanvas

RACCOON = Path(__file__).resolve().parents[2] / "shared" / "data" / "raccoon_voc" / "images"


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _photos(root: Path, n: int) -> list[str]:
    files = sorted(RACCOON.glob("*.jpg"))[:n]
    out = []
    for i, f in enumerate(files):
        with Image.open(f) as im:
            big = im.convert("RGB").resize((6000, 4000), Image.Resampling.BICUBIC)
        name = f"big_{i:02d}.jpg"
        big.save(root / name, quality=90)
        out.append(name)
    return out


def _slide(path: Path, side: int = 40000, tile: int = 256, levels: int = 5) -> None:
    """A pyramidal tiled BigTIFF written tile by tile (never whole in memory)."""
    import tifffile

    def tiles(level_side: int):
        k = side // level_side
        for ty in range(0, level_side, tile):
            for tx in range(0, level_side, tile):
                yy, xx = np.mgrid[ty:ty + tile, tx:tx + tile] * k
                arr = np.stack([(xx // 97) % 256, (yy // 89) % 256, ((xx // 1000 + yy // 1000) % 2) * 180], 2)
                yield arr.astype(np.uint8)

    with tifffile.TiffWriter(path, bigtiff=True) as tw:
        tw.write(tiles(side), shape=(side, side, 3), dtype=np.uint8, tile=(tile, tile), photometric="rgb",
                 compression="zlib", subifds=levels - 1)
        for k in range(1, levels):
            s = side // 2 ** k
            tw.write(tiles(s), shape=(s, s, 3), dtype=np.uint8, tile=(tile, tile), photometric="rgb",
                     compression="zlib", subfiletype=1)


def _next(next_latency, app, store, images, prefetch, dwell, full_res: bool) -> list[float]:
    """bench_canvas's Next latency, with the full-resolution decode forced for the baseline."""
    old = image_cache.LARGE_SIDE
    image_cache.LARGE_SIDE = 10**9 if full_res else old
    try:
        return next_latency(app, store, images, prefetch, dwell)
    finally:
        image_cache.LARGE_SIDE = old


def _pan_1to1(app, canvas, frames: int, centre: QPointF) -> float:
    canvas.centerOn(centre)
    canvas.zoom_1to1()
    end = time.perf_counter() + 20  # let the visible tiles arrive: the pan then paints them
    while time.perf_counter() < end and (len(canvas._detail) == 0 or canvas._detail._pending):
        app.processEvents()
        time.sleep(0.005)
    bar = canvas.horizontalScrollBar()
    app.processEvents()
    t0 = time.perf_counter()
    direction = 1
    for _ in range(frames):
        if not bar.minimum() < bar.value() + 7 * direction < bar.maximum():
            direction = -direction
        bar.setValue(bar.value() + 7 * direction)
        app.processEvents()  # the tile timer and arriving tiles run as in the app
        canvas.viewport().repaint()
    return frames / (time.perf_counter() - t0)


def run_large(app, wait, pct, next_latency, tmp: Path, n_images: int, dwell: float, frames: int) -> None:
    """Print the three measurements of the module docstring."""
    slide = tmp / "slide.tif"
    t0 = time.perf_counter()
    _slide(slide)
    print(f"wrote a 40000x40000 pyramidal TIFF ({slide.stat().st_size / 2**20:.0f} MiB) in "
          f"{time.perf_counter() - t0:.1f} s")
    store = ProjectStore.create(tmp / "slide.vsproj", root=tmp)
    im = store.add_image(ImageRecord(path="slide.tif", width=40000, height=40000))
    canvas = AnnotationCanvas(store, QUndoStack())
    canvas.resize(1400, 900)
    canvas.show()
    app.processEvents()
    t0 = time.perf_counter()
    canvas.show_image(im)
    canvas.viewport().repaint()
    first = time.perf_counter() - t0
    fps = _pan_1to1(app, canvas, frames, QPointF(20000, 20000))
    canvas._detail.wait()
    print(f"  open to first paint {first * 1000:.0f} ms (target < 1000: {'met' if first < 1 else 'NOT met'}); "
          f"pan at 1:1 {fps:.1f} frames/s with {len(canvas._detail)} tiles loaded "
          f"(target >= 30: {'met' if fps >= 30 else 'NOT met'}); "
          f"peak RSS of the process {_rss_mb():.0f} MB (target < 1024: {'met' if _rss_mb() < 1024 else 'NOT met'})")
    canvas.close()
    store.close()

    if not RACCOON.is_dir():
        raise SystemExit(f"dataset not found: {RACCOON}")
    print()
    t0 = time.perf_counter()
    names = _photos(tmp, n_images)
    print(f"wrote {len(names)} 6000x4000 JPEGs in {time.perf_counter() - t0:.1f} s")
    store = ProjectStore.create(tmp / "large.vsproj", root=tmp)
    images = [store.add_image(ImageRecord(path=n, width=6000, height=4000)) for n in names]
    print(f"Next-image latency, {len(images) - 1} steps over 6000x4000 photos (show_image + repaint):")
    rows = {}
    for label, full, pre, d in (("full decode, cold (baseline)", True, False, dwell),
                                ("full decode, pre-decoded", True, True, dwell),
                                ("reduced decode, cold", False, False, dwell),
                                ("reduced decode, pre-decoded", False, True, dwell)):
        t = _next(next_latency, app, store, images, pre, d, full)
        rows[label] = t
        print(f"  {label:30s} p50 {statistics.median(t):6.1f} ms   p95 {pct(t, 95):6.1f} ms   max {max(t):6.1f} ms")
    b_cold, b_pre = rows["full decode, cold (baseline)"], rows["full decode, pre-decoded"]
    r_cold, r_pre = rows["reduced decode, cold"], rows["reduced decode, pre-decoded"]
    print(f"  ratio full/reduced p95: cold {pct(b_cold, 95) / pct(r_cold, 95):.1f}x, pre-decoded "
          f"{pct(b_pre, 95) / pct(r_pre, 95):.1f}x   targets: pre-decoded p95 < 50 ms "
          f"{'met' if pct(r_pre, 95) < 50 else 'NOT met'}, cold p95 < 150 ms "
          f"{'met' if pct(r_cold, 95) < 150 else 'NOT met'}")
    canvas = AnnotationCanvas(store, QUndoStack())
    canvas.resize(1400, 900)
    canvas.show()
    canvas.show_image(images[0])
    fps = _pan_1to1(app, canvas, frames, QPointF(3000, 2000))
    print(f"  pan at 1:1 on a 6000x4000 photo: {fps:.1f} frames/s ({len(canvas._detail)} tiles loaded) "
          f"target >= 30: {'met' if fps >= 30 else 'NOT met'}; peak RSS so far {_rss_mb():.0f} MB")
    canvas.close()
    store.close()

