"""Full-text search over the internal notes (`case_note`) on real SQLite and PostgreSQL, with cases
made by the real submit and intake and notes written by the real note action
(services.workbench.add_note): a term found only in a note finds its case, every term must occur
(each in the case's own text or in one of its notes), and nothing else is found."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from complaints.config import Config
from domain.calendar import WorkingCalendar
from flows.intake import run_intake
from models.complaint import Complaint
from models.search import note_hits, text_match
from models.sqlutil import table_of
from models.submission import submit
from models.users import User
from models.workbench import NOTE
from services import workbench
from services.unit_of_work import Runtime
from tests.factories import complaint
from tests.support.plans import plan_of
from tests.support.search import every_hit

T0 = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)  # Thu 10:00 Beijing
COMPLAINT = table_of(Complaint)
PAYMENTS = "支付结算"  # → 运营管理部, whose only handler is yang.xue

# (the case's facts, its notes)
CASES: list[tuple[str, list[str]]] = [
    ("账单扣收年费 200 元", ["客户来电称卡被冻结"]),
    ("取款时卡片未吐出", ["已联系ATM厂商核对吞卡记录"]),
    ("转账失败", ["上午来电", "冻结已解除"]),  # "来电冻结" spans two notes: not a match
    ("年费扣收有误", ["同意减免"]),  # "年费 减免": one term in the facts, one in the note
    ("手续费问题", ["退费100%到账", "客户 Zhang 已确认"]),  # LIKE's % and _ are plain characters
    ("普通事实", []),
    ("银行以涉嫌电诈为由冻结了我的卡", []),  # 冻结 in the facts only
]


def _user(role: str, person: str | None = None) -> User:
    return User(id=1, username="u", display_name="u", role=role, person_id=person, branch=None)


def _cases_with_notes(engine: Engine, config: Config) -> tuple[Runtime, list[str]]:
    results = submit(engine, [complaint(category=PAYMENTS, facts=facts, request="请处理", respondent="营业部")
                              for facts, _ in CASES], config=config, calendar=WorkingCalendar(), now=T0)
    run_intake(engine, config, now=T0)
    rt = Runtime(config, engine)
    with rt.unit(now=T0) as uow:
        for r, (_, notes) in zip(results, CASES, strict=True):
            for text in notes:
                workbench.add_note(uow, case_no=r.case_no, text=text, actor="yang.xue")
    return rt, [r.case_no for r in results]


def _found(rt: Runtime, user: User, q: str) -> set[str]:
    """Every case the search finds, read page by page (2 a page), each once."""
    return set(every_hit(rt, user, {"q": q}, now=T0, limit=2))


def _truth(engine: Engine, q: str) -> set[str]:
    """The cases whose own text or one of whose notes holds each term (lower-cased), read in Python."""
    with engine.connect() as conn:
        cases = conn.execute(select(COMPLAINT.c.id, COMPLAINT.c.case_no, COMPLAINT.c.facts, COMPLAINT.c.request,
                                    COMPLAINT.c.respondent)).all()
        notes: dict[int, list[str]] = {}
        for cid, text in conn.execute(select(NOTE.c.complaint_id, NOTE.c.text)):
            notes.setdefault(cid, []).append(text.lower())
    terms = q.lower().split()
    out = set()
    for c in cases:
        own = " ".join(x or "" for x in (c.case_no, c.facts, c.request, c.respondent)).lower()
        if all(t in own or any(t in n for n in notes.get(c.id, [])) for t in terms):
            out.add(c.case_no)
    return out


def _note_terms() -> list[str]:
    """Pieces of every note: each 2-, 3- and 4-character run (what a handler might type)."""
    out: list[str] = []
    for _, notes in CASES:
        for text in notes:
            for size in (2, 3, 4):
                out += [text[i:i + size] for i in range(len(text) - size + 1) if " " not in text[i:i + size]]
    return sorted(set(out))


def test_a_term_only_in_a_note_finds_its_case(db_engine: Engine, config: Config) -> None:
    rt, cases = _cases_with_notes(db_engine, config)
    cpo = _user("cpo")
    assert _found(rt, cpo, "来电") == {cases[0], cases[2]}
    assert _found(rt, cpo, "卡被冻") == {cases[0]}  # 3 characters
    assert _found(rt, cpo, "来电称卡") == {cases[0]}  # 4
    assert _found(rt, cpo, "冻结") == {cases[0], cases[2], cases[6]}  # notes and facts
    assert _found(rt, cpo, "来电冻结") == set()  # across two notes of one case
    assert _found(rt, cpo, "atm") == {cases[1]}  # case-insensitive, like the case text
    assert _found(rt, cpo, "吞卡") == {cases[1]}
    assert _found(rt, cpo, "年费 减免") == {cases[3]}  # one term each from facts and note
    assert _found(rt, cpo, "减免 吞卡") == set()  # two notes of two cases
    assert _found(rt, cpo, "100%") == {cases[4]} and _found(rt, cpo, "0%到") == {cases[4]}
    assert _found(rt, cpo, "10_") == set() and _found(rt, cpo, "zhang") == {cases[4]}
    # scope: the note finds the case only for those who may see it
    assert _found(rt, _user("handler", "yang.xue"), "吞卡") == {cases[1]}
    assert _found(rt, _user("handler", "chen.jing"), "吞卡") == set()


def test_recall_of_every_piece_of_every_note(db_engine: Engine, config: Config) -> None:
    """Each 2-4 character piece of each note, alone and beside a word of the facts, finds exactly the
    cases the notes and the cases' text hold it in."""
    rt, _ = _cases_with_notes(db_engine, config)
    cpo = _user("cpo")
    terms = _note_terms()
    assert len(terms) > 60
    for term in terms:
        want = _truth(db_engine, term)
        assert want, term  # every piece is in some note
        assert _found(rt, cpo, term) == want, term
    for q in ("年费 同意", "扣收 减免", "冻结 上午", "冻结 电诈"):
        assert _found(rt, cpo, q) == _truth(db_engine, q), q


def test_notes_are_read_through_their_text_indexes(db_engine: Engine, config: Config) -> None:
    """The notes of a term are found by the notes' own indexes (migration 0013), never by reading
    every note: PostgreSQL's trigram and bigram GINs, SQLite's FTS5 table; a 2-character term on
    SQLite checks each case row's notes by the case's key."""
    _cases_with_notes(db_engine, config)
    postgres = db_engine.dialect.name == "postgresql"
    with db_engine.connect() as conn, conn.begin():
        for term, index in (("卡被冻", "ix_case_note_search_trgm"), ("atm", "ix_case_note_search_trgm"),
                            ("吞卡", "ix_case_note_search_bigrams")):
            stmt = note_hits(postgres, term)
            if not postgres and len(term) == 2:
                assert stmt is None
                with Session(bind=conn) as s:
                    plan = plan_of(conn, select(COMPLAINT.c.id).where(text_match(s, term)))
                assert "SEARCH case_note USING INDEX ix_case_note_complaint" in plan, plan
                continue
            assert stmt is not None
            plan = plan_of(conn, stmt)
            if postgres:
                assert index in plan and "Seq Scan" not in plan, plan
            else:
                assert "SCAN case_note_fts VIRTUAL TABLE" in plan and "SCAN case_note\n" not in plan + "\n", plan
