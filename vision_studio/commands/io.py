"""``vision-studio import`` and ``vision-studio export``: annotation formats in and out.

``import`` adds one or more sources to a project (created when missing) in one
transaction: if any source fails (broken file, or any problem with ``--strict``),
nothing is added. A new project is built under a temporary name beside it and renamed
into place only when the import succeeded, so a failed or killed import leaves no
project behind (a temporary file left by a kill is removed by the next import). Labels
for images already in the project are attached to them (``--on-existing``). The images
added are then decoded in full (unless ``--no-check-images``) and the ones that do not
decode are named in the summary and recorded as problems (``vision-studio info``). The
import report (counts, skipped items grouped by reason with the first files named) goes
to stdout; a progress bar to stderr on long imports.
"""
from __future__ import annotations

import argparse
import glob
import os
import shlex
import sqlite3
import sys
from pathlib import Path
from typing import Any, Callable

from vision_studio.core.errors import ConfigError, VisionStudioError

IMPORT_FORMATS = ("coco", "voc", "labelme", "masks", "imagefolder", "images")
ON_EXISTING = ("add", "replace", "skip")
EXPORT_FORMATS = ("coco", "voc", "masks")


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``import`` and ``export`` sub-commands."""
    p = sub.add_parser("import", help="import annotations/images into a project",
                       description="Import datasets into a project (created if missing).")
    p.add_argument("--format", required=True, choices=IMPORT_FORMATS)
    p.add_argument("src", nargs="+", type=Path, metavar="SRC",
                   help="coco: JSON file(s); voc: XML folder(s); labelme: JSON file(s) or "
                        "folder(s); masks: image folder(s); imagefolder: dataset root(s); "
                        "images: folder(s) of images, searched recursively, added without labels")
    p.add_argument("--project", required=True, type=Path, help="project file (.vsproj)")
    p.add_argument("--split", help="split recorded on the images (default: from folder names)")
    p.add_argument("--strict", action="store_true",
                   help="fail on the first problem and change nothing")
    p.add_argument("--image-dir", type=Path,
                   help="coco: folder file_name is relative to (default: the JSON's folder); "
                        "voc: image folder (default: images/ or JPEGImages/ beside the XMLs)")
    p.add_argument("--no-check-images", action="store_true",
                   help="coco/voc: trust the sizes in the files, do not open the images; all "
                        "formats: do not decode the added images in full afterwards")
    p.add_argument("--on-existing", choices=ON_EXISTING, default="add",
                   help="labels for an image already in the project: add them (default; an "
                        "identical box and category is not added twice), replace that image's "
                        "annotations, or skip the image")
    p.add_argument("--mask-dir", type=Path, action="append",
                   help="masks: label-image folder (once, or once per SRC)")
    p.add_argument("--classes", help='masks: "0=Sky,1=Building,..." or a class table file')
    p.add_argument("--ignore-value", type=int, help="masks: label value of void pixels")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--no-backup", action="store_true",
                   help="do not keep a copy of the project from before the import (the copy "
                        "is how to remove the import again)")
    p.set_defaults(func=run_import)

    p = sub.add_parser("export", help="export a project's annotations",
                       description="Export a project (or one split) to an annotation format.")
    p.add_argument("--format", required=True, choices=EXPORT_FORMATS)
    p.add_argument("out", type=Path, metavar="OUT",
                   help="coco: JSON file (a folder gets annotations.json); voc/masks: folder")
    p.add_argument("--project", required=True, type=Path, help="project file (.vsproj)")
    p.add_argument("--split", help="only this split (default: all images)")
    p.add_argument("--image-root", type=Path,
                   help="coco: folder file_name is made relative to (default: the JSON's)")
    p.add_argument("--ignore-value", type=int, default=255,
                   help="masks: value written for unlabelled pixels (default 255)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an existing output file / write into a non-empty folder (the "
                        "project file and the project's images are never written)")
    p.set_defaults(func=run_export)


def parse_classes(text: str) -> dict[int, str]:
    """``"0=Sky,1=Building"`` or a class table file (see ``masks.load_class_table``).

    Raises:
        ConfigError: neither a readable file nor ``value=name`` pairs.
    """
    if os.path.isfile(text):
        from vision_studio.core.io.masks import load_class_table

        return load_class_table(text)
    table: dict[int, str] = {}
    for item in filter(None, (s.strip() for s in text.split(","))):
        value, sep, name = item.partition("=")
        if not sep or not value.strip().lstrip("-").isdigit() or not name.strip():
            raise ConfigError(f"--classes: expected value=name pairs or a file, got {item!r}")
        table[int(value)] = name.strip()
    if not table:
        raise ConfigError("--classes: no classes given")
    return table


def _voc_image_dir(xml_dir: Path) -> Path:
    for name in ("images", "JPEGImages"):
        if (xml_dir.parent / name).is_dir():
            return xml_dir.parent / name
    return xml_dir


def _importer(args: argparse.Namespace) -> Callable[..., Any]:
    """``fn(store, src, index, progress) -> ImportReport`` for the chosen format."""
    common = {"split": args.split, "strict": args.strict}
    fmt, on_existing = args.format, args.on_existing
    if fmt == "coco":
        from vision_studio.core.io.coco import read_coco

        return lambda store, src, i, prog: read_coco(
            store, src, args.image_dir, check_images=not args.no_check_images, progress=prog,
            on_existing=on_existing, **common)
    if fmt == "voc":
        from vision_studio.core.io.voc import read_voc

        return lambda store, src, i, prog: read_voc(
            store, src, args.image_dir or _voc_image_dir(src), on_existing=on_existing,
            check_images=not args.no_check_images, progress=prog, **common)
    if fmt == "labelme":
        from vision_studio.core.io.labelme import read_labelme

        return lambda store, src, i, prog: read_labelme(store, src, progress=prog,
                                                        on_existing=on_existing, **common)
    if fmt == "imagefolder":
        from vision_studio.core.io.imagefolder import read_imagefolder

        return lambda store, src, i, prog: read_imagefolder(store, src, progress=prog,
                                                            on_existing=on_existing, **common)
    if fmt == "images":
        from vision_studio.core.io.imagefolder import read_images

        return lambda store, src, i, prog: read_images(store, src, progress=prog, **common)
    from vision_studio.core.io.masks import read_masks

    masks = args.mask_dir or []
    if not masks or len(masks) not in (1, len(args.src)) or not args.classes:
        raise ConfigError("--format masks needs --classes and --mask-dir (once, or once per SRC)")
    classes = parse_classes(args.classes)
    return lambda store, src, i, prog: read_masks(
        store, src, masks[i if len(masks) > 1 else 0], classes, args.ignore_value,
        on_existing=on_existing, progress=prog, **common)


class _Bar:
    """A tqdm bar on stderr driven by ``progress(done, total)`` callbacks."""

    def __init__(self, label: str, quiet: bool) -> None:
        from tqdm import tqdm

        self.bar = tqdm(desc=label, unit="item", file=sys.stderr, leave=False,
                        disable=True if quiet else None, dynamic_ncols=True)

    def __call__(self, done: int, total: int) -> None:
        if total and self.bar.total != total:
            self.bar.total = total
        self.bar.n = done
        self.bar.refresh()

    def close(self) -> None:
        self.bar.close()


def run_import(args: argparse.Namespace) -> int:
    """The ``import`` command; returns the exit code (errors raise VisionStudioError)."""
    from vision_studio.core.io.report import ImportReport

    importer = _importer(args)
    for src in args.src:
        if not src.exists():
            raise VisionStudioError(f"{src}: no such file or folder")
    _remove_stale_builds(args.project)
    created = not args.project.exists()
    target = _build_path(args.project) if created else args.project
    backup = None if created or args.no_backup else _backup(args.project)
    store = _open_project(target, args.project)
    total, ok = ImportReport(args.format), False
    try:
        before = store.image_count()
        with store.transaction():
            for i, src in enumerate(args.src):
                bar = _Bar(f"{args.format} {src.name}", args.quiet)
                try:
                    total.merge(importer(store, src, i, bar))
                finally:
                    bar.close()
            if not args.no_check_images:
                _verify_new_images(store, before, total, args.quiet)
        ok = True
    finally:
        store.close()
        if created:
            _finish_new_project(target, args.project, ok)
    print(total.summary())
    print(f"project: {args.project} ({store_counts(args.project)})")
    if created:
        print(f"to remove this import: delete {args.project} (this import created it)")
    elif backup is not None:
        print(f"to remove this import: replace the project with the copy saved just before it: "
              f"mv {shlex.quote(str(backup))} {shlex.quote(str(args.project))}")
    return 0


def _backup(project: Path) -> Path:
    """Copy ``project`` (SQLite's online backup) to a new file beside it,
    ``<stem>.before-import-<UTC time>.vsproj``; never replaces a file."""
    import time

    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    dst = project.with_name(f"{project.stem}.before-import-{stamp}{project.suffix}")
    n = 1
    while dst.exists():
        n += 1
        dst = project.with_name(f"{project.stem}.before-import-{stamp}-{n}{project.suffix}")
    src = sqlite3.connect(f"file:{project}?mode=ro", uri=True)
    out = sqlite3.connect(dst)
    try:
        src.backup(out)
    except sqlite3.Error as exc:
        out.close()
        dst.unlink(missing_ok=True)
        raise VisionStudioError(f"{project}: cannot save a copy before the import ({exc}); "
                                f"use --no-backup to import without one") from exc
    finally:
        src.close()
        out.close()
    return dst


def _open_project(path: Path, shown: Path) -> Any:
    from vision_studio.core.store import ProjectStore

    try:  # a build file lies beside the project: the same root
        return ProjectStore.open_or_create(path)
    except (OSError, sqlite3.Error) as exc:
        raise VisionStudioError(f"{shown}: cannot open or create the project ({exc})") from None


def _verify_new_images(store: Any, before: int, report: Any, quiet: bool) -> None:
    """Decode the images this import added (in id order after the ``before`` that were
    there) in full; the ones that fail are named in ``report.bad_images`` and recorded
    as problems of their image (:func:`~vision_studio.core.io.common.verify_project_images`)."""
    from vision_studio.core.io.common import verify_project_images
    from vision_studio.core.io.report import Skipped

    new = store.images(offset=before)
    if not new:
        return
    bar = _Bar("checking images", quiet)
    try:
        bad = verify_project_images(store, new, progress=bar)
    finally:
        bar.close()
    report.bad_images += [Skipped(str(store.resolve(store.image(i))), msg, "bad_image")
                          for i, msg in bad.items()]


def _build_path(project: Path) -> Path:
    """Where a new project is built before it is renamed into place."""
    return project.with_name(f".{project.name}.vs-build-{os.getpid()}")


def _remove_stale_builds(project: Path) -> None:
    """Remove build files of imports into ``project`` whose process is gone (killed)."""
    from vision_studio.core.liveness import process_alive

    for build in project.parent.glob(f".{glob.escape(project.name)}.vs-build-*"):
        pid = build.name.rsplit("-", 1)[-1]
        if pid.isdigit() and not process_alive(int(pid)):
            _remove_project(build)


def _finish_new_project(build: Path, project: Path, ok: bool) -> None:
    """Move a successfully built project into place (never over a file that appeared
    meanwhile), or remove it."""
    if not ok:
        _remove_project(build)
        return
    try:
        os.link(build, project)  # fails if project exists: nothing is replaced
    except FileExistsError:
        _remove_project(build)
        raise VisionStudioError(f"{project}: a file appeared there during the import; the "
                                "import was not saved") from None
    except OSError:  # no hard links on this file system
        if project.exists():
            _remove_project(build)
            raise VisionStudioError(f"{project}: a file appeared there during the import; "
                                    "the import was not saved") from None
        os.replace(build, project)
    _remove_project(build)


def _remove_project(path: Path) -> None:
    for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        try:
            p.unlink()
        except FileNotFoundError:
            pass


def store_counts(path: Path) -> str:
    """``"N images, M annotations"`` of a project file."""
    from vision_studio.core.store import ProjectStore

    with ProjectStore.open(path) as store:
        return f"{store.image_count()} images, {store.annotation_count()} annotations"


def run_export(args: argparse.Namespace) -> int:
    """The ``export`` command; returns the exit code."""
    from vision_studio.core.store import ProjectStore

    with ProjectStore.open(args.project) as store:
        if args.split is not None and args.split not in store.splits():
            raise ConfigError(f"--split {args.split!r}: the project has no such split "
                              f"(splits: {', '.join(repr(s) for s in store.splits()) or 'none'})")
        try:
            print(_export(store, args))
        except OSError as exc:
            raise VisionStudioError(f"{args.out}: cannot write ({exc.strerror or exc})") from None
    return 0


def _export(store: Any, args: argparse.Namespace) -> str:
    out: Path = args.out
    if args.format == "coco":
        from vision_studio.core.io.coco_write import write_coco

        if out.is_dir():
            out = out / "annotations.json"
        bar = _Bar("coco export", False)
        try:
            s = write_coco(store, out, args.split, image_root=args.image_root, progress=bar,
                           overwrite=args.overwrite)
        finally:
            bar.close()
        return (f"wrote {s['images']} images, {s['annotations']} annotations, "
                f"{s['categories']} categories to {s['path']}")
    if args.format == "voc":
        from vision_studio.core.io.voc import write_voc

        s = write_voc(store, out, args.split, overwrite=args.overwrite)
        return f"wrote {s['files']} XML files ({s['objects']} objects) and labels.txt to {out}"
    from vision_studio.core.io.masks import write_masks

    written = write_masks(store, out, args.split, args.ignore_value, overwrite=args.overwrite)
    return f"wrote {len(written)} label images and classes.txt to {out}"
