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
