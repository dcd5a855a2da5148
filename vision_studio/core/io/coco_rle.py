"""COCO run-length encodings (RLE): checking a compressed ``counts`` string before any
``pycocotools`` C call sees it, and turning it back into the uncompressed list form.

A COCO RLE is ``{"size": [h, w], "counts": ...}``: run lengths of alternating 0 / 1
pixels in column-major (Fortran) order, starting with a run of zeros (which may be
empty). ``counts`` is either a list of ints ("uncompressed", as COCO writes crowd
regions) or a compressed ASCII string. The string format is the one of
``rleToString`` / ``rleFrString`` in pycocotools' ``maskApi.c``: each count (after the
first two, the difference to the count two places before) is written in 5-bit groups,
least significant first, as ``chr(48 + group)`` with bit ``0x20`` set on every group but
the last and bit ``0x10`` of the last group the sign.

``pycocotools`` decodes a string without bounds checks (a string ending in a group with
the continuation bit set makes it read past the end, and counts that do not add up to
``h * w`` make ``decode`` write past the mask), so :func:`string_counts` validates a
string completely, vectorised with numpy, before the importer hands it over.
"""
from __future__ import annotations

import numpy as np

_MAX_GROUPS = 7  # 7 groups of 5 bits hold any uint32 count (pycocotools stores uint)


class RleError(ValueError):
    """A ``counts`` value that is not a valid COCO RLE for its size."""


def string_counts(counts: str, height: int, width: int) -> np.ndarray:
    """Decode and check a compressed COCO RLE string.

    Args:
        counts: The compressed ``counts`` string.
        height: Mask height in pixels.
        width: Mask width in pixels.

    Returns:
        The run lengths, ``int64`` array of shape ``(m,)``, exactly as
        ``pycocotools``' ``rleFrString`` would decode them (zero-length runs kept).

    Raises:
        RleError: a character outside ``'0'..'o'`` (ASCII 48-111), a truncated last
            count, a count over 7 groups, a negative count, or counts whose sum is not
            ``height * width``.
    """
    try:
        raw = np.frombuffer(counts.encode("ascii"), dtype=np.uint8)
    except UnicodeEncodeError:
        raise RleError("'counts' holds non-ASCII characters") from None
    if raw.size == 0:
        raise RleError("'counts' is empty")
    c = raw.astype(np.int64) - 48
    if c.min() < 0 or c.max() > 63:
        raise RleError("'counts' holds characters outside '0'..'o'")
    more = (c & 0x20) != 0
    if more[-1]:
        raise RleError("'counts' ends in the middle of a number")
    ends = np.flatnonzero(~more)
    starts = np.concatenate(([0], ends[:-1] + 1))
    lengths = ends - starts + 1
    if lengths.max() > _MAX_GROUPS:
        raise RleError("'counts' holds a number too large for a run length")
    k = np.arange(c.size) - np.repeat(starts, lengths)  # group index inside its number
    x = np.add.reduceat((c & 0x1F) << (5 * k), starts)
    negative = (c[ends] & 0x10) != 0
    x[negative] -= np.left_shift(1, 5 * lengths[negative])
    cnts = x.copy()
    if cnts.size > 3:  # cnts[m] += cnts[m - 2] for m > 2 (maskApi.c), per parity chain
        cnts[3::2] = cnts[1] + np.cumsum(x[3::2])
        if cnts.size > 4:
            cnts[2::2] = np.cumsum(x[2::2])
    if cnts.min() < 0 or cnts.max() > 0xFFFFFFFF:
        raise RleError("'counts' decodes to a negative or too large run length")
    if int(cnts.sum()) != height * width:
        raise RleError(f"the run lengths add up to {int(cnts.sum())}, not h*w = "
                       f"{height * width}")
    return cnts


def check_list_counts(counts: list, height: int, width: int) -> None:
    """Check an uncompressed COCO RLE ``counts`` list.

    Raises:
        RleError: an item that is not a non-negative ``int`` (bools excluded) below
            2**32, or a sum other than ``height * width``.
    """
    if not all(type(v) is int and 0 <= v <= 0xFFFFFFFF for v in counts):
        raise RleError("uncompressed counts must be non-negative integers")
    if sum(counts) != height * width:
        raise RleError(f"uncompressed counts add up to {sum(counts)}, not h*w = "
                       f"{height * width}")


def compress(counts: list[int], height: int, width: int) -> str:
    """The compressed string of an (already checked) uncompressed ``counts`` list,
    made by ``pycocotools.mask.frPyObjects``."""
    from pycocotools import mask as mask_utils

    enc = mask_utils.frPyObjects({"size": [height, width], "counts": list(counts)},
                                 height, width)
    return enc["counts"].decode("ascii")


def uncompress(counts: str, height: int, width: int) -> list[int]:
    """The uncompressed ``counts`` list of a compressed string (inverse of
    :func:`compress`: the same run lengths, zero-length runs included)."""
    return [int(v) for v in string_counts(counts, height, width)]
