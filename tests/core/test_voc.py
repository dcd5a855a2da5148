"""Pascal VOC import/export: raccoon_voc round trip, coordinate convention, attributes,
malicious and broken XML."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from defusedxml import ElementTree as SafeET
from PIL import Image

from vision_studio.core.errors import FormatError
from vision_studio.core.images import read_image
from vision_studio.core.io.voc import read_voc, write_voc
from vision_studio.core.store import ProjectStore
from vision_studio.core.types import Annotation, ImageRecord


def _boxes_of(xml: Path) -> list[tuple[str, tuple[str, ...]]]:
    root = SafeET.parse(str(xml)).getroot()
    return [(o.findtext("name"), tuple(o.findtext(f"bndbox/{t}") for t in
                                       ("xmin", "ymin", "xmax", "ymax")))
            for o in root.iter("object")]


def test_raccoon_round_trip(data_dir, new_store, tmp_path):
    root = data_dir("raccoon_voc")
    report = read_voc(new_store, root / "annotations", root / "images")
    assert report.ok, report.summary()
    assert (report.images, report.annotations, report.categories) == (200, 217, 1)
    assert [c.name for c in new_store.categories()] == ["raccoon"]
    first = new_store.image_by_path(new_store.relative_path(root / "images/raccoon-1.jpg"))
    ann = new_store.annotations(image_id=first.id)[0]
    assert ann.bbox == (80, 87, 442, 321)  # xmin 81, ymin 88, xmax 522, ymax 408 (1-based)
    assert ann.attributes == {"truncated": False, "difficult": False}
    for gray in ("raccoon-150.jpg", "raccoon-152.jpg", "raccoon-161.jpg"):  # mode L images
        rec = new_store.image_by_path(new_store.relative_path(root / "images" / gray))
        assert rec is not None
        assert read_image(new_store.resolve(rec)).shape == (rec.height, rec.width, 3)

    out = tmp_path / "voc"
    summary = write_voc(new_store, out)
    assert summary["files"] == 200 and summary["objects"] == 217
    assert (out / "labels.txt").read_text() == "raccoon\n"
    for xml in sorted((root / "annotations").glob("*.xml")):  # same text values as the source
        assert _boxes_of(out / xml.name) == _boxes_of(xml), xml.name

    again = ProjectStore.create(tmp_path / "again.vsproj")
    assert read_voc(again, out, root / "images").ok
    assert [a.bbox for a in again.annotations()] == [a.bbox for a in new_store.annotations()]
    again.close()


def _xml(name: str, objects: str, size: str = "<width>40</width><height>30</height>") -> str:
    return (f"<annotation><filename>{name}</filename><path>/elsewhere/{name}</path>"
            f"<size>{size}<depth>3</depth></size>{objects}</annotation>")


def _obj(name: str, box: tuple, extra: str = "") -> str:
    b = "".join(f"<{t}>{v}</{t}>" for t, v in zip(("xmin", "ymin", "xmax", "ymax"), box))
    return f"<object><name>{name}</name>{extra}<bndbox>{b}</bndbox></object>"


@pytest.fixture
def voc_dir(tmp_path) -> Path:
    (tmp_path / "images").mkdir()
    (tmp_path / "train").mkdir()
    for i in range(3):
        Image.fromarray(np.zeros((30, 40, 3), np.uint8)).save(tmp_path / f"images/a{i}.png")
    return tmp_path


def test_attributes_float_coordinates_and_bad_objects(new_store, voc_dir, tmp_path):
    xml_dir = voc_dir / "train"
    (xml_dir / "a0.xml").write_text(_xml("a0.png", _obj(
        "cat", (1, 1, 40, 30), "<difficult>1</difficult><truncated>1</truncated>"
                               "<pose>Left</pose>") + _obj("dog", (2.5, 3.25, 10.75, 12))))
    (xml_dir / "a1.xml").write_text(_xml("a1.png", _obj("cat", (10, 10, 5, 20))       # xmax < xmin
                                         + _obj("cat", (100, 100, 120, 120))        # outside
                                         + _obj("cat", (30, 20, 50, 40))            # clipped
                                         + _obj("", (1, 1, 2, 2))))                 # no name
    (xml_dir / "a2.xml").write_text("<annotation><filename>a2.png</filename>")  # broken
    (xml_dir / "zz.xml").write_text(_xml("gone.png", ""))                       # missing image
    report = read_voc(new_store, xml_dir, voc_dir / "images")
    assert report.counts_by_kind() == {"bad_bbox": 1, "bbox_outside": 1, "bad_object": 1,
                                       "bad_xml": 1, "missing_image": 1}
    assert [n.kind for n in report.notes] == ["bbox_clipped"]
    assert any("a1.xml" in s.source and "object 0 (cat): box of zero or negative" in s.reason
               for s in report.skipped)
    assert {im.split for im in new_store.images()} == {"train"}
    anns = new_store.annotations()
    assert anns[0].attributes == {"difficult": True, "truncated": True, "pose": "Left"}
    assert anns[0].bbox == (0, 0, 40, 30)
    assert anns[1].bbox == (1.5, 2.25, 9.25, 9.75)
    assert anns[2].bbox == (29, 19, 11, 11)  # clipped to the 40x30 image
    out = tmp_path / "out"
    write_voc(new_store, out)
    assert _boxes_of(out / "a0.xml") == [("cat", ("1", "1", "40", "30")),
                                         # edges x 1.5..10.75, y 2.25..12 rounded half up
                                         ("dog", ("3", "3", "11", "12"))]
    assert SafeET.parse(str(out / "a0.xml")).getroot().findtext("object/difficult") == "1"
    assert (out / "labels.txt").read_text().splitlines() == ["cat", "dog"]


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>
<annotation><filename>&lol2;</filename></annotation>"""

EXTERNAL = """<?xml version="1.0"?>
<!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<annotation><filename>&xxe;</filename></annotation>"""


@pytest.mark.parametrize("payload", [BILLION_LAUGHS, EXTERNAL], ids=["entities", "external"])
def test_malicious_xml_rejected_and_project_unchanged(new_store, voc_dir, payload):
    xml_dir = voc_dir / "train"
    (xml_dir / "a0.xml").write_text(_xml("a0.png", _obj("cat", (1, 1, 5, 5))))
    (xml_dir / "evil.xml").write_text(payload)
    with pytest.raises(FormatError, match=r"evil.xml: unsafe XML rejected"):
        read_voc(new_store, xml_dir, voc_dir / "images")
    assert new_store.image_count() == 0 and new_store.categories() == []
    assert new_store.integrity_check() == "ok"


def test_strict_mode_and_reimport(new_store, voc_dir):
    xml_dir = voc_dir / "train"
    (xml_dir / "a0.xml").write_text(_xml("a0.png", _obj("cat", (1, 1, 5, 5))))
    assert read_voc(new_store, xml_dir, voc_dir / "images").ok
    before = (new_store.image_count(), new_store.annotation_count(), len(new_store.categories()))
    (xml_dir / "a1.xml").write_text(_xml("a1.png", _obj("newcat", (1, 1, 5, 5))
                                         + _obj("cat", (9, 9, 2, 2))))
    with pytest.raises(FormatError, match=r"a1.xml: object 1 \(cat\): box of zero"):
        read_voc(new_store, xml_dir, voc_dir / "images", strict=True)
    assert (new_store.image_count(), new_store.annotation_count(),
            len(new_store.categories())) == before
    report = read_voc(new_store, xml_dir, voc_dir / "images")  # non-strict: adds a1
    assert report.counts_by_kind() == {"bad_bbox": 1}
    assert report.images == 1 and new_store.image_count() == 2
    # a0 is already there with the same box: matched, nothing added twice
    assert report.existing == 1 and report.annotations == 1 and new_store.annotation_count() == 2


def test_filename_resolution_ignores_path_and_falls_back_to_stem(new_store, voc_dir):
    xml_dir = voc_dir / "train"
    (xml_dir / "a2.xml").write_text(_xml("renamed.jpg", _obj("cat", (1, 1, 5, 5))))
    report = read_voc(new_store, xml_dir, voc_dir / "images", split="val")
    assert report.ok and new_store.images()[0].path.endswith("images/a2.png")
    with pytest.raises(FormatError, match="no Pascal VOC XML files"):
        read_voc(new_store, voc_dir / "images", voc_dir / "images")
    shutil.rmtree(xml_dir)
    with pytest.raises(FormatError, match="no Pascal VOC XML files"):
        read_voc(new_store, xml_dir, voc_dir / "images")


@pytest.mark.parametrize("declaration", ['<?xml version="1.0" encoding="UTF-7"?>',
                                         '<?xml version="1.0" encoding="no-such-codec"?>'])
def test_unsupported_encodings_are_reported_by_file(new_store, voc_dir, declaration):
    xml_dir = voc_dir / "train"
    (xml_dir / "a0.xml").write_text(declaration + _xml("a0.png", _obj("cat", (1, 1, 5, 5))))
    (xml_dir / "a1.xml").write_text(_xml("a1.png", _obj("cat", (1, 1, 5, 5))))
    report = read_voc(new_store, xml_dir, voc_dir / "images")
    assert [(Path(s.source).name, s.kind) for s in report.skipped] == [("a0.xml", "bad_xml")]
    assert "encoding" in report.skipped[0].reason and report.images == 1
    with pytest.raises(FormatError, match="a0.xml: not valid XML"):
        read_voc(ProjectStore.create(voc_dir / "s.vsproj"), xml_dir, voc_dir / "images",
                 strict=True)


def test_long_absolute_and_climbing_filenames(new_store, voc_dir, tmp_path):
    xml_dir = voc_dir / "train"
    (xml_dir / "a0.xml").write_text(_xml("x" * 5000 + ".png", _obj("cat", (1, 1, 5, 5))))
    outside = tmp_path / "outside.png"
    Image.fromarray(np.zeros((30, 40, 3), np.uint8)).save(outside)
    (xml_dir / "a1.xml").write_text(_xml(str(outside), _obj("cat", (1, 1, 5, 5))))
    (xml_dir / "a2.xml").write_text(_xml("../outside.png", _obj("cat", (2, 2, 5, 5))))
    (xml_dir / "b.xml").write_text(_xml("../../../etc/nothing.png", _obj("cat", (1, 1, 5, 5))))
    report = read_voc(new_store, xml_dir, voc_dir / "images")
    kinds = {(Path(s.source).name[:10], s.kind) for s in report.skipped}
    assert kinds == {("a0.xml", "bad_filename"), ("b.xml", "missing_image"),
                     ("a2.xml", "duplicate_image")}
    assert "file name too long (5004 characters)" in report.skipped[0].reason
    notes = [(Path(n.source).name, n.kind) for n in report.notes]
    assert notes == [("a1.xml", "outside_folder"), ("a2.xml", "outside_folder"),
                     ("b.xml", "outside_folder")]
    assert "(the file exists: imported)" in report.notes[0].reason
    assert "(no such file)" in report.notes[2].reason
    # the absolute and the climbing name are one image: imported once, the second a duplicate
    assert new_store.image_count() == 1
    assert new_store.resolve(new_store.images()[0]) == outside.resolve()


def test_export_writes_integer_coordinates_that_round_trip(new_store, tmp_path):
    img = new_store.add_image(ImageRecord(path="a.png", width=640, height=480))
    cat = new_store.add_category("thing")
    new_store.add_annotations([
        Annotation(img.id, cat.id, (232.7388535031847, 10.2, 100.5, 50.49)),
        Annotation(img.id, cat.id, (630.2, 470.9, 0.2, 30.0)),  # thin, at the right edge
    ])
    write_voc(new_store, tmp_path / "out")
    boxes = _boxes_of(tmp_path / "out" / "a.xml")
    # edges 232.74..333.24 x 10.2..60.69 -> 1-based 234..333 x 11..61; the 0.2 px wide box
    # becomes one pixel wide, its bottom edge (500.9) is kept inside the 480 px image
    assert boxes == [("thing", ("234", "11", "333", "61")), ("thing", ("631", "472", "631", "480"))]
    for _, b in boxes:
        xmin, ymin, xmax, ymax = map(int, b)  # integers, VOC's 1-based inclusive range
        assert 1 <= xmin <= xmax <= 640 and 1 <= ymin <= ymax <= 480
    Image.fromarray(np.zeros((480, 640, 3), np.uint8)).save(tmp_path / "a.png")
    again = ProjectStore.create(tmp_path / "again.vsproj")
    assert read_voc(again, tmp_path / "out", tmp_path).ok
    write_voc(again, tmp_path / "out2")
    assert _boxes_of(tmp_path / "out2" / "a.xml") == boxes  # stable from the first export on
    again.close()
