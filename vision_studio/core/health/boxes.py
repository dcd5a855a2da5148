"""Box label errors of detection / instance-segmentation projects with ObjectLab.

Method (Tkachenko, Thyagarajan & Mueller, "ObjectLab: Automated Diagnosis of Mislabeled
Images in Object Detection Data", ICML DMLR workshop 2023; ``cleanlab.object_detection``):
a detector's predictions on images it did not train on are compared with the given
boxes, and three per-box scores in [0, 1] (lower = more likely an error) are computed:

* ``overlooked_box``: a confident predicted box (probability >= 0.95) that no given box
  of its class covers: an object left unlabelled (score per *predicted* box; ObjectLab
  skips boxes touching any given box, here they are scored too when no given box
  matches them at IoU 0.5, see :func:`_touching_overlooked`);
* ``bad_box``: a given box that a predicted box of the same class overlaps, but with other
  edges: a badly located box (score per *given* box);
* ``swapped_class``: a given box that a confident predicted box of *another* class covers:
  a wrong class (score per *given* box).

A box is listed when cleanlab's ``find_label_issues`` flags it (a per-class threshold:
the class's AP over IoU 0.5:0.95 times 0.25, times 0.8), or when its box score is at
most ``1 - LIST_SCORE`` (those thresholds are low for dense, hard classes: on rbc_coco a
cell shifted by half its size scored 0.21 against a threshold of 0.19); an issue's
``score`` is ``1 - box score``. Boxes: the store's COCO ``[x, y, w, h]``, converted to ``xyxy`` for cleanlab.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from vision_studio.core.geometry import box_convert, xywh_to_xyxy, xyxy_to_xywh
from vision_studio.core.health.issues import Issue

BOX_KINDS = ("overlooked_box", "bad_box", "swapped_class")
LIST_SCORE = 0.7
"""Boxes with an issue score at least this are listed even when cleanlab does not flag
them."""


@dataclass(frozen=True)
class ImageBoxes:
    """Given boxes and predictions of one image, in model label order ``0..K-1``.

    Attributes:
        image_id: Store id; ``file_name`` its stored path.
        boxes: [L, 4] float64 given boxes, ``xyxy`` pixels.
        labels: [L] int64 class indices of the given boxes.
        annotation_ids: [L] int64 store ids of the given boxes.
        pred_boxes: [M, 4] float64 predicted ``xyxy`` pixels.
        pred_labels: [M] int64 predicted class indices.
        pred_scores: [M] float64 predicted probabilities.
    """

    image_id: int
    file_name: str
    boxes: np.ndarray
    labels: np.ndarray
    annotation_ids: np.ndarray
    pred_boxes: np.ndarray
    pred_labels: np.ndarray
    pred_scores: np.ndarray


def _objectlab_prediction(img: ImageBoxes, num_classes: int) -> np.ndarray:
    """cleanlab's per-image prediction: an object array of K arrays ``[M_k, 5]`` (x1, y1,
    x2, y2, probability)."""
    out = np.empty(num_classes, dtype=object)
    for k in range(num_classes):
        m = img.pred_labels == k
        out[k] = np.c_[img.pred_boxes[m], img.pred_scores[m]].astype(np.float32).reshape(-1, 5)
    return out


def _flat_predictions(img: ImageBoxes, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Predicted boxes and labels in cleanlab's order (class by class), the order of its
    overlooked scores."""
    order = np.concatenate([np.flatnonzero(img.pred_labels == k) for k in range(num_classes)]
                           ) if num_classes else np.zeros(0, np.int64)
    order = order.astype(np.int64)
    return img.pred_boxes[order], img.pred_labels[order]


def _per_class_ap(labels: list[dict[str, Any]], preds: list[np.ndarray], num_classes: int
                  ) -> dict[int, float]:
    """cleanlab's per-class thresholds (``filter._get_per_class_ap``: AP averaged over IoU
    0.5:0.05:0.95, times ``AP_SCALE_FACTOR``), computed in this process: cleanlab's own
    function starts a ``multiprocessing.Pool`` (a fork) ten times, slow and unsafe in
    the GUI's multithreaded process."""
    from cleanlab.object_detection import filter as olf

    out = {}
    for k in range(num_classes):
        pred_k, lab_k = olf._filter_by_class(labels, preds, k)
        n_gt = sum(b.shape[0] for b in lab_k)
        stacked = np.vstack(pred_k) if pred_k else np.zeros((0, 5))
        order = np.argsort(-stacked[:, -1])
        aps = []
        for thr in np.linspace(0.5, 0.95, 10):
            tp, fp = zip(*(olf._calculate_true_positives_false_positives(p, g, thr)
                           for p, g in zip(pred_k, lab_k)))
            tp = np.cumsum(np.hstack(tp)[:, order], axis=1)[0]
            fp = np.cumsum(np.hstack(fp)[:, order], axis=1)[0]
            eps = np.finfo(np.float32).eps
            aps.append(olf._calculate_average_precision(tp / max(n_gt, eps),
                                                        tp / np.maximum(tp + fp, eps)))
        out[k] = float(np.mean(aps)) * olf.AP_SCALE_FACTOR
    return out


def _touching_overlooked(scores: np.ndarray, aux: Mapping[str, Any], high: float
                         ) -> np.ndarray:
    """ObjectLab's overlooked scores, completed for confident predicted boxes that touch
    a given box without matching one (best IoU with any given box in (0, 0.5)).

    ObjectLab leaves every predicted box that overlaps any given box unscored (NaN). In
    dense scenes (rbc_coco: ~23 touching cells per image) most unlabelled objects touch
    a labelled neighbour, and went unseen: on the benchmark's oracle 22 of 282 deleted
    boxes were found. Those boxes get ObjectLab's own formula without the guard: the
    similarity to the closest given box of the predicted class (or the smallest
    similarity x (1 - probability) when the class has none), so a box that no given
    box matches at the usual IoU 0.5 scores low.
    """
    s = np.array(scores, np.float64).reshape(-1)
    iou, sim = np.asarray(aux["iou_matrix"]), np.asarray(aux["similarity_matrix"])
    if iou.size == 0:
        return s
    probs, plab, llab = (np.asarray(aux[k]) for k in ("pred_label_probs", "pred_labels",
                                                       "lab_labels"))
    best = iou.max(axis=0)
    for j in np.flatnonzero(np.isnan(s) & (probs >= high) & (best > 0) & (best < 0.5)):
        same = sim[llab == plab[j], j]
        s[j] = same.max() if len(same) else aux["min_possible_similarity"] * (1 - probs[j])
    return s


def objectlab_box_scores(images: Sequence[ImageBoxes], num_classes: int
                         ) -> dict[str, list[Any]]:
    """The three ObjectLab box scores and cleanlab's verdict, per image.

    Returns:
        ``{kind: [(scores [n] float64, is_issue [n] bool) per image]}`` with ``n`` = the
        image's predicted boxes (cleanlab's class-by-class order, see
        :func:`_flat_predictions`) for ``overlooked_box``, its given boxes for the others.
        NaN scores (no evidence) become 1. Also ``"similarity"``: per image ObjectLab's
        [L, M] similarity of given to predicted boxes (prediction order as above).
    """
    from cleanlab.object_detection import filter as olf
    from cleanlab.object_detection import rank as olr

    labels = [{"bboxes": im.boxes.astype(np.float32).reshape(-1, 4), "labels": im.labels}
              for im in images]
    preds = [_objectlab_prediction(im, num_classes) for im in images]
    aux = olr._get_valid_inputs_for_compute_scores(olf.ALPHA, labels, preds)
    per_class = _per_class_ap(labels, preds, num_classes)
    lab_thr = [[per_class[int(c)] for c in im.labels] for im in images]
    pred_thr = [[per_class[int(c)] for c in _flat_predictions(im, num_classes)[1]] for im in images]
    overlooked = olr.compute_overlooked_box_scores(
        alpha=olf.ALPHA, high_probability_threshold=olf.HIGH_PROBABILITY_THRESHOLD,
        auxiliary_inputs=aux)
    raw = {
        "overlooked_box": ([_touching_overlooked(s, a, olf.HIGH_PROBABILITY_THRESHOLD)
                            for s, a in zip(overlooked, aux)], pred_thr,
                           olf.OVERLOOKED_THRESHOLD_FACTOR),
        "bad_box": (olr.compute_badloc_box_scores(
            alpha=olf.ALPHA, low_probability_threshold=olf.LOW_PROBABILITY_THRESHOLD,
            auxiliary_inputs=aux), lab_thr, olf.BADLOC_THRESHOLD_FACTOR),
        "swapped_class": (olr.compute_swap_box_scores(
            alpha=olf.ALPHA, high_probability_threshold=olf.HIGH_PROBABILITY_THRESHOLD,
            auxiliary_inputs=aux), lab_thr, olf.SWAP_THRESHOLD_FACTOR),
    }
    out: dict[str, list[Any]] = {"similarity": [np.asarray(a["similarity_matrix"]) for a in aux]}
    for kind, (scores, thr, factor) in raw.items():
        rows = []
        for s, t in zip(scores, thr):
            s = np.nan_to_num(np.asarray(s, np.float64).reshape(-1), nan=1.0)
            rows.append((s, s <= np.asarray(t, np.float64).reshape(-1) * factor))
        out[kind] = rows
    return out


def _xywh(box: np.ndarray) -> tuple[float, ...]:
    return tuple(round(v, 2) for v in xyxy_to_xywh(box))


def _best_match(similarity: np.ndarray, pred_labels: np.ndarray, label: int,
                same_class: bool) -> int | None:
    """Index (cleanlab's prediction order) of the predicted box most similar to a given
    box by ObjectLab's similarity (IoU blended with centre distance), among the same
    class (``bad_box``) or the other classes (``swapped_class``)."""
    cand = np.flatnonzero((pred_labels == label) if same_class else (pred_labels != label))
    if len(cand) == 0:
        return None
    return int(cand[int(np.argmax(similarity[cand]))])


def _listed(box_score: np.ndarray, flag: np.ndarray, flagged_only: bool) -> np.ndarray:
    if not flagged_only:
        return box_score < 1
    return flag | (1 - box_score >= LIST_SCORE)


def box_issues(images: Sequence[ImageBoxes], class_names: Sequence[str], *,
               flagged_only: bool = True, splits: Mapping[int, str] | None = None,
               source: str = "", scores: dict[str, list[Any]] | None = None) -> list[Issue]:
    """:class:`Issue` records of the box errors ObjectLab finds.

    Args:
        images: Given boxes and predictions per image (see :class:`ImageBoxes`).
        class_names: Names of the class indices ``0..K-1``.
        flagged_only: Only the boxes cleanlab flags or that score at least
            :data:`LIST_SCORE`; ``False`` gives every box with a score above 0 (for
            rankings and benchmarks).
        splits: ``{image_id: split}`` to record on the issues.
        source: Where the predictions came from, appended to each issue's ``detail``.
        scores: :func:`objectlab_box_scores` of ``images`` when already computed.

    Returns:
        Issues of kinds :data:`BOX_KINDS`, unsorted. ``bbox`` is the given box (COCO
        ``[x, y, w, h]`` pixels; ``None`` for an overlooked box), ``suggested_bbox`` the
        predicted one; ``given`` / ``suggested`` category names.
    """
    if scores is None:
        scores = objectlab_box_scores(images, len(class_names))
    out: list[Issue] = []
    for i, img in enumerate(images):
        split = (splits or {}).get(img.image_id, "")
        fboxes, flabels = _flat_predictions(img, len(class_names))
        common = dict(file_name=img.file_name, image_id=img.image_id, split=split)
        s, flag = scores["overlooked_box"][i]
        for j in np.flatnonzero(_listed(s, flag, flagged_only)):
            out.append(Issue(kind="overlooked_box", score=float(1 - s[j]),
                             suggested=class_names[int(flabels[j])],
                             suggested_bbox=_xywh(fboxes[j]), **common,
                             detail="a confident prediction no given box covers" + source))
        for kind, same in (("bad_box", True), ("swapped_class", False)):
            s, flag = scores[kind][i]
            for j in np.flatnonzero(_listed(s, flag, flagged_only)):
                m = _best_match(scores["similarity"][i][j], flabels, int(img.labels[j]), same)
                out.append(Issue(
                    kind=kind, score=float(1 - s[j]), given=class_names[int(img.labels[j])],
                    suggested=class_names[int(flabels[m])] if m is not None else None,
                    bbox=_xywh(img.boxes[j]), annotation_id=int(img.annotation_ids[j]),
                    suggested_bbox=_xywh(fboxes[m]) if m is not None else None,
                    detail=("the predicted box of this class has other edges" if same else
                            "a confident prediction of another class covers it") + source,
                    **common))
    return out


def store_boxes(store: Any, image_ids: Sequence[int], category_ids: Sequence[int]
                ) -> tuple[list[Any], dict[int, list[Any]]]:
    """The images (store order) and ``{image_id: annotations}`` of the categories."""
    wanted = {int(i) for i in image_ids}
    images = [im for im in store.images() if im.id in wanted]
    cats = set(int(c) for c in category_ids)
    anns = store.annotations_by_image([im.id for im in images])
    return images, {im.id: [a for a in anns.get(im.id, []) if a.category_id in cats]
                    for im in images}


def images_from_detections(store: Any, raw: Any, *, score_threshold: float = 0.05,
                           nms_iou: float = 0.5) -> list[ImageBoxes]:
    """Pair a :class:`~vision_studio.core.evaluation.predictions.RawDetections` with the
    store's boxes of its images (categories mapped by ``raw.categories`` ids, in model
    label order); predictions kept by ``raw.filter(score_threshold, nms_iou)``."""
    cat_ids = [int(c["id"]) for c in raw.categories]
    index = {c: k for k, c in enumerate(cat_ids)}
    images, anns = store_boxes(store, raw.image_ids, cat_ids)
    by_id = {im.id: im for im in images}
    keep = raw.filter(score_threshold, nms_iou, max_per_image=300)
    out = []
    for row, iid in enumerate(raw.image_ids):
        im = by_id.get(int(iid))
        if im is None:
            continue
        sel = keep[raw.img_index[keep] == row]
        mine = anns[im.id]
        boxes = np.array([xywh_to_xyxy(a.bbox) for a in mine], np.float64).reshape(-1, 4)
        out.append(ImageBoxes(
            image_id=im.id, file_name=im.path, boxes=boxes,
            labels=np.array([index[a.category_id] for a in mine], np.int64),
            annotation_ids=np.array([a.id for a in mine], np.int64),
            pred_boxes=raw.boxes[sel].astype(np.float64).reshape(-1, 4),
            pred_labels=(raw.labels[sel] - raw.label_offset).astype(np.int64),
            pred_scores=raw.scores[sel].astype(np.float64)))
    return out


def images_from_annotations(store: Any, image_ids: Sequence[int], category_ids: Sequence[int],
                            reference: Mapping[int, Sequence[tuple[int, Sequence[float]]]]
                            ) -> list[ImageBoxes]:
    """Given boxes of the store against *reference* boxes used as predictions with
    probability 1 (e.g. the boxes before an edit; for tests and benchmarks).

    Args:
        reference: ``{image_id: [(category_id, COCO [x, y, w, h]), ...]}``.
    """
    index = {int(c): k for k, c in enumerate(category_ids)}
    images, anns = store_boxes(store, image_ids, category_ids)
    out = []
    for im in images:
        mine, ref = anns[im.id], list(reference.get(im.id, ()))
        boxes = np.array([xywh_to_xyxy(a.bbox) for a in mine], np.float64).reshape(-1, 4)
        pb = box_convert(np.array([b for _, b in ref], np.float64).reshape(-1, 4), "xywh", "xyxy")
        out.append(ImageBoxes(
            image_id=im.id, file_name=im.path, boxes=boxes,
            labels=np.array([index[a.category_id] for a in mine], np.int64),
            annotation_ids=np.array([a.id for a in mine], np.int64),
            pred_boxes=np.asarray(pb, np.float64).reshape(-1, 4),
            pred_labels=np.array([index[c] for c, _ in ref], np.int64),
            pred_scores=np.ones(len(ref))))
    return out
