"""Remediation sweep (整改督办): every open 整改 item past its due date goes up the 一把手 chain, each level
once (services/governance.sweep_remediation; docs/governance.md). Daily, from prefect.yaml."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from prefect import flow, get_run_logger

from models.db import make_engine
from services.governance import sweep_remediation
from services.unit_of_work import Runtime
from settings.config import load_config


def run_remediation_sweep(runtime: Runtime, *, now: datetime | None = None) -> dict[str, Any]:
    """One sweep in one transaction (plain Python: the flow, the CLI and the tests call it)."""
    with runtime.unit(now=now) as uow:
        return sweep_remediation(uow)


@flow(name="remediation-sweep", log_prints=False)
def remediation_sweep(now: str | None = None) -> dict[str, Any]:
    """Escalate overdue 整改 items (one run for all)."""
    logger = get_run_logger()
    at = datetime.fromisoformat(now) if now else None
    if at is not None and at.utcoffset() is None:
        raise ValueError(f"now: {now!r} has no UTC offset")
    engine = make_engine()
    try:
        result = run_remediation_sweep(Runtime(load_config(), engine), now=at)
    finally:
        engine.dispose()
    logger.info("remediation-sweep: %d levels fired", result["fired"])
    return {"fired": result["fired"], "escalations": result["escalations"]}
