"""Run one function in several threads at once, each in a copy of the caller's context."""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")


def in_workers(workers: int, fn: Callable[[], T], *, name: str) -> list[T]:
    """`fn()` in `workers` threads (just called when 1); their results, in thread order.

    Each thread runs in a copy of the caller's context, so inside a flow run the tasks it calls
    are task runs of that flow. An error is raised after every thread has finished (the pool
    waits for all of them on leaving the `with`).
    """
    if workers <= 1:
        return [fn()]
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name) as pool:
        futures = [pool.submit(contextvars.copy_context().run, fn) for _ in range(workers)]
        return [f.result() for f in futures]
