"""The application layer's case commands (services/cases.py) through a Runtime: one transaction each,
and the event announced by the Prefect announcer only after the commit (a refused command, rolled
back, announces nothing). The Prefect client is the only part replaced: emit_event records instead
of sending; everything else (the announcer, flows/events.py's emit, the masking) is the real one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine

import flows.events
from complaints.config import Config
from domain.lifecycle import IllegalTransition
from flows.announcer import prefect_announcer
from flows.intake import run_intake
from services import cases
from services.unit_of_work import Runtime
from tests.factories import complaint

NOW = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)


@pytest.fixture(name="emitted")
def emitted_fixture(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:9/api")  # nothing listens: emit_event is replaced
    monkeypatch.setattr(flows.events, "emit_event", lambda **kw: sent.append(kw))
    return sent


def test_submit_and_a_case_action_are_announced_after_their_commit(db_engine: Engine, config: Config,
                                                                   emitted: list[dict[str, Any]]) -> None:
    rt = Runtime(config, db_engine, clock=lambda: NOW, announcer=prefect_announcer)
    (result,) = cases.submit(rt, [complaint(category="银行卡")], now=NOW, actor="desk")
    assert [e["event"] for e in emitted] == ["complaint.submitted"]
    assert emitted[0]["resource"]["prefect.resource.id"] == f"complaint.{result.case_no}"
    run_intake(db_engine, config, now=NOW)
    emitted.clear()  # intake's own events (with a flow-run context) are not the commands'

    with rt.unit(now=NOW + timedelta(hours=1)) as uow:
        out = cases.act(uow, result.case_no, "acknowledge", cases.Acknowledge(), actor="chen.jing")
        assert emitted == []  # not yet: the transaction is still open
    assert isinstance(out, cases.AcknowledgeResult) and out.status == "acknowledged"
    assert [e["event"] for e in emitted] == ["complaint.acknowledged"]
    assert emitted[0]["payload"]["status"] == "acknowledged"
    assert emitted[0]["payload"]["previous_status"] == "routed"


def test_a_refused_command_stores_and_announces_nothing(db_engine: Engine, config: Config,
                                                        emitted: list[dict[str, Any]]) -> None:
    rt = Runtime(config, db_engine, clock=lambda: NOW, announcer=prefect_announcer)
    (result,) = cases.submit(rt, [complaint(category="银行卡")], now=NOW, actor="desk", announce=False)
    run_intake(db_engine, config, now=NOW)
    emitted.clear()
    with pytest.raises(IllegalTransition), rt.unit(now=NOW + timedelta(hours=1)) as uow:
        cases.act(uow, result.case_no, "close", cases.Close(root_cause="R02"), actor="chen.jing")
    with pytest.raises(cases.ActionError) as exc, rt.unit(now=NOW + timedelta(hours=1)) as uow:
        cases.act(uow, result.case_no, "pause", cases.Pause(reason="出差", evidence="x"), actor="chen.jing")
    assert any(p.startswith("reason（") for p in exc.value.problems)
    assert emitted == []
    with rt.unit() as uow:
        detail = cases.view(uow, result.case_no)
    assert detail is not None and detail["status"] == "routed"


def test_without_a_prefect_api_nothing_is_sent(db_engine: Engine, config: Config,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[dict[str, Any]] = []
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.setattr(flows.events, "emit_event", lambda **kw: sent.append(kw))
    rt = Runtime(config, db_engine, clock=lambda: NOW, announcer=prefect_announcer)
    cases.submit(rt, [complaint(category="银行卡")], now=NOW, actor="desk")
    assert sent == []


def test_a_command_of_the_wrong_type_is_refused_before_anything_runs(db_engine: Engine, config: Config) -> None:
    rt = Runtime(config, db_engine, clock=lambda: NOW)
    with pytest.raises(TypeError), rt.unit() as uow:
        cases.act(uow, "DL-2026-000001", "pause", cases.Acknowledge(), actor="x")
