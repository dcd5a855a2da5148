"""Instance segmentation through the assist core with a tiny real Mask R-CNN checkpoint on
brain_tumor_coco_seg: pre-labelled masks become polygon proposals that trace the model's
own masks, and the smart polygon takes the model's mask of the detection in the box."""
from __future__ import annotations

import numpy as np
import pytest

from tests.gui._eval_fixtures import coco_project, shared_data, train_tiny
from vision_studio.core.store import ProjectStore

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def brain(tmp_path_factory):
    folder = tmp_path_factory.mktemp("brain")
    project = coco_project(folder, shared_data("brain_tumor_coco_seg"), "brain", val_limit=1)
    ckpt = train_tiny(project, folder / "run", "instance_segmentation", "maskrcnn_fpn:mobilenet_v3_large",
                      image_size=128, steps=2, batch_size=2)
    return project, ckpt


def test_prelabel_masks_become_polygons_tracing_the_model_masks(brain):
    from vision_studio.core.assist.inference import load_model, run_detections
    from vision_studio.core.assist.polygons import mask_iou, polygons_mask, rle_to_mask
    from vision_studio.core.assist.prelabel import detection_proposals

    project, ckpt = brain
    with ProjectStore.open(project) as store:
        model = load_model(store, ckpt, "cpu")
        val = store.images("val")
        raw = run_detections(model, store, val)  # what prelabel runs
        keep = raw.filter(0.05, 0.5, 100)
        props = store.add_proposals(detection_proposals(raw, 0.05, model.run, tolerance=0.5))
        assert props and {p.kind for p in props} <= {"polygon", "bbox"}
        polys = [p for p in props if p.kind == "polygon"]
        assert polys, "the tiny model's masks traced to nothing"
        by_score = {(int(raw.image_ids[raw.img_index[i]]), round(float(raw.scores[i]), 6)): i for i in keep}
        ious = []
        for p in polys:
            i = by_score[(p.image_id, round(p.score, 6))]
            h, w = (int(v) for v in raw.image_sizes[raw.img_index[i]])
            ious.append(mask_iou(polygons_mask(p.segmentation, h, w), rle_to_mask(raw.masks[i])))
        assert np.median(ious) > 0.6, ious  # outline of the same mask (holes dropped, 0.5 px simplified)
        assert store.annotation_count(val[0].id) == 0  # proposals, not annotations
        store.delete_proposals([p.id for p in props])


def test_smart_polygon_uses_the_model_mask_of_the_detection_in_the_box(brain):
    from vision_studio.core.assist.grabcut import model_polygon, smart_polygon
    from vision_studio.core.assist.inference import load_model
    from vision_studio.core.assist.polygons import rle_to_mask
    from vision_studio.core.evaluation.predict import predict_detections
    from vision_studio.core.geometry import xyxy_to_xywh
    from vision_studio.core.images import read_image

    project, ckpt = brain
    with ProjectStore.open(project) as store:
        model = load_model(store, ckpt, "cpu")
        image = read_image(store.resolve(store.images("val")[0]))
    raw = predict_detections(model.built.model, [image], model.categories, image_size=model.config.image_size,
                             score_floor=0.05, raw_max_per_image=100)  # as model_polygon runs it
    keep = raw.filter(0.05, 0.5, 100)
    masks = [rle_to_mask(raw.masks[i]) for i in keep]
    found = [k for k, m in zip(keep, masks) if m.sum() > 20]
    if not found:
        pytest.skip("the tiny model found no object with a mask on this image")
    i = int(found[0])
    box = xyxy_to_xywh(raw.boxes[i].tolist())
    got = model_polygon(model, image, box)
    assert got is not None and got.method == "model" and got.polygons
    x0, y0 = int(np.floor(box[0])), int(np.floor(box[1]))
    x1, y1 = int(np.ceil(box[0] + box[2])), int(np.ceil(box[1] + box[3]))
    expected = np.zeros_like(masks[0])
    best = rle_to_mask(raw.masks[i])
    expected[y0:y1, x0:x1] = best[y0:y1, x0:x1]
    assert np.array_equal(got.mask, expected) and got.score == pytest.approx(float(raw.scores[i]))
    with_strokes = smart_polygon(image, box, model=model, foreground=np.zeros(image.shape[:2], np.uint8))
    assert with_strokes.method == "grabcut"  # painted strokes refine with GrabCut
