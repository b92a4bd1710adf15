"""The one outbox writer: queue notifications in the same transaction as the change that causes them.

`OutboxItem` is what a change wants sent: its context is the kind's contract
(domain/messages.py). `enqueue` checks each contract against its kind (a producer that
cannot fill it fails here, in the caller's transaction, not later at dispatch), resolves each
recipient's channels from the org chart and inserts one row per (recipient, channel) holding the
contract's plain dict, ignoring any whose `dedupe_key` is already there, so applying the same
change twice never queues a message twice.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from domain.messages import Contract, ContractError, check, to_plain
from domain.org import OrgChart
from models.outbox import OutboxMessage, OutboxStatus
from models.sqlutil import insert_ignoring_conflicts, table_of


class OutboxItem(NamedTuple):
    kind: str
    recipient: str  # a person id from the org chart
    key: str  # what makes this message unique for this recipient, e.g. "DL-2026-000001:routed"
    context: Contract  # the kind's contract; masked data only
    complaint_id: int | None = None
    case_no: str | None = None


def rows_for(items: Sequence[OutboxItem], *, org: OrgChart, now: datetime) -> list[dict[str, Any]]:
    """The outbox rows of `items`; ContractError when an item's context is not its kind's contract.

    A contract shared by several items (one fired level, every recipient) is checked and turned
    into its plain dict once.
    """
    rows: list[dict[str, Any]] = []
    plain_of: dict[int, tuple[str, dict[str, Any]]] = {}
    memo: dict[int, Any] = {}  # nested tuples (a chain) shared by many contracts: checked and converted once
    for item in items:
        done = plain_of.get(id(item.context))
        if done is None or done[0] != item.kind:
            try:
                check(item.context, kind=item.kind, memo=memo)
            except ContractError as exc:
                where = f"（{item.case_no}）" if item.case_no else ""
                raise ContractError(f"{exc}{where}") from None
            done = plain_of[id(item.context)] = (item.kind, to_plain(item.context, memo))
        context = done[1]
        person = org.people.get(item.recipient)
        if person is None:
            continue
        for contact in person.contacts:
            rows.append(
                {
                    "dedupe_key": f"{item.key}:{item.recipient}:{contact.channel}",
                    "message_id": secrets.token_hex(16),  # 32 random hex digits, as uuid4().hex but cheaper
                    "kind": item.kind,
                    "complaint_id": item.complaint_id,
                    "case_no": item.case_no,
                    "recipient": item.recipient,
                    "channel": contact.channel,
                    "address": contact.address,
                    "context": context,
                    "status": OutboxStatus.PENDING,
                    "attempts": 0,
                    "next_attempt_at": now,
                    "created_at": now,
                }
            )
    return rows


def enqueue(session: Session, items: Sequence[OutboxItem], *, org: OrgChart, now: datetime) -> int:
    """Insert the rows for `items`; returns how many were new."""
    table = table_of(OutboxMessage)
    return insert_ignoring_conflicts(session, table, rows_for(items, org=org, now=now), key="dedupe_key")


# ---------------------------------------------------------------- operators' view (complaints outbox)


def _robot_key(channel: str, address: str) -> str:
    """Robot keys and tokens are half a credential: show only their ends."""
    if channel in ("wecom", "dingtalk", "feishu") and len(address) > 8:
        return f"{address[:4]}…{address[-4:]}"
    return address


def status_counts(session: Session, *, now: datetime) -> dict[str, int]:
    """Rows per status, and how many pending rows are due now."""
    table = OutboxMessage.__table__  # type: ignore[attr-defined]
    counts = {OutboxStatus.PENDING: 0, OutboxStatus.SENT: 0, OutboxStatus.DEAD: 0}
    for status, n in session.execute(select(table.c.status, func.count()).group_by(table.c.status)):
        counts[status] = int(n)
    due = session.execute(
        select(func.count()).where(table.c.status == OutboxStatus.PENDING, table.c.next_attempt_at <= now)
    ).scalar_one()
    return {**counts, "due_now": int(due)}


def dead_letters(session: Session, *, limit: int = 200) -> list[dict[str, Any]]:
    """Dead rows, newest first, with their last error."""
    table = OutboxMessage.__table__  # type: ignore[attr-defined]
    stmt = (select(table.c.id, table.c.message_id, table.c.kind, table.c.case_no, table.c.recipient,
                   table.c.channel, table.c.address, table.c.attempts, table.c.last_error, table.c.created_at)
            .where(table.c.status == OutboxStatus.DEAD).order_by(table.c.id.desc()).limit(limit))
    out = []
    for r in session.execute(stmt):
        row = dict(r._mapping)
        row["address"] = _robot_key(row["channel"], row["address"])
        out.append(row)
    return out


def requeue(session: Session, *, ids: Sequence[int] = (), all_dead: bool = False, now: datetime) -> int:
    """Put dead rows back in the queue, due now with a fresh attempt count; returns how many."""
    table = OutboxMessage.__table__  # type: ignore[attr-defined]
    stmt = update(table).where(table.c.status == OutboxStatus.DEAD)
    if not all_dead:
        stmt = stmt.where(table.c.id.in_(list(ids)))
    result = session.execute(stmt.values(status=OutboxStatus.PENDING, attempts=0, next_attempt_at=now,
                                         lease_until=None, lease_owner=None))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
