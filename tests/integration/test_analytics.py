"""The head's dashboard, the regulator statistics and the early warning against an independent recount
over complaints built through the real submit, intake and case actions (SQLite and PostgreSQL)."""

from __future__ import annotations

import inspect
import io
import json
import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook  # type: ignore[import-untyped]
from sqlalchemy import Engine, select, text, update

from complaints.config import Config
from domain.calendar import WorkingCalendar
from domain.lifecycle import OPEN_STATUSES
from domain.statistics import parse_period
from flows.intake import run_intake
from models import case_actions
from models.complaint import Complaint
from models.db import session_scope
from models.escalation import Escalation
from models.outbox import OutboxMessage
from models.sqlutil import table_of
from models.submission import submit
from services import analytics, governance, workbench
from services.unit_of_work import Runtime
from settings.analytics import load_analytics
from tests.factories import complaint

SH = ZoneInfo("Asia/Shanghai")
CAL = WorkingCalendar()
C = table_of(Complaint)
NOW = datetime(2026, 4, 8, 10, 0, tzinfo=SH).astimezone(UTC)
BRANCHES = ["dl", "dl-zs", "dl-xg", "dl-jz"]
CATEGORIES = ["银行卡", "个人贷款", "支付结算", "理财"]
OUTLETS = [None, "中山广场网点", "=HYPERLINK(\"x\")"]  # the last: a formula a spreadsheet must not run


def local(y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=SH).astimezone(UTC)


def _act(engine: Engine, config: Config, fn: str, when: datetime, **kw: Any) -> None:
    action = getattr(case_actions, fn)
    if fn == "respond":
        accepted = inspect.signature(action).parameters
        kw = {"verified": "已核实", "basis": "依据合同第五条", "remedies": "可向金融监管总局投诉", "told_via": "phone",
              "told_at": when, **kw}
        if "outcome" in accepted:
            kw["outcome"] = "upheld"
    with session_scope(engine) as s:
        action(s, config=config, calendar=CAL, now=when, actor="feng.yu", **kw)


@dataclass
class Seeded:
    cases: list[str]
    # what the seed did through the real services, for the recount (not read back through the code under test)
    finished_callbacks: list[tuple[str, str, str | None]] = field(default_factory=list)  # (branch, result, satisfaction)
    remediations: list[tuple[str, str, datetime, bool]] = field(default_factory=list)  # (branch, owner_branch, due, open)
    transferred: list[str] = field(default_factory=list)
    branch_of: dict[str, str] = field(default_factory=dict)  # the institution each case was submitted to


def seed(engine: Engine, config: Config) -> Seeded:
    """~90 complaints from 2025-12-20 to 2026-04-07 (year end, New Year, quarter end, Qingming), on local
    midnights too; paused, withdrawn, responded and reopened ones."""
    rng = random.Random(16)
    times = [local(2025, 12, 31, 23, 59), local(2026, 1, 1, 0, 0), local(2026, 3, 31, 23, 59), local(2026, 4, 1, 0, 0),
             local(2026, 4, 4, 10, 0), local(2026, 4, 6, 16, 0), local(2026, 4, 7, 9, 0)]
    start = local(2025, 12, 20)
    span = int((local(2026, 4, 7, 23) - start).total_seconds() // 60)
    times += [start + timedelta(minutes=rng.randrange(span)) for _ in range(80)]
    cases: list[str] = []
    branch_of: dict[str, str] = {}
    for i, at in enumerate(sorted(times)):
        item = complaint(received_at=at.isoformat(), branch=BRANCHES[i % 4], category=rng.choice(CATEGORIES),
                         outlet=OUTLETS[i % 3], request=f"要求退还年费并赔偿，联系13812345{i:03d}")
        (r,) = submit(engine, [item], config=config, calendar=CAL, now=at + timedelta(minutes=5))
        cases.append(r.case_no)
        branch_of[r.case_no] = BRANCHES[i % 4]
        if i % 9 == 0:
            run_intake(engine, config, now=at + timedelta(minutes=10))
    run_intake(engine, config, now=local(2026, 4, 7, 23, 30))
    seeded = Seeded(cases, branch_of=branch_of)
    _seed_callbacks(engine, config, seeded, [no for i, (no, at) in enumerate(zip(cases, sorted(times), strict=True))
                                             if i % 7 in (4, 5, 6) and at < local(2026, 3, 1)])
    for i, no in enumerate(cases):
        at = NOW - timedelta(days=1)
        if i % 7 == 1:
            _act(engine, config, "pause", at, case_no=no, reason="鉴定", evidence="JD-1", at=at)
        elif i % 7 == 2:
            _act(engine, config, "withdraw", at, case_no=no, at=at)
        elif i % 7 == 3:
            _act(engine, config, "respond", at, case_no=no)
            if i % 2:
                _act(engine, config, "reopen", at + timedelta(hours=1), case_no=no, reason="答复不完整")
    from flows.escalation import run_escalation

    for days in (3, 1):  # the sweep fires the levels due by then, up the 一把手 chain
        run_escalation(engine, config, now=NOW - timedelta(days=days))
    # A call-back on a case responded yesterday (its round is due on Friday 10 April, after today): due this year.
    responded = [no for i, no in enumerate(cases) if i % 7 == 3 and not i % 2]
    _callback(engine, config, seeded, responded[0], NOW - timedelta(minutes=40), "reached", "满意")
    _seed_transfers(engine, config, seeded, [no for i, no in enumerate(cases) if i % 7 == 0][-6:])
    return seeded


def _branch_of(engine: Engine, case_no: str) -> str:
    with engine.connect() as conn:
        return str(conn.execute(select(C.c.branch).where(C.c.case_no == case_no)).scalar_one())


def _callback(engine: Engine, config: Config, seeded: Seeded, case_no: str, when: datetime, result: str,
              satisfaction: str | None = None, then: str | None = None, reason: str | None = None) -> None:
    with Runtime(config, engine).unit(now=when) as uow:
        out = governance.record_callback(uow, case_no=case_no, result=result, satisfaction=satisfaction, then=then,
                                         reason=reason, actor="zhao.li")
    if out["callback"]["result"] != "pending":  # reached, or the third unanswered attempt (未联系上)
        seeded.finished_callbacks.append((_branch_of(engine, case_no), out["callback"]["result"],
                                          out["callback"]["satisfaction"]))


def _seed_callbacks(engine: Engine, config: Config, seeded: Seeded, old: list[str]) -> None:
    """Cases received before March responded on Monday 30 March (call-back due Thursday 2 April), their
    call-backs recorded through services/governance.py: each satisfaction, 不满意 going on to a reopening,
    未联系上 after 3 attempts over the Qingming holiday, one attempt short of it, one not called; and 整改 items
    (one overdue, one due later, one overdue but closed with evidence)."""
    told = local(2026, 3, 30, 10)
    picked = old[:9]
    assert len(picked) == 9
    for no in picked:
        _act(engine, config, "respond", told, case_no=no)
    day = local(2026, 4, 1, 10)
    _callback(engine, config, seeded, picked[0], day, "reached", "满意")
    _callback(engine, config, seeded, picked[1], day, "reached", "基本满意")
    _callback(engine, config, seeded, picked[2], day, "reached", "satisfied")
    _callback(engine, config, seeded, picked[3], day, "reached", "不满意")
    _callback(engine, config, seeded, picked[4], day, "reached", "不满意", then="重新处理", reason="年费未退")
    for k, at in enumerate((day, local(2026, 4, 3, 15), local(2026, 4, 6, 11))):  # the last on the holiday
        _callback(engine, config, seeded, picked[5], at, "unreachable")
        if k < 2:
            assert seeded.finished_callbacks[-1][1] != "unreachable"
    _callback(engine, config, seeded, picked[6], day, "unreachable")  # one attempt: still pending
    # picked[7], picked[8]: not called (pending, past due)
    opened = local(2026, 3, 30, 11)
    for no, due, close in ((picked[0], "2026-04-03", False), (picked[1], "2026-04-30", False),
                           (picked[2], "2026-04-02", True)):
        with Runtime(config, engine).unit(now=opened) as uow:
            item = governance.add_remediation(uow, title=f"年费收取流程整改 {no}", due=due, actor="zhao.li",
                                              from_case=no, root_cause="收费定价")
        if close:
            with Runtime(config, engine).unit(now=local(2026, 4, 7, 10)) as uow:
                governance.close_remediation(uow, ref=item["ref"], evidence="制度修订 2026-017 号", actor="zhao.li")
        seeded.remediations.append((item["branch"], item["owner_branch"], item["due_at"], not close))


def _seed_transfers(engine: Engine, config: Config, seeded: Seeded, recent: list[str]) -> None:
    """Open cases of this week transferred by the 消保办 (to another department, one to the city branch's) and
    returned to triage by a handler: the department moves, the receiving institution (complaint.branch) stays."""
    at = NOW - timedelta(minutes=30)
    with engine.connect() as conn:
        rows = {r.case_no: r for r in conn.execute(select(C.c.case_no, C.c.status, C.c.department, C.c.handler,
                                                          C.c.branch).where(C.c.case_no.in_(recent)))}
    movable = [no for no in recent if rows[no].status in {s.value for s in OPEN_STATUSES} and rows[no].department]
    assert len(movable) >= 3
    for k, no in enumerate(movable[:3]):
        with Runtime(config, engine).unit(now=at + timedelta(minutes=k)) as uow:
            if k == 2:
                workbench.return_to_triage(uow, case_no=no, reason="误派，退回分拣", actor=rows[no].handler or "feng.yu")
            else:
                dept = "credit" if rows[no].department != "credit" else "retail"
                workbench.transfer(uow, case_no=no, department=dept, reason="业务归属调整", actor="zhao.li",
                                   branch="dl" if k == 1 else None)
        seeded.transferred.append(no)


@pytest.fixture
def seeded(db_engine: Engine, config: Config) -> Seeded:
    return seed(db_engine, config)


@pytest.fixture
def runtime(seeded: Seeded, db_engine: Engine, config: Config) -> Iterator[Runtime]:
    yield Runtime(config, db_engine)


def _rows(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(select(C.c.id, C.c.case_no, C.c.branch, C.c.outlet, C.c.category, C.c.channel,
                                        C.c.cause, C.c.received_at, C.c.status, C.c.regulatory_due_at)))


def _day(at: datetime) -> date:
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).astimezone(SH).date()


def _under(config: Config, inst: str) -> set[str]:
    return {c for c in config.org.branches if inst in [b.code for b in config.org.ancestry(c)]}


def _paused(engine: Engine) -> set[int]:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT complaint_id, kind FROM clock_event WHERE kind IN ('pause','resume') "
                                 "ORDER BY complaint_id, at, id")).all()
    state: dict[int, bool] = {}
    for cid, kind in rows:
        state[int(cid)] = kind == "pause"
    return {c for c, p in state.items() if p}


def _value(board: analytics.Dashboard, group: str, label: str) -> Any:
    return next(f.value for f in getattr(board, group) if f.label == label)


def test_every_dashboard_figure_matches_a_recount_and_drills_down_to_its_cases(runtime: Runtime, db_engine: Engine,
                                                                             config: Config) -> None:
    """Week / month / year, per 10,000 customers, against the limits, open, overdue, paused, sub-institutions,
    outlets, categories and the monthly trend: each equals a recount over the complaint rows, for the city
    branch and a sub-branch; following each figure's link gives as many cases as it says."""
    for inst in ("dl", "dl-zs"):
        _check_figures(runtime, db_engine, config, inst)
    _check_links(runtime)
    for inst in ("dl", "dl-zs"):
        head = analytics.head_of(config, inst)
        assert head is not None
        with runtime.unit(now=NOW) as uow:
            board = analytics.dashboard(uow, institution=inst, person=head)
        with db_engine.connect() as conn:
            rows = conn.execute(select(table_of(Escalation).c.case_no, table_of(Escalation).c.recipients,
                                       table_of(Escalation).c.acknowledged_at, C.c.status, C.c.branch)
                                .join(C, C.c.id == table_of(Escalation).c.complaint_id)).all()
        waiting = [r for r in rows if r.acknowledged_at is None and r.status in {s.value for s in OPEN_STATUSES}
                   and r.branch in _under(config, inst) and head in json.dumps(r.recipients)]
        assert _value(board, "live", "待本人确认的督办") == len(waiting)
        if inst == "dl":
            assert waiting  # the 行长 holds escalations of the late cases
    assert len(rows) > 0


def _check_figures(runtime: Runtime, db_engine: Engine, config: Config, inst: str) -> None:
    with runtime.unit(now=NOW) as uow:
        board = analytics.dashboard(uow, institution=inst)
    rows = [r for r in _rows(db_engine) if r.status != "merged" and r.branch in _under(config, inst)]
    today = _day(NOW)

    def received(first: date, last: date = today) -> list[Any]:
        return [r for r in rows if first <= _day(r.received_at) <= last]

    week, month, year = today - timedelta(days=today.weekday()), today.replace(day=1), date(2026, 1, 1)
    assert [f.value for f in board.counts] == [len(received(week)), len(received(month)), len(received(year))]
    assert int(board.counts[2].value or 0) > 0
    customers = load_analytics(config).customers_of(config, inst)
    assert customers is not None
    assert _value(board, "rates", "本年受理（每万客户）") == round(len(received(year)) * 10000 / customers, 3)
    assert [f.value for f in board.rates] == [round(len(received(first)) * 10000 / customers, 3)
                                              for first in (week, month, year)]
    limit = load_analytics(config).limits[inst]
    assert limit.monthly is not None and limit.yearly is not None
    assert board.limits[0].value == round(len(received(month)) / limit.monthly, 3)
    assert board.limits[1].value == round(len(received(year)) / limit.yearly, 3)
    assert [f.label for f in board.limits] == [f"本月受理／限值 {limit.monthly}", f"本年受理／限值 {limit.yearly}"]
    paused = _paused(db_engine)
    open_rows = [r for r in rows if r.status in {s.value for s in OPEN_STATUSES}]
    overdue = [r for r in open_rows if r.id not in paused
               and (r.regulatory_due_at if r.regulatory_due_at.tzinfo else r.regulatory_due_at.replace(tzinfo=UTC)) < NOW]
    assert _value(board, "live", "在办") == len(open_rows)
    assert _value(board, "live", "暂停计时") == len([r for r in open_rows if r.id in paused]) > 0
    assert _value(board, "live", "逾期未答复") == len(overdue) > 0
    for child in board.children:
        sub = _under(config, str(child.note))
        assert child.value == len([r for r in received(month) if r.branch in sub])
    outlets = Counter((r.branch, r.outlet or "") for r in received(month))
    assert {(o.branch, "" if o.outlet == "本级" else o.outlet): o.count for o in board.outlets} == \
        {k: v for k, v in outlets.items() if v}
    assert [f.value for f in board.trend][-4:] == [len(received(date(2026, m, 1), (date(2026, m + 1, 1) - timedelta(days=1))
                                                                if m < 4 else today)) for m in (1, 2, 3, 4)]
    assert (board.trend[-5].label, board.trend[-5].value) == ("2025-12", len(received(date(2025, 12, 1), date(2025, 12, 31))))
    assert len(board.trend) == 12 and board.trend[0].label == "2025-05"


def _recount_rates(seeded: Seeded, branches: set[str]) -> tuple[float | None, float | None]:
    """回访率 (reached / reached + 未联系上) and 满意度 (满意 + 基本满意 / reached) of the call-back rounds the seed
    finished (all due in 2026) at `branches`, from the seed's own record of them."""
    mine = [c for c in seeded.finished_callbacks if c[0] in branches]
    reached = [c for c in mine if c[1] == "reached"]
    pleased = [c for c in reached if c[2] in ("satisfied", "basic")]
    return (round(len(reached) / len(mine), 3) if mine else None,
            round(len(pleased) / len(reached), 3) if reached else None)


def test_remediation_callbacks_and_transfers_match_a_recount(runtime: Runtime, seeded: Seeded, db_engine: Engine,
                                                            config: Config) -> None:
    """整改逾期, 本年回访率 and 本年满意度 of the city branch and a sub-branch, and each child's 本年回访率 and 满意度,
    equal a recount from what the seed recorded (call-backs of each satisfaction, a reopening, 未联系上 after 3
    attempts, a round due after today already reached; an overdue, a later and a closed 整改 item); a child's
    figures are those of /api/governance/callback-rates for it. Transferred and returned cases stay counted at
    the institution they were submitted to."""
    from models.governance import callback_rates

    assert len(seeded.finished_callbacks) == 7 and len(seeded.remediations) == 3 and len(seeded.transferred) == 3
    with db_engine.connect() as conn:
        now_rows = {r.case_no: r for r in conn.execute(select(C.c.case_no, C.c.branch, C.c.department_branch,
                                                              C.c.triage))}
    assert {no: r.branch for no, r in now_rows.items() if no in seeded.branch_of} == seeded.branch_of
    assert now_rows[seeded.transferred[1]].department_branch == "dl" and now_rows[seeded.transferred[2]].triage
    for inst in ("dl", "dl-zs"):
        under = _under(config, inst)
        with runtime.unit(now=NOW) as uow:
            board = analytics.dashboard(uow, institution=inst)
            api = {r.branch: r for r in callback_rates(uow.session, start=local(2026, 1, 1), end=local(2027, 1, 1))}
        overdue = [r for r in seeded.remediations if r[3] and r[2] < NOW and (r[0] in under or r[1] in under)]
        assert _value(board, "live", "整改逾期") == len(overdue)
        assert (_value(board, "live", "本年回访率"), _value(board, "live", "本年满意度")) == _recount_rates(seeded, under)
        if inst == "dl":
            assert len(overdue) == 1
            assert _recount_rates(seeded, under) == (round(6 / 7, 3), round(4 / 6, 3))
        assert board.children or inst != "dl"
        for child in board.children:
            sub = _under(config, str(child.note))
            assert (child.callback_rate, child.satisfaction_rate) == _recount_rates(seeded, sub), child.label
            if sub == {child.note} and child.note in api:  # a leaf institution: the API's own row
                mine = api[str(child.note)]
                assert child.callback_rate == (round(mine.callback_rate, 3) if mine.callback_rate is not None else None)
                assert child.satisfaction_rate == (round(mine.satisfaction_rate, 3)
                                                   if mine.satisfaction_rate is not None else None)
        as_json = board.as_dict()["children"]
        assert all(list(c)[:4] == ["label", "value", "link", "note"]
                   and list(c)[4:] == ["callback_rate", "satisfaction_rate", "callback_note"] for c in as_json)


def _drilled(uow: Any, link: str) -> int:
    """How many cases the dashboard's case list at `link` holds (its query parameters as the page reads them)."""
    from urllib.parse import parse_qs, urlparse

    assert link.startswith("/dashboard/cases?"), link
    q = {k: v[0] for k, v in parse_qs(urlparse(link).query, keep_blank_values=True).items()}
    flt = analytics.CaseFilter(
        institution=q["institution"],
        received_from=date.fromisoformat(q["received_from"]) if "received_from" in q else None,
        received_to=date.fromisoformat(q["received_to"]) if "received_to" in q else None,
        category=q.get("category"), outlet=q.get("outlet"), status=q.get("status"),
        overdue=q.get("overdue") == "true", paused=q.get("paused") == "true",
        escalated_to=q.get("escalated_to"), own=q.get("own") == "true")
    total, _rows_ = analytics.drill(uow, flt)
    return total


def _check_links(runtime: Runtime) -> None:
    with runtime.unit(now=NOW) as uow:
        board = analytics.dashboard(uow, institution="dl")
        figures = board.counts + [f for f in board.live if f.link] + board.categories + board.children + board.trend
        assert sum(1 for f in board.trend if f.value) >= 5  # December to April have cases
        for f in figures + [analytics.Figure(o.outlet, o.count, o.link) for o in board.outlets]:
            assert f.link is not None
            if not f.link.startswith("/dashboard/cases?"):
                continue  # 整改 links to the governance pages
            assert _drilled(uow, f.link) == f.value, f.label
        # 本年回访率 / 本年满意度 have no link: no page lists the call-back rounds they count (/callbacks is 待回访).
        assert [f.label for f in board.live if not f.link] == [f.label for f in board.live
                                                              if f.label in ("本年回访率", "本年满意度")]


def test_the_counts_follow_a_reclassification_and_a_transfer(runtime: Runtime, db_engine: Engine,
                                                             config: Config) -> None:
    """A case moved to another category and institution after it was counted is counted in its new cell only."""
    with runtime.unit(now=NOW) as uow:
        before = analytics.dashboard(uow, institution="dl-zs")
    with session_scope(db_engine) as s:
        row = s.execute(select(C.c.id, C.c.branch).where(C.c.branch == "dl-xg",
                                                        C.c.received_at >= local(2026, 4, 1))).first()
        assert row is not None
        s.execute(update(C).where(C.c.id == row.id).values(branch="dl-zs", category="B12",
                                                           updated_at=NOW + timedelta(minutes=1)))
    with runtime.unit(now=NOW + timedelta(minutes=2)) as uow:
        after = analytics.dashboard(uow, institution="dl-zs")
        xg = analytics.dashboard(uow, institution="dl-xg")
    assert after.counts[1].value == int(before.counts[1].value or 0) + 1
    rows = [r for r in _rows(db_engine) if r.status != "merged" and r.branch == "dl-xg"
            and _day(r.received_at) >= date(2026, 4, 1)]
    assert xg.counts[1].value == len(rows)


def test_statistics_match_a_recount_freeze_and_correct_with_a_diff(runtime: Runtime, db_engine: Engine,
                                                                  config: Config) -> None:
    """Month, quarter and year in the JR/T 0169 dimensions equal a recount; the frozen version is returned again;
    a late registration is named as a change, and a correction stores v2 with the diff; CSV and XLSX neutralise
    formulas; April 2026, not over on 8 April, is shown but not frozen, and a correction of it is refused."""
    with runtime.unit(now=NOW) as uow:
        live = analytics.statistics(uow, parse_period("month", "2026-04"), actor="auditor")
        assert live.version is None and live.total > 0
        with pytest.raises(analytics.AnalyticsError, match="尚未结束"):
            analytics.statistics(uow, parse_period("month", "2026-04"), actor="auditor", correct="x")
    rows = [r for r in _rows(db_engine) if r.status != "merged"]
    for kind, label, first, last in (("month", "2025-12", date(2025, 12, 1), date(2025, 12, 31)),
                                     ("quarter", "2026-Q1", date(2026, 1, 1), date(2026, 3, 31)),
                                     ("year", "2025", date(2025, 1, 1), date(2025, 12, 31))):
        with runtime.unit(now=NOW) as uow:
            result = analytics.statistics(uow, parse_period(kind, label), actor="auditor")
        mine = [r for r in rows if first <= _day(r.received_at) <= last]
        assert result.version == 1 and result.created and result.total == len(mine) > 0
        summary = result.summary()
        for dim in ("branch", "channel", "category", "cause"):
            recount = Counter(getattr(r, dim) or "未分类" for r in mine)
            assert summary[dim] == dict(recount), dim
        every = sorted(no for c in result.content["cells"] for no in c["cases"])
        assert every == sorted(r.case_no for r in mine)
        assert analytics.cell_cases(result.content, {"branch": "dl-zs"}) == \
            sorted(r.case_no for r in mine if r.branch == "dl-zs")
    q1 = parse_period("quarter", "2026-Q1")
    with runtime.unit(now=NOW) as uow:
        again = analytics.statistics(uow, q1, actor="auditor")
    assert again.version == 1 and not again.created and again.changed_since_freeze is None
    # A complaint received in March registered now (补录): the frozen figures stand, the change is named.
    (late,) = submit(db_engine, [complaint(received_at="2026-03-15T10:00:00+08:00", branch="dl")], config=config,
                     calendar=CAL, now=NOW)
    with runtime.unit(now=NOW + timedelta(hours=1)) as uow:
        still = analytics.statistics(uow, q1, actor="auditor")
        assert still.version == 1 and still.changed_since_freeze is not None
        assert [c["added"] for c in still.changed_since_freeze["cells"]] == [[late.case_no]]
        fixed = analytics.statistics(uow, q1, actor="auditor", correct="补录一件 3 月投诉")
    assert fixed.version == 2 and fixed.total == again.total + 1
    assert fixed.diff is not None and fixed.diff["total_before"] == again.total
    with runtime.unit(now=NOW + timedelta(hours=2)) as uow:
        check = analytics.verify(uow, q1)
        old = analytics.verify(uow, q1, 1)
    assert check.intact and check.matches_data and check.version == 2
    assert old.intact and not old.matches_data
    with session_scope(db_engine) as s:
        actions = [a for (a,) in s.execute(text("SELECT action FROM audit_event WHERE action = 'stats_frozen'"))]
    assert len(actions) == 4
    csv_text = analytics.csv_text(fixed.content, config)
    assert "'=HYPERLINK" in csv_text and "\n=HYPERLINK" not in csv_text and ",=HYPERLINK" not in csv_text
    wb = load_workbook(io.BytesIO(analytics.xlsx_bytes(fixed.content, config)))
    values = [c.value for ws in wb.worksheets for line in ws.iter_rows() for c in line if isinstance(c.value, str)]
    assert any(v.startswith("'=HYPERLINK") for v in values)
    assert not any(v.startswith("=") for v in values)
    assert json.loads(json.dumps(fixed.summary(), ensure_ascii=False))["total"] == fixed.total


def test_a_spike_alerts_the_head_and_the_cp_office_once(db_engine: Engine, config: Config) -> None:
    """A jump of 银行卡 complaints at 中山支行 after four quiet months alerts its 支行行长 and the 消保办, masked,
    naming the cases and frequent terms; the next day's run of the same spike queues nothing more. Each alert on
    the dashboard (the sub-branch, its outlet, the city branch rolling it up) links to as many cases as it
    counted."""
    rng = random.Random(3)
    day0 = date(2026, 3, 1)
    items = []
    for k in range(130):
        d = day0 + timedelta(days=k)
        n = (rng.choice([0, 1, 1, 2]) if CAL.is_working_day(d) else rng.choice([0, 0, 1])) if k < 128 else 9
        for j in range(n):
            at = datetime(d.year, d.month, d.day, 9 + j % 8, 0, tzinfo=SH)
            items.append(complaint(received_at=at.isoformat(), branch="dl-zs", category="银行卡", outlet="中山广场网点",
                                   request="信用卡年费被重复扣收，客户张三电话13812345678" if k >= 128 else "咨询额度"))
    end = datetime(2026, 7, 9, 8, 0, tzinfo=SH).astimezone(UTC)  # the morning after the second spike day
    submit(db_engine, items, config=config, calendar=CAL, now=end - timedelta(hours=2))
    run_intake(db_engine, config, now=end - timedelta(hours=1))
    runtime = Runtime(config, db_engine)
    with runtime.unit(now=end) as uow:
        alerts = analytics.early_warning(uow)
    zs = [a for a in alerts if a.institution == "dl-zs" and a.outlet == ""]
    assert len(zs) == 1 and zs[0].new and zs[0].observed >= 18
    assert set(zs[0].recipients) == {"ma.lei", "zhao.li"}
    assert any("年费" in t for t in zs[0].terms) and len(zs[0].cases) == zs[0].observed
    with session_scope(db_engine) as s:
        msgs = s.execute(select(table_of(OutboxMessage).c.recipient, table_of(OutboxMessage).c.context)
                         .where(table_of(OutboxMessage).c.kind == "early_warning")).all()
    assert {m.recipient for m in msgs} >= {"ma.lei", "zhao.li"}
    body = json.dumps([m.context for m in msgs], ensure_ascii=False)
    assert "13812345678" not in body and "张三" not in body and "中山支行" in body
    with runtime.unit(now=end + timedelta(days=1)) as uow:
        again = analytics.early_warning(uow)
    assert not [a for a in again if a.new and a.institution == "dl-zs" and a.outlet == ""]
    with runtime.unit(now=end + timedelta(days=1)) as uow:
        board = analytics.dashboard(uow, institution="dl")
        shown = {(a.institution, a.outlet): a for a in board.alerts}
        assert {("大连分行", ""), ("中山支行", ""), ("中山支行", "中山广场网点")} <= set(shown)
        for a in board.alerts:
            assert _drilled(uow, a.link) == a.observed, a
        assert "own=true" in shown["中山支行", "中山广场网点"].link and "own" not in shown["大连分行", ""].link
