"""The `early-warning` flow (daily, prefect.yaml): refresh the daily counts, score every institution ×
category cell on the last complete local day against its own baseline (domain/early_warning.py), and
queue one alert per new spike to the institution's 一把手 and the 消保办 (services/analytics.py).
One flow run, one transaction; the per-cell work is numpy (DESIGN.md decision 2)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact
from sqlalchemy import Engine

from models.db import make_engine
from services import analytics
from services.unit_of_work import Runtime
from settings.config import Config, load_config


def run_early_warning(engine: Engine, config: Config, now: datetime) -> list[analytics.Alert]:
    """The plain function the flow, the CLI's tests and the benchmark call."""
    with Runtime(config, engine).unit(now=now) as uow:
        return analytics.early_warning(uow)


@flow(name="early-warning", log_prints=False)
def early_warning() -> dict[str, Any]:
    """Score yesterday's complaints per institution × category; alert the heads of the spiking ones."""
    logger = get_run_logger()
    engine = make_engine()
    try:
        alerts = run_early_warning(engine, load_config(), datetime.now(UTC))
    finally:
        engine.dispose()
    new = [a for a in alerts if a.new]
    lines = [f"| {a.institution} | {a.outlet or '本级'} | {a.category} | {a.observed} | {a.expected:.1f} |" for a in new]
    create_markdown_artifact(
        key="early-warning", description="投诉预警",
        markdown=f"**投诉预警**：新预警 {len(new)} 个\n\n| 机构 | 网点 | 类别 | 件数 | 基线 |\n|---|---|---|---:|---:|\n"
                 + "\n".join(lines))
    logger.info("early warning: %d spikes, %d new alerts", len(alerts), len(new))
    return {"spikes": len(alerts), "new": len(new)}
