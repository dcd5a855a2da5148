"""The Linux bundle, end to end: ``packaging/build_linux.sh`` builds the PyInstaller
one-folder app and the tarball; the BUILT executable's ``--smoke`` self-test passes on a
project imported from ``../shared/data/rbc_coco``, offscreen and under Xvfb.

Slow (a full PyInstaller build of torch + Qt: ~15-30 min on 2 cores and ~5 GB of disk):
``python -m pytest tests/e2e/test_packaging.py -m slow -s``. Set
``VS_PACKAGING_REUSE=1`` to test an existing ``dist/vision-studio`` without rebuilding.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
APP = REPO / "dist" / "vision-studio"
PANELS = ("annotate", "model", "training", "evaluate", "health")


def _version() -> str:
    from vision_studio import __version__
    return __version__


@pytest.fixture(scope="module")
def bundle() -> Path:
    """Build with build_linux.sh (once per module); returns the app folder."""
    if sys.platform != "linux":
        pytest.skip("the Linux bundle is built on Linux")
    if not (os.environ.get("VS_PACKAGING_REUSE") and (APP / "vision-studio").is_file()):
        t0 = time.perf_counter()
        env = dict(os.environ, VS_GZIP_LEVEL=os.environ.get("VS_GZIP_LEVEL", "1"))  # speed
        proc = subprocess.run(["bash", str(REPO / "packaging" / "build_linux.sh")], cwd=REPO,
                              capture_output=True, text=True, timeout=3 * 3600, env=env)
        tail = (proc.stdout + proc.stderr)[-4000:]
        assert proc.returncode == 0, tail
        print(f"\nbuild_linux.sh: {time.perf_counter() - t0:.0f} s\n"
              + "\n".join(l for l in proc.stdout.splitlines() if l.startswith("[build_linux]")))
    assert (APP / "vision-studio").is_file() and (APP / "vision-studio-cli").is_file()
    return APP


def _make_rbc_project(src: Path, folder: Path) -> Path:
    from vision_studio.core.io.coco import read_coco
    from vision_studio.core.store import ProjectStore

    path = folder / "rbc.vsproj"
    store = ProjectStore.create(path, root=src)
    for split in ("train", "valid", "test"):
        report = read_coco(store, src / split / "_annotations.coco.json")
        assert report.images > 0, report.summary()
    assert store.image_count() == 240
    store.close()
    return path


@pytest.fixture(scope="module")
def rbc_project(tmp_path_factory) -> Path:
    """All of rbc_coco (train/valid/test, 240 images) imported with the core COCO importer
    (module scope, so the ``data_dir`` fixture's rule is applied here: skip if absent)."""
    shared = Path(os.environ.get("VISION_STUDIO_SHARED", REPO.parent / "shared"))
    src = shared / "data" / "rbc_coco"
    if not src.is_dir():
        pytest.skip(f"real dataset 'rbc_coco' not found at {src} (../shared/data is absent)")
    return _make_rbc_project(src, tmp_path_factory.mktemp("rbc"))


def _env(tmp_path: Path, offscreen: bool) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM", "PYTHONPATH")}
    env["VISION_STUDIO_HOME"] = str(tmp_path / "home")
    if offscreen:
        env["QT_QPA_PLATFORM"] = "offscreen"
    return env


def _run_smoke(cmd: list[str], project: Path, out: Path, env: dict[str, str]) -> str:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd + ["--smoke", str(project), "--smoke-out", str(out)],
                          capture_output=True, text=True, timeout=900, env=env)
    text = proc.stdout + proc.stderr
    print(f"\n{' '.join(cmd[-1:])} --smoke: {time.perf_counter() - t0:.1f} s\n{proc.stdout}")
    assert proc.returncode == 0, text[-4000:]
    report = (out / "smoke_report.txt").read_text()
    assert "[smoke] PASSED: 5 of 5 steps" in report
    assert "240 images, 3 categories" in report
    assert sorted(p.name for p in out.glob("panel_*.png")) == \
        [f"panel_{i}_{name}.png" for i, name in enumerate(PANELS)]
    return report


def test_built_app_smoke_offscreen(bundle, rbc_project, tmp_path):
    report = _run_smoke([str(bundle / "vision-studio")], rbc_project, tmp_path / "out",
                        _env(tmp_path, offscreen=True))
    assert "Qt platform offscreen" in report


def test_built_app_smoke_under_xvfb(bundle, rbc_project, tmp_path):
    if shutil.which("xvfb-run") is None:
        pytest.skip("xvfb-run is not installed (Debian package xvfb)")
    report = _run_smoke(["xvfb-run", "-a", str(bundle / "vision-studio")], rbc_project,
                        tmp_path / "out", _env(tmp_path, offscreen=False))
    assert "Qt platform xcb" in report


def test_built_cli_and_tarball(bundle, tmp_path):
    version = _version()
    proc = subprocess.run([str(bundle / "vision-studio-cli"), "--version"], capture_output=True,
                          text=True, timeout=300, env=_env(tmp_path, offscreen=True))
    assert proc.returncode == 0 and proc.stdout.strip() == f"vision-studio {version}"
    tarball = REPO / "dist" / f"vision-studio-{version}-linux-x86_64.tar.gz"
    assert tarball.is_file()
    top = f"vision-studio-{version}"
    with tarfile.open(tarball) as tar:
        names = set()
        for member in tar:  # streamed: the archive is several GB
            if member.name.count("/") <= 1:
                names.add(member.name)
    for name in ("vision-studio", "vision-studio-cli", "vision-studio.desktop",
                 "vision-studio.png", "install-desktop-entry.sh", "_internal"):
        assert f"{top}/{name}" in names
    desktop = (bundle / "vision-studio.desktop").read_text()
    assert "Exec=vision-studio" in desktop and "Icon=vision-studio" in desktop
