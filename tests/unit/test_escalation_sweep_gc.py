"""The sweep hides the process's long-lived objects from the garbage collector only while it runs."""

from __future__ import annotations

import gc

from flows.escalation import _long_lived_objects_frozen


def test_freeze_is_undone_after_the_sweep_and_on_error() -> None:
    """Nothing stays frozen after the sweep, whether it ends normally or by an exception."""
    assert gc.get_freeze_count() == 0
    with _long_lived_objects_frozen():
        assert gc.get_freeze_count() > 0
    assert gc.get_freeze_count() == 0
    try:
        with _long_lived_objects_frozen():
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert gc.get_freeze_count() == 0


def test_someone_elses_freeze_is_left_alone() -> None:
    """When objects were already frozen (a pre-fork server, say), the sweep neither adds to nor undoes it."""
    gc.freeze()
    try:
        before = gc.get_freeze_count()
        with _long_lived_objects_frozen():
            pass
        assert gc.get_freeze_count() == before
    finally:
        gc.unfreeze()
