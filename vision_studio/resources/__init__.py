"""Files shipped with the app (icons); found next to this module in a source checkout,
a wheel install and the PyInstaller bundle alike."""
from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parent


def icon_path(kind: str = "png") -> Path:
    """The app icon file: ``"png"`` (256 px), ``"svg"`` or ``"ico"`` (Windows, 16-256 px)."""
    return HERE / f"icon.{kind}"
