"""Tables and queries of 投诉治理 (issue 16, the case level; docs/governance.md).

* `case_outcome`: one row per responded complaint — outcome, redress, the timely flag fixed at the
  first response, and the root cause recorded at close.
* `callback`: one row per call-back round (a round per response).
* `remediation`: 整改 items, from one case or from a pattern (root cause × category × institution).

The writes here run in the caller's transaction; the rules are domain/governance.py's and the
commands services/governance.py's (respond and close call `record_outcome` / `record_root_cause`
from models/case_actions.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import BigInteger, Column, Index, Text, UniqueConstraint, case, func, select
from sqlalchemy.orm import Session
from sqlmodel import Field, SQLModel

from domain.governance import (
    CALLBACK_RESULT_NAMES,
    OUTCOME_NAMES,
    REDRESS_NAMES,
    SATISFACTION_NAMES,
    CallbackResult,
    CallbackStep,
    Outcome,
    OutcomeDecision,
    Redress,
    RootCause,
    RootCauses,
    Satisfaction,
    check_root_causes,
    is_timely,
)
from models.audit_chain import AuditDraft, append
from models.complaint import Complaint
from models.sqlutil import table_of
from settings.config import REPO_ROOT, Config, ConfigError, read_yaml, validate_yaml


class CaseOutcome(SQLModel, table=True):
    __tablename__ = "case_outcome"
    __table_args__ = (Index("ix_case_outcome_root_cause", "root_cause"),)

    complaint_id: int = Field(primary_key=True, foreign_key="complaint.id")
    case_no: str = Field(max_length=32)
    # null only for cases responded before migration 0010 and closed after it
    outcome: str | None = Field(default=None, max_length=16)
    not_upheld_reason: str | None = Field(default=None, sa_type=Text)
    redress_type: str | None = Field(default=None, max_length=16)
    redress_amount_fen: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    timely: bool | None = None
    due_at_response: datetime | None = None
    first_responded_at: datetime | None = None
    responded_at: datetime | None = None
    responses: int = 0
    root_cause: str | None = Field(default=None, max_length=16)
    root_cause_jrt: str | None = Field(default=None, max_length=16)
    root_cause_at: datetime | None = None
    updated_at: datetime


class Callback(SQLModel, table=True):
    __tablename__ = "callback"
    __table_args__ = (
        UniqueConstraint("complaint_id", "round", name="uq_callback_complaint_round"),
        Index("ix_callback_result_due", "result", "due_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    complaint_id: int = Field(foreign_key="complaint.id", index=True)
    case_no: str = Field(max_length=32)
    round: int = 1
    due_at: datetime
    attempts: int = 0
    result: str = Field(default="pending", max_length=16)
    satisfaction: str | None = Field(default=None, max_length=16)
    followup: str | None = Field(default=None, max_length=16)
    at: datetime | None = None
    last_attempt_at: datetime | None = None
    created_at: datetime
    updated_at: datetime
    actor: str = Field(default="", max_length=64)


class Remediation(SQLModel, table=True):
    __tablename__ = "remediation"
    __table_args__ = (Index("ix_remediation_status_due", "status", "due_at"),)

    id: int | None = Field(default=None, primary_key=True)
    ref: str = Field(max_length=32, unique=True)
    title: str = Field(sa_type=Text)
    source: str = Field(max_length=16)  # case | pattern
    complaint_id: int | None = Field(default=None, foreign_key="complaint.id")
    case_no: str | None = Field(default=None, max_length=32)
    root_cause: str = Field(max_length=16)
    category: str | None = Field(default=None, max_length=16)
    branch: str = Field(max_length=32)
    owner_branch: str = Field(max_length=32)
    owner_department: str = Field(max_length=32)
    due_at: datetime
    status: str = Field(default="open", max_length=16)
    evidence: str | None = Field(default=None, sa_type=Text)
    escalated_level: int = 0
    escalated_at: datetime | None = None
    opened_at: datetime
    opened_by: str = Field(max_length=64)
    closed_at: datetime | None = None
    closed_by: str | None = Field(default=None, max_length=64)
    updated_at: datetime


OUTCOME = table_of(CaseOutcome)
CALLBACK = table_of(Callback)
REMEDIATION = table_of(Remediation)
COMPLAINT = table_of(Complaint)
HUNDRED = Decimal(100)


# ---------------------------------------------------------------- config/root_causes.yaml


class _CauseSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str
    name: str
    jrt: str


class _RootCauseFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    causes: list[_CauseSpec]


@lru_cache(maxsize=8)
def _load_root_causes(path: Path, mtime: float) -> RootCauses:
    src = read_yaml(path)
    spec = validate_yaml(_RootCauseFile, src)
    causes = [RootCause(c.code.strip(), c.name.strip(), c.jrt.strip()) for c in spec.causes]
    if problems := check_root_causes(causes):
        raise ConfigError([f"{path}: {p}" for p in problems])
    return RootCauses(causes)


def root_causes(config: Config) -> RootCauses:
    """config/root_causes.yaml of the configuration's directory (the repository's when it has none)."""
    path = config.directory / "root_causes.yaml"
    if not path.exists():
        path = REPO_ROOT / "config" / "root_causes.yaml"
    return _load_root_causes(path, path.stat().st_mtime)


def to_fen(amount: Decimal | None) -> int | None:
    return None if amount is None else int(amount * HUNDRED)


def from_fen(fen: int | None) -> Decimal | None:
    return None if fen is None else (Decimal(fen) / HUNDRED).quantize(Decimal("0.01"))


def _audit(session: Session, *, action: str, actor: str, now: datetime, complaint_id: int | None,
           case_no: str | None, after: dict[str, Any], detail: str = "", before: dict[str, Any] | None = None) -> None:
    append(session, [AuditDraft(at=now, actor=actor, action=action, complaint_id=complaint_id, case_no=case_no,
                                before=before or {}, after=after, detail=detail[:500])])


# ---------------------------------------------------------------- outcome and root cause


def outcome_of(session: Session, complaint_id: int) -> Any:
    return session.execute(select(OUTCOME).where(OUTCOME.c.complaint_id == complaint_id)).first()


def outcome_audit(session: Session, *, complaint_id: int, decision: OutcomeDecision, told_at: datetime,
                  due_at: datetime, callback_due: datetime) -> dict[str, Any]:
    """What the `responded` audit event records of the outcome (before `record_outcome` writes it)."""
    existing = outcome_of(session, complaint_id)
    timely = bool(existing.timely) if existing is not None and existing.timely is not None \
        else is_timely(told_at, due_at)
    amount = decision.redress_amount
    return {"outcome": decision.outcome.value, "not_upheld_reason": decision.not_upheld_reason,
            "redress_type": decision.redress_type.value if decision.redress_type else None,
            "redress_amount": str(amount) if amount is not None else None, "timely": timely,
            "callback_due_at": callback_due.isoformat()}


def record_outcome(session: Session, *, complaint_id: int, case_no: str, decision: OutcomeDecision,
                   told_at: datetime, due_at: datetime, callback_due: datetime, now: datetime,
                   actor: str) -> dict[str, Any]:
    """The outcome of a response, and its call-back round. The timely flag is the first response's:
    a later response (after a reopen) updates the outcome, never `timely`. The `responded` event
    carries it (`outcome_audit`)."""
    values = {"outcome": decision.outcome.value, "not_upheld_reason": decision.not_upheld_reason,
              "redress_type": decision.redress_type.value if decision.redress_type else None,
              "redress_amount_fen": to_fen(decision.redress_amount), "responded_at": told_at, "updated_at": now}
    existing = outcome_of(session, complaint_id)
    if existing is None or existing.timely is None:
        timely = is_timely(told_at, due_at)
        fixed = {"timely": timely, "due_at_response": due_at, "first_responded_at": told_at}
        if existing is None:
            session.execute(OUTCOME.insert().values(complaint_id=complaint_id, case_no=case_no, responses=1,
                                                    **values, **fixed))
        else:
            session.execute(OUTCOME.update().where(OUTCOME.c.complaint_id == complaint_id)
                            .values(responses=OUTCOME.c.responses + 1, **values, **fixed))
    else:
        timely = bool(existing.timely)
        session.execute(OUTCOME.update().where(OUTCOME.c.complaint_id == complaint_id)
                        .values(responses=OUTCOME.c.responses + 1, **values))
    session.execute(CALLBACK.update().where((CALLBACK.c.complaint_id == complaint_id)
                                            & (CALLBACK.c.result == CallbackResult.PENDING.value))
                    .values(result=CallbackResult.SUPERSEDED.value, updated_at=now))
    rounds = session.execute(select(func.count()).select_from(CALLBACK)
                             .where(CALLBACK.c.complaint_id == complaint_id)).scalar_one()
    session.execute(CALLBACK.insert().values(complaint_id=complaint_id, case_no=case_no, round=int(rounds) + 1,
                                             due_at=callback_due, attempts=0, result=CallbackResult.PENDING.value,
                                             created_at=now, updated_at=now, actor=actor))
    amount = decision.redress_amount
    return {"outcome": decision.outcome.value, "redress_type": values["redress_type"],
            "redress_amount": str(amount) if amount is not None else None, "timely": timely,
            "callback_due_at": callback_due}


def record_root_cause(session: Session, *, complaint_id: int, case_no: str, cause: RootCause,
                      now: datetime) -> dict[str, Any]:
    """The root cause of a closed case (the `closed` audit event carries it)."""
    values = {"root_cause": cause.code, "root_cause_jrt": cause.jrt, "root_cause_at": now, "updated_at": now}
    existing = outcome_of(session, complaint_id)
    if existing is None:  # responded before migration 0010
        session.execute(OUTCOME.insert().values(complaint_id=complaint_id, case_no=case_no, **values))
    else:
        session.execute(OUTCOME.update().where(OUTCOME.c.complaint_id == complaint_id).values(**values))
    return {"root_cause": cause.code, "root_cause_name": cause.name, "root_cause_jrt": cause.jrt}


def outcome_view(session: Session, complaint_id: int, *, names: dict[str, str] | None = None) -> dict[str, Any] | None:
    """The case's outcome as the case page and the letter show it (names beside codes)."""
    r = outcome_of(session, complaint_id)
    if r is None:
        return None
    amount = from_fen(r.redress_amount_fen)
    return {
        "outcome": r.outcome, "outcome_name": OUTCOME_NAMES[Outcome(r.outcome)] if r.outcome else None,
        "not_upheld_reason": r.not_upheld_reason, "redress_type": r.redress_type,
        "redress_name": REDRESS_NAMES[Redress(r.redress_type)] if r.redress_type else None,
        "redress_amount": f"{amount:.2f}" if amount is not None else None, "timely": r.timely,
        "due_at_response": r.due_at_response, "first_responded_at": r.first_responded_at,
        "responded_at": r.responded_at, "responses": r.responses, "root_cause": r.root_cause,
        "root_cause_name": (names or {}).get(r.root_cause or "", r.root_cause), "root_cause_jrt": r.root_cause_jrt,
        "root_cause_at": r.root_cause_at,
    }


def outcome_counts(session: Session, *, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """Per branch × outcome over first responses told in [start, end): count, timely, redress (Decimal)."""
    timely = func.sum(case((OUTCOME.c.timely.is_(True), 1), else_=0))
    stmt = (select(COMPLAINT.c.branch, OUTCOME.c.outcome, func.count().label("n"), timely.label("timely"),
                   func.sum(OUTCOME.c.redress_amount_fen).label("fen"))
            .join(COMPLAINT, COMPLAINT.c.id == OUTCOME.c.complaint_id)
            .where(OUTCOME.c.first_responded_at >= start, OUTCOME.c.first_responded_at < end)
            .group_by(COMPLAINT.c.branch, OUTCOME.c.outcome).order_by(COMPLAINT.c.branch, OUTCOME.c.outcome))
    return [{"branch": r.branch, "outcome": r.outcome, "count": int(r.n), "timely": int(r.timely or 0),
             "redress_amount": from_fen(int(r.fen)) if r.fen is not None else Decimal("0.00")}
            for r in session.execute(stmt)]


# ---------------------------------------------------------------- call-back


def pending_callback(session: Session, complaint_id: int) -> Any:
    return session.execute(select(CALLBACK).where((CALLBACK.c.complaint_id == complaint_id)
                                                  & (CALLBACK.c.result == CallbackResult.PENDING.value))
                           .order_by(CALLBACK.c.round.desc())).first()


def callbacks_of(session: Session, complaint_id: int) -> list[dict[str, Any]]:
    rows = session.execute(select(CALLBACK).where(CALLBACK.c.complaint_id == complaint_id)
                           .order_by(CALLBACK.c.round)).all()
    return [callback_dict(r) for r in rows]


def callback_dict(r: Any) -> dict[str, Any]:
    return {"case_no": r.case_no, "round": r.round, "due_at": r.due_at, "attempts": r.attempts, "result": r.result,
            "result_name": CALLBACK_RESULT_NAMES[CallbackResult(r.result)], "satisfaction": r.satisfaction,
            "satisfaction_name": SATISFACTION_NAMES[Satisfaction(r.satisfaction)] if r.satisfaction else None,
            "followup": r.followup, "at": r.at, "last_attempt_at": r.last_attempt_at}


def record_attempt(session: Session, *, row: Any, step: CallbackStep, now: datetime, actor: str,
                   note: str = "") -> dict[str, Any]:
    values = {"attempts": step.attempts, "result": step.result.value,
              "satisfaction": step.satisfaction.value if step.satisfaction else None,
              "followup": step.followup.value if step.followup else None, "last_attempt_at": now,
              "at": now if step.finished else None, "updated_at": now, "actor": actor}
    session.execute(CALLBACK.update().where(CALLBACK.c.id == row.id).values(**values))
    after = {k: v for k, v in values.items() if k in ("attempts", "result", "satisfaction", "followup")}
    _audit(session, action="callback_recorded", actor=actor, now=now, complaint_id=row.complaint_id,
           case_no=row.case_no, before={"attempts": row.attempts, "result": row.result},
           after={"round": row.round, **after}, detail=note)
    fresh = session.execute(select(CALLBACK).where(CALLBACK.c.id == row.id)).one()
    return callback_dict(fresh)


def pending_callbacks(session: Session, *, now: datetime, branches: set[str] | None = None,
                      handler: str | None = None, limit: int = 500) -> list[dict[str, Any]]:
    """待回访: open rounds, the earliest due first, with the case's branch and handler (optionally only
    the institutions `branches`, or only the cases of `handler`)."""
    stmt = (select(CALLBACK, COMPLAINT.c.branch, COMPLAINT.c.handler, COMPLAINT.c.status)
            .join(COMPLAINT, COMPLAINT.c.id == CALLBACK.c.complaint_id)
            .where(CALLBACK.c.result == CallbackResult.PENDING.value))
    if branches is not None:
        stmt = stmt.where(COMPLAINT.c.branch.in_(sorted(branches)))
    if handler is not None:
        stmt = stmt.where(COMPLAINT.c.handler == handler)
    rows = session.execute(stmt.order_by(CALLBACK.c.due_at, CALLBACK.c.id).limit(limit)).all()
    return [{**callback_dict(r), "branch": r.branch, "handler": r.handler, "status": r.status,
             "overdue": r.due_at < now} for r in rows]


@dataclass(frozen=True)
class CallbackRate:
    branch: str
    due: int
    reached: int
    unreachable: int
    pending: int
    satisfied: int
    basic: int
    dissatisfied: int

    @property
    def callback_rate(self) -> float | None:
        """回访率: reached among the finished rounds (reached or 未联系上)."""
        done = self.reached + self.unreachable
        return self.reached / done if done else None

    @property
    def satisfaction_rate(self) -> float | None:
        """满意度: 满意 + 基本满意 among the reached."""
        return (self.satisfied + self.basic) / self.reached if self.reached else None

    def as_dict(self) -> dict[str, Any]:
        return {"branch": self.branch, "due": self.due, "reached": self.reached, "unreachable": self.unreachable,
                "pending": self.pending, "satisfied": self.satisfied, "basic": self.basic,
                "dissatisfied": self.dissatisfied, "callback_rate": self.callback_rate,
                "satisfaction_rate": self.satisfaction_rate}


def callback_rates(session: Session, *, start: datetime, end: datetime,
                   branches: set[str] | None = None) -> list[CallbackRate]:
    """回访率 and 满意度 per institution (complaint.branch) over the rounds due in [start, end)."""
    stmt = (select(COMPLAINT.c.branch, CALLBACK.c.result, CALLBACK.c.satisfaction, func.count().label("n"))
            .join(COMPLAINT, COMPLAINT.c.id == CALLBACK.c.complaint_id)
            .where(CALLBACK.c.due_at >= start, CALLBACK.c.due_at < end,
                   CALLBACK.c.result != CallbackResult.SUPERSEDED.value)
            .group_by(COMPLAINT.c.branch, CALLBACK.c.result, CALLBACK.c.satisfaction))
    if branches is not None:
        stmt = stmt.where(COMPLAINT.c.branch.in_(sorted(branches)))
    acc: dict[str, dict[str, int]] = {}
    for r in session.execute(stmt):
        a = acc.setdefault(r.branch, dict.fromkeys(("due", "reached", "unreachable", "pending", "satisfied",
                                                    "basic", "dissatisfied"), 0))
        n = int(r.n)
        a["due"] += n
        a[r.result] += n
        if r.satisfaction:
            a[r.satisfaction] += n
    return [CallbackRate(branch=b, **v) for b, v in sorted(acc.items())]


# ---------------------------------------------------------------- remediation


def remediation_dict(r: Any) -> dict[str, Any]:
    return {"ref": r.ref, "title": r.title, "source": r.source, "case_no": r.case_no, "root_cause": r.root_cause,
            "category": r.category, "branch": r.branch, "owner_branch": r.owner_branch,
            "owner_department": r.owner_department, "due_at": r.due_at, "status": r.status, "evidence": r.evidence,
            "escalated_level": r.escalated_level, "escalated_at": r.escalated_at, "opened_at": r.opened_at,
            "opened_by": r.opened_by, "closed_at": r.closed_at, "closed_by": r.closed_by}


def insert_remediation(session: Session, *, values: dict[str, Any], now: datetime, actor: str) -> Any:
    year = values["opened_at"].year
    placeholder = f"tmp-{now.timestamp()}-{actor}"[:32]
    rid = session.execute(REMEDIATION.insert().values(ref=placeholder, **values).returning(REMEDIATION.c.id)).scalar_one()
    ref = f"ZG-{year}-{int(rid):05d}"
    session.execute(REMEDIATION.update().where(REMEDIATION.c.id == rid).values(ref=ref))
    row = session.execute(select(REMEDIATION).where(REMEDIATION.c.id == rid)).one()
    _audit(session, action="remediation_opened", actor=actor, now=now, complaint_id=row.complaint_id,
           case_no=row.case_no, after=_plain(remediation_dict(row)), detail=row.title)
    return row


def _plain(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in d.items()}


def remediation_row(session: Session, ref: str, *, lock: bool = False) -> Any:
    stmt = select(REMEDIATION).where(REMEDIATION.c.ref == ref)
    if lock and session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    return session.execute(stmt).first()


def close_remediation_row(session: Session, *, row: Any, evidence: str, now: datetime, actor: str) -> Any:
    session.execute(REMEDIATION.update().where(REMEDIATION.c.id == row.id).values(
        status="closed", evidence=evidence, closed_at=now, closed_by=actor, updated_at=now))
    _audit(session, action="remediation_closed", actor=actor, now=now, complaint_id=row.complaint_id,
           case_no=row.case_no, before={"ref": row.ref, "status": row.status},
           after={"ref": row.ref, "status": "closed", "evidence": evidence}, detail=evidence)
    return session.execute(select(REMEDIATION).where(REMEDIATION.c.id == row.id)).one()


def mark_escalated(session: Session, *, row: Any, before_level: int, level: int, recipients: list[str],
                   now: datetime, late_days: int) -> None:
    session.execute(REMEDIATION.update().where(REMEDIATION.c.id == row.id).values(
        escalated_level=level, escalated_at=now, updated_at=now))
    _audit(session, action="remediation_escalated", actor="system", now=now, complaint_id=row.complaint_id,
           case_no=row.case_no, before={"ref": row.ref, "escalated_level": before_level},
           after={"ref": row.ref, "escalated_level": level, "recipients": recipients, "late_days": late_days})


def list_remediations(session: Session, *, status: str | None = None, branches: set[str] | None = None,
                      complaint_id: int | None = None, limit: int = 500) -> list[dict[str, Any]]:
    stmt = select(REMEDIATION)
    if complaint_id is not None:
        stmt = stmt.where(REMEDIATION.c.complaint_id == complaint_id)
    if status:
        stmt = stmt.where(REMEDIATION.c.status == status)
    if branches is not None:
        stmt = stmt.where(REMEDIATION.c.owner_branch.in_(sorted(branches)) | REMEDIATION.c.branch.in_(sorted(branches)))
    return [remediation_dict(r) for r in session.execute(stmt.order_by(REMEDIATION.c.due_at, REMEDIATION.c.id)
                                                         .limit(limit))]


def overdue_remediations(session: Session, *, now: datetime, branches: set[str] | None = None) -> list[dict[str, Any]]:
    """Open items past their due date (the dashboard's 整改逾期)."""
    stmt = select(REMEDIATION).where(REMEDIATION.c.status == "open", REMEDIATION.c.due_at < now)
    if branches is not None:
        stmt = stmt.where(REMEDIATION.c.owner_branch.in_(sorted(branches)) | REMEDIATION.c.branch.in_(sorted(branches)))
    return [remediation_dict(r) for r in session.execute(stmt.order_by(REMEDIATION.c.due_at))]


def overdue_open_rows(session: Session, *, now: datetime, max_level: int) -> list[Any]:
    stmt = (select(REMEDIATION).where(REMEDIATION.c.status == "open", REMEDIATION.c.due_at < now,
                                      REMEDIATION.c.escalated_level < max_level).order_by(REMEDIATION.c.id))
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    return list(session.execute(stmt).all())


def pattern_counts(session: Session, *, root_cause: str, category: str | None, branches: set[str], at: datetime,
                   days: int = 90) -> tuple[int, int]:
    """Complaints of a pattern (root cause × category × institution) received in the `days` before
    `at` and in the `days` from `at`. Only closed cases have a root cause."""
    span = timedelta(days=days)

    def count(lo: datetime, hi: datetime) -> int:
        stmt = (select(func.count()).select_from(COMPLAINT).join(OUTCOME, OUTCOME.c.complaint_id == COMPLAINT.c.id)
                .where(OUTCOME.c.root_cause == root_cause, COMPLAINT.c.branch.in_(sorted(branches)),
                       COMPLAINT.c.received_at >= lo, COMPLAINT.c.received_at < hi))
        if category:
            stmt = stmt.where(COMPLAINT.c.category == category)
        return int(session.execute(stmt).scalar_one())

    return count(at - span, at), count(at, at + span)
