"""The submit batcher: concurrent requests share a transaction, and one failing item fails only itself."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from api.batching import SubmitBatcher
from models.schemas import ComplaintIn, SubmitResult
from tests.factories import complaint

NOW = datetime(2026, 11, 26, tzinfo=UTC)


def test_waiting_requests_share_a_call_and_a_bad_one_fails_alone() -> None:
    """Requests queued while a store runs go into the next call; a call that raises is retried item by item."""
    calls: list[list[str]] = []
    gate = threading.Event()

    def store(items: list[ComplaintIn], actor: str) -> list[SubmitResult]:
        calls.append([i.request for i in items])
        gate.wait(5)
        if any(i.request == "bad" for i in items):
            raise RuntimeError("database refused")
        return [SubmitResult(case_no=f"DL-2026-{n:06d}", status="received", received_at=NOW, due_at=NOW,
                             ack_due_at=NOW) for n, _ in enumerate(items)]

    batcher = SubmitBatcher(store)
    results: dict[str, object] = {}

    def go(text: str) -> None:
        try:
            results[text] = batcher.submit(complaint(request=text), "desk")
        except RuntimeError as exc:
            results[text] = exc

    first = threading.Thread(target=go, args=("first",))
    first.start()
    while not calls:
        threading.Event().wait(0.01)
    others = [threading.Thread(target=go, args=(t,)) for t in ("a", "bad", "b")]
    for t in others:
        t.start()
    threading.Event().wait(0.2)  # let them queue behind the first call
    gate.set()
    for t in [first, *others]:
        t.join(10)
    assert calls[0] == ["first"]
    assert sorted(calls[1]) == ["a", "b", "bad"]  # one shared call …
    assert isinstance(results["bad"], RuntimeError)  # … that failed, then one call each
    assert all(isinstance(results[k], SubmitResult) for k in ("first", "a", "b"))


def test_a_lone_request_is_stored_at_once() -> None:
    """With nothing else waiting, a submission goes to the store immediately, alone."""
    batcher = SubmitBatcher(lambda items, actor: [SubmitResult(case_no="DL-2026-000001", status="received",
                                                               received_at=NOW, due_at=NOW, ack_due_at=NOW)])
    assert batcher.submit(complaint(), "desk").case_no == "DL-2026-000001"
