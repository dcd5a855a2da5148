"""Start-up time to the first window: the PyInstaller bundle vs ``python -m vision_studio``.

Both run ``--smoke PROJECT --smoke-window-only`` offscreen (no display needed), which
creates the QApplication and the main window, shows it, prints "first window after X s
since process start" (from /proc, so the interpreter's or bootloader's own start-up is
included) and exits. Each variant runs ``--repeat`` times, alternating, after one
warm-up run each (file cache); the medians are compared.

    python benchmarks/bench_startup.py --project P.vsproj [--bundle dist/vision-studio]
"""
from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run_once(cmd: list[str], project: Path) -> tuple[float, float]:
    """(seconds to the first window as printed by the app, wall seconds to exit)."""
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env["QT_QPA_PLATFORM"] = "offscreen"
    t0 = time.perf_counter()
    proc = subprocess.run(cmd + ["--smoke", str(project), "--smoke-window-only"],
                          capture_output=True, text=True, env=env, cwd=REPO, timeout=600)
    wall = time.perf_counter() - t0
    found = re.search(r"first window after ([0-9.]+) s", proc.stdout)
    if proc.returncode != 0 or not found:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stdout}\n{proc.stderr}")
    return float(found.group(1)), wall


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--project", type=Path, required=True)
    p.add_argument("--bundle", type=Path, default=REPO / "dist" / "vision-studio")
    p.add_argument("--repeat", type=int, default=5)
    args = p.parse_args()
    variants = {"source (python -m vision_studio)": [sys.executable, "-m", "vision_studio"],
                "bundle (PyInstaller one-folder)": [str(args.bundle / "vision-studio")]}
    results: dict[str, list[tuple[float, float]]] = {k: [] for k in variants}
    for name, cmd in variants.items():
        run_once(cmd, args.project)  # warm-up: file cache
    for _ in range(args.repeat):
        for name, cmd in variants.items():
            results[name].append(run_once(cmd, args.project))
    base = None
    for name, runs in results.items():
        first = statistics.median(r[0] for r in runs)
        wall = statistics.median(r[1] for r in runs)
        base = base or first
        print(f"{name:34s} first window {first:5.2f} s (median of {len(runs)}; "
              f"min {min(r[0] for r in runs):.2f}), wall to exit {wall:5.2f} s, "
              f"ratio {first / base:.2f}x source")


if __name__ == "__main__":
    main()
