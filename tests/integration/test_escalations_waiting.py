"""The dashboard's 待本人确认的督办 (`models.analytics.escalations_waiting`): read through the person's
`case_participant` escalation rows instead of a LIKE over the recipients JSON, with the same results as
that LIKE gave, on real SQLite and PostgreSQL, with levels fired by the real sweep (some acknowledged,
one case withdrawn while its levels were still open)."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, Text, cast, select

from complaints.config import Config
from models import analytics as store
from models.complaint import Complaint
from models.db import session_scope
from models.escalation import Escalation
from models.sqlutil import table_of
from services import analytics, cases
from services.unit_of_work import Runtime
from tests.integration.test_escalations_mine import _escalated, at
from tests.support.plans import plan_of

ESC = table_of(Escalation)
C = table_of(Complaint)


def _by_like(engine: Engine, person: str, branches: list[str]) -> list[tuple[str, int, str, datetime]]:
    """The query this replaced: a LIKE for the quoted person id over the recipients JSON's text."""
    escaped = person.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    stmt = (select(ESC.c.case_no, ESC.c.level, ESC.c.name, ESC.c.fired_at)
            .join(C, C.c.id == ESC.c.complaint_id)
            .where(ESC.c.acknowledged_at.is_(None), cast(ESC.c.recipients, Text).like(f'%"{escaped}"%', escape="\\"),
                   store.is_open(), C.c.branch.in_(branches))
            .order_by(ESC.c.fired_at))
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(stmt)]


def _by_recipients(engine: Engine, person: str, branches: list[str]) -> Counter[tuple[Any, ...]]:
    """What the rows themselves say, read in Python: open levels of open cases naming `person`."""
    with engine.connect() as conn:
        rows = conn.execute(select(ESC, C.c.status, C.c.branch).join(C, C.c.id == ESC.c.complaint_id)).all()
    return Counter((r.case_no, r.level, r.name, r.fired_at) for r in rows
                   if r.acknowledged_at is None and r.status in store.OPEN and r.branch in branches
                   and any(x.get("person") == person for x in r.recipients))


def _waiting(engine: Engine, person: str, branches: list[str]) -> list[tuple[str, int, str, datetime]]:
    with session_scope(engine) as s:
        return [(r.case_no, r.level, r.name, r.fired_at) for r in store.escalations_waiting(s, person, branches)]


def test_waiting_escalations_are_the_ones_the_like_found(db_engine: Engine, config: Config) -> None:
    cases_, people = _escalated(db_engine, config)
    everywhere = sorted(config.org.branches)
    scopes = [analytics.subtree(config, "dl"), analytics.subtree(config, "dl-xg"), ["dl-zs"], everywhere]
    before = {no for p in people for no, *_ in _waiting(db_engine, p, everywhere)}
    withdrawn = sorted(before)[0]  # a case withdrawn with levels still open: no longer waiting for anyone
    with Runtime(config, db_engine).unit(now=at("2026-12-16 10:00")) as uow:
        cases.act(uow, withdrawn, "withdraw", cases.Withdraw(), actor="feng.yu")
    found = 0
    for person in sorted(people) + ["li", "nobody", "%", "zhao_li"]:  # a prefix; no one; LIKE's wildcards
        for branches in scopes:
            got = _waiting(db_engine, person, branches)
            want = _by_like(db_engine, person, branches)
            assert Counter(got) == Counter(want) == _by_recipients(db_engine, person, branches), (person, branches)
            assert [r[3] for r in got] == sorted(r[3] for r in got)  # oldest first, as before
            assert withdrawn not in {r[0] for r in got}
            found += len(got)
    assert found > 0 and len(before) > 1 and set(cases_) >= before


def test_the_dashboard_figure_and_its_cases(db_engine: Engine, config: Config) -> None:
    """The figure counts the waiting levels; its drill-down lists their cases, once each."""
    _, people = _escalated(db_engine, config)
    runtime = Runtime(config, db_engine)
    for person in sorted(people):
        want = _by_recipients(db_engine, person, analytics.subtree(config, "dl"))
        with runtime.unit(now=at("2026-12-16 10:00")) as uow:
            board = analytics.dashboard(uow, institution="dl", person=person)
            total, rows = analytics.drill(uow, analytics.CaseFilter(institution="dl", escalated_to=person))
        figure = next(f for f in board.live if f.label == "待本人确认的督办")
        assert figure.value == sum(want.values()), person
        assert total == len({k[0] for k in want}) and sorted(r.case_no for r in rows) == sorted({k[0] for k in want})


def test_read_through_the_participants_index(db_engine: Engine, config: Config) -> None:
    """No pass over every escalation's JSON: the person's rows come from case_participant's index."""
    _escalated(db_engine, config)
    with db_engine.connect() as conn, conn.begin():
        plan = plan_of(conn, store.escalations_waiting_query("zhao.li", analytics.subtree(config, "dl")))
    assert "ix_case_participant_person_role" in plan, plan
    if db_engine.dialect.name == "postgresql":
        assert "Seq Scan" not in plan, plan
    else:
        assert "SCAN escalation" not in plan, plan
