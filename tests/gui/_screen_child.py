"""Child process of ``test_window_size.py``: the real main window on an offscreen screen of
a given size (Qt's offscreen platform reads the screen from a JSON config file, which
must be chosen before the QApplication exists, hence a child process).

Usage: ``python _screen_child.py SETTINGS_DIR WIDTH HEIGHT [PROJECT | save:WxH]``.
QSettings are redirected to SETTINGS_DIR. With ``save:WxH`` the window is resized to WxH
and closed, which saves its geometry (as a session on a larger screen did). Prints one
JSON object: the screen's available area, the window's frame after show, and per tab the
minimum size the window's content asks for, the window's size and whether any
widget-based scroll area shows a horizontal scroll bar.
"""
from __future__ import annotations

import json
import os
import sys
import tempfile

settings_dir, width, height = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
project = sys.argv[4] if len(sys.argv) > 4 else None
config = os.path.join(tempfile.mkdtemp(), "screen.json")
with open(config, "w") as f:
    json.dump({"screens": [{"name": "laptop", "x": 0, "y": 0, "width": width,
                            "height": height}]}, f)
os.environ["QT_QPA_PLATFORM"] = f"offscreen:configfile={config}"

from PySide6.QtCore import QSettings  # noqa: E402
from PySide6.QtWidgets import QApplication, QScrollArea  # noqa: E402


def rect(r) -> list[int]:
    return [r.x(), r.y(), r.width(), r.height()]


def main() -> None:
    app = QApplication([])
    for fmt in (QSettings.Format.IniFormat, QSettings.Format.NativeFormat):
        QSettings.setPath(fmt, QSettings.Scope.UserScope, settings_dir)
    from vision_studio.gui.main_window import MainWindow

    win = MainWindow()
    win.show()
    for _ in range(5):
        app.processEvents()
    if project and project.startswith("save:"):
        win.resize(*(int(v) for v in project[5:].split("x")))
        app.processEvents()
        win.close()
        print(json.dumps({"saved": rect(win.frameGeometry())}))
        return
    out = {"available": rect(win.screen().availableGeometry()), "frame": rect(win.frameGeometry()),
           "tabs": {}}
    if project:
        assert win.open_project(project)
        for i in range(win.tabs.count()):
            win.tabs.setCurrentIndex(i)
            for _ in range(5):
                app.processEvents()
            hint = win.stack.minimumSizeHint()
            bars = [type(s.parent()).__name__ for s in win.findChildren(QScrollArea)
                    if s.isVisible() and s.horizontalScrollBar().maximum() > 0]
            out["tabs"][win.tabs.tabText(i)] = {
                "content_min": [hint.width(), hint.height() + win.menuBar().height()
                                + win.statusBar().height()],
                "window": [win.width(), win.height()], "scrolled": bars}
    print(json.dumps(out))
    win.shutdown()


if __name__ == "__main__":
    main()
