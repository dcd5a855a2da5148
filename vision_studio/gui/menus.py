"""The main window's menus: every action of the app, with shortcuts and tooltips, so that
everything is discoverable (Help → Keyboard shortcuts lists them all)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMenu, QMenuBar

from vision_studio.gui import settings
from vision_studio.gui.dialogs.attach_run import AttachRun
from vision_studio.gui.dialogs.help import make_action
from vision_studio.gui.panels.annotate.panel import AnnotatePanel
from vision_studio.gui.state import AppState
from vision_studio.gui.welcome import WelcomePage


class MainWindow(Protocol):
    """What the menus need of the main window (``vision_studio.gui.main_window``
    implements it; a protocol, so that this module does not import that one back)."""

    state: AppState
    welcome: WelcomePage
    annotate: AnnotatePanel
    recent_menu: QMenu
    attach_run: AttachRun

    def menuBar(self) -> QMenuBar: ...  # noqa: N802, D102 - Qt's name
    def close(self) -> bool: ...  # noqa: D102
    def open_project(self, path: str | Path) -> bool: ...  # noqa: D102
    def close_project(self) -> bool: ...  # noqa: D102
    def show_import(self) -> Any: ...  # noqa: D102
    def show_export(self) -> Any: ...  # noqa: D102
    def show_problems(self) -> Any: ...  # noqa: D102
    def show_preferences(self) -> None: ...  # noqa: D102
    def show_shortcuts(self) -> Any: ...  # noqa: D102
    def show_about(self) -> None: ...  # noqa: D102


def build_menus(win: MainWindow) -> dict[str, QAction]:
    """Fill ``win.menuBar()``; returns the window-level actions by name."""
    a: dict[str, QAction] = {}
    _file_menu(win, a)
    _edit_menu(win, a)
    _annotate_menu(win)
    _view_and_help_menus(win, a)
    for menu in win.menuBar().findChildren(QMenu):
        menu.setToolTipsVisible(True)  # hovering an item shows its tooltip (with its keys)
    return a


def _file_menu(win: MainWindow, a: dict[str, QAction]) -> None:
    file = win.menuBar().addMenu("&File")
    a["new"] = make_action(win, "&New project from a folder of images…", win.welcome.ask_new_project,
                           ("Ctrl+N",), "Create a project that lists every image of a folder")
    a["open"] = make_action(win, "&Open project…", win.welcome.ask_open, ("Ctrl+O",),
                            "Open a .vsproj project file")
    a["demo"] = make_action(win, "Open the &demo project", win.welcome.open_demo, (),
                            "A small ready-made project from scikit-image's sample photos")
    for key in ("new", "open", "demo"):
        file.addAction(a[key])
    win.recent_menu = file.addMenu("Open &recent")
    win.recent_menu.aboutToShow.connect(lambda: fill_recent(win))
    a["close"] = make_action(win, "&Close project", win.close_project, ("Ctrl+W",),
                             "Close the project (everything is already saved)")
    file.addAction(a["close"])
    file.addSeparator()
    a["import"] = make_action(win, "&Import…", win.show_import, ("Ctrl+I",),
                              "Import COCO, Pascal VOC, labelme, label images or image folders")
    a["export"] = make_action(win, "&Export…", win.show_export, ("Ctrl+E",),
                              "Export to COCO JSON, Pascal VOC or label PNGs (edits are saved "
                              "automatically; this writes a copy in another format)")
    file.addAction(a["import"])
    file.addAction(a["export"])
    a["attach_run"] = make_action(win, "&Attach checkpoint trained elsewhere…", win.attach_run.ask, (),
                                  "Add a best.pt / last.pt trained on another machine to the project as a "
                                  "run, for Evaluate, Pre-label and Label next (the file is copied, never changed)")
    file.addAction(a["attach_run"])
    file.addSeparator()
    a["preferences"] = make_action(win, "&Preferences…", win.show_preferences, ("Ctrl+,",),
                                   "Thumbnail size, data folder")
    file.addAction(a["preferences"])
    a["quit"] = make_action(win, "&Quit", win.close, ("Ctrl+Q",), "Quit (everything is saved)")
    file.addAction(a["quit"])


def _edit_menu(win: MainWindow, a: dict[str, QAction]) -> None:
    edit = win.menuBar().addMenu("&Edit")
    undo = win.state.undo_stack.createUndoAction(win, "&Undo")
    undo.setShortcuts([QKeySequence("Ctrl+Z")])
    undo.setToolTip("Undo the last edit (Ctrl+Z); unlimited within a session")
    undo.setStatusTip("Undo the last edit, unlimited within a session")
    redo = win.state.undo_stack.createRedoAction(win, "&Redo")
    redo.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
    redo.setToolTip("Redo (Ctrl+Shift+Z or Ctrl+Y)")
    redo.setStatusTip("Redo what was undone")
    a["undo"], a["redo"] = undo, redo
    edit.addAction(undo)
    edit.addAction(redo)
    edit.addSeparator()
    for name in ("delete", "copy", "paste", "paste_next"):
        edit.addAction(win.annotate.actions[name])


def _annotate_menu(win: MainWindow) -> None:
    panel = win.annotate.actions
    annotate = win.menuBar().addMenu("&Annotate")
    for name in ("select", "box", "polygon"):
        annotate.addAction(panel[name])
    for act in win.annotate.assist.menu_actions():  # issue 14: pre-label, review, Label next
        annotate.addSeparator() if act is None else annotate.addAction(act)
    annotate.addSeparator()
    for act in win.annotate.masks.menu_actions():  # issue 19: mask painting
        annotate.addAction(act)
    annotate.addSeparator()
    cats = annotate.addMenu("&Category keys (selection, image tag or next shape)")
    for n in range(1, 10):
        cats.addAction(panel[f"category_{n}"])
    annotate.addSeparator()
    for text, slot, tip in (
            ("Add category…", win.annotate.categories.ask_add, "Add a category"),
            ("Rename category…", win.annotate.categories.ask_rename, "Rename the current category"),
            ("Merge categories…", win.annotate.categories.ask_merge,
             "Merge the selected categories into one"),
            ("Delete categories…", win.annotate.categories.ask_delete,
             "Delete the selected categories with their shapes")):
        annotate.addAction(make_action(win, text, slot, (), tip))


def _view_and_help_menus(win: MainWindow, a: dict[str, QAction]) -> None:
    panel = win.annotate.actions
    view = win.menuBar().addMenu("&View")
    for name in ("next", "previous", "next_unlabelled"):
        view.addAction(panel[name])
    view.addSeparator()
    for name in ("fit", "zoom_1to1"):
        view.addAction(panel[name])
    view.addAction(make_action(win, "Reset brightness / contrast", win.annotate.reset_display, (),
                               "Show the image as stored"))
    view.addSeparator()
    a["problems"] = make_action(win, "&Problems in the project…", win.show_problems, ("Ctrl+Shift+P",),
                                "Every problem found at import or decoding; double-click to "
                                "show the image")
    view.addAction(a["problems"])

    helpm = win.menuBar().addMenu("&Help")
    from vision_studio.gui.dialogs.guide import show_guide  # issue 19: the built-in guide

    a["guide"] = make_action(win, "&Guide: label → train → review → fix", lambda: show_guide(win),
                             ("Shift+F1",), "A short guide, one page per step of the work")
    helpm.addAction(a["guide"])
    a["shortcuts"] = make_action(win, "&Keyboard shortcuts", win.show_shortcuts, ("F1",),
                                 "Every key of the app")
    a["about"] = make_action(win, "&About Vision Studio", win.show_about, (), "Version and credits")
    helpm.addAction(a["shortcuts"])
    helpm.addAction(a["about"])


def fill_recent(win: MainWindow) -> QMenu:
    """Rebuild the Open recent submenu from QSettings."""
    menu = win.recent_menu
    menu.clear()
    recent = settings.recent_projects()
    for p in recent:
        act = menu.addAction(str(p))
        act.setToolTip(f"Open {p}")
        act.triggered.connect(lambda _c=False, path=p: win.open_project(path))
    if not recent:
        menu.addAction("(none)").setEnabled(False)
    else:
        menu.addSeparator()
        menu.addAction("Clear the list").triggered.connect(settings.clear_recent_projects)
    return menu
