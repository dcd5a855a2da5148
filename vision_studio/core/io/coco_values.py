"""Small checks of COCO JSON values shared by the reader's parts: ids usable as keys,
finite number lists, bounded nesting, compact JSON text."""
from __future__ import annotations

import json
import math
from typing import Any

MAX_DEPTH = 32
"""Deepest nesting of a kept free-form value (``attributes``, image fields, ``info``):
deeper values are reported and dropped (a 1,000-deep dict would otherwise hit Python's
recursion limit when it is written or read back)."""

_ENCODER = json.JSONEncoder(separators=(",", ":"))


def dumps(value: Any) -> str:
    """Compact JSON text, as the store keeps polygons, RLE, attributes and extras."""
    return _ENCODER.encode(value)


def key(value: Any) -> int | str | None:
    """A COCO id usable as a dict key (``int`` or ``str``, never ``bool`` or ``float``),
    else None."""
    return value if type(value) is int or type(value) is str else None


def finite(values: Any, n: int | None = None) -> list[float] | None:
    """``values`` as floats when it is a list of finite numbers (of length ``n``)."""
    if not isinstance(values, (list, tuple)) or (n is not None and len(values) != n):
        return None
    try:
        out = [float(v) for v in values]
    except (TypeError, ValueError, OverflowError):
        return None
    return out if all(math.isfinite(v) for v in out) else None


def number(value: Any) -> float | None:
    """``value`` as a finite float when it is an ``int`` or ``float`` (not ``bool``)."""
    if type(value) is not int and type(value) is not float:
        return None
    try:
        out = float(value)
    except OverflowError:
        return None
    return out if math.isfinite(out) else None


def shallow(value: Any, limit: int = MAX_DEPTH) -> bool:
    """True when ``value`` nests lists/dicts at most ``limit`` deep (walked without
    recursion, so any depth is safe to test) and holds only JSON values (non-finite
    floats excluded)."""
    stack = [(value, 0)]
    while stack:
        v, depth = stack.pop()
        if isinstance(v, dict):
            items = v.values()
        elif isinstance(v, list):
            items = v
        else:
            if isinstance(v, float) and not math.isfinite(v):
                return False
            if not (v is None or isinstance(v, (str, int, float))):
                return False
            continue
        if depth >= limit:
            return False
        stack.extend((x, depth + 1) for x in items)
    return True
