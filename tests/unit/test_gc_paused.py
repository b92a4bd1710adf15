"""Batches (submit, intake, the escalation sweep) pause the cyclic garbage collector only while they run."""

from __future__ import annotations

import gc

import pytest

from models.db import gc_paused


def test_collector_resumes_after_the_batch_and_after_an_error() -> None:
    assert gc.isenabled()
    with gc_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(RuntimeError), gc_paused():
        raise RuntimeError("boom")
    assert gc.isenabled()


def test_nested_batches_leave_it_as_the_outermost_found_it() -> None:
    with gc_paused():
        with gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the inner batch does not switch it back on under the outer one
    assert gc.isenabled()
    gc.disable()
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()  # someone else turned it off: still off
    finally:
        gc.enable()


def test_overlapping_batches_in_two_threads_keep_it_paused_until_both_end() -> None:
    """Batch A starts, batch B starts in another thread, A ends: B must still run paused."""
    import threading

    a_in, b_in, a_out, b_may_end = (threading.Event() for _ in range(4))
    seen: dict[str, bool] = {}

    def batch_a() -> None:
        with gc_paused():
            a_in.set()
            assert b_in.wait(5)
        a_out.set()

    def batch_b() -> None:
        assert a_in.wait(5)
        with gc_paused():
            b_in.set()
            assert a_out.wait(5)
            seen["after_a_ended"] = gc.isenabled()
            assert b_may_end.wait(5)
        seen["after_b_ended"] = gc.isenabled()

    threads = [threading.Thread(target=batch_a), threading.Thread(target=batch_b)]
    for t in threads:
        t.start()
    assert a_out.wait(5)
    b_may_end.set()
    for t in threads:
        t.join(5)
    assert seen == {"after_a_ended": False, "after_b_ended": True}
    assert gc.isenabled()
