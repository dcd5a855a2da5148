"""Model-assisted labelling (issue 14), no Qt.

* :mod:`.prelabel` — run a checkpoint of the project on chosen images and store its
  predictions as *proposals* (boxes, polygons, tags, per-class mask polygons);
* :mod:`.queue` — score images for the Label-next queue (softmax / detection / pixel
  uncertainty, k-center greedy coreset, random) and store the scores;
* :mod:`.uncertainty` — the uncertainty formulas themselves (pure NumPy);
* :mod:`.grabcut` — the smart polygon: an object's polygon from a box (OpenCV GrabCut,
  or the project's instance-segmentation checkpoint);
* :mod:`.polygons` — binary masks to simplified COCO polygons;
* :mod:`.common` — image choice, cancellation, the run name of a checkpoint.
"""
