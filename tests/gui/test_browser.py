"""The image browser: filtered id lists, paging, thumbnails decoded in the background,
filter bar, and next/previous."""
from __future__ import annotations

from PySide6.QtCore import QRect, Qt
from PySide6.QtGui import QPixmap

from vision_studio.core.store.filters import (ImageFilter, category_usage, filter_image_ids,
                                             images_by_ids)
from vision_studio.core.store import ProjectStore
from vision_studio.core.types import ImageRecord
from vision_studio.gui.panels.annotate import browser as browser_mod
from vision_studio.gui.panels.annotate.browser import IMAGE_ID_ROLE, BrowserModel, ImageBrowser
from vision_studio.gui.panels.annotate.filters import FilterBar
from vision_studio.gui.panels.annotate.thumbs import BADGE_COLOR, PROBLEM_ROLE, caption_lines


def test_filter_image_ids_each_criterion(small_project):
    with ProjectStore.open(small_project) as store:
        ids = [im.id for im in store.images()]
        cats = {c.name: c.id for c in store.categories()}
        assert filter_image_ids(store) == ids
        assert filter_image_ids(store, ImageFilter(split="val")) == ids[4:]
        assert filter_image_ids(store, ImageFilter(category_id=cats["cat"])) == ids[:2]
        # dog: a box on image 1 and a tag on image 3
        assert filter_image_ids(store, ImageFilter(category_id=cats["dog"])) == [ids[0], ids[2]]
        assert filter_image_ids(store, ImageFilter(labelled=True)) == ids[:3]
        assert filter_image_ids(store, ImageFilter(labelled=False)) == ids[3:]
        assert filter_image_ids(store, ImageFilter(has_problems=True)) == [ids[5]]
        assert filter_image_ids(store, ImageFilter(name_contains="IMG_00")) == ids  # any case
        assert filter_image_ids(store, ImageFilter(name_contains="img_004")) == [ids[4]]
        assert filter_image_ids(store, ImageFilter(split="train", labelled=False)) == [ids[3]]
        # % and _ are plain characters, not LIKE wildcards
        assert filter_image_ids(store, ImageFilter(name_contains="%")) == []
        assert [im.id for im in images_by_ids(store, [ids[3], ids[1], 9999])] == [ids[3], ids[1]]
        assert category_usage(store) == {cats["cat"]: (2, 0), cats["dog"]: (1, 1), cats["bird"]: (0, 0)}


def test_model_pages_records_lazily(new_store, qtbot, monkeypatch):
    """2,500 images: the model knows every id but builds records only for pages asked."""
    monkeypatch.setattr(browser_mod, "PAGE_SIZE", 100)
    new_store.add_images(ImageRecord(path=f"missing/{i:05d}.jpg", width=10, height=10)
                         for i in range(2500))
    model = BrowserModel(thumb_size=32)
    model.set_store(new_store)
    assert model.rowCount() == 2500
    assert model._pages == {}  # nothing fetched until the view asks
    assert model.data(model.index(0), Qt.ItemDataRole.DisplayRole).startswith("00000.jpg")
    assert model.data(model.index(2499), IMAGE_ID_ROLE) == 2500
    assert sorted(model._pages) == [0, 24]
    assert model.row_of(1234) == 1233 and model.row_of(99999) == -1
    model.shutdown()


def test_thumbnails_decode_in_background_and_errors_are_reported(small_project, tmp_path, qtbot):
    (tmp_path / "images" / "img_001.png").write_bytes(b"not a png at all")
    with ProjectStore.open(small_project) as store:
        model = BrowserModel(thumb_size=32)
        model.set_store(store)
        first = model.data(model.index(0), Qt.ItemDataRole.DecorationRole)
        assert isinstance(first, QPixmap) and first is model._loading  # placeholder at once
        model.data(model.index(1), Qt.ItemDataRole.DecorationRole)
        qtbot.waitUntil(lambda: not model._pending, timeout=10000)
        thumb = model.data(model.index(0), Qt.ItemDataRole.DecorationRole)
        assert thumb is not model._loading
        assert (thumb.width(), thumb.height()) == (32, 24)  # 64×48 scaled, aspect kept
        assert thumb.toImage().pixelColor(16, 20).red() in (0, 1)  # image 0: red = 0
        assert model.data(model.index(1), Qt.ItemDataRole.DecorationRole) is model._broken
        tip = model.data(model.index(1), Qt.ItemDataRole.ToolTipRole)
        assert "cannot decode" in tip and "img_001.png" in tip
        problem_tip = model.data(model.index(5), Qt.ItemDataRole.ToolTipRole)
        assert "box 9 lies outside the image" in problem_tip
        assert model.data(model.index(5), PROBLEM_ROLE) is True  # painted as a badge
        assert model.data(model.index(4), PROBLEM_ROLE) is False
        assert "2 objects" in model.data(model.index(0), Qt.ItemDataRole.DisplayRole)
        assert model.data(model.index(2), Qt.ItemDataRole.DisplayRole) == "img_002.png\ndog"
        model.shutdown()


def test_browser_view_steps_and_filter_bar(small_project, qtbot):
    with ProjectStore.open(small_project) as store:
        model = BrowserModel(thumb_size=32)
        view = ImageBrowser(model)
        bar = FilterBar()
        qtbot.addWidget(view)
        qtbot.addWidget(bar)
        bar.filterChanged.connect(model.set_filter)
        model.countsChanged.connect(bar.set_counts)
        model.set_store(store)
        bar.populate(store)
        assert bar.count.text() == "6 images"
        seen = []
        view.imageSelected.connect(lambda im: seen.append(im.path))
        assert view.select_row(0)
        assert view.step(1) and view.step(1) and view.step(-1)
        assert seen == ["images/img_000.png", "images/img_001.png", "images/img_002.png",
                        "images/img_001.png"]
        assert not view.step(-5) and view.current_row() == 1
        bar.split.setCurrentIndex(bar.split.findData("val"))
        assert model.rowCount() == 2 and bar.count.text() == "2 of 6 images"
        bar.split.setCurrentIndex(0)
        qtbot.keyClicks(bar.search, "003")
        qtbot.waitUntil(lambda: model.rowCount() == 1, timeout=3000)  # debounced search
        assert model.image_at(0).path == "images/img_003.png"
        bar.search.clear()
        bar.status.setCurrentIndex(3)  # with problems
        qtbot.waitUntil(lambda: model.rowCount() == 1, timeout=3000)
        assert model.image_at(0).path == "images/img_005.png"
        model.shutdown()


def render_row(view, row):
    """Paint one browser cell with its delegate into an image, as the view does."""
    from PySide6.QtGui import QImage, QPainter
    from PySide6.QtWidgets import QStyleOptionViewItem

    option = QStyleOptionViewItem()
    view.initViewItemOption(option)
    size = view.gridSize()
    option.rect = QRect(0, 0, size.width(), size.height())
    img = QImage(size, QImage.Format.Format_ARGB32)
    img.fill(0xFFFFFFFF)
    painter = QPainter(img)
    view.itemDelegate().paint(painter, option, view.model().index(row))
    painter.end()
    return img


def test_captions_keep_the_object_count_and_problems_get_a_badge(tmp_path, qtbot):
    from PIL import Image

    from vision_studio.core.types import Annotation, Problem

    long = "a_very_long_file_name_from_a_camera_roll_0001.png"
    for name in (long, "b.png"):
        Image.new("RGB", (64, 48), "white").save(tmp_path / name)
    with ProjectStore.create(tmp_path / "p.vsproj") as store:
        a, b = store.add_images([ImageRecord(path=long, width=64, height=48),
                                 ImageRecord(path="b.png", width=64, height=48)])
        cat = store.add_category("a_category_with_a_long_name")
        store.set_image_tags(a.id, [cat.id])
        store.add_annotations([Annotation(image_id=a.id, category_id=cat.id, bbox=(1, 1, 5, 5))
                               for _ in range(12)])
        store.add_problems([Problem(source="b.png", message="truncated file", image_id=b.id)])
        model = BrowserModel(thumb_size=64)
        view = ImageBrowser(model)
        qtbot.addWidget(view)
        model.set_store(store)
        width = view.gridSize().width() - 4
        metrics = view.fontMetrics()
        first, second = caption_lines(model.data(model.index(0)), metrics, width)
        assert second.endswith("12 objects") and "…" in first and first.endswith(".png")
        assert max(metrics.horizontalAdvance(t) for t in (first, second)) <= width
        model.wait_for_thumbnails()
        qtbot.waitUntil(lambda: not model._pending, timeout=5000)
        corner = (view.gridSize().width() // 2 + 32 - 7, 4 + 7)  # the picture's top right
        clean, flagged = render_row(view, 0), render_row(view, 1)
        assert flagged.pixelColor(*corner) == BADGE_COLOR
        assert clean.pixelColor(*corner) != BADGE_COLOR
        model.shutdown()


def test_paths_are_shown_relative_to_the_dataset_folder(tmp_path, qtbot):
    from PIL import Image

    data = tmp_path / "far" / "away" / "camvid_small"
    for split in ("train", "val"):
        (data / split).mkdir(parents=True)
        Image.new("RGB", (8, 8)).save(data / split / f"{split}_1.png")
    (tmp_path / "projects").mkdir()
    with ProjectStore.create(tmp_path / "projects" / "p.vsproj") as store:
        store.add_images([ImageRecord(path=store.relative_path(data / s / f"{s}_1.png"),
                                      width=8, height=8) for s in ("train", "val")])
        assert store.images()[1].path == "../far/away/camvid_small/val/val_1.png"
        model = BrowserModel(thumb_size=32)
        model.set_store(store)
        assert model.folder == data.resolve()
        image = model.image_at(1)
        assert model.display_path(image) == "val/val_1.png"
        tip = model.data(model.index(1), Qt.ItemDataRole.ToolTipRole).splitlines()
        assert tip[:2] == ["val/val_1.png", str((data / "val" / "val_1.png").resolve())]
        model.shutdown()
