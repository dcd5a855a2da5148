"""Is the process that wrote something still alive? (runs left ``running``, stale temp
files). Uses ``psutil``, which answers the same way on Linux, macOS and Windows (a plain
``os.kill(pid, 0)`` would *terminate* the process on Windows)."""
from __future__ import annotations

import socket

import psutil


def this_host() -> str:
    """The host name recorded with a run (``socket.gethostname()``)."""
    return socket.gethostname()


def process_alive(pid: int) -> bool:
    """True when a process with id ``pid`` exists here and is not a zombie.

    Args:
        pid: A process id; 0 or less means unknown and gives False.

    A recycled id (another program that got the same number) reads as alive: the
    caller then leaves the state alone, which is the safe side.
    """
    if pid <= 0:
        return False
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
    except psutil.Error:  # access denied and the like: it exists
        return True
