"""Start-up time to the first window: the PyInstaller bundle vs ``python -m vision_studio``.

Both run ``--smoke PROJECT --smoke-window-only`` offscreen (no display needed), which
creates the QApplication and the main window, shows it, prints "first window after X s
since process start" (from /proc, so the interpreter's or bootloader's own start-up is
included) and exits. Each variant runs ``--repeat`` times, alternating, after one
warm-up run each (file cache); the medians are compared, as ratios to the source
start-up measured in the same run.

From a source checkout without a built bundle (no ``dist/``), only the source start-up
is measured (the bundle line says it was skipped). Without ``--project``, the demo
project is built in a temporary folder and opened.

    python benchmarks/bench_startup.py [--project P.vsproj] [--bundle dist/vision-studio]
"""
from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
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


def variants(bundle: Path) -> dict[str, list[str]]:
    """The commands to time: the source always, the bundle when it has been built."""
    out = {"source (python -m vision_studio)": [sys.executable, "-m", "vision_studio"]}
    exe = bundle / ("vision-studio.exe" if sys.platform == "win32" else "vision-studio")
    if exe.is_file():
        out["bundle (PyInstaller one-folder)"] = [str(exe)]
    else:
        print(f"bundle: skipped ({exe} not found; build it with packaging/ to compare)")
    return out


def measure(cmds: dict[str, list[str]], project: Path, repeat: int
            ) -> dict[str, list[tuple[float, float]]]:
    """``repeat`` alternating runs of each command after one warm-up run each."""
    results: dict[str, list[tuple[float, float]]] = {k: [] for k in cmds}
    for cmd in cmds.values():
        run_once(cmd, project)  # warm-up: file cache
    for _ in range(repeat):
        for name, cmd in cmds.items():
            results[name].append(run_once(cmd, project))
    return results


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--project", type=Path, default=None,
                   help="project to open (default: the demo project, built in a temp folder)")
    p.add_argument("--bundle", type=Path, default=REPO / "dist" / "vision-studio")
    p.add_argument("--repeat", type=int, default=5)
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="vs-bench-startup-") as tmp:
        project = args.project
        if project is None:
            sys.path.insert(0, str(REPO))
            from vision_studio.core.demo import build_demo_project

            project = build_demo_project(Path(tmp) / "demo")
        report(measure(variants(args.bundle), project, args.repeat))


def report(results: dict[str, list[tuple[float, float]]]) -> None:
    """One line per command: median first-window time and wall time, ratio to source."""
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
