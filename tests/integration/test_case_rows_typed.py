"""The case rows are TypedDicts (issue 13): what the queries return at run time has exactly the keys
their type declares, in its order (the order of the API's and the CLI's JSON), each value of its
declared type. On real SQLite and PostgreSQL, with cases paused, responded and under review,
withdrawn, escalated by the real sweep (one level acknowledged), with an agent, masked and unmasked."""

from __future__ import annotations

import types
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints, is_typeddict

from sqlalchemy import Engine, select, true

from complaints.config import Config
from flows.escalation import run_escalation
from flows.intake import run_intake
from flows.weekly_report import build_weekly_report
from models.case_views import CaseDetail, CaseSummary, case_detail, list_cases
from models.db import session_scope
from models.escalation import Escalation
from models.escalation_store import acknowledge_escalation
from models.queries import ReportListing, cases_in_scope, latest_reports
from models.queries_workbench import (
    CaseFilter,
    EscalationItem,
    escalations_page,
    page,
    person_queue,
)
from models.sqlutil import table_of
from models.submission import submit
from services import cases
from services.unit_of_work import Runtime
from tests.factories import complaint

ESC = table_of(Escalation)


def at(text: str) -> datetime:
    """A local (Asia/Shanghai) time written as 'YYYY-MM-DD HH:MM'."""
    return datetime.fromisoformat(text.replace(" ", "T") + ":00+08:00").astimezone(UTC)


def problems(value: Any, hint: Any, path: str = "") -> list[str]:
    """Where `value` is not of the type `hint` (a TypedDict: its keys in order, then each value)."""
    if hint is Any:
        return []
    if is_typeddict(hint):
        if not isinstance(value, dict):
            return [f"{path}: {type(value).__name__}, not a dict"]
        hints = get_type_hints(hint)
        if list(value) != list(hints):
            return [f"{path}: keys {list(value)} != {list(hints)}"]
        return [p for k, h in hints.items() for p in problems(value[k], h, f"{path}.{k}")]
    origin = get_origin(hint)
    if origin in (Union, types.UnionType):
        found = [problems(value, h, path) for h in get_args(hint)]
        return [] if any(not f for f in found) else [p for f in found for p in f]
    if origin is Literal:
        return [] if value in get_args(hint) else [f"{path}: {value!r} not one of {get_args(hint)}"]
    if origin is list:
        if not isinstance(value, list):
            return [f"{path}: {type(value).__name__}, not a list"]
        (item,) = get_args(hint)
        return [p for i, v in enumerate(value) for p in problems(v, item, f"{path}[{i}]")]
    if origin is dict:
        if not isinstance(value, dict):
            return [f"{path}: {type(value).__name__}, not a dict"]
        key, item = get_args(hint)
        return [p for k, v in value.items() for p in problems(k, key, f"{path} key") + problems(v, item, f"{path}[{k!r}]")]
    if hint is type(None):
        return [] if value is None else [f"{path}: {value!r} is not None"]
    if hint is datetime:
        return [] if isinstance(value, datetime) and value.utcoffset() is not None else [f"{path}: {value!r} not an aware datetime"]
    if hint is int and isinstance(value, bool):
        return [f"{path}: {value!r} is a bool, not an int"]
    return [] if isinstance(value, hint) else [f"{path}: {value!r} is not {hint.__name__}"]


def test_the_checker_fails_on_a_wrong_row() -> None:
    ok: ReportListing = {"week": "2026-W48", "version": 1, "generated_at": at("2026-11-30 09:00"), "sha256": "ab",
                         "input_rows": 3}
    assert problems(ok, ReportListing) == []
    assert problems({**ok, "version": True}, ReportListing) == [".version: True is a bool, not an int"]
    assert problems({**ok, "generated_at": datetime(2026, 11, 30)}, ReportListing)  # naive
    assert problems({"version": 1, **ok}, ReportListing)[0].startswith(": keys ['version', 'week'")  # out of order
    assert problems({**ok, "extra": 1}, ReportListing)


def _world(engine: Engine, config: Config, tmp_path: Any) -> tuple[list[str], set[str]]:
    """Cases in every shape a row can take; returns them and every person an escalation was sent to."""
    rt = Runtime(config, engine)

    def file(received: str, **over: Any) -> str:
        (result,) = submit(engine, [complaint(received_at=at(received).isoformat(), **over)], config=config,
                           calendar=rt.calendar, now=at(received))
        run_intake(engine, config, now=at(received))
        return result.case_no

    def act(when: str, case_no: str, action: str, command: cases.Command) -> None:
        with rt.unit(now=at(when)) as uow:
            cases.act(uow, case_no, action, command, actor="chen.jing")

    escalated = file("2026-11-02 09:30", category="银行卡")
    paused = file("2026-11-20 10:00", category="贷款",
                  agent={"name": "李律师", "phone": "13987654321", "authorization": "委托书 2026-001"})
    reviewed = file("2026-11-21 11:00", category="银行卡", branch="dl-xg")
    withdrawn = file("2026-11-23 09:00", category="人民币储蓄")
    act("2026-11-24 10:00", paused, "pause", cases.Pause(reason="鉴定", evidence="鉴定委托书 JD-1"))
    act("2026-11-24 10:00", reviewed, "respond", cases.Respond(
        verified="已核实扣费情况，张三已知悉", basis="按合同第5条", remedies="可申请核查、调解、仲裁、诉讼",
        told_via="phone", told_at=at("2026-11-24 10:00"), outcome="成立"))
    act("2026-11-25 10:00", reviewed, "review", cases.Review(requested_at=at("2026-11-25 10:00")))
    act("2026-11-25 11:00", withdrawn, "withdraw", cases.Withdraw())
    for when in ("2026-11-04 08:00", "2026-11-12 00:30", "2026-11-20 00:30"):
        run_escalation(engine, config, now=at(when), calendar=rt.calendar)
    with engine.connect() as conn:
        rows = conn.execute(select(ESC.c.case_no, ESC.c.level, ESC.c.recipients)).all()
    assert len(rows) >= 2, rows  # the sweep escalated the old case
    with session_scope(engine) as s:
        acknowledge_escalation(s, case_no=rows[0].case_no, level=rows[0].level, by=rows[0].recipients[0]["person"],
                               now=at("2026-11-21 09:00"))
    build_weekly_report(engine, config, "2026-W48", at("2026-11-30 09:00"), output_dir=tmp_path)
    return [escalated, paused, reviewed, withdrawn], {r["person"] for row in rows for r in row.recipients}


def test_case_rows_have_their_declared_keys_in_order_and_types(db_engine: Engine, config: Config,
                                                                tmp_path: Any) -> None:
    numbers, recipients = _world(db_engine, config, tmp_path)
    now = at("2026-11-26 12:00")
    with session_scope(db_engine) as s:
        summaries = list_cases(s, now=now)
        summaries += cases_in_scope(s, true(), now=now, overdue=True)
        listed = page(s, [], CaseFilter(), now=now, limit=100)
        summaries += listed.items
        for person in recipients:
            summaries += [c for p in person_queue(s, person, now=now, soon=timedelta(days=3), cursors={}).values()
                          for c in p.items]
        escalations = [e for person in recipients for e in escalations_page(s, person).items]
        details = [case_detail(s, no, unmask=unmask, now=now) for no in numbers for unmask in (False, True)]
        reports = latest_reports(s)
    assert {c["case_no"] for c in listed.items} == set(numbers)
    assert any(c["paused"] for c in summaries) and escalations and reports
    assert [problems(c, CaseSummary) for c in summaries] == [[] for _ in summaries]
    assert [problems(e, EscalationItem) for e in escalations] == [[] for _ in escalations]
    assert [problems(d, CaseDetail) for d in details] == [[] for _ in details]
    assert [problems(r, ReportListing) for r in reports] == [[] for _ in reports]
    shown = [d for d in details if d is not None]
    # every optional part is there in some case, so its type was checked
    assert any(d["review"] for d in shown) and any(d["agent"] for d in shown) and any(d["pause_reason"] for d in shown)
    assert any(e["acknowledged_at"] for d in shown for e in d["escalations"])
    assert any(e["before"] for d in shown for e in d["audit"])
    assert {d["personal_data"] for d in shown} == {"masked", "unmasked"}
