"""The error types the core raises for bad input. Each message names the file (or the
item) and the problem, in words a user can act on; the CLI prints it on one line and the
GUI shows it in a dialog."""
from __future__ import annotations


class VisionStudioError(Exception):
    """Base of every error the core raises on purpose (bad input, invalid settings)."""


class FormatError(VisionStudioError):
    """An annotation file (COCO JSON, VOC XML, labelme JSON, mask PNG...) is broken or
    unsafe; the message names the file and what is wrong."""


class ConfigError(VisionStudioError):
    """A training/evaluation setting is invalid; the message names the field."""


class StoreError(VisionStudioError):
    """A project file cannot be opened or written (not a project, locked, read-only, disk
    full...), or an operation on it is invalid; never a raw ``sqlite3`` error."""
