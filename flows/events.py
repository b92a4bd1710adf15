"""Emit Prefect events about complaints, only when a Prefect API is configured.

With no PREFECT_API_URL, `emit_event` would quietly start a throwaway server and the event would
go nowhere useful (shared/reference/prefect.md), so we skip emitting instead. Inside a flow run the
engine has an API (a real server, or the temporary one it started), and events go there.

Payloads carry codes and counts, not personal data; every string in one goes through
`mask_free_text` all the same, so a case action's result that quotes free text is masked.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from prefect.context import FlowRunContext
from prefect.events import emit_event
from prefect.settings import PREFECT_API_URL

from domain.masking import DIGEST_KEYS, mask_free_text


def api_configured() -> bool:
    return bool(PREFECT_API_URL.value()) or FlowRunContext.get() is not None



def masked_payload(value: Any, key: str | None = None) -> Any:
    """Every string inside `value` (dicts and lists walked) through `mask_free_text`, digests by key aside."""
    if isinstance(value, str):
        return value if key in DIGEST_KEYS else mask_free_text(value)
    if isinstance(value, dict):
        return {k: masked_payload(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [masked_payload(v, key) for v in value]
    return value


def complaint_resource(case_no: str) -> dict[str, str]:
    return {"prefect.resource.id": f"complaint.{case_no}", "prefect.resource.name": case_no}


def emit(event: str, *, case_no: str | None = None, related: Iterable[tuple[str, str]] = (),
         payload: dict[str, Any] | None = None, resource: dict[str, str] | None = None) -> bool:
    """Emit one event; returns False when no API is configured (nothing sent)."""
    if not api_configured():
        return False
    res = resource or (complaint_resource(case_no) if case_no else {"prefect.resource.id": "complaints.system"})
    rel = [{"prefect.resource.id": rid, "prefect.resource.role": role} for role, rid in related]
    emit_event(event=event, resource=res, related=rel, payload=masked_payload(payload or {}))
    return True


def emit_submitted(case_nos: Sequence[str], *, limit: int) -> int:
    """After a submit commits: one `complaint.submitted` per case, or one for the batch above `limit`.

    Only with a configured API (PREFECT_API_URL). If the server is down the event is lost, the
    complaint is stored all the same, and intake's interval schedule routes it.
    """
    if not case_nos or not api_configured():
        return 0
    if len(case_nos) > limit:
        return int(emit("complaint.submitted", resource={"prefect.resource.id": "complaint.submit-batch"},
                        payload={"count": len(case_nos), "first": case_nos[0], "last": case_nos[-1]}))
    return sum(emit("complaint.submitted", case_no=c) for c in case_nos)
