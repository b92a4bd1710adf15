"""A person's escalations (`/api/escalations/mine`, models.queries.escalations_of) on real SQLite and
PostgreSQL, with escalations fired by the real sweep: every escalation naming the person among its
recipients, newest first; open only (not acknowledged) or all."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Engine, select

from complaints.config import Config
from domain.calendar import WorkingCalendar
from flows.escalation import run_escalation
from flows.intake import run_intake
from models.db import session_scope
from models.escalation import Escalation
from models.escalation_store import acknowledge_escalation
from models.queries import escalations_of, escalations_query
from models.queries_workbench import EscalationItem
from models.sqlutil import table_of
from models.submission import submit
from tests.factories import complaint
from tests.support.plans import plan_of

CAL = WorkingCalendar()
ESC = table_of(Escalation)
KEYS = ("case_no", "level", "name", "reason", "due_at", "fired_at", "acknowledged_at", "acknowledged_by")


def at(text: str) -> datetime:
    """A local (Asia/Shanghai) time written as 'YYYY-MM-DD HH:MM'."""
    return datetime.fromisoformat(text.replace(" ", "T") + ":00+08:00").astimezone(UTC)


def _case(engine: Engine, config: Config, received: str, **overrides: Any) -> str:
    now = at(received)
    (result,) = submit(engine, [complaint(received_at=now.isoformat(), **overrides)], config=config, calendar=CAL,
                       now=now)
    run_intake(engine, config, now=now)
    return result.case_no


def _escalated(engine: Engine, config: Config) -> tuple[list[str], set[str]]:
    """Cases of three chains escalated by sweeps at different times (L1, L0, L2 fired at different
    instants, several in one sweep); two of the levels acknowledged. Returns the cases and everyone
    the sweeps sent an escalation to."""
    cases = [_case(engine, config, "2026-11-26 09:30", category="银行卡"),
             _case(engine, config, "2026-11-26 10:00", category="贷款"),
             _case(engine, config, "2026-11-26 11:00", category="人民币储蓄", branch="dl-xg"),
             _case(engine, config, "2026-11-27 09:00", category="银行卡")]
    for when in ("2026-11-28 08:00", "2026-11-30 08:00", "2026-12-09 00:30", "2026-12-10 00:30",
                 "2026-12-12 00:10", "2026-12-15 00:10"):
        run_escalation(engine, config, now=at(when), calendar=CAL)
    with engine.connect() as conn:
        rows = conn.execute(select(ESC.c.case_no, ESC.c.level, ESC.c.recipients)).all()
    people = {r["person"] for row in rows for r in row.recipients}
    assert len(rows) >= 8 and len(people) >= 4, (rows, people)  # the fixture escalates as intended
    first_l1 = next(r for r in rows if r.case_no == cases[0] and r.level == 1)
    last_l2 = next(r for r in rows if r.case_no == cases[3] and r.level == 2)
    with session_scope(engine) as s:
        for row in (first_l1, last_l2):
            acknowledge_escalation(s, case_no=row.case_no, level=row.level, by=row.recipients[0]["person"],
                                   now=at("2026-12-16 09:00"))
    return cases, people


def _expected(engine: Engine, person: str, *, open_only: bool) -> list[EscalationItem]:
    """What the escalation rows themselves say: every row whose recipients name `person`."""
    with engine.connect() as conn:
        rows = conn.execute(select(ESC)).all()
    return [cast(EscalationItem, {k: getattr(r, k) for k in KEYS}) for r in rows
            if any(x.get("person") == person for x in r.recipients) and not (open_only and r.acknowledged_at)]


def _key(e: EscalationItem) -> tuple[str, int]:
    return e["case_no"], e["level"]


def test_a_persons_escalations_open_and_all(db_engine: Engine, config: Config) -> None:
    _, people = _escalated(db_engine, config)
    acknowledged = 0
    for person in sorted(people) + ["li", "nobody"]:  # "li": a prefix of li.ming's id, no recipient
        for open_only in (True, False):
            want = _expected(db_engine, person, open_only=open_only)
            with session_scope(db_engine) as s:
                got = escalations_of(s, person, open_only=open_only)
            assert Counter(map(_key, got)) == Counter(map(_key, want)), (person, open_only)
            assert sorted(got, key=_key) == sorted(want, key=_key)
            assert all(tuple(e) == KEYS for e in got)  # the API's keys, in its order
            fired = [e["fired_at"] for e in got]
            assert fired == sorted(fired, reverse=True), (person, open_only)  # newest first
            acknowledged += sum(1 for e in got if e["acknowledged_at"] is not None)
            if open_only:
                assert all(e["acknowledged_at"] is None for e in got)
    with db_engine.connect() as conn:  # each acknowledged level is under "all" of each of its recipients, never "open"
        acked = conn.execute(select(ESC.c.recipients).where(ESC.c.acknowledged_at.is_not(None))).scalars().all()
    assert len(acked) == 2 and acknowledged == sum(len({x["person"] for x in r}) for r in acked)
    with session_scope(db_engine) as s:
        assert escalations_of(s, "nobody", open_only=False) == []
        assert len(escalations_of(s, sorted(people)[0], open_only=False, limit=1)) <= 1


def test_newest_first_ties_by_id(db_engine: Engine, config: Config) -> None:
    """Levels fired in one sweep share their `fired_at`: the later row comes first, as in the queue."""
    _, people = _escalated(db_engine, config)
    with db_engine.connect() as conn:
        ids = {(r.case_no, r.level): r.id for r in conn.execute(select(ESC.c.case_no, ESC.c.level, ESC.c.id))}
    for person in people:
        with session_scope(db_engine) as s:
            got = escalations_of(s, person, open_only=False)
        order = [(e["fired_at"], ids[_key(e)]) for e in got]
        assert order == sorted(order, reverse=True)


def test_read_through_the_participants_index(db_engine: Engine, config: Config) -> None:
    """No pass over every escalation's JSON: the person's rows come from case_participant's index
    (PostgreSQL may read the open levels by `ix_escalation_open` beside it, and does on these few rows)."""
    _escalated(db_engine, config)
    with db_engine.connect() as conn, conn.begin():
        for open_only in (True, False):
            plan = plan_of(conn, escalations_query("zhao.li", open_only=open_only))
            assert "ix_case_participant_person_role" in plan, plan
            if db_engine.dialect.name == "postgresql":
                assert "Seq Scan" not in plan, plan
            else:
                assert "SCAN escalation" not in plan and "sqlite_autoindex_escalation" in plan, plan
