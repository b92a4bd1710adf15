"""The workbench on real SQLite and PostgreSQL, with cases made by the real submit and intake:
a handler with more open cases than a page sees every one across pages, once each, while new
cases arrive; sections are counted; reassignment and routing keep the participants; Chinese search
finds every case holding a 2- or 4-character term and nothing else; a phone finds its case for the
always-masked auditor (masked); search and lists keep to each user's scope."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest
from sqlalchemy import Engine, select

from complaints.config import Config
from domain.calendar import WorkingCalendar
from flows.intake import run_intake
from models import case_actions
from models.case_views import CaseSummary
from models.complaint import Complaint
from models.db import session_scope
from models.participants import PARTICIPANT
from models.sqlutil import table_of
from models.submission import submit
from models.users import User
from services import workbench_queue as wq
from services.unit_of_work import Runtime
from tests.factories import complaint
from tests.support.search import every_hit

T0 = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)  # Thu 10:00 Beijing
COMPLAINT = table_of(Complaint)
PAYMENTS = "支付结算"  # → 运营管理部, whose only handler is yang.xue


def _user(role: str, person: str | None = None, branch: str | None = None, name: str = "u") -> User:
    return User(id=1, username=name, display_name=name, role=role, person_id=person, branch=branch)


def _file(engine: Engine, config: Config, items: list[dict[str, Any]], *, now: datetime = T0) -> list[str]:
    """Submit and route as the desk and the intake flow do; the case numbers."""
    results = submit(engine, [complaint(**i) for i in items], config=config, calendar=WorkingCalendar(), now=now)
    run_intake(engine, config, now=now)
    return [r.case_no for r in results]


def _received(i: int) -> str:
    # Four receipt days, so deadlines tie (the id decides) and differ.
    return (datetime(2026, 11, 20, 9, 0, tzinfo=UTC) + timedelta(days=i % 4)).isoformat()


def test_every_open_case_of_a_handler_across_pages_once_each_while_new_ones_arrive(
        db_engine: Engine, config: Config) -> None:
    first = _file(db_engine, config, [{"category": PAYMENTS, "received_at": _received(i)} for i in range(23)])
    rt = Runtime(config, db_engine)
    handler = _user("handler", "yang.xue")
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        with rt.unit(now=T0) as uow:
            page = wq.queue(uow, handler, {"open": cursor}, limit=5)["open"]
        seen += [c["case_no"] for c in page.items]
        assert page.count is not None and page.count >= 23
        dues = [c["due_at"] for c in page.items]
        assert dues == sorted(dues)  # soonest deadline first
        pages += 1
        if pages <= 3:  # new complaints arrive between pages (earlier and later deadlines)
            _file(db_engine, config, [{"category": PAYMENTS, "received_at": _received(pages + j)} for j in range(2)])
        cursor = page.next_cursor
        if cursor is None:
            break
    assert set(first) <= set(seen)
    assert len(seen) == len(set(seen))  # once each
    assert pages >= 5
    with rt.unit(now=T0) as uow:
        assert wq.queue(uow, handler, {})["open"].count == 29  # 23 + 3 × 2, all open, all hers


def test_history_newest_first_and_filters(db_engine: Engine, config: Config) -> None:
    cases = _file(db_engine, config, [{"category": PAYMENTS, "received_at": _received(i), "source": "hotline"
                                       if i % 2 else "desk"} for i in range(6)]
                  + [{"category": "银行卡", "received_at": _received(1), "tags": ["judicial"]}])
    rt = Runtime(config, db_engine)
    cpo = _user("cpo", "zhao.li")
    with rt.unit(now=T0) as uow:
        all_cases = wq.list_cases(uow, cpo, wq.parse_filter({}))
        got = [c["received_at"] for c in all_cases.items]
        assert all_cases.sort == "newest" and got == sorted(got, reverse=True)
        assert all_cases.count == 7 and not all_cases.count_capped
        capped = wq.list_cases(uow, cpo, wq.parse_filter({}), count_cap=5)  # counted up to the cap, then "more"
        assert (capped.count, capped.count_capped, len(capped.items)) == (5, True, 7)
        exact = wq.list_cases(uow, cpo, wq.parse_filter({}), count_cap=7)
        assert (exact.count, exact.count_capped) == (7, False)
        card = wq.list_cases(uow, cpo, wq.parse_filter({"department": ["card"]}))
        assert [c["case_no"] for c in card.items] == [cases[-1]]
        tagged = wq.list_cases(uow, cpo, wq.parse_filter({"tags": ["judicial"]}))
        assert [c["case_no"] for c in tagged.items] == [cases[-1]]
        phone = wq.list_cases(uow, cpo, wq.parse_filter({"source": ["hotline"], "handler": ["yang.xue"]}))
        assert phone.count == 3
        overdue_later = wq.list_cases(uow, cpo, wq.parse_filter({"overdue": ["true"]}))
        assert overdue_later.count == 0
    with rt.unit(now=T0 + timedelta(days=40)) as uow:
        assert wq.list_cases(uow, cpo, wq.parse_filter({"overdue": ["true"]})).count == 7
        view = wq.parse_filter(wq.view_params(uow, cpo, "我的逾期"))
        assert wq.list_cases(uow, _user("handler", "yang.xue"), view).count == 6  # "mine": whoever runs it
        assert wq.list_cases(uow, _user("supervisor", "feng.yu", branch="dl"), view).count == 1  # 信用卡部 head
    with pytest.raises(wq.FilterError) as bad:
        wq.parse_filter({"status": ["nope"], "due_within_days": ["x"], "colour": ["red"]})
    text = " ".join(bad.value.problems)
    assert "status（状态）" in text and "due_within_days（几日内到期）" in text and "colour" in text


def test_a_paused_case_is_not_overdue_while_paused(db_engine: Engine, config: Config) -> None:
    a, b = _file(db_engine, config, [{"category": PAYMENTS}, {"category": PAYMENTS}])
    with session_scope(db_engine) as s:
        case_actions.pause(s, case_no=a, reason="鉴定", evidence="JD-1", at=T0 + timedelta(hours=1), config=config,
                           calendar=WorkingCalendar(), now=T0 + timedelta(hours=1), actor="yang.xue")
    rt = Runtime(config, db_engine)
    later = T0 + timedelta(days=40)
    with rt.unit(now=later) as uow:
        overdue = wq.list_cases(uow, _user("cpo", "zhao.li"), wq.parse_filter({"overdue": ["true"]}))
        paused = wq.list_cases(uow, _user("cpo", "zhao.li"), wq.parse_filter({"paused": ["true"]}))
    assert [c["case_no"] for c in overdue.items] == [b] and overdue.count == 1
    assert [c["case_no"] for c in paused.items] == [a]


def test_queue_sections_by_the_current_deadline(db_engine: Engine, config: Config) -> None:
    """Overdue, due within 3 days and open: a paused case counts by its deadline with the pause."""
    late, soon, paused = _file(db_engine, config, [
        {"category": PAYMENTS, "received_at": (T0 - timedelta(days=30)).isoformat()},
        {"category": PAYMENTS, "received_at": (T0 - timedelta(days=13)).isoformat()},
        {"category": PAYMENTS, "received_at": (T0 - timedelta(days=30)).isoformat()}], now=T0 - timedelta(days=30))
    at = T0 - timedelta(days=17)  # its stored deadline has passed; paused since, the current one is in 2-3 days
    with session_scope(db_engine) as s:
        case_actions.pause(s, case_no=paused, reason="鉴定", evidence="JD-2", at=at, config=config,
                           calendar=WorkingCalendar(), now=at, actor="yang.xue")
    rt = Runtime(config, db_engine)
    with rt.unit(now=T0) as uow:
        q = wq.queue(uow, _user("handler", "yang.xue"), {})
    assert [c["case_no"] for c in q["overdue"].items] == [late] and q["overdue"].count == 1
    assert {c["case_no"] for c in q["soon"].items} == {soon, paused} and q["soon"].count == 2
    assert q["open"].count == 3 and len(q["open"].items) == 3


def test_reassignment_moves_the_case_between_queues(db_engine: Engine, config: Config) -> None:
    (case_no,) = _file(db_engine, config, [{"category": "银行卡"}])
    with session_scope(db_engine) as s:
        first = s.execute(select(COMPLAINT.c.handler).where(COMPLAINT.c.case_no == case_no)).scalar_one()
    other = "chu.wei" if first == "chen.jing" else "chen.jing"
    with session_scope(db_engine) as s:
        case_actions.assign(s, case_no=case_no, handler=other, config=config, calendar=WorkingCalendar(), now=T0,
                            actor="feng.yu")
    rt = Runtime(config, db_engine)
    with rt.unit(now=T0) as uow:
        assert wq.queue(uow, _user("handler", first), {})["open"].count == 0
        assert [c["case_no"] for c in wq.queue(uow, _user("handler", other), {})["open"].items] == [case_no]
        # the department head is in the chain: the case is in his view from routing on
        assert wq.queue(uow, _user("supervisor", "feng.yu"), {})["open"].count == 1
        roles = {(r.person, r.role) for r in uow.session.execute(select(PARTICIPANT)).all()}
    assert (other, "handler") in roles and (first, "handler") not in roles and ("feng.yu", "chain") in roles
    with session_scope(db_engine) as s:  # a case no longer open leaves every queue (the participants' open flag)
        case_actions.withdraw(s, case_no=case_no, at=T0, config=config, calendar=WorkingCalendar(), now=T0,
                              actor=other)
    with rt.unit(now=T0) as uow:
        assert wq.queue(uow, _user("handler", other), {})["open"].count == 0
        assert wq.list_cases(uow, _user("handler", other), wq.parse_filter({})).count == 1  # history keeps it
        assert not any(r.open for r in uow.session.execute(select(PARTICIPANT)).all())


SEEDED = [
    ("账户被冻结，无法转账", True, False),
    ("银行以涉嫌电诈为由冻结了我的卡", True, False),
    ("断卡行动中我的卡被限制", False, True),
    ("因断卡要求被冻结账户", True, True),
    ("冷冻结算业务收费", True, False),  # contains 冻结 as a substring: found
    ("冻了一下又结束了", False, False),  # 冻 and 结 apart: not found
    ("卡片断了，请补卡", False, False),  # 断 … 卡 apart: not found
    ("年费扣收有误", False, False),
]


def test_chinese_search_recall_and_precision(db_engine: Engine, config: Config) -> None:
    cases = _file(db_engine, config, [{"category": PAYMENTS, "facts": f, "request": "请处理"} for f, _, _ in SEEDED]
                  + [{"category": PAYMENTS, "facts": "普通事实", "request": "请解除冻结"},
                     {"category": PAYMENTS, "facts": "普通事实", "respondent": "断卡专班 ATM 网点"}])
    frozen = {c for c, (_, f, _) in zip(cases, SEEDED, strict=False) if f} | {cases[-2]}
    cut = {c for c, (_, _, d) in zip(cases, SEEDED, strict=False) if d} | {cases[-1]}
    rt = Runtime(config, db_engine)
    auditor = _user("auditor")

    def found(**params: Any) -> set[str]:
        return set(every_hit(rt, auditor, params, now=T0, limit=2))

    assert found(q="冻结") == frozen
    assert found(q="断卡") == cut
    assert found(q="冻结 断卡") == frozen & cut
    assert found(q="被冻结账") == {cases[3]}  # 4 characters ("账户被冻结，" is not)
    assert found(q="atm") == {cases[-1]}  # respondent, either case
    assert found(q=cases[2]) == {cases[2]}  # the case number
    assert found(q="不存在的词") == set()
    # an internal note (case_note) is searched too: its case is found by a word only the note has
    from models.workbench import CaseNote

    with session_scope(db_engine) as s:
        note_case = s.execute(select(COMPLAINT.c.id).where(COMPLAINT.c.case_no == cases[7])).scalar_one()
        s.execute(table_of(CaseNote).insert().values(complaint_id=note_case, text="客户来电称卡被冻结", at=T0,
                                                     actor="yang.xue"))
    assert found(q="冻结") == frozen | {cases[7]}
    assert found(q="来电") == {cases[7]}
    with pytest.raises(wq.FilterError) as short:
        wq.parse_filter({"q": "冻"})
    assert "q（搜索词）" in short.value.problems[0]


def test_a_frequent_term_is_found_whole_by_either_plan(db_engine: Engine, config: Config) -> None:
    """A 3+-character term in most cases (SQLite reads the list newest first and checks each case
    against the term's rows) and one in a few (it fetches those and sorts them) both find every
    case holding the term, once each, newest first, and a note's case too."""
    received = [(T0 - timedelta(hours=3 * i)).isoformat() for i in range(100)]
    cases = _file(db_engine, config, [{"category": PAYMENTS, "received_at": at,
                                       "facts": "账户冻结无法转账" if i % 5 else "转账手续费过高"}
                                      for i, at in enumerate(received)], now=T0)
    with session_scope(db_engine) as s:
        from models.workbench import CaseNote

        note_case = s.execute(select(COMPLAINT.c.id).where(COMPLAINT.c.case_no == cases[0])).scalar_one()
        s.execute(table_of(CaseNote).insert().values(complaint_id=note_case, text="核实后账户冻结已解除", at=T0,
                                                     actor="yang.xue"))
    if db_engine.dialect.name == "sqlite":  # which plan each term takes (100 cases: the bound is 70 rows)
        from models import search

        with session_scope(db_engine) as s:
            assert search._frequent(s, search._fts_rowids("complaint_fts", "账户冻结"))
            assert not search._frequent(s, search._fts_rowids("complaint_fts", "手续费"))
    rt = Runtime(config, db_engine)
    auditor = _user("auditor")

    def found(q: str) -> list[str]:
        return every_hit(rt, auditor, {"q": q}, now=T0, limit=7)

    frequent = found("账户冻结")
    assert frequent == [c for i, c in enumerate(cases) if i % 5 or i == 0]  # newest first; case 0 by its note
    assert found("手续费") == [c for i, c in enumerate(cases) if not i % 5]


def test_search_by_phone_and_id_for_the_masked_auditor_and_in_scope(db_engine: Engine, config: Config) -> None:
    person = {"name": "李四", "phone": "13900001111", "id_number": "110101199003074477"}
    mine, card_case = _file(db_engine, config, [
        {"category": PAYMENTS, "complainant": person, "facts": "转账失败"},
        {"category": "银行卡", "complainant": {"name": "王五", "phone": "13700002222"},
         "facts": "卡号 6222 0212 3456 7890 128 被盗刷"}])
    rt = Runtime(config, db_engine)
    auditor = _user("auditor")
    with rt.unit(now=T0) as uow:
        by_phone = wq.search(uow, auditor, wq.parse_filter({"phone": "+86 139-0000-1111"})).items
        by_id = wq.search(uow, auditor, wq.parse_filter({"id_number": "110101199003074477"})).items
        by_card = wq.search(uow, auditor, wq.parse_filter({"card": "6222021234567890128"})).items
        assert wq.search(uow, auditor, wq.parse_filter({"phone": "13900001112"})).items == []
        # a handler of another department finds nothing by the same phone; hers does
        assert wq.search(uow, _user("handler", "chen.jing"), wq.parse_filter({"phone": "13900001111"})).items == []
        assert len(wq.search(uow, _user("handler", "yang.xue"), wq.parse_filter({"phone": "13900001111"})).items) == 1
        stored = uow.session.execute(select(COMPLAINT.c.search_phone_key, COMPLAINT.c.complainant_phone)
                                     .where(COMPLAINT.c.case_no == mine)).one()
    assert [c["case_no"] for c in by_phone] == [mine] and [c["case_no"] for c in by_id] == [mine]
    assert [c["case_no"] for c in by_card] == [card_case]
    assert by_phone[0]["complainant"] == "李*" and "13900001111" not in str(by_phone)
    assert stored.search_phone_key and "1111" not in stored.search_phone_key  # a keyed hash, not the number


def test_visibility_of_lists_by_role(db_engine: Engine, config: Config) -> None:
    cases = _file(db_engine, config, [{"category": PAYMENTS}, {"category": "银行卡"},
                                      {"category": "人民币储蓄", "branch": "dl-zs"}])
    rt = Runtime(config, db_engine)

    def visible(user: User) -> set[str]:
        with rt.unit(now=T0) as uow:
            return {c["case_no"] for c in wq.list_cases(uow, user, wq.parse_filter({}), limit=50).items}

    assert visible(_user("handler", "yang.xue")) == {cases[0]}
    assert visible(_user("supervisor", "ma.lei", branch="dl-zs")) == {cases[2]}
    assert visible(_user("auditor")) == set(cases)
    assert visible(_user("desk", branch="dl-zs")) == {cases[2]}
    assert visible(_user("handler", None)) == set()


def test_the_migrations_open_statuses_are_the_lifecycles() -> None:
    """Migration 0009's partial indexes and triggers name the open statuses as text: they must stay
    OPEN_STATUSES (else the queue's indexes stop matching its queries)."""
    import importlib.util
    from pathlib import Path

    from domain.lifecycle import OPEN_STATUSES
    from models.queries_workbench import OPEN

    path = Path(__file__).resolve().parents[2] / "migrations" / "versions" / "0009_workbench.py"
    spec = importlib.util.spec_from_file_location("m0009", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module._OPEN == "(" + ", ".join(f"'{s}'" for s in OPEN) + ")"
    assert set(OPEN) == {s.value for s in OPEN_STATUSES}


def test_complaints_search_command(cli_db: Engine, config: Config, capsys: pytest.CaptureFixture[str]) -> None:
    """`complaints search TEXT --phone P` prints the matching cases as JSON, masked; a bad input exits 2."""
    from tests.clirun import run_json

    person = {"name": "赵六", "phone": "13600003333"}
    frozen, other = _file(cli_db, config, [{"category": PAYMENTS, "facts": "账户被冻结", "complainant": person},
                                           {"category": PAYMENTS, "facts": "账户被冻结"}])
    code, out, _ = run_json(capsys, "search", "冻结")
    assert code == 0 and {c["case_no"] for c in out} == {frozen, other}
    code, out, _ = run_json(capsys, "search", "冻结", "--phone", "136 0000 3333")
    assert code == 0 and [c["case_no"] for c in out] == [frozen] and out[0]["complainant"] == "赵*"
    code, out, err = run_json(capsys, "search", "冻")
    assert code == 2 and out is None and "TEXT（搜索词）" in err
    code, _, err = run_json(capsys, "search")
    assert code == 2 and "请输入搜索词" in err


def test_the_participants_open_flag_follows_the_case_through_routing_close_and_reopen(
        db_engine: Engine, config: Config) -> None:
    """Intake writes its participants open (no per-row look-up); closing clears the flag and reopening
    sets it again, by the database's trigger, whatever path changed the status."""
    case_no = _file(db_engine, config, [{"category": "银行卡"}])[0]
    C = table_of(Complaint)

    def flags() -> set[bool]:
        with db_engine.connect() as conn:
            cid = conn.execute(select(C.c.id).where(C.c.case_no == case_no)).scalar_one()
            return {bool(r.open) for r in conn.execute(select(PARTICIPANT.c.open)
                                                       .where(PARTICIPANT.c.complaint_id == cid))}

    assert flags() == {True}
    cal = WorkingCalendar(overrides=config.calendar_overrides)
    at = T0 + timedelta(hours=2)
    with session_scope(db_engine) as s:
        case_actions.acknowledge(s, case_no=case_no, config=config, calendar=cal, now=at, actor="chen.jing")
        case_actions.respond(s, case_no=case_no, verified="核实", basis="依据", remedies="可申请核查、调解、仲裁、诉讼",
                             told_via="phone", told_at=at, config=config, calendar=cal, now=at, actor="chen.jing",
                             outcome="不成立", not_upheld_reason="合同约定")
    assert flags() == {False}  # responded is not open work
    with session_scope(db_engine) as s:
        case_actions.reopen(s, case_no=case_no, reason="客户补充材料", config=config, calendar=cal, now=at,
                            actor="chen.jing")
    assert flags() == {True}


def test_the_participants_times_follow_the_case_deadline(db_engine: Engine, config: Config) -> None:
    """Each participant row carries its case's received_at and stored deadline (migration 0014):
    written by intake, moved by the database when a pause ends and the deadline moves, and filled
    in for a row written without them; the handler's queue then sorts by the moved deadline."""
    a, b = _file(db_engine, config, [{"category": PAYMENTS, "received_at": (T0 - timedelta(days=3)).isoformat()},
                                     {"category": PAYMENTS, "received_at": (T0 - timedelta(days=2)).isoformat()}],
                 now=T0 - timedelta(days=2))
    C = table_of(Complaint)

    def times(case_no: str) -> tuple[set[tuple[Any, Any]], tuple[Any, Any]]:
        with db_engine.connect() as conn:
            case = conn.execute(select(C.c.id, C.c.received_at, C.c.regulatory_due_at)
                                .where(C.c.case_no == case_no)).one()
            rows = {(r.received_at, r.due_at) for r in conn.execute(
                select(PARTICIPANT.c.received_at, PARTICIPANT.c.due_at).where(PARTICIPANT.c.complaint_id == case.id))}
            return rows, (case.received_at, case.regulatory_due_at)

    rows, case = times(a)
    assert rows == {case}
    first_due = case[1]
    cal = WorkingCalendar(overrides=config.calendar_overrides)
    with session_scope(db_engine) as s:
        case_actions.pause(s, case_no=a, reason="鉴定", evidence="JD-9", at=T0 - timedelta(hours=40), config=config,
                           calendar=cal, now=T0 - timedelta(hours=40), actor="yang.xue")
    with session_scope(db_engine) as s:
        case_actions.resume(s, case_no=a, at=T0, config=config, calendar=cal, now=T0, actor="yang.xue")
    rows, case = times(a)
    assert case[1] > first_due and rows == {case}  # the pause's days moved the deadline, and every row with it
    # A row written without its times (another writer, raw SQL) takes them from its case.
    with db_engine.begin() as conn:
        cid = conn.execute(select(C.c.id).where(C.c.case_no == b)).scalar_one()
        conn.execute(PARTICIPANT.insert().values(complaint_id=cid, person="zhou.min", role="watcher", level=0))
    rows, case = times(b)
    assert rows == {case}
    rt = Runtime(config, db_engine)
    with rt.unit(now=T0) as uow:
        q = wq.queue(uow, _user("handler", "yang.xue"), {})
    assert [c["case_no"] for c in q["open"].items] == [b, a]  # a's deadline is now the later one
    assert q["open"].count == 2


def test_a_paused_case_deadline_moves_with_each_day_however_often_it_is_read(db_engine: Engine, config: Config) -> None:
    """The current deadline of a paused case is remembered per Beijing day (models/queries_workbench
    ._paused_deadlines): read many times on one day it stays; the next days it moves a day each."""
    (case_no,) = _file(db_engine, config, [{"category": PAYMENTS}])
    with session_scope(db_engine) as s:
        case_actions.pause(s, case_no=case_no, reason="鉴定", evidence="JD-7", at=T0 + timedelta(hours=1),
                           config=config, calendar=WorkingCalendar(), now=T0 + timedelta(hours=1), actor="yang.xue")
    rt = Runtime(config, db_engine)
    handler = _user("handler", "yang.xue")

    def due(now: datetime) -> str:
        with rt.unit(now=now) as uow:
            (item,) = wq.queue(uow, handler, {})["open"].items
            case = cast(CaseSummary, item)  # the open section's items are case summaries
            assert case["paused"]
            return str(case["due_at"])

    day = [due(T0 + timedelta(days=d, hours=3)) for d in (0, 0, 1, 1, 3)]
    assert day[0] == day[1] and day[2] == day[3]
    first = datetime.fromisoformat(day[0])
    assert [datetime.fromisoformat(d) - first for d in (day[2], day[4])] == [timedelta(days=1), timedelta(days=3)]
