"""The non-editable install and the set-up script's second run (slow).

``test_wheel_is_complete_and_runs_installed``: builds the wheel (``pip wheel --no-deps``),
checks it holds every module and resource of the checkout, installs it with
``pip install --no-deps --target`` into a temporary folder and runs it from a folder
outside the checkout with that folder first on ``PYTHONPATH``: the imported
``vision_studio`` must be the installed copy, ``demo --no-gui`` and an offscreen
``screenshot`` must work, and no module may come from the checkout. The dependencies
(torch, Qt, ...) are the running environment's; reinstalling torch into a fresh venv
would take minutes and gigabytes for no extra evidence about this package.

``test_second_run_changes_nothing``: when the tests run from a virtual environment made
by ``scripts/install.sh`` for this checkout, a second run reports "up to date" and
leaves ``pip freeze`` unchanged (skipped otherwise).

Run: ``.venv/bin/python -m pytest tests/e2e/test_install.py -m slow -s``.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "vision_studio"


def _checkout_files() -> set[str]:
    """Package files a wheel must hold (POSIX paths relative to the repository)."""
    return {p.relative_to(REPO).as_posix() for p in PACKAGE.rglob("*")
            if p.is_file() and p.suffix != ".pyc" and "__pycache__" not in p.parts}


def _build_wheel(out: Path) -> Path:
    """Build from a clean copy of the sources: an in-tree build reuses ``build/lib`` and
    would ship stale files that the metadata no longer selects."""
    pytest.importorskip("setuptools", minversion="64")  # built without isolation: offline
    src = out.parent / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(REPO / name, src / name)
    shutil.copytree(PACKAGE, src / "vision_studio", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                           "-q", "-w", str(out), str(src)], capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    wheels = list(out.glob("vision_studio-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


def _env(site: Path, home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "DISPLAY", "WAYLAND_DISPLAY")}
    env.update(PYTHONPATH=str(site), VISION_STUDIO_HOME=str(home), QT_QPA_PLATFORM="offscreen",
               PYTHONNOUSERSITE="1")
    return env


_RUN_INSTALLED = r"""
import importlib.resources, os, sys
site, repo_pkg, out = sys.argv[1:4]
import vision_studio
assert vision_studio.__file__.startswith(site + os.sep), vision_studio.__file__
icon = importlib.resources.files("vision_studio") / "resources" / "icon.png"
assert icon.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", "icon.png missing or not a PNG"
from vision_studio.cli import main
assert main(["demo", "--no-gui"]) == 0
demo = os.path.join(os.environ["VISION_STUDIO_HOME"], "demo")
project = next(os.path.join(demo, f) for f in os.listdir(demo) if f.endswith(".vsproj"))
assert main(["screenshot", "--project", project, "--panel", "annotate", "--out", out]) == 0
bad = sorted({m.__file__ for m in list(sys.modules.values())
              if (getattr(m, "__file__", None) or "").startswith(repo_pkg + os.sep)})
assert not bad, f"imported from the checkout: {bad[:5]}"
print("installed copy OK:", vision_studio.__file__)
"""


def test_wheel_is_complete_and_runs_installed(tmp_path: Path) -> None:
    wheel = _build_wheel(tmp_path / "wheels")
    names = set(zipfile.ZipFile(wheel).namelist())
    missing = _checkout_files() - names
    assert not missing, f"in the checkout but not in the wheel: {sorted(missing)[:10]}"
    assert "vision_studio/resources/icon.png" in names
    entry = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    assert "vision-studio = vision_studio.cli:main" in zipfile.ZipFile(wheel).read(entry).decode()

    site = tmp_path / "site"
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index",
                           "--target", str(site), str(wheel)], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    work = tmp_path / "elsewhere"
    work.mkdir()
    png = tmp_path / "annotate.png"
    proc = subprocess.run([sys.executable, "-c", _RUN_INSTALLED, str(site), str(PACKAGE), str(png)],
                          cwd=work, env=_env(site, tmp_path / "home"), capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    assert "installed copy OK" in proc.stdout
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    # The console script the wheel declares runs too (its shebang is this interpreter).
    script = site / "bin" / "vision-studio"
    if script.is_file():
        proc = subprocess.run([str(script), "info", "--project",
                               str(next((tmp_path / "home" / "demo").glob("*.vsproj")))],
                              cwd=work, env=_env(site, tmp_path / "home"), capture_output=True,
                              text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr[-2000:]


def _freeze(python: Path) -> str:
    return subprocess.run([str(python), "-m", "pip", "freeze", "--all"], capture_output=True,
                          text=True, timeout=120, check=True).stdout


def test_second_run_changes_nothing() -> None:
    venv = Path(sys.prefix)
    if not (venv / ".vision-studio-install").is_file():
        pytest.skip("not running from a virtual environment made by scripts/install.sh")
    before = _freeze(venv / "bin" / "python")
    t0 = time.perf_counter()
    proc = subprocess.run(["bash", str(REPO / "scripts" / "install.sh"), "--venv", str(venv),
                           "--no-system-libs"], capture_output=True, text=True, timeout=600,
                          stdin=subprocess.DEVNULL, env={k: v for k, v in os.environ.items()
                                                         if k != "PYTHON"})
    print(f"\nsecond run of install.sh: {time.perf_counter() - t0:.1f} s")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "up to date" in proc.stdout, proc.stdout
    assert _freeze(venv / "bin" / "python") == before
