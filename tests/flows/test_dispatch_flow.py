"""The dispatch flow on a real Prefect server: a run that dead-letters ends Failed and warns."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from prefect import get_client
from prefect.events.filters import EventFilter, EventNameFilter, EventOccurredFilter
from sqlalchemy import Engine, select

from flows.dispatch import DEAD_LETTERED_EVENT, dispatch, final_state
from models.db import session_scope
from models.outbox import OutboxMessage, OutboxStatus
from models.sqlutil import table_of
from notifications.dispatch import DispatchResult
from notifications.outbox import dead_letters

OUT = table_of(OutboxMessage)


@pytest.fixture
def app_env(db_engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Engine:
    monkeypatch.setenv("COMPLAINTS_DATABASE_URL", db_engine.url.render_as_string(hide_password=False))
    return db_engine


def _old_shape_row(engine: Engine) -> None:
    """An `escalated` row as the sweep wrote it before the contracts: it can never be rendered."""
    now = datetime.now(UTC) - timedelta(minutes=1)
    with session_scope(engine) as s:
        s.execute(OUT.insert().values(
            dedupe_key="DL-2026-000001:escalated:L2:zhao.li:email", message_id="m" * 32, kind="escalated",
            case_no="DL-2026-000001", recipient="zhao.li", channel="email", address="zhao.li@bank.example",
            context={"case_no": "DL-2026-000001", "level": 2, "level_name": "消保办督办", "lateness": "已逾期 1 天"},
            status=OutboxStatus.PENDING, attempts=0, next_attempt_at=now, created_at=now))


def _events(since: datetime) -> list[dict[str, object]]:
    flt = EventFilter(event=EventNameFilter(name=[DEAD_LETTERED_EVENT]),
                      occurred=EventOccurredFilter(since=since, until=datetime.now(UTC) + timedelta(minutes=5)))
    deadline = time.monotonic() + 30
    with get_client(sync_client=True) as client:
        while time.monotonic() < deadline:
            page = client.read_events(filter=flt, limit=10)
            if page.events:
                return [dict(e.payload) for e in page.events]
            time.sleep(0.5)
    return []


def test_a_dead_letter_fails_the_run_and_emits_a_warning_event(prefect_server: None, app_env: Engine) -> None:
    """The run ends Failed with 「1 条通知投递失败，已转入死信」, the event names the case, and
    `outbox --dead` shows the Chinese error."""
    since = datetime.now(UTC) - timedelta(seconds=1)
    _old_shape_row(app_env)
    state = dispatch(return_state=True)
    assert state.is_failed() and not state.is_completed()
    assert state.message is not None and state.message.startswith("1 条通知投递失败，已转入死信")
    counts = state.result(raise_on_failure=False)
    assert isinstance(counts, dict) and counts["dead"] == 1
    [payload] = _events(since)
    assert payload["dead"] == 1 and payload["case_nos"] == ["DL-2026-000001"]
    with session_scope(app_env) as s:
        [dead] = dead_letters(s)
        status = s.execute(select(OUT.c.status)).scalar_one()
    assert status == OutboxStatus.DEAD and dead["case_no"] == "DL-2026-000001"
    assert "通知内容无法生成" in dead["last_error"] and "缺少字段" in dead["last_error"]


def test_a_run_with_nothing_dead_completes(prefect_server: None, app_env: Engine) -> None:
    """Nothing due: the run is Completed and its result is the counts."""
    state = dispatch(return_state=True)
    counts = state.result()
    assert state.is_completed() and isinstance(counts, dict) and counts["dead"] == 0


def test_final_state_emits_only_when_something_died() -> None:
    """Plain function: a warning event and Failed for dead letters, nothing and Completed otherwise."""
    sent: list[tuple[str, dict[str, object]]] = []

    def fake_emit(event: str, **kwargs: object) -> bool:
        sent.append((event, kwargs))
        return True

    assert final_state(DispatchResult(claimed=2, sent=2), emit_event=fake_emit).is_completed() and sent == []
    state = final_state(DispatchResult(claimed=3, sent=1, dead=2, dead_cases=["DL-1"]), emit_event=fake_emit)
    assert state.is_failed() and state.message is not None and state.message.startswith("2 条通知投递失败")
    [(event, kwargs)] = sent
    assert event == DEAD_LETTERED_EVENT and kwargs["payload"]["case_nos"] == ["DL-1"]  # type: ignore[index]
