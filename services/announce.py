"""Announce committed changes as events — the one place that decides what is announced and how.

A command records `uow.announce(event, out)`; once its transaction commits, the Runtime hands each
pair to its announcer. In the CLI and the web the announcer is `flows.announcer.prefect_announcer`,
which sends through `announce` below only when a Prefect API is configured (PREFECT_API_URL):
without one, nothing is imported or sent. A failure to send is a warning, never an error: the
change is already committed, and the safety-net schedules (intake's interval) pick up what an
event would have started.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, Protocol

Announcer = Callable[[str, dict[str, Any]], None]
SUBMITTED = "complaint.submitted"  # out: {"case_nos": [...], "limit": n}


def no_announcer(event: str, out: dict[str, Any]) -> None:
    """Announce nothing (tests, bench, the flows' own runs)."""
    return None


class Emit(Protocol):
    def __call__(self, event: str, *, case_no: str | None = None,
                 payload: dict[str, Any] | None = None) -> bool: ...


class EmitSubmitted(Protocol):
    def __call__(self, case_nos: Sequence[str], *, limit: int) -> int: ...


def submitted(case_nos: list[str], *, limit: int) -> dict[str, Any]:
    """The `out` of a `complaint.submitted` announcement."""
    return {"case_nos": case_nos, "limit": limit}


def _send(what: str, send: Callable[[], object]) -> None:
    try:
        with_api_url(send)
    except Exception as exc:  # noqa: BLE001 - committed already; the event is a courtesy
        print(f"complaints: 警告：未能向 Prefect 发送事件（{what}）：{exc}", file=sys.stderr)


def with_api_url(send: Callable[[], object]) -> object:
    """Run `send` with Prefect's settings pointing at os.environ's PREFECT_API_URL.

    Prefect keeps its settings in a context variable: a thread that did not inherit the context
    that set the URL (uvicorn's threads under `complaints up`, a thread pool) sees the settings
    Prefect read when it was imported, maybe with no URL at all, and emit_event would then send
    nothing (or start a throwaway server). So when the current settings lack the configured URL,
    it is put in place for the call.
    """
    url = os.environ.get("PREFECT_API_URL")
    from prefect.settings import PREFECT_API_URL, temporary_settings

    if not url or PREFECT_API_URL.value() == url:
        return send()
    with temporary_settings(updates={PREFECT_API_URL: url}):
        return send()


def api_url_set() -> bool:
    return bool(os.environ.get("PREFECT_API_URL"))


def announce(event: str, out: dict[str, Any], *, emit: Emit, emit_submitted: EmitSubmitted) -> None:
    """Send one announcement with the given emitters (flows/events.py's, in production).

    `complaint.submitted` for new cases, so intake runs now rather than at its next interval; any
    other event goes on the case's resource with the command's plain-valued result.
    """
    if not api_url_set():
        return
    if event == SUBMITTED:
        case_nos, limit = list(out.get("case_nos") or []), int(out.get("limit") or 1)
        if case_nos:
            _send("新投诉；分派流程的定时任务仍会处理", lambda: emit_submitted(case_nos, limit=limit))
        return
    case_no = out.get("case_no")
    if not case_no:
        return
    payload = {k: v for k, v in out.items() if isinstance(v, str | int | bool) or v is None}
    _send(event, lambda: emit(event, case_no=str(case_no), payload=payload))
