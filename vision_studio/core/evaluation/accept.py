"""Predictions accepted as annotations: raw detections of an evaluation session turned
into :class:`~vision_studio.core.types.Annotation` values (boxes clipped to the image
with :func:`~vision_studio.core.geometry.clip_box`, the mask's RLE kept)."""
from __future__ import annotations

from typing import Any, Mapping, Sequence

from vision_studio.core.geometry import clip_box, xyxy_to_xywh
from vision_studio.core.types import Annotation, ImageRecord


def annotations_from_detections(raw: Any, raw_indices: Sequence[int], images: Mapping[int, ImageRecord],
                                checkpoint: str) -> list[Annotation]:
    """Annotations for raw detections ``raw_indices`` of ``raw``
    (:class:`~.predictions.RawDetections`, store ids).

    Boxes (``xyxy`` pixels) become COCO ``[x, y, w, h]`` clipped to the image; a box with
    nothing left inside is skipped. ``attributes`` record ``source: "model"``, the score
    (5 decimals) and the checkpoint.
    """
    cats = raw.category_ids()
    out = []
    for i in raw_indices:
        image_id = int(raw.image_ids[raw.img_index[i]])
        im = images[image_id]
        box = clip_box(xyxy_to_xywh(raw.boxes[i]), im.width, im.height)
        if box is None or cats[i] < 0:
            continue
        rle = dict(raw.masks[i]) if raw.masks is not None else None
        out.append(Annotation(image_id=image_id, category_id=int(cats[i]), bbox=box, rle=rle,
                              attributes={"source": "model", "score": round(float(raw.scores[i]), 5),
                                          "checkpoint": str(checkpoint)}))
    return out
