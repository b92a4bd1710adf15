"""Reading a search to its end, as a person pages through it: every page after the last one's
cursor, each case once."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from models.users import User
from services import workbench_queue as wq
from services.unit_of_work import Runtime


def every_hit(rt: Runtime, user: User, params: Mapping[str, Any], *, now: datetime, limit: int) -> list[str]:
    """The case numbers `wq.search` finds for these query parameters, in page order, page after
    page (`limit` a page); fails if a case comes twice."""
    out: list[str] = []
    cursor = None
    with rt.unit(now=now) as uow:
        while True:
            page = wq.search(uow, user, wq.parse_filter(params), cursor=cursor, limit=limit)
            out += [c["case_no"] for c in page.items]
            if not (cursor := page.next_cursor):
                break
    assert len(out) == len(set(out)), f"a case twice in {dict(params)}"
    return out
