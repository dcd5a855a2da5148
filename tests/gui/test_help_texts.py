"""Issue 19 item 8: every Model-tab field has a tooltip in plain words (no library
names), and Help → Guide shows one page per step: label → train → review → fix."""
from __future__ import annotations

import re

from PySide6.QtWidgets import QFormLayout, QLabel

from vision_studio.gui.help_texts import GUIDE_PAGES, MODEL_TOOLTIPS
from vision_studio.gui.panels.model.panel import ModelPanel
from vision_studio.gui.state import AppState

LIBRARIES = re.compile(r"\b(torch|torchvision|timm|pillow|pycocotools|numpy|qt|pyside|sqlite|"
                       r"segmentation.models)\b", re.I)


def test_every_model_tab_field_has_a_plain_words_tooltip(qtbot):
    panel = ModelPanel(AppState())
    qtbot.addWidget(panel)
    fields, missing = 0, []
    for form in panel.findChildren(QFormLayout):
        for row in range(form.rowCount()):
            label = form.itemAt(row, QFormLayout.ItemRole.LabelRole)
            field = form.itemAt(row, QFormLayout.ItemRole.FieldRole)
            widget = field.widget() if field is not None else None
            if widget is None or isinstance(widget, QLabel):
                continue
            name = label.widget().text() if label is not None and label.widget() else widget.objectName()
            if not name:
                continue  # a preview or a status line, not a setting
            fields += 1
            if len(widget.toolTip()) < 20:
                missing.append(name)
    assert fields >= 25 and missing == []
    for key, tip in MODEL_TOOLTIPS.items():
        assert not LIBRARIES.search(tip), (key, tip)
    for key in ("warmup_epochs", "weight_decay", "amp", "max_val_batches"):
        assert key in MODEL_TOOLTIPS


def test_help_menu_opens_the_guide_one_page_per_step(main_window, qtbot):
    act = next(a for m in main_window.menuBar().actions() if m.menu() is not None
               for a in m.menu().actions() if a.text().startswith("&Guide"))
    act.trigger()
    from vision_studio.gui.dialogs.guide import GuideDialog

    dlg = next(w for w in main_window.findChildren(GuideDialog))
    qtbot.addWidget(dlg)
    assert [t for t, _, _ in GUIDE_PAGES] == ["Annotate", "Model", "Training", "Evaluate", "Fix", "Annotate"]
    assert dlg.pages.count() == 6
    for i in range(6):
        dlg.pages.setCurrentRow(i)
        text = dlg.text.toPlainText()
        assert GUIDE_PAGES[i][1] in text and len(text) > 150
        assert not LIBRARIES.search(text)
