"""Import and export dialogs: COCO import in the worker thread with progress and a report
of skipped files and image problems (clickable), failures shown without a traceback,
and COCO export through the dialog loaded back with pycocotools."""
from __future__ import annotations

import json

import pytest

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from vision_studio.core.store import ProjectStore
from vision_studio.gui.dialogs.export_dialog import ExportDialog
from vision_studio.gui.dialogs.import_export import ImportDialog


def test_import_coco_reports_skipped_and_problems_clickable(new_store, coco_dir, qtbot):
    dlg = ImportDialog(new_store)
    qtbot.addWidget(dlg)
    dlg.set_format("coco")
    dlg.set_value("json", str(coco_dir / "ann.json"))
    dlg.split.setCurrentText("train")
    with qtbot.waitSignal(dlg.imported, timeout=20000) as sig:
        dlg.start()
    report = sig.args[0]
    # the import is followed by the full decode of the new images in the background
    qtbot.waitUntil(lambda: dlg.verified_result is not None and dlg.import_button.isEnabled(),
                    timeout=20000)
    assert (report.images, report.annotations) == (3, 2)
    assert dlg.error == "" and dlg.progress.value() == dlg.progress.maximum() > 0
    # the dialog's store (GUI connection) sees what the worker's connection committed
    assert new_store.image_count("train") == 3 and new_store.annotation_count() == 2
    skipped = [dlg.report_view.skipped.topLevelItem(i).text(1)
               for i in range(dlg.report_view.skipped.topLevelItemCount())]
    assert len(skipped) == len(report.skipped) + len(report.notes) >= 2
    rows = [dlg.report_view.skipped.topLevelItem(i).text(0) + " " + s for i, s in enumerate(skipped)]
    assert any("gone.png" in r for r in rows), rows
    problems = dlg.report_view.problems
    assert problems.topLevelItemCount() == len(new_store.problems()) >= 1
    clickable = [problems.topLevelItem(i) for i in range(problems.topLevelItemCount())
                 if problems.topLevelItem(i).data(0, Qt.ItemDataRole.UserRole)]
    assert clickable, "the box outside image 3 should be a problem of that image"
    with qtbot.waitSignal(dlg.imageRequested) as req:
        problems.itemActivated.emit(clickable[0], 0)
    assert new_store.image(req.args[0]).path.endswith("img_002.png")


def test_broken_json_fails_cleanly_and_changes_nothing(new_store, tmp_path, qtbot, monkeypatch):
    bad = tmp_path / "broken.json"
    bad.write_text('{"images": [')
    shown = []
    monkeypatch.setattr(QMessageBox, "warning", lambda *a, **k: shown.append(a[2]))
    dlg = ImportDialog(new_store)
    qtbot.addWidget(dlg)
    dlg.set_format("coco")
    dlg.set_value("json", str(bad))
    with qtbot.waitCallback(timeout=20000) as cb:
        dlg.start()
        dlg.task.failed.connect(cb)
    assert "broken.json" in dlg.error and "Traceback" not in dlg.error
    assert shown == [dlg.error]
    assert new_store.image_count() == 0 and new_store.categories() == []


def test_missing_required_input_is_reported(new_store, qtbot, monkeypatch):
    monkeypatch.setattr(QMessageBox, "warning", lambda *a, **k: None)
    dlg = ImportDialog(new_store)
    qtbot.addWidget(dlg)
    dlg.set_format("voc")
    with qtbot.waitCallback(timeout=10000) as cb:
        dlg.start()
        dlg.task.failed.connect(cb)
    assert "Annotation folder" in dlg.error and "required" in dlg.error


def test_export_coco_through_dialog_loads_in_pycocotools(small_project, tmp_path, qtbot):
    from pycocotools.coco import COCO

    out = tmp_path / "export" / "train.json"
    out.parent.mkdir()
    with ProjectStore.open(small_project) as store:
        dlg = ExportDialog(store)
        qtbot.addWidget(dlg)
        dlg.set_format("coco")
        dlg.split.setCurrentIndex(dlg.split.findData("train"))
        dlg.set_target(out)
        with qtbot.waitSignal(dlg.exported, timeout=20000):
            dlg.start()
        assert dlg.error == "" and dlg.status.text() == f"Saved to {out}"
        coco = COCO(str(out))
        assert len(coco.getImgIds()) == store.image_count("train") == 4
        assert len(coco.getAnnIds()) == store.annotation_count() == 3
        assert sorted(c["name"] for c in coco.loadCats(coco.getCatIds())) == ["bird", "cat", "dog"]
        poly = [a for a in coco.loadAnns(coco.getAnnIds()) if a.get("segmentation")]
        assert len(poly) == 1 and coco.annToMask(poly[0]).sum() > 0
        dlg.close()


def _export_dialog(qtbot, store: ProjectStore, out) -> ExportDialog:
    dlg = ExportDialog(store)
    qtbot.addWidget(dlg)
    dlg.set_format("coco")
    dlg.set_target(out)
    return dlg


def test_export_asks_before_replacing_an_existing_file(small_project, tmp_path, qtbot, monkeypatch):
    out = tmp_path / "mine.json"
    out.write_text("the user's own file")
    asked: list[str] = []
    answer = [QMessageBox.StandardButton.No]

    def question(_parent, _title, text, *a, **k):
        asked.append(text)
        return answer[0]

    monkeypatch.setattr(QMessageBox, "question", question)
    with ProjectStore.open(small_project) as store:
        dlg = _export_dialog(qtbot, store, out)
        qtbot.mouseClick(dlg.export_button, Qt.MouseButton.LeftButton)
        assert len(asked) == 1 and "mine.json" in asked[0]  # the question names the file
        assert out.read_text() == "the user's own file" and dlg.task is None
        assert "kept" in dlg.status.text()
        answer[0] = QMessageBox.StandardButton.Yes
        with qtbot.waitSignal(dlg.exported, timeout=20000):
            qtbot.mouseClick(dlg.export_button, Qt.MouseButton.LeftButton)
        assert len(asked) == 2 and json.loads(out.read_text())["images"]
        qtbot.waitUntil(lambda: not dlg.task.isRunning(), timeout=5000)


def test_export_never_writes_over_the_project_file(small_project, qtbot, monkeypatch):
    refused: list[str] = []
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    monkeypatch.setattr(QMessageBox, "warning", lambda _p, _t, text, *a, **k: refused.append(text))
    before = small_project.read_bytes()
    with ProjectStore.open(small_project) as store:
        dlg = _export_dialog(qtbot, store, small_project)
        qtbot.mouseClick(dlg.export_button, Qt.MouseButton.LeftButton)
        assert refused and dlg.task is None and "Not exported" in dlg.status.text()
    assert small_project.read_bytes() == before


def test_images_are_verified_in_full_after_an_import(new_store, tmp_path, qtbot):
    """A truncated JPEG (its header reads fine) is found by the full decoding that runs
    after an import, listed in the report and recorded as a problem; the good images get
    their check key, so a second verification decodes nothing."""
    import numpy as np
    from PIL import Image

    from vision_studio.gui.dialogs.verify import verify_images

    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(3):
        noise = np.random.default_rng(i).integers(0, 255, (300, 400, 3), dtype=np.uint8)
        Image.fromarray(noise).save(folder / f"ok_{i}.jpg")
    good = (folder / "ok_0.jpg").read_bytes()
    (folder / "cut.jpg").write_bytes(good[: len(good) * 7 // 10])
    dlg = ImportDialog(new_store)
    qtbot.addWidget(dlg)
    dlg.set_format("images")
    dlg.set_value("root", str(folder))
    with qtbot.waitSignal(dlg.verified, timeout=30000) as sig:
        qtbot.mouseClick(dlg.import_button, Qt.MouseButton.LeftButton)
    result = sig.args[0]
    assert dlg.report.images == 4  # the header of the truncated file reads fine
    assert result.checked == 4
    assert [p.source.endswith("cut.jpg") for p in result.problems] == [True]
    problems = new_store.problems()
    # the core's check and kind, as `vision-studio import` records it (not a GUI copy)
    assert [p.kind for p in problems] == ["bad_image"] and problems[0].image_id
    assert "decode in full" in dlg.report_view.summary.text()
    assert dlg.report_view.problems.topLevelItemCount() == 1
    keys = {im.path.rsplit("/", 1)[-1]: im.check_key for im in new_store.images()}
    assert all(keys.values())  # every image checked, the bad one too (its problem is kept)
    again = verify_images(new_store)  # cached: nothing changed, nothing is decoded again
    assert (again.checked, again.cached, again.problems) == (0, 4, [])
    assert [p.kind for p in new_store.problems()] == ["bad_image"]  # not recorded twice
    (folder / "ok_1.jpg").write_bytes(good[: len(good) // 2])  # a file changes: re-checked
    third = verify_images(new_store)
    assert third.checked == 1 and [p.source.endswith("ok_1.jpg") for p in third.problems] == [True]
    qtbot.waitUntil(lambda: not dlg.verifying(), timeout=5000)


def test_cancelling_the_verification_keeps_what_was_checked(new_store, tmp_path, make_images):
    from vision_studio.core.io.imagefolder import read_images
    from vision_studio.gui.dialogs.verify import verify_images
    from vision_studio.gui.dialogs.worker import Cancelled

    read_images(new_store, make_images(tmp_path / "pics", 5)[0].parent)
    seen = []

    def progress(done, total):
        seen.append(done)
        if done == 2:
            raise Cancelled("cancelled by the user")

    with pytest.raises(Cancelled):
        verify_images(new_store, progress)
    assert seen == [1, 2]
    assert sum(bool(im.check_key) for im in new_store.images()) == 2
    assert verify_images(new_store).checked == 3  # the rest, not the first two again
