"""The built-in demo project and the `demo` / `info` commands."""
from __future__ import annotations

from vision_studio.cli import main
from vision_studio.core.demo import TAG_CATEGORIES, build_demo_project
from vision_studio.core.store import ProjectStore


def test_demo_project_has_tagged_photos_and_coin_polygons(tmp_path):
    path = build_demo_project(tmp_path)
    with ProjectStore.open(path) as store:
        cats = {c.name: c.id for c in store.categories()}
        assert set(TAG_CATEGORIES) | {"coin"} == set(cats)
        images = store.images()
        assert len(images) >= 15
        assert all(store.resolve(im).is_file() for im in images)
        tags = store.all_image_tags()
        assert len(tags) == len(images)  # every photo carries exactly one tag
        assert all(len(t) == 1 for t in tags.values())
        # both splits hold every tag category, so a classifier can be validated
        for split in ("train", "val"):
            assert {tags[im.id][0] for im in store.images(split=split)} == {cats[n] for n in TAG_CATEGORIES}
        coins = store.image_by_path("images/coins.png")
        anns = store.annotations(coins.id)
        assert len(anns) == 24  # the 24 coins of scikit-image's gallery example
        for a in anns:
            x, y, w, h = a.bbox
            assert 0 <= x and 0 <= y and x + w <= coins.width and y + h <= coins.height
            assert 600 < a.area < 4000  # a coin is a few thousand pixels, not a speck or the plate
    assert build_demo_project(tmp_path) == path  # reused, not rebuilt


def test_demo_and_info_commands(tmp_path, capsys):
    assert main(["demo", "--folder", str(tmp_path), "--no-gui"]) == 0
    out = capsys.readouterr().out
    assert "19 images" in out and "coin" in out
    assert main(["info", "--project", str(tmp_path / "demo.vsproj")]) == 0
    assert "24" in capsys.readouterr().out
    assert main(["info", "--project", str(tmp_path / "nope.vsproj")]) == 1
    assert "nope.vsproj" in capsys.readouterr().err
