"""Render a panel of the app on a real project to a PNG without a display (offscreen Qt),
so anyone can look at the app: ``vision-studio screenshot``."""
from __future__ import annotations

import os
import time
from pathlib import Path

from vision_studio.core.errors import VisionStudioError

PANELS = ("annotate", "model", "training", "evaluate", "health", "health-map")
"""``health`` runs "Find problems" first (the Health tab's weights setting) and shows the
issues; ``health-map`` shows the map of the same search."""


def _settle(app, seconds: float) -> None:
    """Process events for ``seconds`` (thumbnails and pre-decoding arrive meanwhile)."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.01)


def _run_health(app, panel, map_page: bool, timeout_s: float = 1800.0) -> None:
    """Run the Health tab's search and wait for it (and its map) to end."""
    if not panel.find_problems():
        raise VisionStudioError("dataset health: the search could not start")
    end = time.monotonic() + timeout_s
    while panel.busy():
        if time.monotonic() > end:
            panel.cancel()
            raise VisionStudioError(f"dataset health: no result after {timeout_s:.0f} s")
        _settle(app, 0.1)
    if panel.result is None:
        raise VisionStudioError(f"dataset health: {panel.status.text()}")
    if map_page:
        panel.pages.setCurrentWidget(panel.map)


def render_screenshot(project: Path, panel: str, out: Path, image: int | None = None,
                      size: tuple[int, int] = (1400, 850)) -> Path:
    """Open ``project`` in the main window, show ``panel`` and save the window as a PNG.

    Args:
        project: The ``.vsproj`` file.
        panel: One of :data:`PANELS`.
        out: The PNG to write (folders are created).
        image: Id of the image to show on the canvas (default: the first of the list).
        size: Window ``(width, height)`` in pixels.

    Raises:
        VisionStudioError: unknown panel or image, unreadable project, PNG not written.
    """
    if panel not in PANELS:
        raise VisionStudioError(f"unknown panel {panel!r}; choose one of {', '.join(PANELS)}")
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from vision_studio.gui.app import make_app
    from vision_studio.gui.main_window import MainWindow

    app = make_app()
    window = MainWindow()
    try:
        window.show()  # the first show clamps the window to the screen; the PNG
        window.resize(*size)  # may be larger (offscreen, nothing is off any screen)
        window.state.open_project(project)  # raises StoreError naming the file
        window.show_panel("health" if panel.startswith("health") else panel)
        if panel.startswith("health"):
            _run_health(app, window.health, map_page=panel == "health-map")
        if image is not None and not window.annotate.show_image_id(image):
            raise VisionStudioError(f"{project}: no image with id {image}")
        _settle(app, 0.3)
        window.annotate.model.wait_for_thumbnails(20000)
        _settle(app, 0.3)  # no fit() here: the PNG shows what a user sees on opening
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        if not window.grab().save(str(out)):
            raise VisionStudioError(f"{out}: could not write the PNG")
        return out
    finally:
        window.shutdown()
        window.deleteLater()
        app.processEvents()
