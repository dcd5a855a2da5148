"""A killed app leaves no evaluation child behind: the ProcessPoolExecutor worker held
both ends of its queue's pipe and lived on after the app was killed (two found an hour
after SIGTERM-ed GUI sessions, ~700 MB each)."""
from __future__ import annotations

import signal
import subprocess
import sys
import time

from vision_studio.core.child_guard import exit_with_parent

PARENT = """
import sys
from vision_studio.core.evaluation.compute_process import ComputeProcess, _child_warm_up
if __name__ == "__main__":
    cp = ComputeProcess()
    cp.start()
    print(cp._pool.submit(_child_warm_up).result(), flush=True)  # the child's pid
    sys.stdin.read()  # wait to be killed
"""


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


def test_the_evaluation_child_ends_when_the_app_is_killed(tmp_path):
    script = tmp_path / "parent.py"
    script.write_text(PARENT)
    parent = subprocess.Popen([sys.executable, str(script)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True, cwd=tmp_path)
    try:
        child = int(parent.stdout.readline())
        assert alive(child)
        parent.send_signal(signal.SIGKILL)
        parent.wait(30)
        deadline = time.monotonic() + 60  # a liveness bound, not a speed figure
        while alive(child) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not alive(child), f"child {child} outlived its killed parent"
    finally:
        parent.kill()


def test_outside_a_child_it_does_nothing():
    assert exit_with_parent() is False
