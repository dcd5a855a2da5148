"""The Model tab's tiled-training section on a real project with one large (2400×1800)
and one small (400×300) image: the choice goes into the TrainConfig the panel builds, the
hint counts the project's large images at the chosen image size, the rule's numbers are
the core's, the values round-trip through a saved config and the project's settings,
and classification disables it with the reason."""
from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image
from _train_fixtures import shown_panel

from vision_studio.core.large import tiled_training as tt
from vision_studio.core.large.tiles import DEFAULT_MIN_VISIBLE, tile_grid
from vision_studio.core.store import ProjectStore
from vision_studio.core.types import Annotation, ImageRecord
from vision_studio.gui.panels.model.panel import ModelPanel
from vision_studio.gui.state import AppState


def large_small_project(tmp_path: Path) -> Path:
    """Two real JPEGs, 2400×1800 and 400×300, one box each (a detection project)."""
    (tmp_path / "images").mkdir()
    sizes = {"big.jpg": (2400, 1800), "small.jpg": (400, 300)}
    for name, (w, h) in sizes.items():
        Image.new("RGB", (w, h), (90, 120, 150)).save(tmp_path / "images" / name, quality=80)
    path = tmp_path / "tiles.vsproj"
    with ProjectStore.create(path) as store:
        (cat,) = store.add_categories([("cell", None, "")])
        ims = store.add_images(ImageRecord(path=f"images/{n}", width=w, height=h) for n, (w, h) in sizes.items())
        store.add_annotations([Annotation(image_id=im.id, category_id=cat.id, bbox=(20, 20, 60, 40))
                               for im in ims])
    return path


@pytest.fixture
def panel(qtbot, tmp_path):
    state = AppState()
    p = shown_panel(qtbot, ModelPanel(state), (1280, 900))
    state.open_project(large_small_project(tmp_path))
    yield p
    p.shutdown()
    state.engine.shutdown()
    state.close_project()


def _choose(panel, label: str) -> None:
    combo = panel.tiles.mode
    combo.setCurrentIndex(combo.findText(label))


def test_choice_goes_into_the_config_and_the_hint_counts_large_images(panel):
    assert panel.arch.current_task() == "detection"
    assert panel.config().tiles == "auto" and panel.tiles.mode.currentText() == "Automatic"
    panel.hyper.w["image_size"].setValue(512)
    hint = panel.tiles.hint.text()
    n_tiles = len(tile_grid(1800, 2400, 512, 0.2))
    assert hint.startswith("1 of 2 images is larger than 2000 px") and "tiles of 512 px" in hint
    assert "20% overlap" in hint and f"({n_tiles} tiles in all)" in hint
    # the rule shows the core's numbers (threshold, factor, clipping)
    rule = panel.tiles.rule.text()
    assert f"{tt.AUTO_MIN_SIDE} px" in rule and f"{DEFAULT_MIN_VISIBLE:.0%}" in rule
    assert panel.tiles.mode.toolTip() == rule
    # a larger input size: 2400 px is not 2 x 1300 px, nothing is tiled (the hint follows)
    panel.hyper.w["image_size"].setValue(1300)
    assert "none is tiled" in panel.tiles.hint.text() and "1 of 2" in panel.tiles.hint.text()
    panel.hyper.w["image_size"].setValue(512)
    for label, value in (("Never", "off"), ("Always", "on"), ("Automatic", "auto")):
        _choose(panel, label)
        assert panel.config().tiles == value
    _choose(panel, "Always")  # Always: every image larger than one 512 px tile (only the large one)
    assert panel.tiles.hint.text().startswith("1 of 2 images is larger than one tile")
    assert not panel.tiles.min_side.isEnabled()  # the threshold is Automatic's only
    _choose(panel, "Never")
    assert panel.tiles.hint.text().startswith("Never: all 2 images are resized whole")
    # the threshold is a setting: at 300 px the small image counts as large too
    _choose(panel, "Automatic")
    panel.tiles.min_side.setValue(300)
    panel.hyper.w["image_size"].setValue(128)
    assert panel.tiles.hint.text().startswith("2 of 2 images")
    assert panel.config().tile_auto_min_side == 300


def test_values_round_trip_through_a_config_file_and_the_project(panel, tmp_path):
    _choose(panel, "Always")
    panel.tiles.overlap.setValue(0.35)
    panel.tiles.min_side.setValue(1500)
    cfg = panel.config()
    assert (cfg.tiles, cfg.tile_overlap, cfg.tile_auto_min_side) == ("on", 0.35, 1500)
    path = panel.save_config(tmp_path / "cfg.json")
    panel.refresh(reset=False)
    _choose(panel, "Never")
    panel.tiles.overlap.setValue(0.1)
    panel.load_config(path)  # a run's config loaded back into the tab
    assert panel.tiles.mode.currentText() == "Always" and panel.tiles.overlap.value() == 0.35
    assert panel.tiles.min_side.value() == 1500
    assert panel.persist()
    saved = panel.state.store.get_setting(ModelPanel.SETTING)
    assert (saved["tiles"], saved["tile_overlap"], saved["tile_auto_min_side"]) == ("on", 0.35, 1500)
    _choose(panel, "Never")
    panel.refresh(reset=True)  # reopening restores the project's last-used settings
    assert panel.config().tiles == "on" and panel.tiles.overlap.value() == 0.35


def test_classification_disables_tiling_with_the_reason(panel):
    task = panel.arch.task
    task.setCurrentIndex(task.findData("classification"))
    assert not panel.tiles.mode.isEnabled() and not panel.tiles.overlap.isEnabled()
    assert panel.tiles.hint.text().startswith("Classification trains on whole images")
    task.setCurrentIndex(task.findData("detection"))
    assert panel.tiles.mode.isEnabled() and "1 of 2" in panel.tiles.hint.text()


def test_hint_names_large_images_left_whole():
    from vision_studio.gui.panels.model.tiles_section import hint_text

    text = hint_text(tt.TilingPlan(total=40, tiled=8, tiles=48, larger=12), "auto", 1300, 0.2, 2000)
    assert text.startswith("8 of 40 images are larger than 2000 px") and "(48 tiles in all)" in text
    assert "4 more larger than 2000 px but not 2 × 1300 px are resized whole" in text
    assert hint_text(tt.TilingPlan(0, 0, 0, 0), "auto", 512, 0.2, 2000) == "No images in the project yet."
