"""Who works on, answers for or watches a case: one row per (case, person, role), indexed by person.

Kept by routing (models/routing_store.apply_plans), reassignment (models/case_actions.assign) and
escalation (models/escalation_store.apply_sweep: each recipient of a fired level). The chain members
are the escalation recipients to come (domain.escalation.resolve_recipients picks them from the
chain), so a case is in a supervisor's view from routing on. Visibility (api/access.scope) and
"my queue" filter by `EXISTS (… WHERE person = :me)` on this table: no LIKE over JSON.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Index, PrimaryKeyConstraint, exists, select, text
from sqlalchemy.orm import Session
from sqlmodel import Field, SQLModel

from models.complaint import Complaint
from models.sqlutil import bulk_insert, id_chunks, id_in, table_of

HANDLER, CHAIN, WATCHER, ESCALATION = "handler", "chain", "watcher", "escalation"
WORK_ROLES = (HANDLER, CHAIN, WATCHER)  # what routing and reassignment redraw


class CaseParticipant(SQLModel, table=True):
    __tablename__ = "case_participant"
    __table_args__ = (
        PrimaryKeyConstraint("complaint_id", "person", "role", "level"),
        Index("ix_case_participant_person", "person", "complaint_id"),
        Index("ix_case_participant_person_role", "person", "role", "complaint_id", "level"),
        Index("ix_case_participant_open", "person", "complaint_id", postgresql_where=text("open"),
              sqlite_where=text("open = 1")),
        # A person's open work by deadline, and all her cases newest first (migration 0014).
        Index("ix_case_participant_open_due", "person", "due_at", "complaint_id", postgresql_where=text("open"),
              sqlite_where=text("open = 1")),
        Index("ix_case_participant_person_received", "person", "received_at", "complaint_id"),
    )

    complaint_id: int = Field(foreign_key="complaint.id")
    person: str = Field(max_length=64)
    role: str = Field(max_length=16)  # handler / chain / watcher / escalation
    level: int = 0  # the escalation level (0 for the other roles)
    seat: str | None = Field(default=None, max_length=32)  # the chain seat (department_head …)
    # The case is open (its status one of OPEN_STATUSES): kept by database triggers (migration 0009),
    # so a queue reads only the open work of a person, whatever moved the case.
    open: bool = False
    # The case's received_at and stored regulatory deadline, the sort keys of a person's lists: kept
    # from the complaint row by triggers (migration 0014); writers that know them pass them.
    received_at: datetime | None = None
    due_at: datetime | None = None


class CasePaused(SQLModel, table=True):
    """The cases whose clock is paused now, and since when: kept by triggers on clock_event
    (migration 0009), so a list knows its paused rows without reading every pause ever recorded."""

    __tablename__ = "case_paused"

    complaint_id: int = Field(foreign_key="complaint.id", primary_key=True)
    since: datetime


PARTICIPANT = table_of(CaseParticipant)
PAUSED = table_of(CasePaused)
COMPLAINT = table_of(Complaint)


def work_rows(complaint_id: int, handler: str | None, chain: Iterable[dict[str, Any]],
              watchers: Iterable[str]) -> list[dict[str, Any]]:
    """The participant rows of a case's handler, chain and watchers (each person once per role)."""
    rows: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()

    def add(person: Any, role: str, seat: Any = None) -> None:
        if isinstance(person, str) and person and (person, role) not in seen:
            seen.add((person, role))
            rows.append({"complaint_id": complaint_id, "person": person, "role": role, "level": 0, "seat": seat})

    add(handler, HANDLER)
    for member in chain:  # the chain's own handler seat is the handler's row already (one row per case read)
        if member.get("person") != handler:
            add(member.get("person"), CHAIN, member.get("level"))
    for watcher in watchers:
        add(watcher, WATCHER)
    return rows


def replace_work(session: Session, cases: Sequence[tuple[int, str | None, Sequence[dict[str, Any]], Sequence[str]]],
                 *, fresh: bool = False, known_open: bool = False) -> None:
    """Redraw the handler / chain / watcher rows of these cases (id, handler, chain, watchers).

    `fresh`: the cases had none yet (first routing), so nothing is deleted first. `known_open`: the
    caller has just put every one of these cases in an open status (intake), so the rows are written
    open and the database's trigger does not look each case's status up again.
    """
    if not cases:
        return
    if not fresh:
        ids = [c[0] for c in cases]
        for i in range(0, len(ids), 500):
            session.execute(PARTICIPANT.delete().where(PARTICIPANT.c.complaint_id.in_(ids[i:i + 500]),
                                                       PARTICIPANT.c.role.in_(WORK_ROLES)))
    rows = [r for cid, handler, chain, watchers in cases for r in work_rows(cid, handler, chain, watchers)]
    _with_times(session, rows)
    if known_open:
        for r in rows:
            r["open"] = True
    bulk_insert(session, PARTICIPANT, rows, ignore_conflicts_on=("complaint_id", "person", "role", "level"))


def _with_times(session: Session, rows: list[dict[str, Any]]) -> None:
    """Give each row its case's received_at and stored deadline (one read per chunk of ids), so the
    database's insert trigger need not look each row's case up."""
    ids = sorted({r["complaint_id"] for r in rows})
    times: dict[int, tuple[datetime, datetime]] = {}
    for chunk in id_chunks(session, ids):
        for cid, received, due in session.execute(
                select(COMPLAINT.c.id, COMPLAINT.c.received_at, COMPLAINT.c.regulatory_due_at)
                .where(id_in(session, COMPLAINT.c.id, chunk))):
            times[cid] = (received, due)
    for r in rows:
        r["received_at"], r["due_at"] = times.get(r["complaint_id"], (None, None))


def add_escalation(session: Session, recipients: Iterable[tuple[int, str, int, str | None]]) -> None:
    """Each (case id, person, level, seat) a fired escalation level went to."""
    rows = [{"complaint_id": cid, "person": person, "role": ESCALATION, "level": level, "seat": seat}
            for cid, person, level, seat in recipients]
    _with_times(session, rows)
    bulk_insert(session, PARTICIPANT, rows, ignore_conflicts_on=("complaint_id", "person", "role", "level"))


def involves(person: str, *, roles: Sequence[str] | None = None, open_only: bool = False) -> ColumnElement[bool]:
    """complaint rows where `person` takes part (in one of `roles`; default: any role); `open_only`:
    only open cases (the same rows when the query also asks for open statuses, read by a smaller index)."""
    p = PARTICIPANT.alias("involved")  # its own name: a person's list may read case_participant outside too
    stmt = select(p.c.complaint_id).where(p.c.complaint_id == COMPLAINT.c.id, p.c.person == person)
    if open_only:
        stmt = stmt.where(p.c.open)  # as the partial index says it (PostgreSQL: `open`, SQLite: `open = 1`)
    if roles:
        stmt = stmt.where(p.c.role.in_(list(roles)))
    return exists(stmt)


def people_of(session: Session, complaint_id: int) -> list[dict[str, Any]]:
    rows = session.execute(select(PARTICIPANT).where(PARTICIPANT.c.complaint_id == complaint_id)
                           .order_by(PARTICIPANT.c.role, PARTICIPANT.c.level, PARTICIPANT.c.person)).all()
    return [dict(r._mapping) for r in rows]
