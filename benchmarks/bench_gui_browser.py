"""Time to first paint of the image browser on a 100k-image / 1M-annotation project.

Run by hand (offscreen)::

    python benchmarks/bench_gui_browser.py [--images 100000] [--annotations 1000000]

The project is generated once into ``/tmp/vs_bench_browser/`` (images are paths only:
the thumbnails show their "cannot decode" placeholder, which is not what is timed).

Measured, each in the same run:

* ``paged``: what the app does — ``BrowserModel`` reads the matching ids only and fetches
  the records of the visible page; timed from ``ProjectStore.open`` to the end of the
  first ``repaint()`` of a shown ``ImageBrowser`` (and the same through the whole
  ``MainWindow.open_project``).
* ``baseline``: the naive model — every ``ImageRecord`` built up front with
  ``store.images()`` plus per-image annotation counts, then the same paint.
* scrolling: mean/max time of a ``repaint()`` after moving the scroll bar by one page,
  60 times, and after jumping to the middle of the list.
* a filtered view (``labelled=False``, ``name_contains``) re-query time.

Target (issue 5): first paint < 1 s.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vision_studio.core.store import ProjectStore  # noqa: E402
from vision_studio.core.types import Annotation, ImageRecord  # noqa: E402
from vision_studio.gui.panels.annotate.browser import BrowserModel, ImageBrowser  # noqa: E402

OUT = Path("/tmp/vs_bench_browser")


def generate(n_images: int, n_anns: int) -> Path:
    """The benchmark project (built once; ~1 min for 1M annotations on 2 cores)."""
    path = OUT / f"bench_{n_images}_{n_anns}.vsproj"
    if path.exists():
        return path
    OUT.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    with ProjectStore.create(path) as store:
        cats = store.add_categories([(f"class_{i}", None, "") for i in range(20)])
        ims = store.add_images(ImageRecord(path=f"images/{i // 1000:03d}/im_{i:06d}.jpg", width=640,
                                           height=480, split=("train", "val", "test")[i % 3])
                               for i in range(n_images))
        per = n_anns // max(1, int(n_images * 0.8))  # 20 % of the images stay unlabelled
        batch: list[Annotation] = []
        for k in range(n_anns):
            im = ims[(k // max(per, 1)) % int(n_images * 0.8)]
            batch.append(Annotation(image_id=im.id, category_id=cats[k % 20].id,
                                    bbox=(10 + k % 300, 20 + k % 200, 30, 40)))
            if len(batch) == 50000:
                store.add_annotations(batch)
                batch = []
        if batch:
            store.add_annotations(batch)
    print(f"generated {path} in {time.perf_counter() - t:.1f} s")
    return path


def open_browser(path: Path):
    """``(store, model, view)``: the app's paged image browser (96 px thumbnails,
    300 x 800, shown) on the project at ``path``."""
    store = ProjectStore.open(path)
    model = BrowserModel(thumb_size=96)
    view = ImageBrowser(model)
    view.resize(300, 800)
    view.show()
    model.set_store(store)
    return store, model, view


def close_browser(store, model, view) -> None:
    model.shutdown()
    view.close()
    store.close()


def paged_first_paint(path: Path, app) -> float:
    t = time.perf_counter()
    store, model, view = open_browser(path)
    view.select_row(0)
    view.viewport().repaint()
    dt = time.perf_counter() - t
    close_browser(store, model, view)
    return dt


def baseline_first_paint(path: Path, app) -> float:
    """Naive: build every record and count annotations of every image before painting."""
    from PySide6.QtCore import QAbstractListModel, QModelIndex, Qt
    from PySide6.QtWidgets import QListView

    class AllRecords(QAbstractListModel):
        def __init__(self, store: ProjectStore) -> None:
            super().__init__()
            self.records = store.images()
            counts = {}
            for a in store.iter_annotations():
                counts[a.image_id] = counts.get(a.image_id, 0) + 1
            self.counts = counts

        def rowCount(self, parent=QModelIndex()) -> int:  # noqa: N802
            return len(self.records)

        def data(self, index, role=Qt.ItemDataRole.DisplayRole):
            if role == Qt.ItemDataRole.DisplayRole:
                r = self.records[index.row()]
                return f"{Path(r.path).name}\n{self.counts.get(r.id, 0)} objects"
            return None

    t = time.perf_counter()
    store = ProjectStore.open(path)
    model = AllRecords(store)
    view = QListView()
    view.setViewMode(QListView.ViewMode.IconMode)
    view.setMovement(QListView.Movement.Static)
    view.setUniformItemSizes(True)
    view.setModel(model)
    view.resize(300, 800)
    view.show()
    view.viewport().repaint()
    dt = time.perf_counter() - t
    view.close()
    store.close()
    return dt


def window_first_paint(path: Path, app) -> float:
    from vision_studio.gui.main_window import MainWindow

    win = MainWindow()
    win.resize(1400, 850)
    win.show()
    app.processEvents()
    t = time.perf_counter()
    win.state.open_project(path)
    win.repaint()
    dt = time.perf_counter() - t
    win.shutdown()
    win.close()
    return dt


def scrolling(path: Path, app) -> tuple[list[float], float, float]:
    from vision_studio.core.store.filters import ImageFilter

    store, model, view = open_browser(path)
    view.viewport().repaint()
    bar = view.verticalScrollBar()
    steps = []
    for _ in range(60):
        t = time.perf_counter()
        bar.setValue(bar.value() + bar.pageStep())
        view.viewport().repaint()
        app.processEvents()
        steps.append(time.perf_counter() - t)
    t = time.perf_counter()
    bar.setValue(bar.maximum() // 2)
    view.viewport().repaint()
    jump = time.perf_counter() - t
    filt = {}
    for name, flt in (("unlabelled", ImageFilter(labelled=False)),
                      ("category 3 in val", ImageFilter(split="val", category_id=3)),
                      ("name contains im_09", ImageFilter(name_contains="im_09"))):
        t = time.perf_counter()
        model.set_filter(flt)
        view.viewport().repaint()
        filt[name] = (time.perf_counter() - t, model.rowCount())
    close_browser(store, model, view)
    return steps, jump, filt


def main() -> None:
    import logging

    logging.disable(logging.WARNING)  # the canvas warns that the generated paths do not exist
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=100_000)
    parser.add_argument("--annotations", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    from vision_studio.gui.app import make_app

    app = make_app()
    path = generate(args.images, args.annotations)
    print(f"project: {path} ({path.stat().st_size / 2**20:.0f} MiB), "
          f"{args.images:,} images, {args.annotations:,} annotations")
    paged = [paged_first_paint(path, app) for _ in range(args.repeats)]
    base = [baseline_first_paint(path, app) for _ in range(args.repeats)]
    window = [window_first_paint(path, app) for _ in range(args.repeats)]
    steps, jump, filt = scrolling(path, app)
    p, b = statistics.median(paged), statistics.median(base)
    print(f"first paint, paged browser (ours):   median {p * 1000:7.1f} ms  (runs: "
          + ", ".join(f"{x * 1000:.0f}" for x in paged) + ")")
    print(f"first paint, load-everything model:  median {b * 1000:7.1f} ms  (runs: "
          + ", ".join(f"{x * 1000:.0f}" for x in base) + ")")
    print(f"ratio baseline / ours: {b / p:.1f}x   target < 1000 ms: {'met' if p < 1 else 'NOT met'}")
    print(f"open project in the main window to first paint: median "
          f"{statistics.median(window) * 1000:.1f} ms")
    print(f"scroll one page + repaint: mean {statistics.mean(steps) * 1000:.1f} ms, "
          f"max {max(steps) * 1000:.1f} ms ({1 / statistics.mean(steps):.0f} frames/s)")
    print(f"jump to the middle + repaint: {jump * 1000:.1f} ms")
    for name, (dt, rows) in filt.items():
        print(f"filter '{name}' + repaint: {dt * 1000:.1f} ms ({rows:,} rows)")


if __name__ == "__main__":
    main()
