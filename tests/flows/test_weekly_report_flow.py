"""The weekly-report flow on a real Prefect server: one run freezes the week and publishes artifacts."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from prefect import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
from sqlalchemy import Engine

from flows.weekly_report import weekly_report
from models.db import make_engine
from tests.integration.report_seed import seed


@pytest.mark.prefect
def test_flow_publishes_summary_and_table_artifacts_under_the_week_key(
        prefect_server: None, sqlite_template: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A flow run for 2026-W47 returns the frozen version and leaves weekly-report-2026-w47 (markdown) and one table artifact per table."""
    shutil.copy(sqlite_template, tmp_path / "c.db")  # one back-end: the figures are tested on both elsewhere
    engine: Engine = make_engine(f"sqlite:///{tmp_path / 'c.db'}")
    monkeypatch.setenv("COMPLAINTS_DATABASE_URL", f"sqlite:///{tmp_path / 'c.db'}")
    seed(engine)
    engine.dispose()
    out = weekly_report(week="2026-W47", output_dir=str(tmp_path))
    assert out["week"] == "2026-W47" and out["version"] == 1
    keys = ["weekly-report-2026-w47", "weekly-report-2026-w47-summary", "weekly-report-2026-w47-overdue"]
    with get_client(sync_client=True) as client:
        found = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=keys)))
    assert {a.key for a in found} == set(keys)
    md = next(a for a in found if a.key == "weekly-report-2026-w47")
    assert "投诉处理周报 2026-W47" in str(md.data) and "sha256" in str(md.data)
