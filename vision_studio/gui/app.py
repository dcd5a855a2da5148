"""QApplication set-up and the GUI entry point used by ``python -m vision_studio`` and
``vision-studio gui``."""
from __future__ import annotations

import logging
import os
import sys
import traceback
from pathlib import Path
from types import TracebackType

from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication, QMessageBox

from vision_studio import __version__
from vision_studio.core.errors import VisionStudioError
from vision_studio.gui import settings
from vision_studio.resources import icon_path

log = logging.getLogger(__name__)


def error_text(exc: BaseException) -> str:
    """What a user is shown for ``exc``: the core's message as it is (it names the file
    and the problem), or the type and message of an unexpected error — never a traceback."""
    if isinstance(exc, VisionStudioError):
        return str(exc)
    return f"Unexpected error ({type(exc).__name__}): {exc}\nYour edits so far are saved."


def _excepthook(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
    """Show errors escaping Qt slots in a message box instead of dying."""
    if issubclass(kind, KeyboardInterrupt):
        sys.__excepthook__(kind, exc, tb)
        return
    log.error("uncaught error:\n%s", "".join(traceback.format_exception(kind, exc, tb)))
    app = QApplication.instance()
    if app is not None and os.environ.get("QT_QPA_PLATFORM") != "offscreen":
        QMessageBox.warning(app.activeWindow(), "Vision Studio", error_text(exc))


def make_app(argv: list[str] | None = None) -> QApplication:
    """The QApplication (created once): names for QSettings, Fusion style, error hook."""
    app = QApplication.instance()
    if app is None:
        app = QApplication(argv if argv is not None else sys.argv[:1])
    app.setOrganizationName(settings.ORGANIZATION)
    app.setApplicationName(settings.APPLICATION)
    app.setApplicationVersion(__version__)
    app.setStyle("Fusion")
    app.setWindowIcon(QIcon(str(icon_path("png"))))  # windows, taskbar and the About box
    sys.excepthook = _excepthook
    return app


def run_app(project: Path | None = None) -> int:
    """Open the main window (on ``project`` when given) and run the event loop.

    Returns:
        The event loop's exit code.
    """
    from vision_studio.gui.first_run import start_first_run_checks
    from vision_studio.gui.main_window import MainWindow
    from vision_studio.logging_setup import setup_logging

    log_file = setup_logging()  # the installed app's only trace: no console on Windows
    log.info("Vision Studio %s starting (log file %s)", __version__, log_file)
    app = make_app()
    window = MainWindow()
    window.show()
    gpu_check = start_first_run_checks(window)  # noqa: F841 - a notice if the GPU is unusable
    if project is not None:
        window.open_project(project)
    code = app.exec()
    window.shutdown()
    return code
