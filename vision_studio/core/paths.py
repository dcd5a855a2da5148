"""Per-user folders of the app (data, logs), without Qt: the CLI and the GUI agree."""
from __future__ import annotations

import os
import sys
from pathlib import Path

APP_DIR_NAME = "vision-studio"


def user_data_dir() -> Path:
    """The per-user data folder (demo project, imported datasets, logs).

    ``$VISION_STUDIO_HOME`` wins when set; otherwise ``%LOCALAPPDATA%\\vision-studio`` on
    Windows, ``~/Library/Application Support/vision-studio`` on macOS and
    ``$XDG_DATA_HOME/vision-studio`` (default ``~/.local/share``) elsewhere.
    """
    override = os.environ.get("VISION_STUDIO_HOME")
    if override:
        return Path(override)
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local"))
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share"))
    return base / APP_DIR_NAME


def demo_dir() -> Path:
    """Where the built-in demo project lives."""
    return user_data_dir() / "demo"


def sha256_file(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file's bytes, read in 1 MiB blocks (any size, constant memory).

    Raises:
        OSError: the file cannot be read.
    """
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
