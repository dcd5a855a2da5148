"""The ``--smoke PROJECT`` self-test, run from source on a small real project (offscreen).

The same code runs inside the PyInstaller bundle (tests/e2e/test_packaging.py, slow).
"""
from __future__ import annotations

from pathlib import Path

import pytest

from vision_studio import smoke

PANELS = ("annotate", "model", "training", "evaluate", "health")


@pytest.fixture
def rbc_project(data_dir, tmp_path) -> Path:
    """The 10 test-split images of rbc_coco imported with the core COCO importer."""
    from vision_studio.core.io.coco import read_coco
    from vision_studio.core.store import ProjectStore

    src = data_dir("rbc_coco")
    path = tmp_path / "rbc.vsproj"
    store = ProjectStore.create(path, root=src)
    report = read_coco(store, src / "test" / "_annotations.coco.json")
    assert report.images == 10 and not report.skipped
    store.close()
    return path


def test_smoke_passes_on_a_real_detection_project(qapp, rbc_project, tmp_path, capsys):
    out = tmp_path / "smoke"
    code = smoke.main(["--smoke", str(rbc_project), "--smoke-out", str(out)])
    printed = capsys.readouterr().out
    assert code == 0, printed
    report = (out / "smoke_report.txt").read_text()
    assert "[smoke] PASSED: 5 of 5 steps" in report
    for step in ("start", "open project", "build model", "predict", "render panels"):
        assert f"ok   {step}" in report
    assert "fasterrcnn_mobilenet_v3_large_320_fpn (detection)" in report
    assert "10 images, 3 categories" in report
    pngs = sorted(p.name for p in out.glob("panel_*.png"))
    assert pngs == [f"panel_{i}_{name}.png" for i, name in enumerate(PANELS)]
    assert printed.count("[smoke]") == report.count("[smoke]")  # printed and saved alike


def test_smoke_names_the_failed_step_and_exits_1(qapp, tmp_path, capsys):
    missing = tmp_path / "nowhere.vsproj"
    code = smoke.main(["--smoke", str(missing), "--smoke-out", str(tmp_path / "o")])
    printed = capsys.readouterr().out
    assert code == 1
    assert "FAIL open project" in printed and "nowhere.vsproj" in printed
    assert "FAIL build model" in printed and "skipped: the project did not open" in printed
    assert "[smoke] FAILED: 2 of 5 steps" in printed  # start and render panels still ran


def test_window_only_mode_stops_after_the_first_window(qapp, tmp_path, capsys):
    code = smoke.main(["--smoke", str(tmp_path / "unused.vsproj"), "--smoke-window-only",
                       "--smoke-out", str(tmp_path / "o")])
    printed = capsys.readouterr().out
    assert code == 0
    assert "first window after" in printed and "PASSED: 1 of 1 steps" in printed


def test_task_is_guessed_from_the_labels(new_store):
    from vision_studio.core.types import Annotation, ImageRecord

    assert smoke.project_task(new_store) == "classification"
    cat = new_store.add_category("cell")
    img = new_store.add_image(ImageRecord(path="a.png", width=10, height=10))
    new_store.add_annotation(Annotation(image_id=img.id, category_id=cat.id, bbox=(1, 1, 3, 3)))
    assert smoke.project_task(new_store) == "detection"
    new_store.add_annotation(Annotation(image_id=img.id, category_id=cat.id, bbox=(1, 1, 3, 3),
                                        polygons=((1, 1, 4, 1, 4, 4),)))
    assert smoke.project_task(new_store) == "instance_segmentation"


def test_process_age_is_positive_and_plausible():
    age = smoke.process_age_s()
    assert 0 < age < 24 * 3600
