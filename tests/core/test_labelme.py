"""labelme JSON import: real files from ../shared/data/labelme and generated failure cases."""
from __future__ import annotations

import base64
import io
import json
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vision_studio.core.errors import FormatError
from vision_studio.core.io.labelme import circle_polygon, read_labelme

# ---------------------------------------------------------------------------- helpers


def _image(path: Path, size=(40, 30), orientation: int | None = None) -> Path:
    img = Image.new("RGB", size, (120, 60, 30))
    if orientation is None:
        img.save(path)
    else:
        exif = Image.Exif()
        exif[0x0112] = orientation
        img.save(path, exif=exif)
    return path


def _labelme(path: Path, shapes: list, image: str = "img.png", size=(40, 30), **extra) -> Path:
    data = {"version": "5.0.1", "flags": {}, "shapes": shapes, "imagePath": image,
            "imageData": None, "imageWidth": size[0], "imageHeight": size[1]}
    data.update(extra)
    path.write_text(json.dumps(data))
    return path


def _shape(label="cat", kind="polygon", points=((1, 1), (10, 1), (10, 8)), group_id=None, **kw):
    return {"label": label, "points": [list(p) for p in points], "group_id": group_id,
            "shape_type": kind, "flags": {}, **kw}


def _names(store) -> dict[int, str]:
    return {c.id: c.name for c in store.categories()}


# ---------------------------------------------------------------------------- real data


def test_real_labelme_folder_imports_and_reports_unsupported_shapes(new_store, data_dir):
    src = data_dir("labelme")
    calls = []
    report = read_labelme(new_store, src, progress=lambda d, t: calls.append((d, t)))

    assert report.images == 7 and new_store.image_count() == 7
    assert calls[-1] == (7, 7) and len(calls) == 7
    # primitives.json: line, point, linestrip and mask shapes are reported with file and index
    skipped = {s.source: s for s in report.skipped}
    prim = src / "primitives" / "primitives.json"
    assert set(skipped) == {f"{prim}#shape{i}" for i in (4, 5, 6, 7)}
    kinds = [skipped[f"{prim}#shape{i}"].reason.split()[0] for i in (4, 5, 6, 7)]
    assert kinds == ["line", "point", "linestrip", "mask"]
    assert all(s.kind == "unsupported_shape" for s in report.skipped)
    # ...and recorded as problems of the image they belong to
    prim_img = new_store.image_by_path(new_store.relative_path(src / "primitives" / "primitives.jpg"))
    assert {p.source for p in new_store.problems(prim_img.id)} == set(skipped)

    names = _names(new_store)
    prim_anns = {names[a.category_id]: a for a in new_store.annotations(image_id=prim_img.id)}
    assert set(prim_anns) == {"rectangle", "circle", "polygon"}
    # two rectangles (same label) -> two bbox-only annotations
    rects = [a for a in new_store.annotations(image_id=prim_img.id) if names[a.category_id] == "rectangle"]
    assert sorted(a.bbox for a in rects) == [(32.0, 35.0, 100.0, 100.0), (391.0, 33.0, 151.0, 102.0)]
    assert all(not a.polygons for a in rects)
    # circle: centre (195, 84), rim (225, 125) -> polygon on that circle
    circle = prim_anns["circle"]
    r = math.hypot(30, 41)
    pts = np.array(circle.polygons[0]).reshape(-1, 2)
    assert 32 <= len(pts) <= 64
    np.testing.assert_allclose(np.hypot(pts[:, 0] - 195, pts[:, 1] - 84), r, rtol=1e-9)
    assert circle.area == pytest.approx(math.pi * r * r, rel=0.01)
    # polygon coordinates are the JSON points
    assert prim_anns["polygon"].polygons == ((69.0, 318.0, 45.0, 403.0, 173.0, 406.0, 198.0, 321.0),)


def test_real_labelme_group_id_ignore_and_sizes(new_store, data_dir):
    src = data_dir("labelme") / "instance_segmentation"
    report = read_labelme(new_store, src / "2011_000003.json", split="train")
    assert report.ok and report.images == 1
    img = new_store.images()[0]
    assert (img.width, img.height, img.split) == (500, 338, "train")
    names = _names(new_store)
    anns = new_store.annotations(image_id=img.id)
    # 5 shapes: person, person+person (group 0), bottle, __ignore__ -> 4 annotations
    assert sorted(names[a.category_id] for a in anns) == ["__ignore__", "bottle", "person", "person"]
    grouped = [a for a in anns if a.attributes.get("group_id") == 0]
    assert len(grouped) == 1 and [len(p) // 2 for p in grouped[0].polygons] == [41, 4]
    raw = json.loads((src / "2011_000003.json").read_text())["shapes"]
    xs = [p[0] for s in raw if s["group_id"] == 0 for p in s["points"]]
    assert grouped[0].bbox[0] == pytest.approx(min(xs)) and grouped[0].bbox[2] == pytest.approx(max(xs) - min(xs))
    ignore = [a for a in anns if names[a.category_id] == "__ignore__"]
    assert len(ignore) == 1 and ignore[0].iscrowd and ignore[0].attributes["ignore"] is True
    assert all(not a.iscrowd for a in anns if a is not ignore[0])


# ---------------------------------------------------------------------------- generated files


def test_broken_json_is_reported_and_the_rest_imported(new_store, tmp_path):
    _image(tmp_path / "img.png")
    _labelme(tmp_path / "good.json", [_shape()])
    (tmp_path / "broken.json").write_text('{"shapes": [ {"label": ')
    (tmp_path / "other.json").write_text('{"not": "labelme"}')
    report = read_labelme(new_store, tmp_path)
    by_source = {Path(s.source).name: s for s in report.skipped}
    assert by_source["broken.json"].kind == "broken_json" and "broken JSON" in by_source["broken.json"].reason
    assert by_source["other.json"].kind == "not_labelme"
    assert report.images == 1 and report.annotations == 1
    assert {Path(p.source).name for p in new_store.problems()} == {"broken.json", "other.json"}


def test_unknown_and_degenerate_shapes_are_skipped(new_store, tmp_path):
    _image(tmp_path / "img.png")
    shapes = [_shape(), _shape(kind="ellipse"), _shape(points=((1, 1), (5, 5))),
              _shape(kind="rectangle", points=((50, 50), (60, 60))), _shape(label="")]
    _labelme(tmp_path / "a.json", shapes)
    report = read_labelme(new_store, tmp_path / "a.json")
    reasons = {s.source.rsplit("#", 1)[1]: s.reason for s in report.skipped}
    assert set(reasons) == {"shape1", "shape2", "shape3", "shape4"}
    assert "ellipse" in reasons["shape1"] and "not supported" in reasons["shape1"]
    assert "2 point(s)" in reasons["shape2"]
    assert "no area inside the 40x30 image" in reasons["shape3"]
    assert "no label" in reasons["shape4"]
    assert report.annotations == 1


def test_strict_mode_raises_and_changes_nothing(new_store, tmp_path):
    before = new_store.add_category("existing")
    _image(tmp_path / "img.png")
    _image(tmp_path / "img2.png")
    _labelme(tmp_path / "a.json", [_shape()])
    _labelme(tmp_path / "b.json", [_shape(label="dog"), _shape(kind="line", points=((0, 0), (5, 5)))],
             image="img2.png")
    with pytest.raises(FormatError, match=r"b\.json#shape1.*line"):
        read_labelme(new_store, tmp_path, strict=True)
    assert new_store.image_count() == 0 and new_store.annotation_count() == 0
    assert new_store.categories() == [before] and new_store.problems() == []
    # the same input imports without strict
    assert read_labelme(new_store, tmp_path).images == 2


def test_embedded_image_only_is_reported_unless_asked(new_store, tmp_path):
    buf = io.BytesIO()
    Image.new("RGB", (40, 30), (1, 2, 3)).save(buf, format="PNG")
    data = base64.b64encode(buf.getvalue()).decode()
    _labelme(tmp_path / "a.json", [_shape()], image="sub/emb.png", imageData=data)
    report = read_labelme(new_store, tmp_path / "a.json")
    assert report.images == 0 and report.skipped[0].kind == "embedded_image"
    assert "imageData" in report.skipped[0].reason
    assert not (tmp_path / "sub" / "emb.png").exists()
    report = read_labelme(new_store, tmp_path / "a.json", write_embedded=True)
    assert report.images == 1 and (tmp_path / "sub" / "emb.png").is_file()
    assert new_store.images()[0].path.endswith("sub/emb.png")


def test_missing_image_and_size_mismatch_are_reported(new_store, tmp_path):
    _image(tmp_path / "img.png", size=(40, 30))
    _labelme(tmp_path / "missing.json", [_shape()], image="nope.png")
    _labelme(tmp_path / "wrong.json", [_shape()], size=(50, 30))
    report = read_labelme(new_store, tmp_path)
    kinds = {Path(s.source).name: s for s in report.skipped}
    assert kinds["missing.json"].kind == "missing_image" and "nope.png" in kinds["missing.json"].reason
    assert kinds["wrong.json"].kind == "size_mismatch" and "50x30" in kinds["wrong.json"].reason
    assert "40x30" in kinds["wrong.json"].reason
    assert new_store.image_count() == 0


def test_exif_rotated_image_size_matches_labelme(new_store, tmp_path):
    # stored 40x30 with orientation 6 (rotate 90): displayed 30x40, which labelme records
    _image(tmp_path / "img.jpg", size=(40, 30), orientation=6)
    _labelme(tmp_path / "a.json", [_shape(points=((1, 1), (25, 1), (25, 35)))], image="img.jpg",
             size=(30, 40))
    report = read_labelme(new_store, tmp_path / "a.json")
    assert report.ok, report.summary()
    img = new_store.images()[0]
    assert (img.width, img.height) == (30, 40)


def test_flags_groups_of_rectangles_windows_paths_and_v3(new_store, tmp_path):
    (tmp_path / "imgs").mkdir()
    _image(tmp_path / "imgs" / "img.png")
    shapes = [
        _shape(label="car", group_id=3, flags={"occluded": True}, description="red"),
        _shape(label="car", kind="rectangle", points=((20, 20), (30, 28)), group_id=3),
        {"label": "tree", "points": [[2, 2], [8, 2], [8, 9]], "line_color": None},  # labelme 3
    ]
    _labelme(tmp_path / "a.json", shapes, image="imgs\\img.png", flags={"outdoor": True, "night": False})
    report = read_labelme(new_store, tmp_path / "a.json")
    assert report.ok and report.annotations == 2 and report.tags == 1
    names = _names(new_store)
    anns = {names[a.category_id]: a for a in new_store.annotations()}
    car = anns["car"]
    assert len(car.polygons) == 2 and car.polygons[1] == (20.0, 20.0, 30.0, 20.0, 30.0, 28.0, 20.0, 28.0)
    assert car.bbox == (1.0, 1.0, 29.0, 27.0)
    assert car.attributes["flags"] == {"occluded": True} and car.attributes["description"] == "red"
    assert anns["tree"].polygons == ((2.0, 2.0, 8.0, 2.0, 8.0, 9.0),)
    tags = new_store.all_image_tags()
    assert [names[c] for c in tags[new_store.images()[0].id]] == ["outdoor"]


def test_reimport_adds_nothing_twice_and_a_second_file_is_a_duplicate(new_store, tmp_path):
    _image(tmp_path / "img.png")
    _labelme(tmp_path / "a.json", [_shape()])
    read_labelme(new_store, tmp_path)
    report = read_labelme(new_store, tmp_path)
    assert report.ok and report.images == 0 and report.annotations == 0 and report.existing == 1
    assert new_store.annotation_count() == 1
    _labelme(tmp_path / "b.json", [_shape(label="dog")])  # a second file for the same image
    report = read_labelme(new_store, tmp_path)
    assert [s.kind for s in report.skipped] == ["duplicate_image"]
    assert report.skipped[0].source.endswith("b.json") and new_store.annotation_count() == 1


def test_points_outside_are_clipped_and_missing_source_raises(new_store, tmp_path):
    _image(tmp_path / "img.png")
    _labelme(tmp_path / "a.json", [_shape(points=((-5, -5), (50, 2), (20, 40)))])
    report = read_labelme(new_store, tmp_path / "a.json")
    (ann,) = new_store.annotations()
    assert ann.bbox == (0.0, 0.0, 40.0, 30.0)
    assert report.ok and [n.kind for n in report.notes] == ["clipped"]
    assert report.notes[0].source.endswith("a.json#shape0")
    with pytest.raises(FormatError, match="no labelme JSON"):
        read_labelme(new_store, tmp_path / "nothing_here")


def test_circle_polygon_vertices():
    pts = np.array(circle_polygon((10.0, 20.0), (13.0, 24.0), 40))
    assert pts.shape == (40, 2)
    np.testing.assert_allclose(np.hypot(pts[:, 0] - 10, pts[:, 1] - 20), 5.0)


def test_malformed_fields_are_reported_not_crashing(new_store, tmp_path):
    _image(tmp_path / "img.png")
    shapes = [_shape(group_id=[1], flags="yes"), "not a shape", {**_shape(), "points": None},
              _shape(points=[[1, "x"], [2, 2], [3, 3]]), _shape(kind="circle", points=((5, 5),))]
    _labelme(tmp_path / "a.json", shapes, flags=["not", "a", "dict"])
    report = read_labelme(new_store, tmp_path / "a.json")
    reasons = [s.reason for s in report.skipped]
    assert len(reasons) == 4 and "not a JSON object" in reasons[0]
    assert "malformed points" in reasons[1] and "malformed points" in reasons[2]
    assert "needs 2 points" in reasons[3]
    (ann,) = new_store.annotations()
    assert ann.attributes["group_id"] == [1] and "flags" not in ann.attributes
    assert report.tags == 0


def test_flags_with_spaces_or_empty_keys_become_stripped_tags(new_store, tmp_path):
    _image(tmp_path / "img.png")
    _labelme(tmp_path / "a.json", [_shape()],
             flags={" outdoor ": True, "": True, "   ": True, "night": True, "day": False})
    report = read_labelme(new_store, tmp_path / "a.json")  # was KeyError: ' outdoor '
    assert report.ok and report.tags == 2
    names = _names(new_store)
    (tags,) = new_store.all_image_tags().values()
    assert sorted(names[t] for t in tags) == ["night", "outdoor"]


@pytest.mark.parametrize("label", [5, 1.5, True, ["cat"], {"name": "cat"}])
def test_labels_that_are_not_text_are_reported_per_shape(new_store, tmp_path, label):
    _image(tmp_path / "img.png")
    _labelme(tmp_path / "a.json", [_shape(label=label), _shape(label="dog")])
    report = read_labelme(new_store, tmp_path / "a.json")
    assert [(s.source.endswith("a.json#shape0"), s.kind) for s in report.skipped] == \
        [(True, "bad_label")]
    assert "label is not text" in report.skipped[0].reason
    assert sorted(_names(new_store).values()) == ["dog"]  # nothing named "5" or "True"


def test_long_absolute_and_climbing_image_paths(new_store, tmp_path):
    src = tmp_path / "set"
    src.mkdir()
    _image(tmp_path / "outside.png")
    _labelme(src / "long.json", [_shape()], image="y" * 5000 + ".png")
    _labelme(src / "abs.json", [_shape()], image=str(tmp_path / "outside.png"))
    _labelme(src / "up.json", [_shape()], image="../missing.png",
             imageData=base64.b64encode(b"\x89PNG junk").decode())
    report = read_labelme(new_store, src, write_embedded=True)
    skipped = {Path(s.source).name: s for s in report.skipped}
    assert skipped["long.json"].kind == "bad_image_path"
    assert "file name too long (5004 characters)" in skipped["long.json"].reason
    assert skipped["up.json"].kind == "missing_image"  # never written outside the folder
    assert not (tmp_path / "missing.png").exists()
    notes = {Path(n.source).name: n.reason for n in report.notes if n.kind == "outside_folder"}
    assert set(notes) == {"abs.json", "up.json"} and "the file exists: imported" in notes["abs.json"]
    assert report.images == 1
    assert new_store.resolve(new_store.images()[0]) == (tmp_path / "outside.png").resolve()


def test_huge_numbers_and_deep_json_are_reported(new_store, tmp_path):
    _image(tmp_path / "img.png")
    (tmp_path / "deep.json").write_text("[" * 5000 + "]" * 5000)
    (tmp_path / "digits.json").write_text('{"shapes": [], "imagePath": "img.png", "x": '
                                          + "7" * 5000 + "}")
    _labelme(tmp_path / "big.json", [_shape(points=[[10 ** 400, 1], [2, 2], [3, 3]]),
                                     _shape(kind="circle", points=[[1, 1], [1.7e308, 1.7e308]])])
    report = read_labelme(new_store, tmp_path)
    kinds = {Path(s.source).name: s.kind for s in report.skipped}
    assert kinds == {"deep.json": "broken_json", "digits.json": "broken_json",
                     "big.json#shape0": "invalid_shape", "big.json#shape1": "invalid_shape"}
