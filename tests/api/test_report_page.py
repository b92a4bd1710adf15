"""The weekly report's page, where the `report_ready` message links: behind login, as frozen."""

from __future__ import annotations

import re
import warnings
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy import Engine, select

from complaints.config import Config
from flows.weekly_report import build_weekly_report
from models.db import session_scope
from models.outbox import OutboxMessage
from models.sqlutil import table_of
from tests.api.support import PASSWORD, account, routed_case

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

OUTBOX = table_of(OutboxMessage)


def test_report_ready_link_opens_the_report_after_login(client: TestClient, db_engine: Engine, config: Config,
                                                        tmp_path: Path) -> None:
    """The link the real report run sends leads a signed-out auditor to the login page, then to the report."""
    detail = routed_case(db_engine, config)
    received = detail["received_at"].astimezone(UTC)
    iso = received.isocalendar()
    week = f"{iso.year}-W{iso.week:02d}"
    build_weekly_report(db_engine, config, week, datetime(iso.year + 1, 1, 20, tzinfo=UTC), output_dir=tmp_path)
    with session_scope(db_engine) as s:
        links = {row.context["link"] for row in s.execute(select(OUTBOX).where(OUTBOX.c.kind == "report_ready"))}
    assert len(links) == 1
    path = urlsplit(links.pop()).path
    assert path == f"/reports/{week}"

    first = client.get(path, follow_redirects=False)
    assert first.status_code in (302, 303) and first.headers["location"].startswith("/login")
    account(db_engine, config, "aud1", "auditor", "lin.shen")
    form = client.get(first.headers["location"]).text
    csrf = re.search(r'name="csrf" value="([^"]+)"', form)
    assert csrf is not None
    client.post("/login", data={"username": "aud1", "password": PASSWORD, "next": path, "csrf": csrf.group(1)})
    page = client.get(path)
    assert page.status_code == 200 and week in page.text, (page.status_code, page.url)
    assert page.headers["cache-control"] == "no-store"
    assert client.get("/reports/2026-W99").status_code == 404  # a week never frozen
