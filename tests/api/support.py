"""Plain helpers for the API tests: accounts with tokens, a routed case, and the web's injected clock."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine

from complaints.config import Config
from domain.calendar import WorkingCalendar
from flows.intake import run_intake
from models.case_views import CaseDetail, case_detail
from models.db import session_scope
from models.submission import submit
from models.users import create_token, create_user
from services import unit_of_work
from tests.factories import complaint

PASSWORD = "correct horse 1"


def account(engine: Engine, config: Config, username: str, role: str, person: str | None = None,
            branch: str | None = None) -> str:
    """Create a user and return a bearer token for it."""
    now = datetime.now(UTC)
    with session_scope(engine) as s:
        create_user(s, username=username, role=role, password=PASSWORD, config=config, now=now,
                    person_id=person, branch=branch)
        return create_token(s, username=username, now=now)


def routed_case(engine: Engine, config: Config, **overrides: Any) -> CaseDetail:
    """Submit one complaint, route it, and return its (unmasked) detail."""
    result = submit(engine, [complaint(**overrides)], config=config, calendar=WorkingCalendar(),
                    now=datetime.now(UTC))[0]
    run_intake(engine, config)
    with session_scope(engine) as s:
        detail = case_detail(s, result.case_no, unmask=True)
    assert detail is not None
    return detail


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class Clock:
    """The web's clock in a test: `advance` moves it, and logs in again every browser session in
    `browsers` (anything with a `login()`), whose sessions the moved clock may have timed out."""

    def __init__(self, start: datetime) -> None:
        self.now = start
        self.browsers: list[Any] = []

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> None:
        self.now = self.now + timedelta(**kw)
        for browser in self.browsers:
            browser.login()


def install_clock(monkeypatch: pytest.MonkeyPatch, clock: Callable[[], datetime]) -> None:
    """Make `clock` the `utcnow` every Runtime without its own clock reads (the web's, the API's and
    the pages')."""
    monkeypatch.setattr(unit_of_work, "utcnow", clock)
