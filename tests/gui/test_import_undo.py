"""Issue 19 item 7: a mask import shows the label values found (pixels, images) before it
runs so the user names them; the report says what was imported; a finished import is
one undo step in the GUI (undo removes it, redo puts it back with the same ids)."""
from __future__ import annotations

import numpy as np
from PIL import Image
from PySide6.QtGui import QUndoStack
from PySide6.QtWidgets import QDialog

from vision_studio.core.store import ProjectStore
from vision_studio.gui.dialogs import import_export
from vision_studio.gui.dialogs.import_export import ImportDialog
from vision_studio.gui.dialogs.mask_values import MaskValuesDialog


def write_pairs(folder, n=3):
    """``n`` 16×12 images with label PNGs holding values 0, 1 and 2 (value 2: 8 pixels each)."""
    (folder / "img").mkdir(parents=True)
    (folder / "lab").mkdir()
    for i in range(n):
        Image.fromarray(np.full((12, 16, 3), 40 * i, np.uint8)).save(folder / "img" / f"{i}.png")
        lab = np.zeros((12, 16), np.uint8)
        lab[6:] = 1
        lab[0, :8] = 2
        Image.fromarray(lab).save(folder / "lab" / f"{i}.png")


def on_disk(path):
    with ProjectStore.open(path) as s:
        return ([c.name for c in s.categories()], s.image_count(),
                sorted((a.id, a.image_id, a.category_id) for a in s.annotations()))


def mask_dialog(store, folder, qtbot):
    """The Import dialog on the label-image format, with the folders of :func:`write_pairs`."""
    dlg = ImportDialog(store)
    qtbot.addWidget(dlg)
    dlg.set_format("masks")
    dlg.set_value("images", str(folder / "img"))
    dlg.set_value("masks", str(folder / "lab"))
    return dlg


def run_import(qtbot, dlg):
    with qtbot.waitSignal(dlg.imported, timeout=30000):
        dlg.start()
    qtbot.waitUntil(lambda: dlg.verified_result is not None and dlg.import_button.isEnabled(),
                    timeout=30000)


def test_mask_import_shows_values_lets_the_user_name_them_and_undoes(new_store, tmp_path, qtbot,
                                                                    monkeypatch):
    write_pairs(tmp_path)
    shown = {}

    def answer(dlg: MaskValuesDialog) -> int:  # the user reads the counts and names value 2
        rows = {int(dlg.table.item(r, 0).text()): (dlg.table.item(r, 1).text(), dlg.table.item(r, 2).text(),
                                                    dlg.table.item(r, 3).text())
                for r in range(dlg.table.rowCount())}
        shown.update(rows)
        dlg.set_name(2, "sky")
        return QDialog.DialogCode.Accepted

    monkeypatch.setattr(MaskValuesDialog, "exec", answer)
    stack = QUndoStack()
    dlg = mask_dialog(new_store, tmp_path, qtbot)  # classes left at "0=background, 1=foreground"
    dlg.undo_stack = stack
    before = on_disk(new_store.path)
    run_import(qtbot, dlg)
    assert shown == {0: (f"{3 * 88:,}", "3", "background"), 1: (f"{3 * 96:,}", "3", "foreground"),
                     2: (f"{3 * 8:,}", "3", "")}
    names, images, anns = on_disk(new_store.path)
    assert names == ["background", "foreground", "sky"] and images == 3 and len(anns) == 9
    assert "Skipped (0)" in dlg.report_view.tabs.tabText(0)
    assert stack.count() == 1 and not dlg.undo_button.isHidden()
    assert dlg.undo_import()
    assert on_disk(new_store.path) == before
    stack.redo()
    assert on_disk(new_store.path) == (names, images, anns)  # the same ids back
    stack.undo()
    assert on_disk(new_store.path) == before


def test_cancelling_the_values_dialog_imports_nothing(new_store, tmp_path, qtbot, monkeypatch):
    write_pairs(tmp_path, 1)
    monkeypatch.setattr(MaskValuesDialog, "exec", lambda self: QDialog.DialogCode.Rejected)
    dlg = mask_dialog(new_store, tmp_path, qtbot)
    dlg.start()
    assert dlg.task is None and new_store.image_count() == 0


def test_values_outside_the_table_are_reported_as_imported_not_skipped(new_store, tmp_path, qtbot,
                                                                      monkeypatch):
    write_pairs(tmp_path, 2)
    monkeypatch.setattr(MaskValuesDialog, "exec", lambda self: QDialog.DialogCode.Accepted)
    dlg = mask_dialog(new_store, tmp_path, qtbot)  # value 2 keeps no name: left unlabelled
    run_import(qtbot, dlg)
    tab = dlg.report_view.tabs.tabText(0)
    assert "Skipped (0)" in tab and "partly imported (2)" in tab, tab
    assert "2 imported with some pixels left unlabelled" in dlg.report_view.summary.text()
    assert new_store.image_count() == 2
    assert import_export.PARTLY_IMPORTED == {"unknown_value"}


def test_cli_import_prints_how_to_remove_it_and_that_works(tmp_path, capsys, make_images):
    import shlex
    import shutil

    from vision_studio.cli import main

    write_pairs(tmp_path)
    project = tmp_path / "p.vsproj"
    assert main(["import", "--format", "images", str(tmp_path / "img"), "--project", str(project),
                 "--quiet"]) == 0
    assert f"to remove this import: delete {project}" in capsys.readouterr().out
    before = on_disk(project)
    assert main(["import", "--format", "masks", str(tmp_path / "img"), "--mask-dir", str(tmp_path / "lab"),
                 "--classes", "0=ground,1=road,2=sky", "--project", str(project), "--quiet"]) == 0
    out = capsys.readouterr().out
    line = next(l for l in out.splitlines() if l.startswith("to remove this import"))
    _, src, dst = shlex.split(line.split(": ", 1)[1].split(": ", 1)[1])
    assert on_disk(project) != before and dst == str(project)
    shutil.move(src, dst)  # what the printed command does
    assert on_disk(project) == before
