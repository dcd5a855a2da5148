"""Help → Guide: a short built-in guide, one page per step of the work (label → train →
review → fix), with a picture of the tab where one is shipped
(``vision_studio/resources/guide/<tab>.png``). The words are in
:data:`vision_studio.gui.help_texts.GUIDE_PAGES`."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QHBoxLayout, QListWidget, QTextBrowser,
                               QVBoxLayout, QWidget)

from vision_studio.gui.help_texts import GUIDE_PAGES

PICTURES = Path(__file__).resolve().parents[2] / "resources" / "guide"


def page_html(tab: str, title: str, body: str) -> str:
    """One page: title, the tab's picture when shipped, the text."""
    pic = PICTURES / f"{tab.lower()}.png"
    img = f'<p><img src="{pic.as_uri()}" width="560"></p>' if pic.is_file() else ""
    return f"<h2>{title}</h2><p><i>{tab} tab</i></p>{img}{body}"


class GuideDialog(QDialog):
    """The guide: the list of pages on the left, the page on the right."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Guide: label → train → review → fix")
        self.pages = QListWidget(self)
        self.text = QTextBrowser(self)
        self.text.setOpenExternalLinks(False)
        for _tab, title, _body in GUIDE_PAGES:
            self.pages.addItem(title)
        self.pages.currentRowChanged.connect(self.show_page)
        self.pages.setMaximumWidth(200)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)
        row = QHBoxLayout()
        row.addWidget(self.pages)
        row.addWidget(self.text, 1)
        lay = QVBoxLayout(self)
        lay.addLayout(row, 1)
        lay.addWidget(buttons)
        self.pages.setCurrentRow(0)
        self.resize(820, 560)

    def show_page(self, index: int) -> None:
        """Show page ``index`` (0-based) of :data:`GUIDE_PAGES`."""
        if 0 <= index < len(GUIDE_PAGES):
            self.text.setHtml(page_html(*GUIDE_PAGES[index]))


def show_guide(parent: QWidget) -> GuideDialog:
    """Open the guide (non-modal) and return it."""
    dlg = GuideDialog(parent)
    dlg.show()
    return dlg
