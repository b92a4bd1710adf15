"""Escalation on real SQLite and PostgreSQL: time travel over a case's life with an injected clock."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from complaints.config import Config
from domain.calendar import WorkingCalendar
from domain.lifecycle import IllegalTransition
from flows.escalation import run_escalation
from flows.intake import run_intake
from models import case_actions
from models.audit import AuditEvent
from models.audit_chain import verify
from models.case_views import CaseDetail, case_detail
from models.complaint import Complaint
from models.db import session_scope
from models.escalation import Escalation, EscalationSchedule, Extension
from models.escalation_store import acknowledge_escalation, list_paused
from models.outbox import OutboxMessage
from models.sqlutil import table_of
from models.submission import submit
from tests.factories import complaint

CAL = WorkingCalendar()
ESC = table_of(Escalation)
OUT = table_of(OutboxMessage)
AUDIT = table_of(AuditEvent)
C = table_of(Complaint)


def at(text: str) -> datetime:
    """A local (Asia/Shanghai) time written as 'YYYY-MM-DD HH:MM[:SS]'."""
    seconds = "" if text.count(":") == 2 else ":00"
    return datetime.fromisoformat(text.replace(" ", "T") + seconds + "+08:00").astimezone(UTC)


def make_case(engine: Engine, config: Config, received: str = "2026-11-26 09:30", **overrides: Any) -> str:
    now = at(received)
    item = complaint(received_at=now.isoformat(), **overrides)
    (result,) = submit(engine, [item], config=config, calendar=CAL, now=now)
    run_intake(engine, config, now=now)
    return result.case_no


def sweep(engine: Engine, config: Config, when: str) -> dict[str, int]:
    return run_escalation(engine, config, now=at(when), calendar=CAL).per_level


def levels(engine: Engine, case_no: str) -> list[int]:
    with engine.connect() as conn:
        return [lv for (lv,) in conn.execute(select(ESC.c.level).where(ESC.c.case_no == case_no).order_by(ESC.c.level))]


def detail(engine: Engine, case_no: str) -> CaseDetail:
    with session_scope(engine) as s:
        d = case_detail(s, case_no)
    assert d is not None
    return d


def act(engine: Engine, fn: Any, **kwargs: Any) -> Any:
    """The store's typed result (models/case_results.py)."""
    with session_scope(engine) as s:
        return fn(s, calendar=CAL, actor="t", **kwargs)


def test_whole_life_each_level_once_and_stop_on_response(db_engine: Engine, config: Config) -> None:
    """A card complaint escalates L1 on the missed acknowledgement, L0 three working days before the
    deadline, L2 once overdue, each exactly once however often the sweep runs, and nothing after the response."""
    case_no = make_case(db_engine, config, category="银行卡")  # due 2026-12-11 23:59:59, ack due 11-27
    assert sweep(db_engine, config, "2026-11-27 10:00") == {}
    assert sweep(db_engine, config, "2026-11-28 08:00") == {"L1": 1}  # acknowledgement SLA breached
    assert sweep(db_engine, config, "2026-11-28 08:05") == {}
    assert sweep(db_engine, config, "2026-12-08 23:00") == {}
    assert sweep(db_engine, config, "2026-12-09 00:30") == {"L0": 1}  # 3 working days before Fri 12-11
    assert sweep(db_engine, config, "2026-12-11 23:00") == {}
    assert sweep(db_engine, config, "2026-12-12 00:10") == {"L2": 1}
    assert sweep(db_engine, config, "2026-12-12 00:20") == {}
    act(db_engine, case_actions.respond, case_no=case_no, verified="已核实年费扣收情况", basis="按合同约定",
        remedies="可申请核查、调解、仲裁或诉讼", told_via="phone", told_at=at("2026-12-13 10:00"),
        config=config, now=at("2026-12-13 10:00"), outcome="成立")
    assert sweep(db_engine, config, "2026-12-20 10:00") == {}
    assert levels(db_engine, case_no) == [0, 1, 2]
    d = detail(db_engine, case_no)
    assert [(e["level"], [r["person"] for r in e["recipients"]]) for e in d["escalations"]] == [
        (0, [d["handler"]]), (1, ["feng.yu"]), (2, ["zhao.li", "li.ming"])]
    with db_engine.connect() as conn:
        sent = Counter(conn.execute(select(OUT.c.recipient).where(OUT.c.kind == "escalated",
                                                                  OUT.c.channel == "email")).scalars())
        actions = Counter(conn.execute(select(AUDIT.c.action).where(AUDIT.c.case_no == case_no)).scalars())
        ctx = conn.execute(select(OUT.c.context).where(OUT.c.kind == "escalated", OUT.c.recipient == "li.ming",
                                                           OUT.c.channel == "email")).scalar_one()
    assert sent == {d["handler"]: 1, "feng.yu": 1, "zhao.li": 1, "li.ming": 1}
    assert actions["escalated"] == 3
    assert ctx["level"] == 2 and ctx["late_by"] == "已逾期 1 天" and ctx["complainant"] == "张*"
    assert [m["name"] for m in ctx["chain"]][1:] == ["冯宇", "赵丽", "李明", "王军"]
    assert verify(db_engine).ok


def test_vacant_seat_goes_to_acting_holder_else_next_level_up(db_engine: Engine, config: Config) -> None:
    """L1 of a 贷款 case reaches the acting head 卫兰; at 西岗支行, whose head seat is empty, it goes up to the 消保办."""
    loan = make_case(db_engine, config, category="贷款")
    xg = make_case(db_engine, config, category="人民币储蓄", branch="dl-xg")
    assert sweep(db_engine, config, "2026-11-28 08:00") == {"L1": 2}
    by_case = {d: detail(db_engine, d)["escalations"][0]["recipients"] for d in (loan, xg)}
    assert [(r["person"], r["acting"], r["moved_up"]) for r in by_case[loan]] == [("wei.lan", True, False)]
    assert [(r["person"], r["seat"], r["moved_up"]) for r in by_case[xg]] == [("zhao.li", "department_head", True)]


def test_urgent_cases_start_higher_and_vulnerable_ones_sooner(db_engine: Engine, config: Config) -> None:
    """A regulator-forwarded case fires L0 and L1 on the first sweep; a vulnerable customer's L0 comes a working day early."""
    nfra = make_case(db_engine, config, source="nfra")
    vulnerable = make_case(db_engine, config, vulnerable=True, vulnerable_note="老年客户")
    plain = make_case(db_engine, config)
    for case_no in (vulnerable, plain):
        act(db_engine, case_actions.acknowledge, case_no=case_no, config=config, now=at("2026-11-26 11:00"))
    assert sweep(db_engine, config, "2026-11-26 10:00") == {"L0": 1, "L1": 1}
    assert levels(db_engine, nfra) == [0, 1]
    assert sweep(db_engine, config, "2026-12-08 10:00") == {"L0": 1}  # 4 working days before 12-11
    assert levels(db_engine, vulnerable) == [0] and levels(db_engine, plain) == []


def test_two_concurrent_sweeps_fire_each_level_and_message_once(db_engine: Engine, config: Config) -> None:
    """Two sweeps in threads at the same moment record each (complaint, level) once and queue each message once."""
    now = at("2026-11-26 09:30")
    items = [complaint(received_at=now.isoformat(), category="银行卡") for _ in range(40)]
    submit(db_engine, items, config=config, calendar=CAL, now=now)
    run_intake(db_engine, config, now=now)
    results: list[Any] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def go() -> None:
        try:
            barrier.wait()
            results.append(run_escalation(db_engine, config, now=at("2026-12-12 08:00"), calendar=CAL, batch_size=7))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=go) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sum(r.fired for r in results) == 40 * 3  # L0, L1, L2 for each case, between the two sweeps
    with db_engine.connect() as conn:
        pairs = conn.execute(select(ESC.c.complaint_id, ESC.c.level, func.count()).group_by(
            ESC.c.complaint_id, ESC.c.level)).all()
        keys = conn.execute(select(OUT.c.dedupe_key, func.count()).where(OUT.c.kind == "escalated")
                            .group_by(OUT.c.dedupe_key)).all()
        audits = conn.execute(select(func.count()).where(AUDIT.c.action == "escalated")).scalar_one()
    assert len(pairs) == 120 and all(n == 1 for *_, n in pairs)
    assert keys and all(n == 1 for _, n in keys)
    assert audits == 120 and verify(db_engine).ok


def test_extension_by_the_right_person_moves_the_deadline(db_engine: Engine, config: Config) -> None:
    """The branch's 投诉处理工作负责人 extends to 30 days; 60 days needs a 上级机构 approval with a reference."""
    case_no = make_case(db_engine, config)
    now = at("2026-11-30 10:00")
    out = act(db_engine, case_actions.extend, case_no=case_no, to="complex", approver="li.ming", approver_org=None,
              approval_ref=None, reason="需调取监控录像", customer_told_at=now, customer_told_via="sms",
              config=config, now=now)
    assert out.regulatory_due_at == at("2026-12-26 23:59:59")
    out = act(db_engine, case_actions.extend, case_no=case_no, to="special", approver="省分行 刘洋",
              approver_org="某银行辽宁省分行", approval_ref="辽银消保〔2026〕12号", reason="涉及第三方机构",
              customer_told_at=now, customer_told_via="written", config=config, now=now)
    assert out.regulatory_due_at == at("2027-01-25 23:59:59")
    with db_engine.connect() as conn:
        kinds = Counter(conn.execute(select(OUT.c.kind).where(OUT.c.case_no == case_no)).scalars())
    assert kinds["extension_requested"] >= 2 and kinds["extension_approved"] >= 2


def test_extension_by_the_wrong_person_changes_nothing(db_engine: Engine, config: Config) -> None:
    """An approval by someone other than the 投诉处理工作负责人, or a 60-day one without the 上级机构, is refused whole."""
    case_no = make_case(db_engine, config)
    now = at("2026-11-30 10:00")
    before = detail(db_engine, case_no)
    with pytest.raises(case_actions.ActionError, match="approver（批准人）：30 日延期须由本行投诉处理工作负责人 .*（li.ming）批准，不是 'zhao.li'"):
        act(db_engine, case_actions.extend, case_no=case_no, to="complex", approver="zhao.li", approver_org=None,
            approval_ref=None, reason="x", customer_told_at=now, customer_told_via="sms", config=config, now=now)
    with pytest.raises(case_actions.ActionError, match="approver-org（批准机构）：60 日延期须注明批准的上级机构或总行.*approval-ref（批准文号）：60 日延期须填写批准文号"):
        act(db_engine, case_actions.extend, case_no=case_no, to="special", approver="王军", approver_org=None,
            approval_ref=None, reason="x", customer_told_at=now, customer_told_via="sms", config=config, now=now)
    after = detail(db_engine, case_no)
    assert after["tier"] == "standard" and after["due_at"] == before["due_at"]
    assert len(after["audit"]) == len(before["audit"])
    with db_engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(table_of(Extension))).scalar_one() == 0


def test_pause_across_national_day_adds_the_days_and_holds_escalation(db_engine: Engine, config: Config) -> None:
    """A 评估 pause from 09-30 to 10-08 adds 8 days, nothing escalates while paused, and the pause shows in the list."""
    case_no = make_case(db_engine, config, received="2026-09-28 10:00")  # due 10-13 23:59:59
    act(db_engine, case_actions.acknowledge, case_no=case_no, config=config, now=at("2026-09-28 11:00"))
    act(db_engine, case_actions.pause, case_no=case_no, reason="评估", evidence="评估委托书 PG-17",
        at=at("2026-09-30 10:00"), config=config, now=at("2026-09-30 10:00"))
    assert sweep(db_engine, config, "2026-10-14 10:00") == {}
    with session_scope(db_engine) as s:
        paused = list_paused(s, now=at("2026-10-07 10:00"))
    assert [(p["case_no"], p["reason"], p["paused_days_so_far"]) for p in paused] == [(case_no, "评估", 7)]
    out = act(db_engine, case_actions.resume, case_no=case_no, at=at("2026-10-08 10:00"), config=config,
              now=at("2026-10-14 10:30"))
    assert out.paused_days == 8 and out.regulatory_due_at == at("2026-10-21 23:59:59")
    # L0 is 3 working days before Wed 10-21: Fri 10-16.
    assert sweep(db_engine, config, "2026-10-16 23:00") == {}
    assert sweep(db_engine, config, "2026-10-17 00:00") == {"L0": 1}


def test_new_facts_restart_the_clock(db_engine: Engine, config: Config) -> None:
    """New facts received on 12-05 make the case due 15 days after that, and escalation follows the new date."""
    case_no = make_case(db_engine, config)
    act(db_engine, case_actions.acknowledge, case_no=case_no, config=config, now=at("2026-11-26 11:00"))
    out = act(db_engine, case_actions.new_facts, case_no=case_no, at=at("2026-12-05 15:00"), config=config,
              now=at("2026-12-05 15:00"))
    assert out.regulatory_due_at.astimezone(UTC) == datetime(2026, 12, 20, 15, 59, 59, tzinfo=UTC)
    assert sweep(db_engine, config, "2026-12-12 10:00") == {}


def test_digest_once_a_day_per_supervisor_until_acknowledged(db_engine: Engine, config: Config) -> None:
    """Unacknowledged escalations are repeated in one digest per person per day; acknowledging a level stops it for all its recipients."""
    a = make_case(db_engine, config, category="银行卡")
    b = make_case(db_engine, config, category="银行卡")
    sweep(db_engine, config, "2026-12-12 08:00")  # L0, L1, L2 fire for both, before the digest hour
    sweep(db_engine, config, "2026-12-13 09:10")
    sweep(db_engine, config, "2026-12-13 09:20")
    with session_scope(db_engine) as s:
        acknowledge_escalation(s, case_no=a, level=2, by="li.ming", now=at("2026-12-13 10:00"))
        acknowledge_escalation(s, case_no=b, level=2, by="li.ming", now=at("2026-12-13 10:00"))
    sweep(db_engine, config, "2026-12-14 09:10")
    with db_engine.connect() as conn:
        rows = conn.execute(select(OUT.c.recipient, OUT.c.context).where(
            OUT.c.kind == "escalation_digest", OUT.c.channel == "email")).all()
    per_day = Counter((ctx["date"], r) for r, ctx in rows)
    assert all(n == 1 for n in per_day.values())
    assert ("2026-12-13", "li.ming") in per_day and ("2026-12-14", "li.ming") not in per_day
    assert ("2026-12-14", "zhao.li") not in per_day and ("2026-12-14", "feng.yu") in per_day
    assert next(ctx for r, ctx in rows if r == "li.ming")["count"] == 2


def test_review_only_within_thirty_days_of_the_decision(db_engine: Engine, config: Config) -> None:
    """A review asked 31 days after the decision is refused; within 30 it opens, due 30 days on, and stops escalation."""
    case_no = make_case(db_engine, config)
    told = at("2026-12-01 10:00")
    act(db_engine, case_actions.respond, case_no=case_no, verified="v", basis="b", remedies="r", told_via="email",
        told_at=told, config=config, now=told, outcome="成立")
    with pytest.raises(case_actions.ActionError, match="requested-at（申请时间）：在答复决定后第 31 日提出"):
        act(db_engine, case_actions.review, case_no=case_no, requested_at=at("2027-01-01 10:00"), config=config,
            now=at("2027-01-02 10:00"))
    out = act(db_engine, case_actions.review, case_no=case_no, requested_at=at("2026-12-31 10:00"), config=config,
              now=at("2027-01-02 10:00"))
    assert out.status == "under_review" and out.review_due_at == at("2027-01-30 23:59:59")
    assert sweep(db_engine, config, "2027-01-03 10:00") == {}


def test_illegal_transition_names_both_states_and_stores_nothing(db_engine: Engine, config: Config) -> None:
    """Closing a case that was never responded to is refused naming both states; a withdrawal ends escalation."""
    case_no = make_case(db_engine, config)
    with pytest.raises(IllegalTransition, match="status（状态）：“已分派”的案件不能转为“已办结”（已分派 → 已办结）"):
        act(db_engine, case_actions.close, case_no=case_no, config=config, now=at("2026-11-27 10:00"))
    act(db_engine, case_actions.withdraw, case_no=case_no, at=at("2026-11-27 10:00"), config=config,
        now=at("2026-11-27 10:00"))
    assert detail(db_engine, case_no)["status"] == "withdrawn"
    with db_engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(table_of(EscalationSchedule))).scalar_one() == 0
    assert sweep(db_engine, config, "2026-12-20 10:00") == {}


def test_one_sweep_runs_batches_in_parallel_on_postgres_only(db_engine: Engine, config: Config,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """`sweep.workers` batches in flight on PostgreSQL (disjoint claims, one audit chain); one at a time on SQLite."""
    import services.escalation as commands

    now = at("2026-11-26 09:30")
    submit(db_engine, [complaint(received_at=now.isoformat(), category="银行卡") for _ in range(40)],
           config=config, calendar=CAL, now=now)
    run_intake(db_engine, config, now=now)
    threads: list[str] = []
    real_fire_due = commands.fire_due

    def recording_fire_due(*args: Any, **kwargs: Any) -> Any:
        threads.append(threading.current_thread().name)
        return real_fire_due(*args, **kwargs)

    monkeypatch.setattr(commands, "fire_due", recording_fire_due)  # each batch's sweep_batch calls it
    result = run_escalation(db_engine, config, now=at("2026-12-12 08:00"), calendar=CAL, batch_size=3)
    assert result.fired == 120 and result.batches == len(threads) >= 14
    if db_engine.dialect.name == "postgresql":
        assert config.escalation.sweep.workers == 2
        assert len(set(threads)) == 2 and all(t.startswith("escalation-sweep") for t in threads)
    else:
        assert set(threads) == {threading.current_thread().name}
    with db_engine.connect() as conn:
        pairs = conn.execute(select(ESC.c.complaint_id, ESC.c.level, func.count()).group_by(
            ESC.c.complaint_id, ESC.c.level)).all()
        audits = conn.execute(select(func.count()).where(AUDIT.c.action == "escalated")).scalar_one()
    assert len(pairs) == 120 and all(n == 1 for *_, n in pairs)
    assert audits == 120 and verify(db_engine).ok
