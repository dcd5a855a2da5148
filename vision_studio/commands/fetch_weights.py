"""Fetch the curated pretrained weights at build/install time:
``python -m vision_studio.commands.fetch_weights fetch [DIR] | list`` (used by
``scripts/install.sh`` and the packaging scripts; see :mod:`vision_studio.core.models.shipped`)."""
from __future__ import annotations

import sys

from vision_studio.core.models.shipped import fetch, markdown_table


def main(argv: list[str] | None = None) -> int:
    """``fetch [DIR]`` or ``list``; exit status 1 when a file could not be fetched."""
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["list"]:
        print(markdown_table())
        return 0
    if args[:1] != ["fetch"] or len(args) > 2:
        print("usage: python -m vision_studio.commands.fetch_weights fetch [DIR] | list",
              file=sys.stderr)
        return 2
    problems = fetch(args[1] if len(args) > 1 else None, progress=print)
    for line in problems:
        print(f"error: {line}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
