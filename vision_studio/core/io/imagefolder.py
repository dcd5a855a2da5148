"""Import of an ImageFolder tree for image classification (torchvision's layout).

Layouts::

    root/<split>/<class>/**/<image>     split folders: train, val | valid | validation, test
    root/<class>/**/<image>             no split folders (split from the ``split`` argument)

Class folders become categories (sorted by name, like ``torchvision.datasets.ImageFolder``'s
``class_to_idx``) and each image gets one image-level tag: its class. Files are never
copied; the project stores their paths relative to its root.

What is reported instead of imported: files whose extension is not a photo format
(text files, archives...), GIF files (palette images of at most 256 colours, usually
graphics or animations rather than photos: in ``hymenoptera``, ``imageNotFound.gif``
decodes to a grey web placeholder reading "We're sorry, this image could not be found",
not an ant), files that cannot be decoded, files outside a class folder, and images
images named twice. Hidden files (``.DS_Store``...) are ignored. An image already in the
project gets its class tag (``on_existing``). :func:`read_images` adds a folder of
images without labels.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image

from vision_studio.core import images
from vision_studio.core.errors import FormatError
from vision_studio.core.io._importlog import (
    IMAGE_EXTENSIONS,
    ImportLog,
    Progress,
    call_progress,
    category_ids,
)
from vision_studio.core.io.common import ExistingImages, ProjectPaths, project_paths
from vision_studio.core.io.report import ImportReport
from vision_studio.core.store import ProjectStore
from vision_studio.core.types import ImageRecord, Split

SPLIT_ALIASES = {
    "train": Split.TRAIN, "training": Split.TRAIN,
    "val": Split.VAL, "valid": Split.VAL, "validation": Split.VAL,
    "test": Split.TEST, "testing": Split.TEST,
}
"""Folder name (lower case) → split name."""
_BATCH = 1000  # images per insert batch


def read_imagefolder(store: ProjectStore, root: str | os.PathLike, *, split: str | None = None,
                     strict: bool = False, progress: Progress | None = None,
                     extensions: frozenset[str] | set[str] = IMAGE_EXTENSIONS,
                     verify: bool = False, on_existing: str = "add") -> ImportReport:
    """Import a classification dataset laid out as class folders.

    Args:
        store: The project to add to.
        root: The dataset folder: ``root/<split>/<class>/...`` when any top-level folder
            is a split name (see :data:`SPLIT_ALIASES`), else ``root/<class>/...``.
        split: Split recorded for every image, overriding the split folders; default
            the split folder's name (normalised: ``valid`` → ``val``) or ``""``.
        strict: Raise :class:`~vision_studio.core.errors.FormatError` at the first
            file that is not imported (nothing is then changed).
        progress: Called as ``progress(files_done, files_total)``.
        extensions: Lower-case extensions read as images (default
            ``.jpg .jpeg .png .bmp .tif .tiff .webp``; add ``".gif"`` to import GIFs).
        verify: Decode every image fully (slower) so that truncated files are reported
            too; by default only the header is read (size after EXIF orientation).
        on_existing: For an image already in the project (by project path, else by
            unique file name): ``"add"`` its class tag, ``"replace"`` its tags with
            the class, or ``"skip"`` it.

    Returns:
        The report; ``tags`` counts the class tags added (one per new image).

    Raises:
        FormatError: ``root`` is not a folder or holds no class folder; (strict) the
            first file not imported.
    """
    root = Path(root)
    if not root.is_dir():
        raise FormatError(f"{root}: folder not found")
    rep = ImportLog(store, strict, "imagefolder")
    files = _scan(root, rep)
    if not files:
        raise FormatError(f"{root}: no class folder with files found (expected "
                          "root/<class>/<image> or root/<split>/<class>/<image>)")
    existing = ExistingImages(store, on_existing)
    paths = project_paths(store)
    known: set[str] = set()
    with store.transaction():
        cats = category_ids(store, sorted({c for _, c, _ in files}), rep)
        batch: list[tuple[ImageRecord, int]] = []
        for i, (path, cls, folder_split) in enumerate(files):
            item = _image(paths, path, split if split is not None else folder_split,
                          extensions, known, rep, verify)
            old = existing.find(item.path, (item.width, item.height)) if item else None
            if old is not None:
                _tag_existing(existing, old, cats[cls], path, rep)
            elif item is not None:
                batch.append((item, cats[cls]))
            if len(batch) >= _BATCH:
                _insert(store, batch, rep)
            call_progress(progress, i + 1, len(files))
        _insert(store, batch, rep)
        return rep.report()


def _tag_existing(existing: ExistingImages, image: ImageRecord, category_id: int, path: Path,
                  rep: ImportLog) -> None:
    """The class tag of an image already in the project, as ``on_existing`` says."""
    if existing.on_existing == "skip":
        rep.result.note(str(path), "already in the project; its labels were left as they are "
                        "(on_existing='skip')", "existing_image")
        return
    existing.attach([(image, (), (category_id,))])
    rep.result.existing += 1


def read_images(store: ProjectStore, folder: str | os.PathLike, *, split: str | None = None,
                strict: bool = False, progress: Progress | None = None,
                verify: bool = False) -> ImportReport:
    """Add the images of a folder (searched recursively) without labels: the twin of
    "New project from a folder".

    Args:
        store: The project to add to.
        folder: The folder; hidden files and folders are ignored.
        split: Split recorded for every image (default ``""``).
        strict: Raise :class:`~vision_studio.core.errors.FormatError` at the first file
            not imported (nothing is then changed).
        progress: Called as ``progress(files_done, files_total)``.
        verify: Decode every image fully, so truncated files are reported too.

    Returns:
        The report: images added; files that are not images (by extension), GIFs,
        files that are not regular files or cannot be decoded are skipped, named;
        images already in the project are noted and left as they are.

    Raises:
        FormatError: ``folder`` is not a folder or holds no file.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FormatError(f"{folder}: folder not found")
    files = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        files += [Path(dirpath) / f for f in sorted(filenames) if not f.startswith(".")]
    own = {os.path.realpath(f"{store.path}{s}") for s in ("", "-wal", "-shm", "-journal")}
    files = [f for f in files if os.path.realpath(f) not in own]  # the project's own files
    if not files:
        raise FormatError(f"{folder}: no files found")
    rep = ImportLog(store, strict, "images")
    known = {im.path for im in store.images()}
    paths = project_paths(store)
    with store.transaction():
        batch: list[ImageRecord] = []
        for i, path in enumerate(files):
            if paths(path) in known:
                rep.result.note(str(path), "already in the project; left as it is",
                                "existing_image")
            else:
                item = _image(paths, path, split or "", IMAGE_EXTENSIONS, known, rep, verify)
                if item is not None:
                    batch.append(item)
            if len(batch) >= _BATCH or (batch and i == len(files) - 1):
                rep.result.images += len(store.add_images(batch))
                batch.clear()
            call_progress(progress, i + 1, len(files))
        return rep.report()


def _scan(root: Path, rep: ImportLog) -> list[tuple[Path, str, str]]:
    """``(file, class name, split)`` for every file under a class folder, sorted;
    stray files and folders are reported."""
    tops = sorted(p for p in root.iterdir() if not p.name.startswith("."))
    has_splits = any(p.is_dir() and p.name.lower() in SPLIT_ALIASES for p in tops)
    class_dirs: list[tuple[Path, str]] = []
    for top in tops:
        if not top.is_dir():
            rep.skip(top, "file outside a class folder", "outside_class")
        elif not has_splits:
            class_dirs.append((top, ""))
        elif top.name.lower() not in SPLIT_ALIASES:
            rep.skip(top, f"folder is not a split folder ({', '.join(sorted(set(SPLIT_ALIASES)))})"
                          " next to split folders; not imported", "outside_split")
        else:
            for sub in sorted(p for p in top.iterdir() if not p.name.startswith(".")):
                if sub.is_dir():
                    class_dirs.append((sub, SPLIT_ALIASES[top.name.lower()]))
                else:
                    rep.skip(sub, "file outside a class folder", "outside_class")
    out = []
    for folder, folder_split in class_dirs:
        for dirpath, dirnames, filenames in os.walk(folder):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            out += [(Path(dirpath) / f, folder.name, folder_split)
                    for f in sorted(filenames) if not f.startswith(".")]
    return out


def _image(paths: ProjectPaths, path: Path, split: str, extensions: frozenset[str] | set[str],
           known: set[str], rep: ImportLog, verify: bool = False) -> ImageRecord | None:
    """The image record of one file, or None after reporting why it is not imported."""
    ext = path.suffix.lower()
    if ext not in extensions:
        if ext == ".gif":
            rep.skip(path, _gif_reason(path), "not_a_photo")
        else:
            rep.skip(path, f"not an image file (extension '{ext or path.name}')", "not_an_image")
        return None
    rel = paths(path)
    if rel in known:
        rep.skip(path, "named twice in this import (not imported twice)", "duplicate_image")
        return None
    try:
        width, height = images.image_size(path)
    except images.ImageDecodeError as exc:
        rep.skip(path, exc.reason, "decode_error")
        return None
    problem = images.verify_image(path) if verify else None
    if problem:
        rep.skip(path, problem, "decode_error")
        return None
    known.add(rel)
    return ImageRecord(path=rel, width=width, height=height, split=split)


def _gif_reason(path: Path) -> str:
    """Why a GIF is not imported, with what it decodes to (size, colours, frames)."""
    try:
        arr = images.read_image(path)  # first frame, palette expanded to RGB
        w, h = images.image_size(path)
        colours = len(np.unique(arr.reshape(-1, 3), axis=0))
        with Image.open(path) as img:
            frames = getattr(img, "n_frames", 1)
    except (images.ImageDecodeError, OSError) as exc:
        return f"GIF file that cannot be decoded ({exc}); not imported"
    return (f"GIF file not imported as a photo: it decodes to a {w}x{h} palette image with "
            f"{colours} colours and {frames} frame(s), a graphic rather than a photo "
            "(pass extensions with '.gif' to import GIFs)")


def _insert(store: ProjectStore, batch: list[tuple[ImageRecord, int]], rep: ImportLog) -> None:
    if not batch:
        return
    records = store.add_images([b[0] for b in batch])
    store.add_image_tags([(rec.id, cat) for rec, (_, cat) in zip(records, batch)])
    rep.result.images += len(records)
    rep.result.tags += len(records)
    batch.clear()
