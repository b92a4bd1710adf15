"""Submissions from concurrent requests share one transaction (DESIGN.md decision 2: batch).

Every submission updates the same rows (its case-number sequence and the audit chain's head) and
holds them to commit, so concurrent submissions run one after another in the database anyway;
one transaction per request costs a round of statements and a commit each (PostgreSQL: ~6 ms,
so at most ~150 per second, and threads queueing on the row locks collapsed to 62/s in
bench/bench_api.py). Here one worker thread takes whatever requests are waiting, and stores them
with one `submit` call per actor: no waiting window, so a lone request is stored at once, and
under load each transaction carries the requests that arrived while the previous one ran.
`submit` stores every item of a call or none; items reaching it are already validated.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass

from models.schemas import ComplaintIn, SubmitResult

Store = Callable[[list[ComplaintIn], str], list[SubmitResult]]
MAX_BATCH = 200


@dataclass
class _Job:
    item: ComplaintIn
    actor: str
    done: Future[SubmitResult]


class SubmitBatcher:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._jobs: queue.Queue[_Job] = queue.Queue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def submit(self, item: ComplaintIn, actor: str, timeout: float = 60) -> SubmitResult:
        """Store one validated complaint with whatever else is waiting; returns its result."""
        self._ensure_worker()
        job = _Job(item, actor, Future())
        self._jobs.put(job)
        return job.done.result(timeout=timeout)

    def _ensure_worker(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="submit-batcher", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            jobs = [self._jobs.get()]
            while len(jobs) < MAX_BATCH:
                try:
                    jobs.append(self._jobs.get_nowait())
                except queue.Empty:
                    break
            by_actor: dict[str, list[_Job]] = {}
            for job in jobs:
                by_actor.setdefault(job.actor, []).append(job)
            for actor, group in by_actor.items():
                self._store_group(actor, group)

    def _store_group(self, actor: str, group: list[_Job]) -> None:
        try:
            results = self._store([j.item for j in group], actor)
        except Exception as exc:  # noqa: BLE001 - the error goes to each waiting request
            if len(group) > 1:  # one bad apple must not fail the others: store them one by one
                for job in group:
                    self._store_group(actor, [job])
                return
            group[0].done.set_exception(exc)
            return
        for job, result in zip(group, results, strict=True):
            job.done.set_result(result)
