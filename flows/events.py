"""Emit Prefect events about complaints, only when a Prefect API is configured.

With no PREFECT_API_URL, `emit_event` would quietly start a throwaway server and the event would
go nowhere useful (shared/reference/prefect.md), so we skip emitting instead. Inside a flow run the
engine has an API (a real server, or the temporary one it started), and events go there.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from prefect.context import FlowRunContext
from prefect.events import emit_event
from prefect.settings import PREFECT_API_URL


def api_configured() -> bool:
    return bool(PREFECT_API_URL.value()) or FlowRunContext.get() is not None


def complaint_resource(case_no: str) -> dict[str, str]:
    return {"prefect.resource.id": f"complaint.{case_no}", "prefect.resource.name": case_no}


def emit(event: str, *, case_no: str | None = None, related: Iterable[tuple[str, str]] = (),
         payload: dict[str, Any] | None = None, resource: dict[str, str] | None = None) -> bool:
    """Emit one event; returns False when no API is configured (nothing sent)."""
    if not api_configured():
        return False
    res = resource or (complaint_resource(case_no) if case_no else {"prefect.resource.id": "complaints.system"})
    rel = [{"prefect.resource.id": rid, "prefect.resource.role": role} for role, rid in related]
    emit_event(event=event, resource=res, related=rel, payload=payload or {})
    return True
