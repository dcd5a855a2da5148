"""What an import did: counts of what was added, and every item skipped with the reason.

Every importer (``read_coco``, ``read_voc``, ``read_labelme``, ``read_masks``,
``read_imagefolder``, ``read_images``) returns an :class:`ImportReport`. Sources and
reasons are kept on one line (:func:`printable`): names read from files may hold
newlines. Importers record problems with
:meth:`ImportReport.skip` (something was left out) or :meth:`ImportReport.note`
(something was imported after a small fix, e.g. a box clipped to the image). In strict
mode :meth:`ImportReport.skip` raises :class:`~vision_studio.core.errors.FormatError`
at the first problem; since importers run inside ``store.transaction()``, the project
is then left exactly as it was.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Callable, Iterable

from vision_studio.core.errors import FormatError
from vision_studio.core.wording import plural

ProgressCallback = Callable[[int, int], None]
"""``progress(done, total)``: called by importers as work advances (``total`` may be 0
when unknown)."""


def printable(text: str, limit: int = 600) -> str:
    """``text`` on one line: control characters (newlines, tabs, escapes...) written as
    Python escapes (``\\n``), and at most ``limit`` characters (the middle elided), so
    that a name taken from a file cannot break a report or the CLI's one ``error:``
    line."""
    if not text.isprintable():
        text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    if len(text) > limit:
        text = f"{text[:limit // 2]}...({len(text) - limit} more characters)...{text[-limit // 2:]}"
    return text


@dataclass(frozen=True)
class Skipped:
    """One thing an import left out (or fixed), and why.

    Attributes:
        source: The file concerned (annotation file or image), as given to the importer.
        reason: What is wrong, in words; names the item (annotation id, shape label...).
        kind: Short machine tag used to group messages, e.g. ``"missing_image"``,
            ``"unknown_category"``, ``"bbox_outside"``; ``""`` groups by ``reason``.
    """

    source: str
    reason: str
    kind: str = ""

    def __str__(self) -> str:
        return f"{self.source}: {self.reason}"


@dataclass
class ImportReport:
    """Result of one import (mutable while the importer fills it in).

    Attributes:
        format: The format name (``"coco"``, ``"voc"``, ...).
        images: Images added to the project.
        annotations: Annotations added.
        categories: Categories added.
        tags: Image-level tags added (classification).
        skipped: Items left out, in the order found.
        notes: Items imported after a fix (e.g. a box clipped to the image bounds).
        existing: Images already in the project that the import brought labels for
            (see :class:`~vision_studio.core.io.common.ExistingImages`).
        removed: Annotations of those images deleted by ``on_existing="replace"``.
        bad_images: Images imported whose file does not decode in full (found by the
            full verification after the import; also recorded as problems).
        strict: When True, :meth:`skip` raises instead of recording.
    """

    format: str = ""
    images: int = 0
    annotations: int = 0
    categories: int = 0
    tags: int = 0
    skipped: list[Skipped] = field(default_factory=list)
    notes: list[Skipped] = field(default_factory=list)
    existing: int = 0
    removed: int = 0
    bad_images: list[Skipped] = field(default_factory=list)
    strict: bool = False

    @property
    def ok(self) -> bool:
        """True when nothing was skipped."""
        return not self.skipped

    def skip(self, source: str, reason: str, kind: str = "") -> None:
        """Record an item left out.

        Raises:
            FormatError: in strict mode, naming the source and the reason.
        """
        item = Skipped(printable(str(source)), printable(reason), kind)
        if self.strict:
            raise FormatError(f"{item} (strict mode: nothing was imported)")
        self.skipped.append(item)

    def note(self, source: str, reason: str, kind: str = "") -> None:
        """Record an item imported after a fix (never raises, even in strict mode)."""
        self.notes.append(Skipped(printable(str(source)), printable(reason), kind))

    def merge(self, other: ImportReport) -> ImportReport:
        """Add another report's counts and items into this one; returns ``self``."""
        self.images += other.images
        self.annotations += other.annotations
        self.categories += other.categories
        self.tags += other.tags
        self.existing += other.existing
        self.removed += other.removed
        self.skipped.extend(other.skipped)
        self.notes.extend(other.notes)
        self.bad_images.extend(other.bad_images)
        if other.format and other.format not in self.format.split("+"):
            self.format = f"{self.format}+{other.format}" if self.format else other.format
        return self

    def counts_by_kind(self) -> dict[str, int]:
        """Number of skipped items per kind (or per reason when the kind is empty)."""
        out: dict[str, int] = {}
        for s in self.skipped:
            key = s.kind or s.reason
            out[key] = out.get(key, 0) + 1
        return out

    def summary(self, max_items: int = 3) -> str:
        """A few human-readable lines: counts, then skipped/fixed items grouped by kind
        with the first ``max_items`` of each group named."""
        head = (f"imported{' ' + self.format if self.format else ''}: "
                f"{plural(self.images, 'image')}, {plural(self.annotations, 'annotation')}, "
                f"{plural(self.categories, 'new category')}"
                + (f", {plural(self.tags, 'tag')}" if self.tags else ""))
        lines = [head]
        if self.existing or self.removed:
            lines.append(f"labels for {plural(self.existing, 'image')} already in the project"
                         + (f" ({self.removed} of their annotations replaced)" if self.removed
                            else ""))
        lines += _grouped("bad images (imported; not images this program can open)",
                          self.bad_images, max_items)
        lines += _grouped("skipped", self.skipped, max_items)
        lines += _grouped("fixed", self.notes, max_items)
        return "\n".join(lines)


def _grouped(title: str, items: Iterable[Skipped], max_items: int) -> list[str]:
    groups: OrderedDict[str, list[Skipped]] = OrderedDict()
    for s in items:
        groups.setdefault(s.kind or s.reason, []).append(s)
    if not groups:
        return []
    total = sum(len(g) for g in groups.values())
    lines = [f"{title}: {total}"]
    for key, group in groups.items():
        label = key if group[0].kind else "other"
        lines.append(f"  {label} ({len(group)}):")
        lines += [f"    {s}" for s in group[:max_items]]
        if len(group) > max_items:
            lines.append(f"    ... and {len(group) - max_items} more")
    return lines
