"""User settings kept between sessions in ``QSettings`` (window layout, recent projects,
preferences). Tests redirect QSettings to a temporary folder (``tests/gui/conftest.py``)."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings

ORGANIZATION = "VisionStudio"
APPLICATION = "Vision Studio"
MAX_RECENT = 10


def settings() -> QSettings:
    """The app's settings object (INI format, user scope)."""
    return QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, ORGANIZATION, APPLICATION)


def recent_projects() -> list[Path]:
    """Recently opened project files, most recent first, those that still exist."""
    value = settings().value("recent_projects", [])
    if isinstance(value, str):  # QSettings returns a lone string for a 1-item list
        value = [value]
    return [Path(p) for p in (value or []) if Path(p).is_file()]


def add_recent_project(path: str | Path) -> list[Path]:
    """Put ``path`` first in the recent list (at most :data:`MAX_RECENT`); returns it."""
    path = Path(path).resolve()
    items = [path] + [p for p in recent_projects() if p.resolve() != path]
    items = items[:MAX_RECENT]
    settings().setValue("recent_projects", [str(p) for p in items])
    return items


def clear_recent_projects() -> None:
    """Forget the recent projects."""
    settings().setValue("recent_projects", [])


def save_window(geometry: QByteArray, state: QByteArray) -> None:
    """Store the main window's geometry and dock/toolbar state."""
    s = settings()
    s.setValue("window/geometry", geometry)
    s.setValue("window/state", state)


def window_geometry() -> tuple[QByteArray | None, QByteArray | None]:
    """The stored ``(geometry, state)`` of the main window, or ``None`` each."""
    s = settings()
    return s.value("window/geometry"), s.value("window/state")


def value(key: str, default: object = None) -> object:
    """A preference (``thumbnail_size``, ``data_folder``...)."""
    return settings().value(key, default)


def set_value(key: str, val: object) -> None:
    """Store a preference."""
    settings().setValue(key, val)


def thumbnail_size() -> int:
    """Thumbnail edge in pixels for the image browser (preference, default 96)."""
    try:
        return max(32, min(256, int(value("thumbnail_size", 96))))
    except (TypeError, ValueError):
        return 96
