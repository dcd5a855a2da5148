"""COCO import/export speed and memory against pycocotools, measured in the same run.

Generates a synthetic COCO file (default 100k images, 1M annotations: boxes, and 10 %
polygons of 8 points), then measures, each in a fresh subprocess:

* baseline: ``json.load`` of the file plus ``pycocotools.coco.COCO`` indexing of it
  (``COCO(path)`` does exactly that);
* import: ``read_coco(..., check_images=False)`` into a new project file;
* export: ``write_coco`` of that project to a new JSON file.

Each measurement prints wall-clock seconds, CPU seconds (user + system: steadier than
wall time on a shared, loaded machine) and the subprocess's peak resident memory
(``resource.getrusage(RUSAGE_SELF).ru_maxrss``, so the interpreter and its imports are
included alike; CPU time includes start-up and imports too). Ratios are relative to the baseline; targets: import <= 2x, export
<= 1x. Run by hand::

    python benchmarks/bench_coco_io.py                     # full size (several minutes)
    python benchmarks/bench_coco_io.py --images 2000 --annotations 20000   # quick
    python benchmarks/bench_coco_io.py --keep /tmp/coco_1m.json   # generate once, reuse

Measured on the shared 2-core development machine (load average 4-13, so wall times
swing; CPU times vary by up to ~10 % between runs), full size, 164 MB file, CPU seconds
(two runs each; ``--keep`` reused one generated file):

=========  ================  ====================  ==================
           baseline          import                export
=========  ================  ====================  ==================
before     5.36 / 5.24       14.69 / 14.19         4.31 / 4.23
           933 MB            2.74x / 2.71x         0.80x / 0.81x
                             1088 MB (1.17x)       109 MB (0.12x)
after      5.27 / 5.43       8.19 / 8.47           4.23 / 4.24
           933 MB            1.55x / 1.56x         0.80x / 0.78x
                             1417 MB (1.52x)       110 MB (0.12x)
=========  ================  ====================  ==================

What each import change bought (CPU s on 1M annotations; the first three by removing
one change from the final code, two runs each: 8.36-8.46 s with all of them):

* garbage collector paused during the import (``io.common.gc_paused``): 2.2-2.7 s.
  Most of json/orjson parsing time was the cyclic collector walking the growing
  document (orjson alone: 3.4 s -> 1.3 s).
* ``orjson`` instead of ``json`` (stdlib kept as fallback and as judge of what orjson
  refuses or would round; the digit-run scan for >64-bit integers costs 0.15 s):
  1.1-1.3 s, at the price of +330 MB peak memory (orjson's intermediate document).
* annotation indexes rebuilt once (``ProjectStore.bulk_transaction``): 0.7-0.8 s.
* empty JSON columns bound as ``""`` under ``NULLIF(?, '')`` instead of ``None`` (the
  ``sqlite3`` module sends ``None`` through its adapter look-up): inserts 3.2 -> 2.3 s.
* images as row tuples through ``executemany`` (``add_image_rows``): 100k images
  0.87 -> 0.51 s (1.34 s before, with the collector running).

Round trip (issue 13 item 5: ids, official areas, crowd RLE encoding, image fields kept
through schema v2 ``extra``) and input checks, measured against the code before it
(commit c1e9774, in a second worktree) in alternating runs on the same loaded machine
(load average 5-9), CPU seconds and CPU ratio to the baseline of the same run:

===========  =========================  =========================  ==========================
size         baseline (old / new run)   import old -> new          export old -> new
===========  =========================  =========================  ==========================
200k anns    1.03 1.01 1.01 /           1.67x 1.79x 1.76x ->       0.91x 0.98x 0.94x ->
(20k imgs)   1.02 1.03 1.01             1.78x 1.78x 1.79x          1.03x 1.06x 1.13x
1M anns      4.91 / 5.10                1.70x -> 1.69x             0.87x -> 0.96x
                                        (8.32 -> 8.61 s)           (4.25 -> 4.89 s; peak
                                                                   110 -> 240 MB)
===========  =========================  =========================  ==========================

Import: the imported ``area`` is stored as given instead of rasterising every polygon
(saves the 1.6 s per 100k polygons above), which pays for the new per-annotation checks
and ``extra`` text. Export: reading each annotation's ``extra`` text (its imported id and
area, parsed with string operations, about 0.3 us per row) and the set of kept
annotation ids (duplicates are possible when several files are exported together) cost
about 0.6 us per annotation, partly paid back by not importing numpy on the export path
(0.07 s) and by file names made with string operations once per root (0.07 s per 20k
images). At 200k annotations the export is about 5-10 % over the target (fixed costs:
the store now parses each image's ``extra``, 0.04 s per 20k images); at 1M it is met.

Measured and not kept: pycocotools polygon areas batched per image size (1.58 s vs
1.61 s per 100k polygons: the time is rasterisation in C, not per-call overhead);
``PRAGMA defer_foreign_keys`` (no gain); foreign keys off plus ``PRAGMA
foreign_key_check`` (about 0.2 s per 1M rows net, but the pragma cannot change inside
a transaction); a larger page cache (no gain); local-variable binding in the
validation loop (no gain). Remaining import CPU: parse 1.6 s, polygon areas 1.6 s,
inserts 2.3 s, validation loop 1.0 s, images 0.5 s, index rebuild and commit 0.8 s,
freeing the parsed document 0.3 s.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def generate(path: Path, n_images: int, n_anns: int, poly_fraction: float, seed: int = 0) -> None:
    """Write a synthetic COCO file, streamed (boxes inside the images, some polygons)."""
    rng = random.Random(seed)
    sizes = [(rng.choice((640, 800, 1024)), rng.choice((480, 600, 768))) for _ in range(n_images)]
    cats = [{"id": i, "name": f"class{i}", "supercategory": "thing"} for i in range(1, 81)]
    with open(path, "w") as f:
        f.write('{"info": {"description": "synthetic"}, "licenses": [], "categories": ')
        f.write(json.dumps(cats) + ', "images": [')
        f.write(",".join(json.dumps({"id": i + 1, "file_name": f"img/{i:07d}.jpg", "width": w,
                                     "height": h}) for i, (w, h) in enumerate(sizes)))
        f.write('], "annotations": [')
        for k in range(n_anns):
            img = k * n_images // n_anns
            w_img, h_img = sizes[img]
            w, h = rng.uniform(4, w_img / 3), rng.uniform(4, h_img / 3)
            x, y = rng.uniform(0, w_img - w), rng.uniform(0, h_img - h)
            x, y, w, h = (round(v, 2) for v in (x, y, w, h))
            seg: list = []
            if rng.random() < poly_fraction:
                cx, cy = x + w / 2, y + h / 2
                seg = [[round(v, 2) for v in (cx, y, x + w, y + h / 4, x + w, cy, x + 3 * w / 4,
                                              y + h, cx, y + h, x, y + 3 * h / 4, x, cy,
                                              x + w / 4, y)]]
            ann = {"id": k + 1, "image_id": img + 1, "category_id": rng.randint(1, 80),
                   "bbox": [x, y, w, h], "area": round(w * h, 2), "segmentation": seg,
                   "iscrowd": 0}
            f.write(("," if k else "") + json.dumps(ann))
        f.write("]}")


CHILD = r"""
import contextlib, io, json, resource, sys, time
kind, src, work = sys.argv[1], sys.argv[2], sys.argv[3]
t0 = time.perf_counter()  # after interpreter start-up, before imports
if kind == "baseline":
    from pycocotools.coco import COCO
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO(src)
    n = len(coco.anns)
elif kind == "import":
    from vision_studio.core.store import ProjectStore
    from vision_studio.core.io.coco import read_coco
    store = ProjectStore.create(work + "/bench.vsproj")
    report = read_coco(store, src, check_images=False)
    store.close()
    n = report.annotations
else:
    from vision_studio.core.store import ProjectStore
    from vision_studio.core.io.coco_write import write_coco
    store = ProjectStore.open(work + "/bench.vsproj")
    n = write_coco(store, work + "/export/out.json")["annotations"]
    store.close()
seconds = time.perf_counter() - t0
usage = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"seconds": seconds, "cpu": usage.ru_utime + usage.ru_stime,
                  "peak_mb": usage.ru_maxrss / 1024, "annotations": n}))
"""


def measure(kind: str, src: Path, work: Path) -> dict:
    """Run one measurement in a fresh interpreter; returns its JSON line."""
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = subprocess.run([sys.executable, "-c", CHILD, kind, str(src), str(work)], env=env,
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=100_000)
    parser.add_argument("--annotations", type=int, default=1_000_000)
    parser.add_argument("--polygons", type=float, default=0.1, help="fraction with a polygon")
    parser.add_argument("--workdir", type=Path, default=None, help="default: a temp folder")
    parser.add_argument("--keep", type=Path, default=None,
                        help="generated file to reuse (generated there first if missing; "
                             "it must have been made with the same sizes)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        work = Path(tmp)
        src = args.keep or work / "synthetic.json"
        t0 = time.perf_counter()
        if not src.exists():
            generate(src, args.images, args.annotations, args.polygons)
            print(f"generated {src.stat().st_size / 1e6:.0f} MB ({args.images} images, "
                  f"{args.annotations} annotations) in {time.perf_counter() - t0:.1f} s")
        else:
            print(f"reusing {src} ({src.stat().st_size / 1e6:.0f} MB)")
        results = {k: measure(k, src, work) for k in ("baseline", "import", "export")}
    base = results["baseline"]
    print(f"{'':10} {'wall s':>8} {'CPU s':>8} {'peak MB':>8} {'wall ratio':>11} "
          f"{'CPU ratio':>10} {'mem ratio':>10}")
    for kind, r in results.items():
        print(f"{kind:10} {r['seconds']:8.2f} {r['cpu']:8.2f} {r['peak_mb']:8.0f} "
              f"{r['seconds'] / base['seconds']:10.2f}x {r['cpu'] / base['cpu']:9.2f}x "
              f"{r['peak_mb'] / base['peak_mb']:9.2f}x")
    imp, exp = results["import"], results["export"]
    print("targets: import <= 2.00x, export <= 1.00x of the baseline; met (wall / CPU): "
          f"import {imp['seconds'] <= 2 * base['seconds']} / {imp['cpu'] <= 2 * base['cpu']}, "
          f"export {exp['seconds'] <= base['seconds']} / {exp['cpu'] <= base['cpu']}")
    print(f"load average during the run: {os.getloadavg()}, CPUs: {os.cpu_count()}")
    counts = {k: r["annotations"] for k, r in results.items()}
    if len(set(counts.values())) != 1:
        print(f"WARNING: annotation counts differ: {counts}")


if __name__ == "__main__":
    main()
