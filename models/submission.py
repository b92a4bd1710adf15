"""Store submitted complaints: case numbers, deadlines and the audit event, in one transaction.

The same external reference (Idempotency-Key) submitted again by the same client returns the
first case unchanged (also when two submitters race: the unique constraint decides, the loser
re-reads). Keys are the client's own (`client`: the API user, `cli` for the operator's import
tool): another client's equal key is another complaint. A key reused by its client for a
different complaint is refused (`KeyReused`, draft-ietf-httpapi-idempotency-key): each case keeps
the sha256 of what was submitted under its key. Nothing is half-stored: either every item of a
call is stored, or none is.

Backdating: a `received_at` more than `policy.intake.backdate_days` before the registration time
is a late registration (补录); the web and the API refuse it unless a 消保办 user gives a reason
(`validate_items(..., window=True)`); the CLI may import it. Either way the `received` audit
event records it (days, reason, client).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Engine, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from domain.calendar import WorkingCalendar
from domain.deadlines import NfraRegime, Tier, compute_deadlines, local_date, local_text
from domain.idcard import IdType, birth_date
from domain.lifecycle import Status
from models.audit_chain import AuditDraft, append
from models.complaint import CaseSequence, Complaint
from models.db import gc_paused, session_scope
from models.schemas import ComplaintIn, SubmitResult, problem, validation_problems
from models.search import search_keys
from models.sqlutil import bulk_insert, insert_ignoring_conflicts, table_of
from settings.config import Config

COMPLAINT = table_of(Complaint)
SEQUENCE = table_of(CaseSequence)
FUTURE_TOLERANCE = timedelta(minutes=5)
CLI_CLIENT = "cli"
_FINGERPRINT = ComplaintIn.__pydantic_serializer__


class KeyReused(ValueError):
    """An external reference (Idempotency-Key) its client already used for a different complaint."""

    def __init__(self, refs: Sequence[str]) -> None:
        self.refs = list(refs)
        self.problems = [problem("", ("external_ref",), f"{r!r} 已用于另一件内容不同的投诉；同一幂等键只能重复提交相同的内容")
                         for r in self.refs]
        super().__init__("；".join(self.problems))


def fingerprint(item: ComplaintIn) -> str:
    """sha256 of the submission as validated (the same complaint sent again has the same one)."""
    return hashlib.sha256(_FINGERPRINT.to_json(item)).hexdigest()


def backdated_days(received_at: datetime, now: datetime) -> int:
    return (now - received_at).days


def _backdating_problems(item: ComplaintIn, *, config: Config, now: datetime, may_approve: bool) -> list[str]:
    days = config.policy.intake.backdate_days
    if item.backdate_reason is not None and not may_approve:
        return [problem("", ("backdate_reason",), "只有消保办（或管理员）可以审批补录，请由消保办提交")]
    if item.received_at is None or item.received_at >= now - timedelta(days=days):
        return []
    if may_approve and item.backdate_reason:
        return []
    earliest = local_text(now - timedelta(days=days))
    how = "请填写补录理由（backdate_reason）" if may_approve else "更早的投诉须由消保办填写补录理由后登记"
    return [problem("", ("received_at",), f"{local_text(item.received_at)}（北京时间）早于补录期限：只能登记最近 "
                                          f"{days} 天内收到的投诉（不早于 {earliest}）；{how}")]


def check_against_config(items: Sequence[ComplaintIn], *, config: Config, now: datetime, window: bool = False,
                         may_approve: bool = False) -> list[list[str]]:
    """Problems that need the configuration or the clock, per item, each naming its field (in Chinese).

    `window`: the backdating window applies (web and API); `may_approve`: the caller may approve a
    backdated receipt with a `backdate_reason` (消保办, admin)."""
    out: list[list[str]] = []
    branches = config.org.branches
    latest = now + FUTURE_TOLERANCE
    today = local_date(now)
    for item in items:
        problems: list[str] = []
        if window:
            problems.extend(_backdating_problems(item, config=config, now=now, may_approve=may_approve))
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


def validate_items(raw: Any, *, config: Config, now: datetime, window: bool = False,
                   may_approve: bool = False) -> tuple[list[ComplaintIn | None], list[list[str]]]:
    """Validate one submitted object or a list of them (schema, then configuration and clock;
    `window` and `may_approve`: the backdating window, see `check_against_config`).

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
    extra = iter(check_against_config(good, config=config, now=now, window=window, may_approve=may_approve))
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


def _existing(session: Session, client: str, refs: list[str]) -> dict[str, Any]:
    """The cases this client already stored under these external references."""
    postgres = session.get_bind().dialect.name == "postgresql"
    if postgres:
        # Right after a bulk load the planner still believes the table is tiny and scans it for
        # every IN list (100,000 rows: 115 s instead of 10 s in bench_intake.py, until autovacuum
        # analyses). Looking up by the unique index is always right here.
        session.execute(text("SET LOCAL enable_seqscan = off"))
    try:
        return _existing_rows(session, client, refs)
    finally:
        if postgres:
            session.execute(text("SET LOCAL enable_seqscan = on"))


def _existing_rows(session: Session, client: str, refs: list[str]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    cols = [COMPLAINT.c.external_ref, COMPLAINT.c.case_no, COMPLAINT.c.status, COMPLAINT.c.received_at,
            COMPLAINT.c.regulatory_due_at, COMPLAINT.c.ack_due_at, COMPLAINT.c.request_fingerprint]
    for i in range(0, len(refs), 500):
        stmt = select(*cols).where(COMPLAINT.c.submitted_by == client, COMPLAINT.c.external_ref.in_(refs[i:i + 500]))
        for row in session.execute(stmt):
            found[row.external_ref] = row
    return found


def _row(item: ComplaintIn, *, case_no: str, branch: str, received_at: datetime, deadlines: Any,
         now: datetime, client: str = CLI_CLIENT, fingerprint: str | None = None) -> dict[str, Any]:
    c, a = item.complainant, item.agent
    return {
        "case_no": case_no,
        "external_ref": item.external_ref,
        "submitted_by": client,
        "request_fingerprint": fingerprint,
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
        **search_keys(phone=c.phone, agent_phone=a.phone if a else None, id_number=c.id_number,
                      agent_id_number=a.id_number if a else None, text=f"{item.facts} {item.request}"),
    }


@dataclass
class _Planned:
    index: int
    item: ComplaintIn
    branch: str
    received_at: datetime
    fingerprint: str | None


def _received_event(row: dict[str, Any], item: ComplaintIn, *, now: datetime, client: str,
                    earliest: datetime) -> tuple[dict[str, Any], str]:
    """The `received` event's after-state, and its detail when the receipt is backdated (补录):
    before `earliest`, the backdating window's start (received_at and created_at themselves are in
    the row the event covers)."""
    after = {"status": Status.RECEIVED.value, "source": row["source"], "branch": row["branch"],
             "regulatory_due_at": row["regulatory_due_at"].isoformat(), "ack_due_at": row["ack_due_at"].isoformat()}
    received_at: datetime = row["received_at"]
    if received_at >= earliest:
        return after, ""
    days = backdated_days(received_at, now)
    after["backdated"] = {"days": days, "reason": item.backdate_reason, "client": client}
    via = "命令行导入" if client == CLI_CLIENT else "经消保办审批"
    reason = f"；理由：{item.backdate_reason}" if item.backdate_reason else ""
    return after, f"补录（{via}）：受理时间早于登记时间 {days} 天{reason}"


def _store(session: Session, items: Sequence[ComplaintIn], *, config: Config, calendar: WorkingCalendar,
           now: datetime, actor: str, client: str) -> list[SubmitResult]:
    results: list[SubmitResult | None] = [None] * len(items)
    refs = sorted({i.external_ref for i in items if i.external_ref})
    existing = _existing(session, client, refs) if refs else {}
    prints = [fingerprint(i) if i.external_ref else None for i in items]
    reused: list[str] = []
    for idx, item in enumerate(items):
        if item.external_ref and item.external_ref in existing:
            r = existing[item.external_ref]
            if r.request_fingerprint is not None and r.request_fingerprint != prints[idx]:
                reused.append(item.external_ref)
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
                if prints[first_of_ref[item.external_ref]] != prints[idx]:
                    reused.append(item.external_ref)
                continue  # the same reference twice in one call: the first one wins
            first_of_ref[item.external_ref] = idx
        planned.append(_Planned(idx, item, item.branch or root, item.received_at or now, prints[idx]))
    if reused:
        raise KeyReused(sorted(set(reused)))

    # Case numbers, per (prefix, local year), reserved in one statement per group.
    groups: dict[tuple[str, int], list[_Planned]] = {}
    for p in planned:
        prefix = config.org.branches[p.branch].case_prefix
        groups.setdefault((prefix, local_date(p.received_at).year), []).append(p)
    regime = NfraRegime()
    rows: list[dict[str, Any]] = []
    case_of: dict[int, str] = {}
    item_of: dict[str, ComplaintIn] = {}
    for (prefix, year), members in sorted(groups.items()):
        first = _reserve_numbers(session, prefix, year, len(members))
        for offset, p in enumerate(members):
            case_no = f"{prefix}-{year}-{first + offset:06d}"
            case_of[p.index] = case_no
            dl = compute_deadlines(received_at=p.received_at, tier=Tier.STANDARD, events=(),
                                   regime=regime, calendar=calendar)
            rows.append(_row(p.item, case_no=case_no, branch=p.branch, received_at=p.received_at,
                             deadlines=dl, now=now, client=client, fingerprint=p.fingerprint))
            item_of[case_no] = p.item
    if rows:
        ids = _insert_returning_ids(session, rows)
        earliest = now - timedelta(days=config.policy.intake.backdate_days)
        drafts = []
        for row in rows:
            after, detail = _received_event(row, item_of[row["case_no"]], now=now, client=client, earliest=earliest)
            drafts.append(AuditDraft(at=now, actor=actor, action="received", complaint_id=ids[row["case_no"]],
                                     case_no=row["case_no"], after=after, detail=detail, row=row))
        append(session, drafts)
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
           now: datetime, actor: str = "desk", client: str = CLI_CLIENT) -> list[SubmitResult]:
    """Store every item or none; a reference the client used before returns the case it first
    created (`KeyReused` when that case was submitted with a different body: nothing stored).

    `client`: whose idempotency keys these are (the API user; `cli` for the import tool)."""
    for attempt in range(3):
        try:
            with gc_paused(), session_scope(engine) as session:
                return _store(session, items, config=config, calendar=calendar, now=now, actor=actor,
                              client=client)
        except IntegrityError:
            # Another submitter stored the same external reference first: read it back.
            if attempt == 2:
                raise
    raise AssertionError("unreachable")
