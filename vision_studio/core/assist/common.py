"""What pre-labelling and scoring share: which images, cancellation, progress, run names."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from vision_studio.core.cancel import Cancel, Cancelled, Progress, checked_progress, is_cancelled
from vision_studio.core.errors import ConfigError
from vision_studio.core.types import ImageRecord

__all__ = ["ALL", "UNLABELLED", "Cancel", "Cancelled", "Progress", "checked_progress", "is_cancelled",
           "run_name", "select_images"]
# Cancel, Cancelled, Progress, checked_progress and is_cancelled live in
# vision_studio.core.cancel (the evaluation uses them too); re-exported here.

UNLABELLED = "unlabelled"
ALL = "all"


def select_images(store: Any, which: str = UNLABELLED) -> list[ImageRecord]:
    """The images to pre-label or score, in store order.

    Args:
        store: The open project.
        which: ``"unlabelled"`` (no annotation and no tag), ``"all"``, or a split name
            (``"train"``, ``"val"``, ...: the images of that split).

    Raises:
        ConfigError: a split name no image has.
    """
    if which == ALL:
        return store.images()
    if which == UNLABELLED:
        labelled = store.labelled_image_ids()
        return [im for im in store.images() if im.id not in labelled]
    if which not in store.splits():
        names = ", ".join(repr(s) for s in store.splits() if s) or "none"
        raise ConfigError(f"{store.path}: no image in split {which!r} (splits: {names}; or use "
                          f"{UNLABELLED!r} / {ALL!r})")
    return store.images(which)


def run_name(store: Any, checkpoint: str | Path) -> str:
    """The name of the run a checkpoint belongs to: the project's run whose ``id`` the
    checkpoint records (``run_id``) or whose folder holds it, else the folder's name."""
    from vision_studio.core.training.checkpoints import read_checkpoint

    path = Path(checkpoint)
    folder = path if path.is_dir() else path.parent
    state = read_checkpoint(path / "best.pt" if path.is_dir() and (path / "best.pt").is_file()
                            else (path / "last.pt" if path.is_dir() else path))
    runs = store.runs()
    by_id = {r.id: r for r in runs}
    if state.get("run_id") in by_id:
        return by_id[state["run_id"]].name
    for r in runs:
        out = Path(r.out_dir)
        out = out if out.is_absolute() else store.root / out
        if out.resolve() == folder.resolve():
            return r.name
    if not folder.name:
        raise ConfigError(f"{checkpoint}: cannot name the run of this checkpoint")
    return folder.name
