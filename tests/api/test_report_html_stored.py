"""The weekly report's page is rendered once, at the freeze, stored with its sha256 and served
from storage; `report verify` checks the stored page (migration 0011, models/report_html.py)."""

from __future__ import annotations

import warnings
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, func, select, update

from complaints.config import Config
from flows.weekly_report import build_weekly_report, verify_weekly_report
from models.report_html import HTML, html_digest
from tests.api.support import account, bearer, routed_case

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


def _week_of_a_case(db_engine: Engine, config: Config) -> tuple[str, datetime]:
    received = routed_case(db_engine, config)["received_at"].astimezone(UTC)
    iso = received.isocalendar()
    return f"{iso.year}-W{iso.week:02d}", datetime(iso.year + 1, 1, 20, tzinfo=UTC)


def test_page_is_stored_at_the_freeze_once_and_served_from_storage(client: TestClient, db_engine: Engine,
                                                                   config: Config, tmp_path: Path) -> None:
    """The freeze stores the page written to disk, with its digest; a rerun with the same figures
    stores nothing more; the API serves the stored bytes (an edit to them shows in the response)."""
    week, now = _week_of_a_case(db_engine, config)
    result = build_weekly_report(db_engine, config, week, now, output_dir=tmp_path)
    on_disk = (result.output_dir / "report.html").read_text(encoding="utf-8")
    with db_engine.connect() as conn:
        (row,) = conn.execute(select(HTML.c.html, HTML.c.sha256)).all()
    assert row.html == on_disk and row.sha256 == html_digest(on_disk) and result.sha256 in row.html
    again = build_weekly_report(db_engine, config, week, now, output_dir=tmp_path)
    assert not again.created
    with db_engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(HTML)).scalar_one() == 1

    token = account(db_engine, config, "aud1", "auditor", "lin.shen")
    served = client.get(f"/api/reports/{week}/html", headers=bearer(token))
    assert served.status_code == 200 and served.text == on_disk
    marked = on_disk.replace("</body>", "<p>stored-page-marker</p></body>")
    with db_engine.begin() as conn:
        conn.execute(update(HTML).values(html=marked))
    assert "stored-page-marker" in client.get(f"/api/reports/{week}/html", headers=bearer(token)).text


def test_verify_names_a_stored_page_edited_after_the_freeze(db_engine: Engine, config: Config, tmp_path: Path) -> None:
    """Verify passes on the frozen page and fails, naming the page, once its bytes change."""
    week, now = _week_of_a_case(db_engine, config)
    build_weekly_report(db_engine, config, week, now, output_dir=tmp_path)
    assert verify_weekly_report(db_engine, config, week, output_dir=tmp_path).ok
    with db_engine.begin() as conn:
        page = conn.execute(select(HTML.c.html)).scalar_one()
        conn.execute(update(HTML).values(html=page.replace("投诉", "投拆", 1)))
    outcome = verify_weekly_report(db_engine, config, week, output_dir=tmp_path)
    assert not outcome.ok and any("stored page" in p and "sha256" in p for p in outcome.problems)
