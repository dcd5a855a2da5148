"""Console helpers shared by the commands."""
from __future__ import annotations

import sys
from collections.abc import Callable


def progress_printer(label: str) -> Callable[[int, int], None]:
    """A ``progress(done, total)`` callback that redraws ``label: done/total images`` on
    stderr (one line, ended when ``done == total``)."""
    def report(done: int, total: int) -> None:
        print(f"\r{label}: {done}/{total} images", end="" if done < total else "\n", file=sys.stderr)
    return report
