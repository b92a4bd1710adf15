"""The API renders a frozen week from its stored content read back as a typed `ReportContent`
(api/service.py `report_html` / `report_csv`): the page of a snapshot without a stored page (frozen
before migration 0011) and every table's CSV are the files the freeze wrote, byte for byte."""

from __future__ import annotations

import warnings
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, func, select

from complaints.config import Config
from domain.report import TABLE_KEYS
from flows.weekly_report import build_weekly_report
from models.report_html import HTML
from tests.api.support import account, bearer, routed_case

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


def _frozen_week(db_engine: Engine, config: Config, tmp_path: Path) -> tuple[str, Path]:
    routed_case(db_engine, config, tags=["舆情"])
    routed_case(db_engine, config)
    received = routed_case(db_engine, config)["received_at"].astimezone(UTC)
    iso = received.isocalendar()
    week = f"{iso.year}-W{iso.week:02d}"
    result = build_weekly_report(db_engine, config, week, datetime(iso.year + 1, 1, 20, tzinfo=UTC),
                                 output_dir=tmp_path)
    assert result.input_rows == 3
    return week, result.output_dir


def test_page_without_a_stored_page_is_rendered_from_the_stored_content(
        client: TestClient, db_engine: Engine, config: Config, tmp_path: Path) -> None:
    week, written = _frozen_week(db_engine, config, tmp_path)
    with db_engine.begin() as conn:  # as a snapshot frozen before the page was stored (0011)
        conn.execute(HTML.delete())
    token = account(db_engine, config, "aud1", "auditor", "lin.shen")
    served = client.get(f"/api/reports/{week}/html", headers=bearer(token))
    assert served.status_code == 200, served.text
    assert served.text == (written / "report.html").read_text(encoding="utf-8")
    with db_engine.connect() as conn:  # rendered, not stored again by a read
        assert conn.execute(select(func.count()).select_from(HTML)).scalar_one() == 0


def test_every_tables_csv_is_the_file_the_freeze_wrote(client: TestClient, db_engine: Engine, config: Config,
                                                       tmp_path: Path) -> None:
    week, written = _frozen_week(db_engine, config, tmp_path)
    token = account(db_engine, config, "aud1", "auditor", "lin.shen")
    for key in TABLE_KEYS:
        r = client.get(f"/api/reports/{week}/csv/{key}", headers=bearer(token))
        assert r.status_code == 200, (key, r.text)
        assert r.content == (written / f"{key}.csv").read_bytes(), key  # with its BOM


def test_an_unknown_table_is_404_naming_the_tables(client: TestClient, db_engine: Engine, config: Config,
                                                    tmp_path: Path) -> None:
    week, _ = _frozen_week(db_engine, config, tmp_path)
    token = account(db_engine, config, "aud1", "auditor", "lin.shen")
    r = client.get(f"/api/reports/{week}/csv/by-weather", headers=bearer(token))
    assert r.status_code == 404, r.text
    body = r.json()
    assert "by-weather" in body["detail"]
    assert body["errors"] == [f"table（表）：须为以下之一：{'、'.join(sorted(TABLE_KEYS))}"], body
