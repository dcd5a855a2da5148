"""gc_paused() counts overlapping pauses across threads."""
from __future__ import annotations

import gc
import threading

from vision_studio.core.gcpause import gc_paused


def test_collector_resumes_only_when_the_last_overlapping_pause_ends():
    assert gc.isenabled()
    a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()
    seen: dict[str, bool] = {}

    def a() -> None:  # starts first, ends first
        with gc_paused():
            a_in.set()
            b_in.wait(10)
        a_out.set()

    def b() -> None:  # starts second, ends last
        a_in.wait(10)
        with gc_paused():
            b_in.set()
            a_out.wait(10)
            seen["during_b_after_a"] = gc.isenabled()

    threads = [threading.Thread(target=a), threading.Thread(target=b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert seen == {"during_b_after_a": False}
    assert gc.isenabled()


def test_a_collector_disabled_before_stays_disabled():
    gc.disable()
    try:
        with gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable()
