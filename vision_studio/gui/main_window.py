"""The main window: the welcome page until a project is open, then four tabs — Annotate,
Model, Training, Evaluate — over one shared :class:`AppState`. Small on purpose: it only
assembles panels, menus and the status bar, and opens/closes projects."""
from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QCloseEvent, QGuiApplication, QShowEvent
from PySide6.QtWidgets import (QApplication, QFrame, QMainWindow, QMessageBox, QScrollArea,
                               QSizePolicy, QStackedWidget,
                               QTabWidget, QWidget)

from vision_studio.core.errors import VisionStudioError
from vision_studio.gui import settings
from vision_studio.gui.dialogs.attach_run import AttachRun
from vision_studio.gui.dialogs.help import ABOUT_TEXT, PreferencesDialog, ShortcutsDialog
from vision_studio.gui.dialogs.export_dialog import ExportDialog
from vision_studio.gui.dialogs.import_export import ImportDialog, ProblemsDialog
from vision_studio.gui.menus import build_menus
from vision_studio.gui.panels.annotate.panel import AnnotatePanel
from vision_studio.gui.panels.evaluate.panel import EvaluatePanel
from vision_studio.gui.panels.health.panel import HealthPanel
from vision_studio.gui.panels.model.panel import ModelPanel
from vision_studio.gui.panels.monitor.panel import MonitorPanel
from vision_studio.gui.state import AppState
from vision_studio.gui.welcome import WelcomePage
from vision_studio.gui.widgets.elided import ElidedLabel, show_status

log = logging.getLogger(__name__)

TAB_NAMES = ("annotate", "model", "training", "evaluate", "health")
FIRST_SIZE = (1400, 850)
"""The first window's size on a screen large enough for it (else the available area)."""


def first_size(win: QWidget) -> tuple[int, int]:
    """The size of a window opened for the first time: :data:`FIRST_SIZE`, or less so that
    it fits the available area of its screen with room for the title bar (a 1366×768 or
    1280×720 laptop screen gets a window inside it, not one whose title buttons and
    status bar are cut off)."""
    screen = win.screen() or QGuiApplication.primaryScreen()
    if screen is None:
        return FIRST_SIZE
    avail = screen.availableGeometry()
    return (min(FIRST_SIZE[0], avail.width() - 16), min(FIRST_SIZE[1], avail.height() - 48))


def size_by_current_page(pages: QTabWidget | QStackedWidget) -> None:
    """Let only the page shown count for the minimum size of ``pages``: a QTabWidget or
    QStackedWidget asks for the largest minimum of all its pages, so one wide page (the
    Evaluate tab's bars, the welcome page) pushed every tab behind a horizontal scroll
    bar. Hidden pages get an ``Ignored`` size policy (Qt's layouts then ask nothing of
    them); the shown one gets ``Preferred`` back."""
    current = pages.currentWidget()
    for i in range(pages.count()):
        page = pages.widget(i)
        policy = QSizePolicy.Policy.Preferred if page is current else QSizePolicy.Policy.Ignored
        page.setSizePolicy(policy, policy)
        page.updateGeometry()


def clamp_to_screen(win: QWidget) -> None:
    """Shrink and move ``win`` so that its frame lies inside its screen's available
    area (a geometry saved on a larger screen, or after a window grew too wide)."""
    screen = win.screen() or QGuiApplication.primaryScreen()
    if screen is None:
        return
    avail = screen.availableGeometry()
    frame, inner = win.frameGeometry(), win.geometry()
    dw, dh = frame.width() - inner.width(), frame.height() - inner.height()  # decorations
    w = min(inner.width(), avail.width() - dw)
    h = min(inner.height(), avail.height() - dh)
    if (w, h) != (inner.width(), inner.height()):
        win.resize(max(w, 1), max(h, 1))
    frame = win.frameGeometry()
    x = min(max(frame.x(), avail.x()), avail.right() + 1 - frame.width())
    y = min(max(frame.y(), avail.y()), avail.bottom() + 1 - frame.height())
    if (x, y) != (frame.x(), frame.y()):
        win.move(max(x, avail.x()), max(y, avail.y()))


class MainWindow(QMainWindow):
    """The application window.

    Attributes:
        state: The shared :class:`AppState`.
        welcome: The start page.
        tabs: The panel tabs (Annotate, Model, Training, Evaluate).
        annotate: The :class:`AnnotatePanel`.
        actions: Window-level actions by name (see :func:`build_menus`).
    """

    def __init__(self, state: AppState | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Vision Studio")
        self.state = state or AppState(self)
        self.welcome = WelcomePage(self)
        self.annotate = AnnotatePanel(self.state, self)
        self.tabs = QTabWidget(self)
        self.tabs.addTab(self.annotate, "Annotate")
        self.model_panel = ModelPanel(self.state, self)
        self.monitor = MonitorPanel(self.state, self)
        self.tabs.addTab(self.model_panel, "Model")
        self.tabs.addTab(self.monitor, "Training")
        self.state.engine.started.connect(lambda _ev: self.show_panel("training"))
        self.evaluate = EvaluatePanel(self.state, self)
        self.tabs.addTab(self.evaluate, "Evaluate")
        self.evaluate.openInAnnotate.connect(lambda _id: self.show_panel("annotate"))
        self.health = HealthPanel(self.state, self)
        self.tabs.addTab(self.health, "Health")
        self.health.openInAnnotate.connect(self._show_image)
        self.stack = QStackedWidget(self)
        self.stack.addWidget(self.welcome)
        self.stack.addWidget(self.tabs)
        # A safety net for trap 5: whatever a panel asks for as its minimum width (a long
        # text, a wide form), the window can still be made as small as the screen; the
        # page then scrolls instead of pushing the window's edges off-screen.
        self.scroll = QScrollArea(self)
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.scroll.setWidget(self.stack)
        self.setCentralWidget(self.scroll)
        self.project_label = ElidedLabel("", self)
        self.statusBar().addPermanentWidget(self.project_label)
        self.attach_run = AttachRun(self.state, self)
        self.actions = build_menus(self)
        self.welcome.openRequested.connect(self.open_project)
        self.state.statusMessage.connect(lambda m: show_status(self.statusBar(), m))
        self.state.projectOpened.connect(self._on_opened)
        self.state.projectClosed.connect(self._on_closed)
        self.tabs.currentChanged.connect(self._on_tab)
        self.stack.currentChanged.connect(lambda _i: size_by_current_page(self.stack))
        size_by_current_page(self.stack)
        size_by_current_page(self.tabs)
        self._update_enabled()
        self.resize(*first_size(self))
        geometry, window_state = settings.window_geometry()
        if geometry is not None:
            self.restoreGeometry(geometry)
        if window_state is not None:
            self.restoreState(window_state)
        clamp_to_screen(self)
        self._shown_once = False
        splitter = settings.value("annotate/splitter")
        if splitter is not None:
            self.annotate.splitter.restoreState(splitter)

    # ------------------------------------------------------------------ projects
    def open_project(self, path: str | Path) -> bool:
        """Open a project file; a bad file is reported in a message box (never a crash).
        While a run trains, ask first: "Yes" stops it (resumable), "No" keeps the
        current project open (False)."""
        path = Path(path)
        if not self._stop_training_first(f"open {path.name}"):
            return False
        try:
            self.state.open_project(path)
        except VisionStudioError as exc:
            QMessageBox.warning(self, "Cannot open the project", f"{path}:\n{exc}")
            return False
        settings.add_recent_project(path)
        return True

    def close_project(self) -> bool:
        """Close the project (all edits are already in the file) and show the welcome
        page; while a run trains, ask first (False when the user keeps it open)."""
        if not self._stop_training_first("close the project"):
            return False
        self.state.close_project()
        return True

    def _stop_training_first(self, what: str) -> bool:
        """True when no run trains, or the user agreed to stop it (it is stopped at the
        next batch, with a resumable checkpoint, before this returns): a run of one
        project must not go on under another project's tabs."""
        engine = self.state.engine
        if self.state.store is None or not engine.busy:
            return True
        if QMessageBox.question(self, "Training in progress",
                                f"A training run is in progress. Stop it (it can be resumed "
                                f"later) and {what}?") != QMessageBox.StandardButton.Yes:
            return False
        engine.shutdown()
        QApplication.processEvents()  # the run's end (queued from its thread) arrives
        return not engine.busy

    def _on_opened(self, store) -> None:
        self.stack.setCurrentWidget(self.tabs)
        self.tabs.setCurrentWidget(self.annotate)
        self.setWindowTitle(f"{store.path.stem} — Vision Studio")
        self.project_label.setText(f"{store.path}  ·  saved automatically")
        self._update_enabled()

    def _on_closed(self) -> None:
        # Nothing of this project may stay on show for the next one (issue 19 item 5):
        # the Annotate, Model and Training panels reset on projectClosed themselves.
        self.evaluate.clear()
        self.welcome.refresh()
        self.stack.setCurrentWidget(self.welcome)
        self.setWindowTitle("Vision Studio")
        self.project_label.setText("")
        self._update_enabled()

    def _on_tab(self, _index: int) -> None:
        size_by_current_page(self.tabs)
        self._update_enabled()


    def _update_enabled(self) -> None:
        has_project = self.state.store is not None
        for key in ("close", "import", "export", "attach_run", "problems"):
            self.actions[key].setEnabled(has_project)
        on_annotate = has_project and self.tabs.currentWidget() is self.annotate
        for act in self.annotate.actions.values():
            act.setEnabled(on_annotate)

    def show_panel(self, name: str) -> None:
        """Bring tab ``name`` (one of :data:`TAB_NAMES`) to the front."""
        self.tabs.setCurrentIndex(TAB_NAMES.index(name))

    # ------------------------------------------------------------------ dialogs
    def show_import(self) -> ImportDialog | None:
        """Open the Import dialog (non-modal result handling: the browser refreshes)."""
        if self.state.store is None:
            return None
        dlg = ImportDialog(self.state.store, self)
        dlg.undo_stack = self.state.undo_stack  # issue 19: an import is one undo step
        dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dlg.setWindowModality(Qt.WindowModality.WindowModal)  # the project stays open meanwhile
        dlg.imported.connect(lambda _r: (self.state.check_categories(),
                                         self.state.imagesChanged.emit()))
        dlg.imageRequested.connect(self._show_image)
        dlg.show()
        return dlg

    def show_problems(self) -> ProblemsDialog | None:
        """View → Problems in the project: every recorded problem, clickable."""
        if self.state.store is None:
            return None
        dlg = ProblemsDialog(self.state.store, self)
        dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dlg.imageRequested.connect(self._show_image)
        dlg.show()
        return dlg

    def _show_image(self, image_id: int) -> None:
        self.show_panel("annotate")
        self.state.showImageRequested.emit(image_id)

    def show_export(self) -> ExportDialog | None:
        """Open the Export dialog."""
        if self.state.store is None:
            return None
        dlg = ExportDialog(self.state.store, self)
        dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dlg.setWindowModality(Qt.WindowModality.WindowModal)
        dlg.exported.connect(lambda out: self.state.statusMessage.emit(f"Exported to {out}"))
        dlg.show()
        return dlg

    def show_shortcuts(self) -> ShortcutsDialog:
        """Open Help → Keyboard shortcuts."""
        dlg = ShortcutsDialog(self.menuBar(), self)
        dlg.show()
        return dlg

    def show_about(self) -> None:
        """Help → About."""
        QMessageBox.about(self, "About Vision Studio", ABOUT_TEXT)

    def show_preferences(self) -> None:
        """File → Preferences."""
        PreferencesDialog(self).exec()

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 - Qt override
        """On the first show (when the frame's decorations are known), clamp the window
        to its screen again."""
        super().showEvent(event)
        if not self._shown_once:
            self._shown_once = True
            clamp_to_screen(self)

    # ------------------------------------------------------------------ closing
    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt override
        """Save the layout, stop background threads, close the project. While a run
        trains, ask first; "Yes" stops it (a resumable checkpoint is written)."""
        if self.state.engine.busy and QMessageBox.question(
                self, "Training in progress", "A training run is in progress. Stop it "
                "(it can be resumed later) and quit?") != QMessageBox.StandardButton.Yes:
            event.ignore()
            return
        settings.save_window(self.saveGeometry(), self.saveState())
        settings.set_value("annotate/splitter", self.annotate.splitter.saveState())
        self.shutdown()
        super().closeEvent(event)

    def shutdown(self) -> None:
        """Stop worker threads and close the project (idempotent)."""
        self.welcome.shutdown()
        self.attach_run.shutdown()
        self.annotate.shutdown()
        self.model_panel.shutdown()
        self.evaluate.shutdown()
        self.health.shutdown()
        self.state.engine.shutdown()
        self.state.close_project()
