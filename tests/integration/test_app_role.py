"""The application under a PostgreSQL role that owns no table (issue 12): the owner migrates and runs
`complaints grants ROLE --apply`; the application then works as that role — a complaint submitted,
routed, acknowledged, a sign-in logged, the weekly report frozen and anchored, the chain verified —
while the role cannot truncate, update or delete audit rows, anchors or security events, drop the
append-only triggers or alter a table (what the triggers alone leave open to an owner)."""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import DBAPIError

from api.app import create_app
from complaints.config import Config
from domain.calendar import WorkingCalendar
from flows.anchor import anchor_now
from flows.intake import run_intake
from flows.weekly_report import build_weekly_report
from models.case_actions import acknowledge
from models.db import make_engine, migrate, session_scope
from models.db_roles import RoleError, apply_grants
from models.submission import submit
from models.users import create_user
from tests import pgtest
from tests.api.support import PASSWORD
from tests.clirun import run_json
from tests.factories import complaint

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

NOW = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)
ROLE = f"complaints_app_{pgtest.RUN_ID}"


@pytest.fixture
def owner_engine(monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    """A migrated database of this run's own (owner: the test server's superuser) and a login role
    for the application; both dropped afterwards."""
    name = pgtest.db_name("approle")
    url = pgtest.create_database(name)
    admin = create_engine(pgtest.SERVER + "/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP ROLE IF EXISTS "{ROLE}"'))
        conn.execute(text(f'CREATE ROLE "{ROLE}" LOGIN'))
    engine = make_engine(url)
    migrate(engine)
    monkeypatch.setenv("COMPLAINTS_DATABASE_URL", url)
    yield engine
    engine.dispose()
    pgtest.drop_database(name)
    with admin.connect() as conn:
        conn.execute(text(f'DROP ROLE IF EXISTS "{ROLE}"'))
    admin.dispose()


def _as_app(owner: Engine) -> Engine:
    url = owner.url.set(username=ROLE, password=None)
    return make_engine(url.render_as_string(hide_password=False))


def test_the_application_runs_as_a_role_that_cannot_rewrite_the_audit_trail(
        owner_engine: Engine, config: Config, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, err = run_json(capsys, "grants", ROLE, "--apply")
    assert code == 0, err
    assert any("REVOKE UPDATE, DELETE ON audit_event" in s for s in out["applied"])
    app = _as_app(owner_engine)
    try:
        migrate(app)  # at head: what every process does at start, as the application role
        cases = [r.case_no for r in submit(app, [complaint(), complaint()], config=config,
                                           calendar=WorkingCalendar(), now=NOW)]
        run_intake(app, config, now=NOW)
        with session_scope(app) as s:
            acknowledge(s, case_no=cases[0], config=config, calendar=WorkingCalendar(), now=NOW, actor="chen.jing")
            create_user(s, username="aud1", role="auditor", password=PASSWORD, config=config, now=NOW)
        with TestClient(create_app(config, app), base_url="http://127.0.0.1") as web:
            login = web.get("/login").text
            csrf = login.split('name="csrf" value="')[1].split('"')[0]
            assert web.post("/login", data={"username": "aud1", "password": PASSWORD, "csrf": csrf, "next": "/audit"},
                            follow_redirects=False).status_code == 303
            assert web.get("/audit").status_code == 200
        report = build_weekly_report(app, config, "2026-W48", datetime(2026, 12, 1, 2, 0, tzinfo=UTC),
                                     output_dir=tmp_path)
        assert report.anchor is not None
        assert anchor_now(app, NOW)["seq"] > 0
        with app.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM security_event")).scalar_one() == 1

        for statement in ("UPDATE audit_event SET detail = 'x'", "DELETE FROM audit_event",
                          "TRUNCATE audit_event", "TRUNCATE audit_anchor", "TRUNCATE security_event",
                          "UPDATE security_event SET detail = 'x'", "DELETE FROM audit_anchor",
                          "TRUNCATE complaint", "DROP TRIGGER audit_event_append_only ON audit_event",
                          "ALTER TABLE audit_event DISABLE TRIGGER ALL", "ALTER TABLE complaint ADD COLUMN x int",
                          "DROP TABLE audit_event", "CREATE TABLE audit_event_copy (seq int)"):
            with pytest.raises(DBAPIError, match="permission denied|must be owner"), app.begin() as conn:
                conn.execute(text(statement))
    finally:
        app.dispose()
    code, out, _ = run_json(capsys, "audit", "verify")
    assert code == 0 and out["ok"], out


def test_grants_are_refused_for_the_owner_an_unknown_role_or_sqlite(owner_engine: Engine, tmp_path: Path) -> None:
    owner = owner_engine.url.username or "postgres"
    with pytest.raises(RoleError, match="所有者|超级用户"):
        apply_grants(owner_engine, owner)
    with pytest.raises(RoleError, match="不存在"):
        apply_grants(owner_engine, "no_such_role_here")
    with pytest.raises(RoleError, match="须为小写字母"):
        apply_grants(owner_engine, 'x"; DROP TABLE complaint; --')
    sqlite = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with pytest.raises(RoleError, match="只适用于 PostgreSQL"):
        apply_grants(sqlite, ROLE)
    sqlite.dispose()
    assert os.environ["COMPLAINTS_DATABASE_URL"].startswith("postgresql")
