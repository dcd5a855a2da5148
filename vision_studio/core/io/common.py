"""Helpers shared by the importers/exporters: split names from folder names, JSON file
loading with clear errors, category matching, fast project-relative paths, checks of
file names read from annotation files, and :class:`ExistingImages` (labels imported for
images already in the project)."""
from __future__ import annotations

import dataclasses
import json
import os
import posixpath
import re
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from vision_studio.core.errors import FormatError, ProtectedPathError
from vision_studio.core.gcpause import gc_paused  # noqa: F401 (re-exported)
from vision_studio.core.store import ProjectStore
from vision_studio.core.types import Annotation, Category, ImageRecord, Split

try:  # optional fast JSON parser (a dependency; the standard library is the fallback)
    import orjson as _orjson
except ImportError:  # pragma: no cover - depends on the environment
    _orjson = None

_SPLIT_WORDS = {
    "train": Split.TRAIN, "training": Split.TRAIN,
    "val": Split.VAL, "valid": Split.VAL, "validation": Split.VAL,
    "test": Split.TEST, "testing": Split.TEST,
}

CHUNK = 20_000
"""Rows per batched insert."""


def split_from_path(path: str | os.PathLike) -> str:
    """Guess a split name from a file's folder name, then from its file name.

    ``train``/``training`` → ``"train"``, ``val``/``valid``/``validation`` → ``"val"``,
    ``test``/``testing`` → ``"test"``; the file name is split into words on
    non-letters, so ``instances_val2017.json`` → ``"val"``. ``""`` when nothing matches.
    """
    path = Path(path)
    candidates = [path.parent.name] if path.suffix else [path.name]
    candidates.append(path.stem if path.suffix else "")
    for text in candidates:
        if text.lower() in _SPLIT_WORDS:
            return _SPLIT_WORDS[text.lower()]
        for word in re.split(r"[^a-z]+", text.lower()):
            if word in _SPLIT_WORDS:
                return _SPLIT_WORDS[word]
    return Split.UNASSIGNED


_DIGITS = bytes(48 if 48 <= i <= 57 else 32 for i in range(256))  # digit -> "0", else " "
_LONG_DIGIT_RUN = b"0" * 19  # 19 digits: the shortest integer that may not fit in 64 bits


def _has_long_digit_run(raw: bytes, step: int = 1 << 20) -> bool:
    """True when ``raw`` holds 19 or more consecutive digits (scanned in ``step``-byte
    pieces that overlap by 18 bytes; about 0.15 s of CPU for 164 MB)."""
    return any(_LONG_DIGIT_RUN in raw[max(0, i - 18):i + step].translate(_DIGITS)
               for i in range(0, len(raw), step))


def _parse(raw: bytes) -> Any:
    """JSON text -> Python values, exactly as :func:`json.loads` gives them.

    ``orjson`` (when installed) parses the common case, about 2.5x faster. The standard
    library parses the rest and then decides: text ``orjson`` refuses but ``json``
    accepts (``NaN``/``Infinity``, ``1e400``, a UTF-8 byte-order mark, UTF-16/32, lone
    surrogates), and text with 19 or more consecutive digits, since ``orjson`` turns an
    integer beyond 64 bits into a float where ``json`` keeps an exact ``int``. Syntax
    errors are therefore always worded by ``json`` (with line and column).
    """
    if _orjson is not None and not _has_long_digit_run(raw):
        try:
            return _orjson.loads(raw)
        except _orjson.JSONDecodeError:
            pass
    return json.loads(raw)


def load_json(path: str | os.PathLike, what: str = "JSON") -> Any:
    """Parse a JSON file (``orjson`` when installed, see :func:`_parse`), with the
    garbage collector paused (:func:`gc_paused`).

    Raises:
        FormatError: missing/unreadable file or invalid JSON, naming the file and the
            position of the syntax error (also for JSON nested too deeply for the
            parser and integers longer than Python's 4300-digit limit).
    """
    path = Path(path)
    try:
        with open(path, "rb") as f:
            raw = f.read()
        with gc_paused():
            return _parse(raw)
    except FileNotFoundError:
        raise FormatError(f"{path}: {what} file not found") from None
    except IsADirectoryError:
        raise FormatError(f"{path}: is a folder, expected a {what} file") from None
    except json.JSONDecodeError as exc:
        raise FormatError(f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}: "
                          f"{exc.msg})") from None
    except UnicodeDecodeError as exc:
        raise FormatError(f"{path}: not valid JSON (not UTF-8 text: {exc.reason})") from None
    except RecursionError:
        raise FormatError(f"{path}: not valid JSON (nested too deeply)") from None
    except ValueError as exc:  # e.g. an integer of more than 4300 digits
        raise FormatError(f"{path}: not valid JSON ({exc})") from None
    except OSError as exc:
        raise FormatError(f"{path}: cannot read ({exc.strerror or exc})") from None


class ProjectPaths:
    """The project path of an image file: the one rule every importer names images by,
    so that they agree whether an image is already in the project.

    The rule: the file's *folder*, with symlinks resolved, relative to the project root
    (itself resolved), then the file's own name as given. A file that is itself a
    symlink therefore keeps its name (``imgs/raccoon-1.jpg``, not the target's path:
    datasets kept as symlinks, e.g. by git-annex or DVC, keep readable names that
    exports and the name-matching of :class:`ExistingImages` rely on), while a folder
    reached through a symlink is named by its real location, as the root is. Each
    folder is resolved once (no file-system call per file, which matters at 100k
    images); ``..`` is resolved against the real folders, not lexically.

    Args:
        root: The project root (:attr:`ProjectStore.root`, already resolved).
    """

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = os.path.realpath(root)
        self._dirs: dict[str, str] = {}  # folder as given -> its project path

    def __call__(self, file: str | os.PathLike) -> str:
        """``file`` (absolute, or relative to the working folder) → project path
        (POSIX; may start with ``..``; absolute where no relative path exists, e.g.
        another drive on Windows)."""
        text = os.fspath(file)
        head, name = os.path.split(text if os.path.isabs(text) else os.path.join(os.getcwd(), text))
        return self.under(head, name)

    def under(self, folder: str, name: str) -> str:
        """The project path of file ``name`` (no folder part) in absolute ``folder``."""
        rel = self._dirs.get(folder)
        if rel is None:
            real = os.path.realpath(folder)
            try:
                rel = Path(os.path.relpath(real, self.root)).as_posix()
            except ValueError:  # another drive on Windows: keep absolute
                rel = Path(real).as_posix()
            self._dirs[folder] = rel
        return name if rel == "." else f"{rel.rstrip('/')}/{name}"


def project_paths(store: ProjectStore) -> ProjectPaths:
    """:class:`ProjectPaths` for ``store``'s root."""
    return ProjectPaths(store.root)


class RelativePaths:
    """Project paths of files named relative to one folder (as annotation files name
    their images), by the rule of :class:`ProjectPaths`.

    Args:
        store: The project (its :attr:`~ProjectStore.root`).
        folder: The folder the names are relative to.
    """

    def __init__(self, store: ProjectStore, folder: str | os.PathLike) -> None:
        self.folder = Path(folder).resolve()
        self._base = str(self.folder)
        self._paths = project_paths(store)

    def __call__(self, name: str) -> str:
        """``name`` (relative to the folder, ``/`` or ``\\`` separated; an absolute name
        is made relative to the project root too) → project path."""
        name = name.replace("\\", "/")
        if "/" not in name:  # the common case: a file of the folder itself
            return self._paths.under(self._base, name)
        return self._paths(os.path.join(self._base, name))

    def absolute(self, name: str) -> Path:
        """The file's absolute path."""
        return self.folder / name.replace("\\", "/")


def match_categories(store: ProjectStore, wanted: Iterable[tuple[str, str]],
                     exclude: Iterable[int] = ()) -> tuple[list[Category], int]:
    """Map ``(name, supercategory)`` pairs to store categories, creating missing ones.

    Each wanted pair reuses, in order of preference, an existing category whose name is
    equal and is not yet used by an earlier pair of the same call; otherwise a new
    category is created. Duplicate names in ``wanted`` therefore map to distinct
    categories (real datasets repeat names).

    Args:
        store: The project.
        wanted: ``(name, supercategory)`` pairs.
        exclude: Store category ids that must not be reused (already matched).

    Returns:
        ``(categories in the order of wanted, number created)``.
    """
    existing = store.categories()
    used: set[int] = set(exclude)
    out: list[Category | None] = []
    to_create: list[tuple[int, str, str]] = []
    for i, (name, sc) in enumerate(wanted):
        name = name.strip()
        hit = next((c for c in existing if c.name == name and c.id not in used), None)
        if hit is None:
            to_create.append((i, name, sc))
            out.append(None)
        else:
            used.add(hit.id)
            out.append(hit)
    created = store.add_categories([(n, None, sc) for _, n, sc in to_create]) if to_create else []
    for (i, _, _), cat in zip(to_create, created):
        out[i] = cat
    return [c for c in out if c is not None], len(created)


# ---------------------------------------------------------------------- file names
MAX_NAME_CHARS = 4096
"""Longest file name an annotation file may give (Linux's ``PATH_MAX``)."""


def is_regular_file(path: str | os.PathLike) -> bool:
    """True when ``path`` is an existing regular file; False (never an exception) for a
    name too long for the file system, a null byte, a named pipe, a folder..."""
    try:
        return Path(path).is_file()
    except (OSError, ValueError):
        return False


def name_problem(name: str) -> str | None:
    """Why a file name written in an annotation file cannot be used as one, or None."""
    if len(name) > MAX_NAME_CHARS or any(len(part) > 255 for part in re.split(r"[/\\]", name)):
        return f"file name too long ({len(name)} characters)"
    if "\0" in name:
        return "file name contains a null character"
    return None


def leaves_folder(name: str) -> bool:
    """True when a file name from an annotation file is absolute (``/x``, ``C:\\x``,
    ``\\\\server``) or climbs out of its folder with ``..`` (``../x``, ``a/../../x``)."""
    text = name.replace("\\", "/")
    if text.startswith("/") or re.match(r"^[A-Za-z]:", text):
        return True
    return posixpath.normpath(text).split("/")[0] == ".."


# ---------------------------------------------------------------------- existing images
ON_EXISTING = ("add", "replace", "skip")
"""What an import does with annotations for an image already in the project."""


def _ann_key(a: Annotation) -> tuple:
    return (a.category_id, tuple(round(float(v), 6) for v in a.bbox))


class ExistingImages:
    """Images already in the project, for an import that brings labels for them
    (issue 12: "a project made from a folder, then import its labels").

    An imported file's image is matched to a project image by its path relative to the
    project root, else (when the file it names does not exist) by file name when exactly
    one project image has that name (and, when the import knows the image's size, the
    same width and height). What happens to
    the matched image's labels is ``on_existing``:

    * ``"add"`` (default): the imported annotations are added, except those identical
      to an annotation the image already has (same category and bbox to 1e-6 pixel);
      tags are added.
    * ``"replace"``: the image's annotations (and tags, when the import brings tags) are
      deleted first (once per import), then the imported ones added.
    * ``"skip"``: the image is left as it is.

    Args:
        store: The project.
        on_existing: One of :data:`ON_EXISTING`.

    Raises:
        ValueError: unknown ``on_existing``.
    """

    def __init__(self, store: ProjectStore, on_existing: str = "add") -> None:
        if on_existing not in ON_EXISTING:
            raise ValueError(f"on_existing must be one of {', '.join(ON_EXISTING)}, "
                             f"got {on_existing!r}")
        self.store, self.on_existing = store, on_existing
        self._root = store.root
        self.by_path: dict[str, ImageRecord] = {im.path: im for im in store.images()}
        self._by_name: dict[str, list[ImageRecord]] = {}
        for im in self.by_path.values():
            self._by_name.setdefault(posixpath.basename(im.path), []).append(im)
        self._replaced: set[int] = set()
        self._before: dict[int, set[int]] = {}  # prepare(): annotation ids an image had

    def find(self, rel_path: str, size: tuple[int, int] | None = None) -> ImageRecord | None:
        """The project image for an imported image's project-relative path, or None.

        The file-name fallback applies only when no file exists at ``rel_path`` and the
        project image's own file does: an existing file elsewhere is another image, even
        with the same name and size, and two missing files cannot be told apart.
        """
        hit = self.by_path.get(rel_path)
        if hit is not None:
            return hit
        same = self._by_name.get(posixpath.basename(rel_path), [])
        if len(same) != 1 or is_regular_file(self._root / rel_path) \
                or not is_regular_file(self._root / same[0].path):
            return None
        if len(same) == 1 and (size is None or (same[0].width, same[0].height) == tuple(size)):
            return same[0]
        return None

    def attach(self, items: Sequence[tuple[ImageRecord, Sequence[Annotation], Sequence[int]]]
               ) -> tuple[int, int]:
        """Apply :attr:`on_existing` to a batch of ``(project image, annotations, tag
        category ids)``; the annotations' ``image_id`` is replaced by the image's.

        Returns:
            ``(annotations added, annotations deleted by "replace")``.
        """
        if self.on_existing == "skip" or not items:
            return 0, 0
        ids = list(dict.fromkeys(im.id for im, _, _ in items))
        current = self.store.annotations_by_image(ids)
        removed = 0
        if self.on_existing == "replace":
            fresh = [i for i in ids if i not in self._replaced]
            gone = [a.id for i in fresh for a in current.get(i, [])]
            removed = len(self.store.delete_annotations(gone)) if gone else 0
            for i in fresh:
                current[i] = []
                if any(tags for im, _, tags in items if im.id == i):
                    self.store.set_image_tags(i, ())
            self._replaced.update(fresh)
        keys = {i: {_ann_key(a) for a in current.get(i, [])} for i in ids}
        new: list[Annotation] = []
        for im, anns, _ in items:
            for a in anns:
                a = dataclasses.replace(a, image_id=im.id)
                if _ann_key(a) not in keys[im.id]:
                    keys[im.id].add(_ann_key(a))
                    new.append(a)
        self.store.add_annotations(new)
        self.store.add_image_tags([(im.id, c) for im, _, tags in items for c in tags])
        return len(new), removed

    def prepare(self, image: ImageRecord) -> int:
        """For a reader that inserts annotations itself (COCO's bulk rows): call before
        adding any to ``image``. ``"replace"`` deletes its annotations (once per import);
        ``"add"`` remembers the ones it has, for :meth:`drop_repeats`.

        Returns:
            The number of annotations deleted.
        """
        if self.on_existing == "skip" or image.id in self._before:
            return 0
        current = self.store.annotations(image.id)
        removed = 0
        if self.on_existing == "replace" and image.id not in self._replaced:
            removed = len(self.store.delete_annotations([a.id for a in current]))
            self._replaced.add(image.id)
            current = []
        self._before[image.id] = {a.id for a in current}
        return removed

    def drop_repeats(self) -> int:
        """After such a reader added its annotations (``"add"`` only): delete the new
        annotations of the prepared images that repeat an older one, or an earlier new
        one, of the same image (same category and bbox to 1e-6 pixel).

        Returns:
            The number of annotations deleted.
        """
        if self.on_existing != "add" or not self._before:
            return 0
        gone: list[int] = []
        for image_id, anns in self.store.annotations_by_image(list(self._before)).items():
            old = self._before[image_id]
            keys = {_ann_key(a) for a in anns if a.id in old}
            for a in sorted((a for a in anns if a.id not in old), key=lambda a: a.id):
                if _ann_key(a) in keys:
                    gone.append(a.id)
                keys.add(_ann_key(a))
        self._before.clear()
        return len(self.store.delete_annotations(gone)) if gone else 0


# ---------------------------------------------------------------------- export names
def output_names(images: Iterable[ImageRecord], suffix: str) -> dict[int, str]:
    """``{image id: file name}`` of per-image export files: ``<image stem><suffix>``, with
    ``_<image id>`` appended to the stem for the second and later images sharing one."""
    used: set[str] = set()
    out: dict[int, str] = {}
    for im in images:
        stem = posixpath.splitext(posixpath.basename(im.path))[0]
        out[im.id] = f"{stem}{suffix}" if stem not in used else f"{stem}_{im.id}{suffix}"
        used.add(stem)
    return out


def refuse_protected(folder: Path, names: Iterable[str], protected: Iterable[str]) -> None:
    """Check every file an export will write in ``folder`` before writing any.

    Args:
        folder: The output folder.
        names: File names to be written there.
        protected: :func:`vision_studio.core.outputs.protected_paths` of the project
            (resolved, ``os.path.normcase``-d paths).

    Raises:
        ProtectedPathError: the first name that is the project file or one of its images.
    """
    base = os.path.realpath(folder)
    keys = protected if isinstance(protected, (set, frozenset)) else set(protected)
    for name in names:
        path = os.path.join(base, name)
        if os.path.normcase(os.path.realpath(path)) in keys:
            raise ProtectedPathError(Path(path), "is part of the project (the project file "
                                                 "or one of its images) and is never written "
                                                 "over; choose another output folder")


# ---------------------------------------------------------------------- full verification
def verify_project_images(store: ProjectStore, images: Sequence[ImageRecord] | None = None, *,
                          progress: Callable[[int, int], None] | None = None,
                          cancelled: Callable[[], bool] | None = None) -> dict[int, str]:
    """Decode images of the project in full and record what is wrong (issue 12, trap 9).

    An image whose ``check_key`` equals its file's current
    :func:`~vision_studio.core.images.file_check_key` was verified before and is not
    decoded again. Each image checked gets its ``check_key`` set (``set_check_keys``);
    each one that does not decode gets a problem of kind ``"bad_image"`` (once: not
    again when an identical one is recorded), which ``vision-studio info`` and the GUI
    list.

    Args:
        store: The project.
        images: The images to check; default all of them.
        progress: ``progress(done, total)`` after each image.
        cancelled: Polled before each image; when it returns True the check stops, and
            what was checked so far is recorded.

    Returns:
        ``{image id: problem}`` of the images checked now that do not decode.
    """
    from vision_studio.core.images import file_check_key, verify_image

    todo = list(store.images() if images is None else images)
    keys: dict[int, str] = {}
    bad: dict[int, str] = {}
    for n, im in enumerate(todo, 1):
        if cancelled is not None and cancelled():
            break
        path = store.resolve(im)
        key = file_check_key(path)
        if not key or key != im.check_key:
            problem = verify_image(path, key)
            if problem:
                bad[im.id] = problem
            if key:
                keys[im.id] = key
        if progress is not None:
            progress(n, len(todo))
    with store.transaction():
        if keys:
            store.set_check_keys(keys)
        _record_bad_images(store, bad)
    return bad


def _record_bad_images(store: ProjectStore, bad: dict[int, str]) -> None:
    """A ``bad_image`` problem for each image in ``bad`` that has not got this one yet."""
    from vision_studio.core.types import Problem

    if not bad:
        return
    have = {(p.image_id, p.message) for p in store.problems() if p.kind == "bad_image"}
    new = [Problem(str(store.resolve(store.image(i))), bad_image_message(msg), i, "bad_image")
           for i, msg in bad.items()]
    store.add_problems(p for p in new if (p.image_id, p.message) not in have)


def bad_image_message(problem: str) -> str:
    """The recorded problem text of an image that does not decode in full."""
    return f"not an image this program can open in full: {problem}"
