"""What a non-editable install ships, and the set-up script's own checks (fast).

The packaging metadata in ``pyproject.toml`` must cover every file the package needs at
run time: a resource that the globs of ``[tool.setuptools.package-data]`` miss works in
the editable dev install and is absent from the wheel users get. The wheel itself is
built in ``tests/e2e/test_install.py`` (slow).
"""
from __future__ import annotations

import fnmatch
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "vision_studio"
INSTALL = REPO / "scripts" / "install.sh"


def _pyproject() -> dict:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        tomllib = pytest.importorskip("tomli")
    return tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))


def _data_files() -> list[Path]:
    """Files under the package that are not Python sources or caches."""
    return [p for p in PACKAGE.rglob("*") if p.is_file() and p.suffix not in (".py", ".pyc")
            and "__pycache__" not in p.parts]


def test_package_data_globs_cover_every_resource() -> None:
    globs = _pyproject()["tool"]["setuptools"]["package-data"]["vision_studio"]
    files = _data_files()
    assert any(p.name == "icon.png" for p in files), "the app icon moved: update this test"
    missed = [str(p.relative_to(PACKAGE)) for p in files
              if not any(fnmatch.fnmatch(p.relative_to(PACKAGE).as_posix(), g) for g in globs)]
    assert not missed, f"not in the wheel (add to package-data): {missed}"


def test_every_subpackage_is_found() -> None:
    include = _pyproject()["tool"]["setuptools"]["packages"]["find"]["include"]
    dirs = {p.parent for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts}
    for d in sorted(dirs):
        assert (d / "__init__.py").is_file(), f"{d.relative_to(REPO)} has modules but no __init__.py"
        name = ".".join(d.relative_to(REPO).parts)
        assert any(fnmatch.fnmatch(name, g) for g in include), f"{name} not included"


def _run_install(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(INSTALL), *args], capture_output=True, text=True,
                          timeout=60, env=env, stdin=subprocess.DEVNULL)


def test_install_script_parses_and_explains_itself() -> None:
    assert subprocess.run(["bash", "-n", str(INSTALL)]).returncode == 0
    proc = _run_install("--help")
    assert proc.returncode == 0 and "--venv DIR" in proc.stdout and "PYTHON=" in proc.stdout


def test_install_script_bad_input_is_one_error_line(tmp_path: Path) -> None:
    proc = _run_install("--frobnicate")
    assert proc.returncode == 1 and proc.stderr.strip() == \
        "error: unknown option '--frobnicate' (see --help)"
    import os
    env = dict(os.environ, PYTHON=str(tmp_path / "no-python"))
    venv = tmp_path / "venv"
    proc = _run_install("--no-system-libs", "--venv", str(venv), env=env)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [f"error: PYTHON={tmp_path / 'no-python'}: no such interpreter"]
    assert not venv.exists()
