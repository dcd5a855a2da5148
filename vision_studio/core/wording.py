"""Counted nouns for messages: ``plural(1, "image")`` → ``"1 image"``, ``plural(3, "box")``
→ ``"3 boxes"``. One helper, so that no status text reads "1 images" (the GUI and the
core's reports both use it; no Qt here)."""
from __future__ import annotations


def plural_of(noun: str) -> str:
    """The English plural of a regular noun (the last word of ``noun``): ``box`` →
    ``boxes``, ``category`` → ``categories``, ``image`` → ``images``."""
    if noun.endswith(("s", "x", "z", "ch", "sh")):
        return noun + "es"
    if noun.endswith("y") and noun[-2:-1] not in ("a", "e", "i", "o", "u", ""):
        return noun[:-1] + "ies"
    return noun + "s"


def plural(n: int, noun: str, many: str | None = None, *, grouped: bool = False) -> str:
    """``n`` and ``noun``, in the plural unless ``n`` is 1.

    Args:
        n: The count.
        noun: The singular (``"image"``, ``"tagged image"``).
        many: The plural where it is irregular (default :func:`plural_of`).
        grouped: Write ``n`` with thousands separators (``1,234``).

    Examples:
        ``plural(1, "image")`` → ``"1 image"``; ``plural(0, "box")`` → ``"0 boxes"``;
        ``plural(1234, "new category", grouped=True)`` → ``"1,234 new categories"``.
    """
    words = noun if n == 1 else (many or plural_of(noun))
    return f"{n:,} {words}" if grouped else f"{n} {words}"
