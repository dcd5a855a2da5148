"""Child processes that end with their parent.

A worker of :class:`concurrent.futures.ProcessPoolExecutor` (and any spawned child
that waits on a :class:`multiprocessing.Queue`) holds both ends of its queue's pipe, so
it never sees end-of-file when the parent dies: after the app is killed or crashes,
the child (hundreds of MB: torch, pycocotools) lived on until the machine restarted,
one more for every crash. :func:`exit_with_parent` ends it instead.
"""
from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import threading


def exit_with_parent() -> bool:
    """In a child started by :mod:`multiprocessing`: end this process (``os._exit(0)``,
    no clean-up: the parent that would read its results is gone) as soon as its parent
    process exits, however it exits (SIGKILL included).

    Watches the parent's sentinel (:func:`multiprocessing.parent_process`, Python >= 3.8)
    in a daemon thread; usable as a pool ``initializer``.

    Returns:
        True when the watch started; False in a process that has no multiprocessing
        parent (the main program), where it does nothing.
    """
    parent = multiprocessing.parent_process()
    if parent is None or parent.sentinel is None:
        return False

    def watch() -> None:
        multiprocessing.connection.wait([parent.sentinel])
        os._exit(0)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()
    return True
