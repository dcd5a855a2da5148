"""A COCO file survives import + export (issue 13 item 5), every COCO file written for a
project uses one id space (item 4), and export never writes over the project or an
existing file without being asked (item 1). Judged by plain pycocotools."""
from __future__ import annotations

import contextlib
import io
import json
import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from tests.core.coco_synth import make_coco, synth_results
from vision_studio.core.errors import OutputExistsError, ProtectedPathError
from vision_studio.core.geometry import annotation_area
from vision_studio.core.io.coco import read_coco
from vision_studio.core.io.coco_ids import export_id_maps
from vision_studio.core.io.coco_write import coco_dict, write_coco
from vision_studio.core.types import Annotation, ImageRecord

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


def _coco(doc_or_path) -> COCO:
    with contextlib.redirect_stdout(io.StringIO()):
        if isinstance(doc_or_path, (str, Path)):
            return COCO(str(doc_or_path))
        coco = COCO()
        coco.dataset = json.loads(json.dumps(doc_or_path))
        coco.createIndex()
        return coco


def stats(gt, results: list[dict], iou_type: str = "bbox") -> np.ndarray:
    """The 12 COCOeval numbers of ``results`` on ``gt`` (a path or a document)."""
    gt = _coco(gt)
    with contextlib.redirect_stdout(io.StringIO()):
        ev = COCOeval(gt, gt.loadRes(json.loads(json.dumps(results))), iou_type)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev.stats


@pytest.fixture
def synthetic(tmp_path):
    doc = make_coco(n_images=40, seed=3)
    path = tmp_path / "instances_val2017.json"
    path.write_text(json.dumps(doc))
    return path, doc


def _import_export(store, src: Path, out: Path, **kw) -> dict:
    report = read_coco(store, src, check_images=False, **kw)
    assert report.ok, report.summary()
    write_coco(store, out)
    return json.loads(out.read_text())


def test_synthetic_coco_round_trip_keeps_ids_areas_encodings_and_fields(new_store, synthetic,
                                                                        tmp_path):
    src, doc = synthetic
    out = _import_export(new_store, src, tmp_path / "out" / "export.json")
    assert out["info"] == doc["info"] and out["licenses"] == doc["licenses"]
    assert sorted(out["categories"], key=lambda c: c["id"]) == \
        sorted(doc["categories"], key=lambda c: c["id"])
    want_images = {i["id"]: {k: v for k, v in i.items() if k != "file_name"}
                   for i in doc["images"]}
    got_images = {i["id"]: {k: v for k, v in i.items() if k != "file_name"}
                  for i in out["images"]}
    assert got_images == want_images  # ids, sizes, license, urls, date_captured
    want = {a["id"]: a for a in doc["annotations"]}
    got = {a["id"]: a for a in out["annotations"]}
    assert got.keys() == want.keys()
    crowd = 0
    for aid, a in want.items():
        b = got[aid]
        assert (b["image_id"], b["category_id"], b["iscrowd"]) == \
            (a["image_id"], a["category_id"], a["iscrowd"])
        assert b["area"] == a["area"]  # the official area, not a recomputed one
        assert b["bbox"] == a["bbox"] and b["segmentation"] == a["segmentation"]
        crowd += a["iscrowd"]
        if a["iscrowd"]:
            assert isinstance(b["segmentation"]["counts"], list)  # uncompressed stays so
    assert crowd >= 3


@pytest.mark.parametrize("iou_type", ["bbox", "segm"])
def test_pycocotools_gives_the_same_12_numbers_after_a_round_trip(new_store, synthetic,
                                                                  tmp_path, iou_type):
    src, doc = synthetic
    out = tmp_path / "export.json"
    _import_export(new_store, src, out)
    results = synth_results(doc, seed=7, segm=iou_type == "segm")  # keyed by original ids
    before, after = stats(src, results, iou_type), stats(out, results, iou_type)
    assert np.array_equal(before, after), (before, after)
    assert before[0] > 0.05  # a real evaluation, not all -1 / 0
    # the test can fail: recomputing the areas (what the exporter used to do) moves
    # objects between COCOeval's area ranges and changes APs/APm/APl
    recomputed = json.loads(out.read_text())
    sizes = {i["id"]: (i["height"], i["width"]) for i in recomputed["images"]}
    for a in recomputed["annotations"]:
        if isinstance(a["segmentation"], list) and a["segmentation"]:
            h, w = sizes[a["image_id"]]
            a["area"] = float(mask_utils.area(mask_utils.merge(
                mask_utils.frPyObjects(a["segmentation"], h, w))))
    assert not np.array_equal(stats(recomputed, results, iou_type), before)


def test_real_roboflow_dataset_gives_the_same_numbers(data_dir, new_store, tmp_path):
    root = data_dir("rbc_coco")
    for folder in ("train", "valid", "test"):
        assert read_coco(new_store, root / folder / "_annotations.coco.json").ok
    for folder, split in (("valid", "val"), ("test", "test")):
        original = root / folder / "_annotations.coco.json"
        out = tmp_path / f"{split}.json"
        write_coco(new_store, out, split=split)
        doc = json.loads(original.read_text())
        results = synth_results(doc, seed=11)
        before, after = stats(original, results), stats(out, results)
        assert np.array_equal(before, after) and before[0] > 0
        exported = json.loads(out.read_text())
        assert [i["id"] for i in exported["images"]] == [i["id"] for i in doc["images"]]
        assert [(a["id"], a["area"]) for a in exported["annotations"]] == \
            [(a["id"], a["area"]) for a in doc["annotations"]]
        assert exported["info"] == doc["info"] and exported["licenses"] == doc["licenses"]
        assert [i["date_captured"] for i in exported["images"]] == \
            [i["date_captured"] for i in doc["images"]]


def _project_results(store, maps, seed: int = 5) -> list[dict]:
    """Detections made in the project's id space (jittered stored boxes), written with
    the export id maps as evaluation and prediction do."""
    rng = np.random.default_rng(seed)
    out = []
    for a in store.iter_annotations():
        x, y, w, h = a.bbox
        j = rng.normal(0, 0.08, 4) * [w, h, w, h]
        out.append({"image_id": maps.image[a.image_id], "category_id": maps.category[a.category_id],
                    "bbox": [x + j[0], y + j[1], max(1.0, w + j[2]), max(1.0, h + j[3])],
                    "score": float(rng.random())})
    return out


def test_results_written_with_the_id_maps_match_the_exported_ground_truth(new_store, synthetic,
                                                                          tmp_path):
    """Item 4: results keyed through ``export_id_maps`` evaluate on the exported file
    exactly as on the original one, also with a category and image added in the app."""
    src, _ = synthetic
    read_coco(new_store, src, check_images=False)
    cat = new_store.add_category("drawn")
    im = new_store.add_image(ImageRecord(path="new.png", width=100, height=80, split="val"))
    new_store.add_annotation(Annotation(image_id=im.id, category_id=cat.id, bbox=(10, 10, 40, 30)))
    maps = export_id_maps(new_store)
    results = _project_results(new_store, maps)
    out = tmp_path / "gt.json"
    write_coco(new_store, out)
    exported = json.loads(out.read_text())
    added = next(a for a in exported["annotations"] if a["category_id"] == maps.category[cat.id])
    assert added["image_id"] == maps.image[im.id] and added["area"] == 1200
    with_all = stats(out, results)
    assert with_all[0] > 0.1
    # on the original ids alone (the app's image left out) the numbers are the same
    original_only = [r for r in results if r["image_id"] != maps.image[im.id]]
    doc = json.loads(out.read_text())
    doc["images"] = [i for i in doc["images"] if i["id"] != maps.image[im.id]]
    doc["annotations"] = [a for a in doc["annotations"] if a["image_id"] != maps.image[im.id]]
    doc["categories"] = [c for c in doc["categories"] if c["id"] != maps.category[cat.id]]
    assert np.array_equal(stats(doc, original_only), stats(src, original_only))
    assert coco_dict(new_store)["annotations"] == exported["annotations"]


def test_edited_annotation_gets_a_computed_area(new_store, synthetic, tmp_path):
    src, doc = synthetic
    read_coco(new_store, src, check_images=False)
    a = next(x for x in new_store.annotations() if x.polygons and not x.iscrowd)
    moved = tuple(tuple(v + 1.0 for v in p) for p in a.polygons)
    # as the canvas's undo commands edit (gui/undo.py with_geometry): extra kept, area 0
    new_store.update_annotation(replace(a, polygons=moved, area=0.0))
    out = json.loads(write_coco(new_store, tmp_path / "o.json") and
                     (tmp_path / "o.json").read_text())
    b = next(x for x in out["annotations"] if x["id"] == a.extra["coco_id"])
    assert b["area"] == annotation_area(a.bbox, moved) != a.area


def test_export_never_writes_the_project_and_asks_before_replacing(new_store, tmp_path):
    cat = new_store.add_category("c")
    image = tmp_path / "img.jpg"
    image.write_bytes(b"not really a jpeg")
    im = new_store.add_image(ImageRecord(path=Path(os.path.relpath(image, new_store.root))
                                         .as_posix(), width=10, height=10))
    new_store.add_annotation(Annotation(image_id=im.id, category_id=cat.id, bbox=(1, 1, 2, 2)))
    project = Path(new_store.path)
    before = project.read_bytes()
    for target in (project, Path(str(project) + "-wal"), image):
        with pytest.raises(ProtectedPathError, match="never written over"):
            write_coco(new_store, target, overwrite=True)
    assert image.read_bytes() == b"not really a jpeg" and project.read_bytes() == before
    out = tmp_path / "out.json"
    out.write_text("keep me")
    with pytest.raises(OutputExistsError, match="out.json: already exists"):
        write_coco(new_store, out)
    assert out.read_text() == "keep me"
    write_coco(new_store, out, overwrite=True)
    assert len(json.loads(out.read_text())["annotations"]) == 1
    assert sorted(p.name for p in tmp_path.iterdir() if ".vs-tmp-" in p.name) == []
