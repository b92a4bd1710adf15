"""Announce committed changes to Prefect as events — the CLI and the web API alike.

Only when a Prefect API is configured (PREFECT_API_URL): without one, nothing is imported or sent.
A failure to send is a warning, never an error: the change is already committed, and the
safety-net schedules (intake's interval) pick up what an event would have started.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any


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


def announce_submitted(case_nos: list[str], *, limit: int) -> None:
    """`complaint.submitted` for new cases, so intake runs now rather than at its next interval."""
    if not case_nos or not os.environ.get("PREFECT_API_URL"):
        return
    from flows.events import emit_submitted

    _send("新投诉；分派流程的定时任务仍会处理", lambda: emit_submitted(case_nos, limit=limit))


def announce_change(event: str, out: dict[str, Any]) -> None:
    """One event on the case's resource after a case action, with the action's plain-valued result."""
    case_no = out.get("case_no")
    if not case_no or not os.environ.get("PREFECT_API_URL"):
        return
    from flows.events import emit

    payload = {k: v for k, v in out.items() if isinstance(v, str | int | bool) or v is None}
    _send(event, lambda: emit(event, case_no=str(case_no), payload=payload))
