"""One-click projects from the real datasets of ``../shared/data`` (welcome screen,
``screenshot`` command). No Qt here.

Each dataset is imported with the core importers (through :mod:`vision_studio.gui.formats`)
into a project file ``<user data>/projects/<name>.vsproj`` whose image root is the
dataset folder (images are referenced, never copied). An existing project file is
reopened, not re-imported.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from vision_studio.core.errors import VisionStudioError
from vision_studio.core.io.report import ImportReport
from vision_studio.core.paths import user_data_dir
from vision_studio.core.store import ProjectStore
from vision_studio.gui.formats import import_format

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]
CAMVID_CLASSES = ("Sky, Building, Pole, Road, Pavement, Tree, SignSymbol, Fence, Car, "
                  "Pedestrian, Bicyclist").split(", ")


@dataclass(frozen=True)
class Step:
    """One importer call: format name, inputs relative to the dataset folder, split."""

    format: str
    values: dict[str, str]
    split: str | None = None


@dataclass(frozen=True)
class SharedDataset:
    """A dataset of ``../shared/data`` and how to import it."""

    name: str
    task: str
    description: str
    steps: tuple[Step, ...]


def _coco_splits(*pairs: tuple[str, str]) -> tuple[Step, ...]:
    return tuple(Step("coco", {"json": f"{d}/_annotations.coco.json", "images": d}, split)
                 for d, split in pairs)


SHARED_DATASETS: tuple[SharedDataset, ...] = (
    SharedDataset("rbc_coco", "detection", "Blood-smear cells, 240 images, boxes (COCO)",
                  _coco_splits(("train", "train"), ("valid", "val"), ("test", "test"))),
    SharedDataset("brain_tumor_coco_seg", "instance segmentation",
                  "Brain MRI slices, 801 images, tumour polygons (COCO)",
                  _coco_splits(("train", "train"), ("valid", "val"), ("test", "test"))),
    SharedDataset("hymenoptera", "classification", "Ants and bees, 397 photos (image folders)",
                  (Step("imagefolder", {"root": "."}),)),
    SharedDataset("camvid_small", "semantic segmentation", "Road scenes, 160 images, 11 classes",
                  tuple(Step("masks", {"images": d, "masks": f"{d}annot", "ignore": "11",
                                       "classes": ", ".join(f"{i}={c}" for i, c in enumerate(CAMVID_CLASSES))},
                             split) for d, split in (("train", "train"), ("val", "val")))),
    SharedDataset("membrane", "semantic segmentation", "Electron microscopy, 30 slices, 2 classes",
                  (Step("masks", {"images": "image", "masks": "label",
                                  "classes": "0=membrane, 255=cell"}),)),
    SharedDataset("raccoon_voc", "detection", "Raccoons, 200 photos, boxes (Pascal VOC)",
                  (Step("voc", {"xml": "annotations", "images": "images"}),)),
    SharedDataset("labelme", "instance segmentation", "3 photos with labelme polygons and boxes",
                  (Step("labelme", {"src": "instance_segmentation"}),)),
)


def shared_data_dir() -> Path | None:
    """``../shared/data`` beside the repository or the working folder
    (``$VISION_STUDIO_SHARED/data`` when set), or ``None`` when absent."""
    candidates = []
    if os.environ.get("VISION_STUDIO_SHARED"):
        candidates.append(Path(os.environ["VISION_STUDIO_SHARED"]) / "data")
    repo = Path(__file__).resolve().parents[2]
    candidates += [repo.parent / "shared" / "data", Path.cwd().parent / "shared" / "data"]
    return next((c for c in candidates if c.is_dir()), None)


def available_datasets(data_dir: Path | None = None) -> list[SharedDataset]:
    """The :data:`SHARED_DATASETS` present in ``data_dir`` (default :func:`shared_data_dir`)."""
    data_dir = data_dir or shared_data_dir()
    if data_dir is None:
        return []
    return [d for d in SHARED_DATASETS if (data_dir / d.name).is_dir()]


def dataset(name: str) -> SharedDataset:
    """The shared dataset called ``name``. Raises VisionStudioError if unknown."""
    for d in SHARED_DATASETS:
        if d.name == name:
            return d
    raise VisionStudioError(f"unknown dataset {name!r}; known: {', '.join(d.name for d in SHARED_DATASETS)}")


def project_path(name: str) -> Path:
    """Where the project made from dataset ``name`` is kept."""
    return user_data_dir() / "projects" / f"{name}.vsproj"


def import_dataset(name: str, data_dir: Path | None = None, out: Path | None = None,
                   progress: Progress | None = None) -> tuple[Path, ImportReport]:
    """Import shared dataset ``name`` into a new project (or reuse the existing one).

    Args:
        name: A :data:`SHARED_DATASETS` name.
        data_dir: The ``shared/data`` folder (default :func:`shared_data_dir`).
        out: Project file to create (default :func:`project_path`).
        progress: ``progress(done, total)`` over all importer calls.

    Returns:
        ``(project file, merged report)``; the report is empty when the project existed.

    Raises:
        VisionStudioError: unknown or absent dataset, or an importer failure (the
            half-made project file is then removed).
    """
    spec = dataset(name)
    data_dir = data_dir or shared_data_dir()
    folder = data_dir / name if data_dir else None
    if folder is None or not folder.is_dir():
        raise VisionStudioError(f"dataset {name!r} not found (looked in {data_dir})")
    out = Path(out) if out else project_path(name)
    if out.exists():
        return out, ImportReport(format="existing")
    store = ProjectStore.create(out, root=folder)
    report = ImportReport()
    try:
        for i, step in enumerate(spec.steps):
            values = {k: (str(folder / v) if k not in ("classes", "ignore") else v)
                      for k, v in step.values.items()}
            part = (lambda d, t, i=i: progress(i * 1000 + int(1000 * d / max(t, 1)),
                                              len(spec.steps) * 1000)) if progress else None
            report.merge(import_format(step.format).run(store, values, split=step.split,
                                                        progress=part))
    except BaseException:
        store.close()
        for suffix in ("", "-wal", "-shm"):
            Path(str(out) + suffix).unlink(missing_ok=True)
        raise
    store.close()
    log.info("imported %s into %s: %s", name, out, report.summary())
    return out, report
