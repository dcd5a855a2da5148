"""Console helpers shared by the commands."""
from __future__ import annotations

import sys
from collections.abc import Callable


def progress_printer(label: str) -> Callable[[float, int], None]:
    """A ``progress(done, total)`` callback that redraws ``label: done/total images`` on
    stderr (one line, ended when ``done == total``; ``done`` with one decimal within a
    large image predicted tile by tile)."""
    from vision_studio.core.cancel import images_done

    def report(done: float, total: int) -> None:
        print(f"\r{label}: {images_done(done)}/{total} images", end="" if done < total else "\n",
              file=sys.stderr)
    return report
