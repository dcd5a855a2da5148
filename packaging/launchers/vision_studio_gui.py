"""Entry script of the frozen GUI executable (``vision-studio`` / ``vision-studio.exe``).

PyInstaller freezes this file, not ``vision_studio/__main__.py``, so that the bundle
has a stable entry point: ``--smoke PROJECT`` runs the self-test of the built app,
anything else starts the GUI through :func:`vision_studio.__main__.main`.
"""
from __future__ import annotations

import multiprocessing
import sys


def _ensure_streams() -> None:
    """A windowed (console=False) executable on Windows has ``sys.stdout``/``sys.stderr``
    set to ``None``; libraries that write progress (tqdm) or warnings would crash on it."""
    import os

    for name in ("stdout", "stderr"):
        if getattr(sys, name) is None:
            setattr(sys, name, open(os.devnull, "w", encoding="utf-8"))


def _run() -> int:
    _ensure_streams()
    argv = sys.argv[1:]
    if "--smoke" in argv:
        from vision_studio.smoke import main as smoke_main
        return smoke_main(argv)
    from vision_studio.__main__ import main as gui_main
    return int(gui_main() or 0)


if __name__ == "__main__":
    # DataLoader workers re-launch this executable: let them run their task, not the GUI.
    multiprocessing.freeze_support()
    sys.exit(_run())
