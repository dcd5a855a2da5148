"""The built-in demo project, made from the real sample photos that scikit-image ships.

It exists on any machine that has the app's dependencies installed, so a first-time user
(and the README's "run" command) can try everything without a dataset of their own:

* every bundled photo is copied into ``<folder>/images`` and tagged with an image-level
  category (``photo``, ``microscopy``, ``texture``, ``document``, ``astronomy``) for
  classification;
* the 24 coins of scikit-image's ``coins.png`` are annotated as ``coin`` instances
  (bbox and polygon), segmented with the watershed recipe of scikit-image's gallery
  ("Comparing edge-based and region-based segmentation"), so detection and instance
  segmentation have real objects to show.
"""
from __future__ import annotations

import logging
import shutil
from pathlib import Path

from vision_studio.core.store import ProjectStore
from vision_studio.core.types import Annotation, ImageRecord, ImageStatus, Split

log = logging.getLogger(__name__)

DEMO_PROJECT_NAME = "demo.vsproj"

# file in skimage/data → image-level category
DEMO_IMAGES: dict[str, str] = {
    "astronaut.png": "photo",
    "camera.png": "photo",
    "chelsea.png": "photo",
    "coffee.png": "photo",
    "rocket.jpg": "photo",
    "motorcycle_left.png": "photo",
    "horse.png": "photo",
    "cell.png": "microscopy",
    "ihc.png": "microscopy",
    "retina.jpg": "microscopy",
    "microaneurysms.png": "microscopy",
    "coins.png": "microscopy",
    "brick.png": "texture",
    "grass.png": "texture",
    "gravel.png": "texture",
    "page.png": "document",
    "text.png": "document",
    "hubble_deep_field.jpg": "astronomy",
    "moon.png": "astronomy",
}
TAG_CATEGORIES = ("photo", "microscopy", "texture", "document", "astronomy")


def _skimage_data_dir() -> Path:
    import skimage.data

    return Path(skimage.data.__file__).parent


def coin_polygons() -> list[tuple[float, ...]]:
    """Polygons (flat ``x, y`` pixel lists) of the 24 coins in ``skimage.data.coins()``.

    Segmentation: Sobel elevation map, markers from intensity (< 30 background, > 150
    coin), watershed, hole filling, regions over 200 px; outlines traced with
    ``skimage.measure.find_contours`` and simplified to 1 px tolerance.
    """
    import numpy as np
    from scipy import ndimage as ndi
    from skimage import data, filters, measure, segmentation

    coins = data.coins()
    markers = np.zeros_like(coins)
    markers[coins < 30] = 1
    markers[coins > 150] = 2
    seg = ndi.binary_fill_holes(segmentation.watershed(filters.sobel(coins), markers) - 1)
    labels = measure.label(seg)
    polygons = []
    for region in measure.regionprops(labels):
        if region.area <= 200:
            continue
        mask = np.pad(labels == region.label, 1)
        contour = max(measure.find_contours(mask.astype(float), 0.5), key=len)
        contour = measure.approximate_polygon(contour, tolerance=1.0) - 1  # undo the pad
        xy = contour[:-1, ::-1]  # (row, col) → (x, y); drop the repeated closing point
        polygons.append(tuple(float(round(v, 2)) for v in xy.reshape(-1)))
    return polygons


def build_demo_project(folder: str | Path, overwrite: bool = False) -> Path:
    """Create (or reuse) the demo project in ``folder``; returns the project file path.

    Args:
        folder: Where to put ``images/`` and ``demo.vsproj``.
        overwrite: Rebuild even if a demo project is already there.

    Returns:
        Path of the ``.vsproj`` file.
    """
    from vision_studio.core.images import image_size

    folder = Path(folder)
    project = folder / DEMO_PROJECT_NAME
    if project.exists() and not overwrite:
        return project
    if project.exists():
        project.unlink()
    images_dir = folder / "images"
    images_dir.mkdir(parents=True, exist_ok=True)
    src = _skimage_data_dir()
    store = ProjectStore.create(project)
    try:
        with store.transaction():
            cats = {c.name: c for c in store.add_categories(
                [(n, None, "scene") for n in TAG_CATEGORIES] + [("coin", None, "object")])}
            records, tags, seen = [], [], dict.fromkeys(TAG_CATEGORIES, 0)
            for name, tag in sorted(DEMO_IMAGES.items()):
                if not (src / name).is_file():
                    log.warning("scikit-image sample %s is missing; left out of the demo", name)
                    continue
                shutil.copyfile(src / name, images_dir / name)
                w, h = image_size(images_dir / name)
                # every category in both splits; the coins (the object example) in train
                split = Split.VAL if seen[tag] % 3 == 1 and name != "coins.png" else Split.TRAIN
                seen[tag] += 1
                records.append(ImageRecord(path=f"images/{name}", width=w, height=h, split=split,
                                           status=ImageStatus.DONE))
                tags.append(tag)
            added = store.add_images(records)
            store.add_image_tags((im.id, cats[t].id) for im, t in zip(added, tags))
            coins = next((im for im in added if im.path.endswith("coins.png")), None)
            if coins is not None:
                store.add_annotations(_polygon_annotation(coins.id, cats["coin"].id, p)
                                      for p in coin_polygons())
    finally:
        store.close()
    log.info("demo project written to %s", project)
    return project


def _polygon_annotation(image_id: int, category_id: int, polygon: tuple[float, ...]) -> Annotation:
    xs, ys = polygon[0::2], polygon[1::2]
    x0, y0 = min(xs), min(ys)
    return Annotation(image_id=image_id, category_id=category_id,
                      bbox=(x0, y0, max(xs) - x0, max(ys) - y0), polygons=(polygon,),
                      attributes={"source": "demo watershed"})
