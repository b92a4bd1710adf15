"""Store submitted complaints: case numbers, deadlines and the audit event, in one transaction.

The same external reference submitted again returns the first case unchanged (also when two
submitters race: the unique constraint decides, the loser re-reads). Nothing is half-stored:
either every item of a call is stored, or none is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Engine, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from complaints.config import Config
from domain.calendar import WorkingCalendar
from domain.deadlines import NfraRegime, Tier, compute_deadlines, local_date, local_text
from domain.idcard import IdType, birth_date
from domain.lifecycle import Status
from models.audit_chain import AuditDraft, append
from models.complaint import CaseSequence, Complaint
from models.db import gc_paused, session_scope
from models.schemas import ComplaintIn, SubmitResult, problem, validation_problems
from models.sqlutil import bulk_insert, insert_ignoring_conflicts, table_of

COMPLAINT = table_of(Complaint)
SEQUENCE = table_of(CaseSequence)
FUTURE_TOLERANCE = timedelta(minutes=5)


def check_against_config(items: Sequence[ComplaintIn], *, config: Config, now: datetime) -> list[list[str]]:
    """Problems that need the configuration or the clock, per item, each naming its field (in Chinese)."""
    out: list[list[str]] = []
    branches = config.org.branches
    latest = now + FUTURE_TOLERANCE
    today = local_date(now)
    for item in items:
        problems: list[str] = []
        if item.branch is not None and item.branch not in branches:
            known = "、".join(sorted(branches))
            problems.append(problem("", ("branch",), f"未知的机构代码 {item.branch!r}（已配置：{known}）"))
        if item.received_at is not None and item.received_at > latest:
            problems.append(problem("", ("received_at",),
                                    f"{local_text(item.received_at)}（北京时间）晚于当前时间，不能是将来的时间"))
        for who, person in (("complainant", item.complainant), ("agent", item.agent)):
            if person is not None and person.id_type is IdType.RESIDENT and person.id_number:
                born = birth_date(person.id_number)
                if born is not None and born > today:
                    problems.append(problem("", (who, "id_number"), "出生日期晚于今天"))
        out.append(problems)
    return out


def validate_items(raw: Any, *, config: Config, now: datetime) -> tuple[list[ComplaintIn | None], list[list[str]]]:
    """Validate one submitted object or a list of them (schema, then configuration and clock).

    Returns the parsed items (None where invalid) and the problems per item, in Chinese, each
    naming its field by path and Chinese name (`[3].complainant.phone（投诉人联系电话）：…`). The
    CLI, the API, the desk form and the benchmark all validate here.
    """
    many = isinstance(raw, list)
    items_raw = raw if many else [raw]
    parsed: list[ComplaintIn | None] = []
    problems: list[list[str]] = []
    with gc_paused():
        for i, item in enumerate(items_raw):
            prefix = f"[{i}]" if many else ""
            try:
                parsed.append(ComplaintIn.model_validate(item))
                problems.append([])
            except ValidationError as exc:
                parsed.append(None)
                problems.append(validation_problems(exc, prefix))
    good = [p for p in parsed if p is not None]
    extra = iter(check_against_config(good, config=config, now=now))
    for i, p in enumerate(parsed):
        if p is not None:
            more = next(extra)
            if more:
                prefix = f"[{i}]." if many else ""
                problems[i] = [prefix + m for m in more]
                parsed[i] = None
    return parsed, problems


def _insert_returning_ids(session: Session, rows: list[dict[str, Any]]) -> dict[str, int]:
    """Insert complaint rows; returns id by case number."""
    if session.get_bind().dialect.name == "postgresql":
        # Take the ids from the sequence first, then one pipelined executemany: INSERT … RETURNING
        # (insertmanyvalues) measured 2.5x slower, and a lookup by case number right after a bulk
        # insert gets a sequential-scan plan on the not yet analysed table.
        seq = text("SELECT nextval(pg_get_serial_sequence('complaint', 'id')) FROM generate_series(1, :n)")
        new_ids = [int(i) for i in session.execute(seq, {"n": len(rows)}).scalars()]
        for row, id_ in zip(rows, new_ids, strict=True):
            row["id"] = id_
        bulk_insert(session, COMPLAINT, rows)
        return {row["case_no"]: row["id"] for row in rows}
    # SQLite runs INSERT … RETURNING row by row under executemany; an executemany plus a
    # lookup by the (unique, indexed) case number is several times quicker there.
    bulk_insert(session, COMPLAINT, rows)
    ids: dict[str, int] = {}
    case_nos = [row["case_no"] for row in rows]
    for i in range(0, len(case_nos), 900):
        chunk = case_nos[i:i + 900]
        found = session.execute(select(COMPLAINT.c.case_no, COMPLAINT.c.id).where(COMPLAINT.c.case_no.in_(chunk)))
        for case_no, id_ in found:
            ids[case_no] = id_
    return ids


def _reserve_numbers(session: Session, prefix: str, year: int, count: int) -> int:
    """Reserve `count` consecutive numbers; returns the first. Row-locked on PostgreSQL."""
    insert_ignoring_conflicts(session, SEQUENCE, [{"prefix": prefix, "year": year, "last": 0}],
                              key=("prefix", "year"))
    stmt = (
        update(SEQUENCE)
        .where(SEQUENCE.c.prefix == prefix, SEQUENCE.c.year == year)
        .values(last=SEQUENCE.c.last + count)
        .returning(SEQUENCE.c.last)
    )
    last = int(session.execute(stmt).scalar_one())
    return last - count + 1


def _existing(session: Session, refs: list[str]) -> dict[str, Any]:
    """The cases already stored under these external references."""
    postgres = session.get_bind().dialect.name == "postgresql"
    if postgres:
        # Right after a bulk load the planner still believes the table is tiny and scans it for
        # every IN list (100,000 rows: 115 s instead of 10 s in bench_intake.py, until autovacuum
        # analyses). Looking up by the unique index is always right here.
        session.execute(text("SET LOCAL enable_seqscan = off"))
    try:
        return _existing_rows(session, refs)
    finally:
        if postgres:
            session.execute(text("SET LOCAL enable_seqscan = on"))


def _existing_rows(session: Session, refs: list[str]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    cols = [COMPLAINT.c.external_ref, COMPLAINT.c.case_no, COMPLAINT.c.status, COMPLAINT.c.received_at,
            COMPLAINT.c.regulatory_due_at, COMPLAINT.c.ack_due_at]
    for i in range(0, len(refs), 500):
        for row in session.execute(select(*cols).where(COMPLAINT.c.external_ref.in_(refs[i:i + 500]))):
            found[row.external_ref] = row
    return found


def _row(item: ComplaintIn, *, case_no: str, branch: str, received_at: datetime, deadlines: Any,
         now: datetime) -> dict[str, Any]:
    c, a = item.complainant, item.agent
    return {
        "case_no": case_no,
        "external_ref": item.external_ref,
        "source": item.source.value,
        "channel_raw": item.channel,
        "category_raw": item.category,
        "cause_raw": item.cause,
        "severity": item.severity.value if item.severity else "ordinary",
        "severity_requested": item.severity.value if item.severity else None,
        "tags": sorted(t.value for t in item.tags),
        "vulnerable": item.vulnerable,
        "vulnerable_note": item.vulnerable_note,
        "group_size": item.group_size,
        "complainant_type": c.type,
        "complainant_name": c.name,
        "complainant_phone": c.phone,
        "complainant_id_type": c.id_type.value if c.id_type else None,
        "complainant_id_number": c.id_number,
        "complainant_email": c.email,
        "complainant_address": c.address,
        "complainant_credit_code": c.credit_code,
        "complainant_legal_rep": c.legal_representative,
        "agent_name": a.name if a else None,
        "agent_phone": a.phone if a else None,
        "agent_id_type": a.id_type.value if a and a.id_type else None,
        "agent_id_number": a.id_number if a else None,
        "agent_authorization": a.authorization if a else None,
        "branch": branch,
        "outlet": item.outlet,
        "respondent": item.respondent,
        "request": item.request,
        "facts": item.facts,
        "status": Status.RECEIVED.value,
        "triage": False,
        "triage_reasons": [],
        "chain": [],
        "watchers": [],
        "regime": "nfra",
        "tier": Tier.STANDARD.value,
        "received_at": received_at,
        "clock_started_at": deadlines.clock_started_at,
        "paused_days": 0,
        "regulatory_due_at": deadlines.regulatory_due_at,
        "ack_due_at": deadlines.ack_due_at,
        "created_at": now,
        "updated_at": now,
    }


@dataclass
class _Planned:
    index: int
    item: ComplaintIn
    branch: str
    received_at: datetime


def _store(session: Session, items: Sequence[ComplaintIn], *, config: Config, calendar: WorkingCalendar,
           now: datetime, actor: str) -> list[SubmitResult]:
    results: list[SubmitResult | None] = [None] * len(items)
    refs = sorted({i.external_ref for i in items if i.external_ref})
    existing = _existing(session, refs) if refs else {}
    for idx, item in enumerate(items):
        if item.external_ref and item.external_ref in existing:
            r = existing[item.external_ref]
            results[idx] = SubmitResult(
                case_no=r.case_no, status=r.status, received_at=r.received_at, due_at=r.regulatory_due_at,
                ack_due_at=r.ack_due_at, duplicate=True)
    root = next(code for code, b in config.org.branches.items() if b.parent is None)
    planned: list[_Planned] = []
    first_of_ref: dict[str, int] = {}
    for idx, item in enumerate(items):
        if results[idx] is not None:
            continue
        if item.external_ref:
            if item.external_ref in first_of_ref:
                continue  # the same reference twice in one call: the first one wins
            first_of_ref[item.external_ref] = idx
        planned.append(_Planned(idx, item, item.branch or root, item.received_at or now))

    # Case numbers, per (prefix, local year), reserved in one statement per group.
    groups: dict[tuple[str, int], list[_Planned]] = {}
    for p in planned:
        prefix = config.org.branches[p.branch].case_prefix
        groups.setdefault((prefix, local_date(p.received_at).year), []).append(p)
    regime = NfraRegime()
    rows: list[dict[str, Any]] = []
    case_of: dict[int, str] = {}
    for (prefix, year), members in sorted(groups.items()):
        first = _reserve_numbers(session, prefix, year, len(members))
        for offset, p in enumerate(members):
            case_no = f"{prefix}-{year}-{first + offset:06d}"
            case_of[p.index] = case_no
            dl = compute_deadlines(received_at=p.received_at, tier=Tier.STANDARD, events=(),
                                   regime=regime, calendar=calendar)
            rows.append(_row(p.item, case_no=case_no, branch=p.branch, received_at=p.received_at,
                             deadlines=dl, now=now))
    if rows:
        ids = _insert_returning_ids(session, rows)
        append(session, [
            AuditDraft(at=now, actor=actor, action="received", complaint_id=ids[row["case_no"]],
                       case_no=row["case_no"], row=row,  # the row's digest from the values inserted
                       after={"status": Status.RECEIVED.value, "source": row["source"], "branch": row["branch"],
                              "regulatory_due_at": row["regulatory_due_at"].isoformat(),
                              "ack_due_at": row["ack_due_at"].isoformat()})
            for row in rows
        ])
    by_case = {row["case_no"]: row for row in rows}
    for idx, item in enumerate(items):
        if results[idx] is not None:
            continue
        source_idx = first_of_ref.get(item.external_ref, idx) if item.external_ref else idx
        row = by_case[case_of[source_idx]]
        results[idx] = SubmitResult(
            case_no=row["case_no"], status=row["status"], received_at=row["received_at"],
            due_at=row["regulatory_due_at"], ack_due_at=row["ack_due_at"], duplicate=source_idx != idx)
    return [r for r in results if r is not None]


def submit(engine: Engine, items: Sequence[ComplaintIn], *, config: Config, calendar: WorkingCalendar,
           now: datetime, actor: str = "desk") -> list[SubmitResult]:
    """Store every item or none; a duplicate reference returns the case it first created."""
    for attempt in range(3):
        try:
            with gc_paused(), session_scope(engine) as session:
                return _store(session, items, config=config, calendar=calendar, now=now, actor=actor)
        except IntegrityError:
            # Another submitter stored the same external reference first: read it back.
            if attempt == 2:
                raise
    raise AssertionError("unreachable")
