"""The core must import without Qt (DESIGN.md: core never imports gui or Qt)."""
from __future__ import annotations

import pkgutil
import subprocess
import sys

import vision_studio.core


def _core_modules() -> list[str]:
    return sorted(m.name for m in pkgutil.walk_packages(vision_studio.core.__path__, "vision_studio.core."))


def test_importing_every_core_module_loads_no_qt():
    mods = _core_modules()
    assert "vision_studio.core.store" in mods
    code = ("import sys, importlib\n"
            f"for m in {mods!r}: importlib.import_module(m)\n"
            "import vision_studio.cli; vision_studio.cli.build_parser()\n"
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
            "('PySide6', 'shiboken6', 'PyQt5', 'PyQt6', 'pyqtgraph'))\n"
            "print(','.join(bad))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "", f"Qt modules loaded by the core: {out.stdout}"
