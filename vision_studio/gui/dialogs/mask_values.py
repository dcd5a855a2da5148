"""Before a label-image import: the label values found in the label folder, with their
pixel and image counts, each mapped to a class name by the user (issue 19: an 11-class
CamVid import with the default "0=background, 1=foreground" table used to go ahead)."""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QLabel, QTableWidget, QTableWidgetItem,
                               QVBoxLayout, QWidget)

MAX_SCAN_FILES = 2000
"""Label images read to find the values (the first ones by name)."""
COL_VALUE, COL_PIXELS, COL_IMAGES, COL_NAME = range(4)


def classes_text(classes: dict[int, str]) -> str:
    """``{0: "Sky", 1: "Road"}`` → ``"0=Sky, 1=Road"`` (the Import dialog's field)."""
    return ", ".join(f"{v}={n}" for v, n in sorted(classes.items()))


class MaskValuesDialog(QDialog):
    """One row per label value found: value, pixels, images, class name (editable).

    Args:
        counts: ``{value: (pixels, images)}`` from
            :func:`vision_studio.core.io.masks.label_value_counts`.
        files: How many label images were read.
        classes: The current table (``{value: name}``): names are prefilled from it.
        ignore: The ignore value (its row says so and is not imported), or None.
        parent: Parent widget.
    """

    def __init__(self, counts: dict[int, tuple[int, int]], files: int, classes: dict[int, str],
                 ignore: int | None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Label values found")
        self._ignore = ignore
        unmapped = [v for v in counts if v not in classes and v != ignore]
        head = QLabel(self)
        head.setWordWrap(True)
        head.setText(f"{len(counts)} label value(s) in {files:,} label image(s). Give each "
                     "value the class it stands for; a value left without a name stays "
                     "unlabelled." + (f"\n{len(unmapped)} value(s) are not in the class table "
                                      "yet (highlighted)." if unmapped else ""))
        self.table = QTableWidget(len(counts), 4, self)
        self.table.setHorizontalHeaderLabels(["Value", "Pixels", "Images", "Class name"])
        self.table.verticalHeader().setVisible(False)
        for row, (value, (pixels, images)) in enumerate(sorted(counts.items())):
            for col, text in ((COL_VALUE, str(value)), (COL_PIXELS, f"{pixels:,}"),
                              (COL_IMAGES, f"{images:,}")):
                item = QTableWidgetItem(text)
                item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEditable)
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(row, col, item)
            name = QTableWidgetItem(classes.get(value, ""))
            if value == ignore:
                name.setText("(ignore value: left unlabelled)")
                name.setFlags(name.flags() & ~Qt.ItemFlag.ItemIsEditable)
            elif value in unmapped:
                name.setBackground(QColor("#fff2b3"))
            self.table.setItem(row, COL_NAME, name)
        self.table.horizontalHeader().setStretchLastSection(True)
        buttons = QDialogButtonBox(self)
        buttons.addButton("Import with these classes", QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(head)
        lay.addWidget(self.table, 1)
        lay.addWidget(buttons)
        self.resize(520, 420)

    def set_name(self, value: int, name: str) -> None:
        """Type ``name`` for label ``value`` (as the user does in the table)."""
        for row in range(self.table.rowCount()):
            if int(self.table.item(row, COL_VALUE).text()) == value:
                self.table.item(row, COL_NAME).setText(name)

    def classes(self) -> dict[int, str]:
        """``{value: name}`` of the values given a name (the ignore value excluded)."""
        out = {}
        for row in range(self.table.rowCount()):
            value = int(self.table.item(row, COL_VALUE).text())
            name = self.table.item(row, COL_NAME).text().strip()
            if value != self._ignore and name:
                out[value] = name
        return out
