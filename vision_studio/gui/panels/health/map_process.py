"""The UMAP map in a child process: numba-compiled UMAP has crashed host processes
(lmcinnes/umap issues #421, #747: segfaults in the compiled kernels), and one crash in
a run of this panel's tests was not reproduced in four reruns. In a spawned child, a
crash costs only the map (the PCA map stays); cancel terminates the child.

No Qt here: the child imports only numpy and the core's
:func:`~vision_studio.core.health.embedding_map.embed_2d`.
"""
from __future__ import annotations

import multiprocessing
from typing import Any, Callable

import numpy as np

from vision_studio.core.errors import VisionStudioError


class MapCancelled(Exception):
    """The caller cancelled while the child computed."""


def _child(conn: Any, features: np.ndarray, method: str) -> None:
    from vision_studio.core.child_guard import exit_with_parent
    from vision_studio.core.health.embedding_map import embed_2d

    exit_with_parent()  # a killed app leaves no UMAP computing on

    try:
        conn.send(("ok", embed_2d(features, method=method)))
    except Exception as exc:  # sent to the parent, which reports it in one line
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
    finally:
        conn.close()


def embed_2d_in_child(features: np.ndarray, method: str,
                      cancelled: Callable[[], bool] = lambda: False,
                      poll_s: float = 0.2) -> tuple[np.ndarray, str]:
    """:func:`~vision_studio.core.health.embedding_map.embed_2d` in a spawned process.

    Args:
        features: [N, D] float32 features.
        method: ``"auto"``, ``"umap"`` or ``"pca"``.
        cancelled: Polled every ``poll_s`` seconds; True terminates the child.

    Returns:
        ``(xy [N, 2] float32, method used)``.

    Raises:
        MapCancelled: ``cancelled()`` became true.
        VisionStudioError: the child failed or died (exit code in the message).
    """
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(child, np.asarray(features, np.float32), method),
                       name="health-map", daemon=True)
    proc.start()
    child.close()
    try:
        while not parent.poll(poll_s):
            if cancelled():
                raise MapCancelled()
            if not proc.is_alive() and not parent.poll(0):
                raise VisionStudioError(f"the map process ended (exit code {proc.exitcode})")
        status, value = parent.recv()
    except EOFError:
        raise VisionStudioError(f"the map process ended (exit code {proc.exitcode})") from None
    finally:
        if proc.is_alive() and cancelled():
            proc.terminate()
        proc.join(5)
        if proc.is_alive():
            proc.kill()
        parent.close()
    if status != "ok":
        raise VisionStudioError(f"the map failed: {value}")
    return value
