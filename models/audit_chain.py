"""Append to and verify the hash-chained audit trail (DESIGN.md decision 7, docs/security.md).

Versions 2 and 3 of the link hash cover every column of the event (complaint_id, hash_version and
row_hash included); `row_hash` is the digest of the complaint row's material columns after the
change the event records: `ROW_COLUMNS` for version 2, `ROW_COLUMNS_V3` for version 3 (the same
link rule with "v": 3; the row digest adds who submitted the case under which key, the raw values
as submitted, the vulnerable note, every contact and identity field of the complainant and the
agent, the triage reasons, the responsibility chain and the watchers). New events are version 3;
events stored as version 2 keep verifying by their rule, and a complaint whose last event is
version 2 is compared over the version-2 columns. A lower version after a higher one is a rewrite.
`verify` walks the chain from the last verified anchor (or from genesis with `full`), checks every
anchor it is given (models/anchors.py) and, with `rows`, that each complaint row still matches its
last event.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any, NamedTuple

import orjson
from sqlalchemy import ARRAY, Engine, Integer, any_, bindparam, select, text, update
from sqlalchemy.orm import Session

from models.audit import GENESIS_HASH, AuditEvent, AuditHead
from models.complaint import Complaint
from models.sqlutil import bulk_insert, insert_ignoring_conflicts, table_of

if TYPE_CHECKING:
    from models.anchors import Anchor, AnchorKey

AUDIT = table_of(AuditEvent)
HEAD = table_of(AuditHead)
COMPLAINT = table_of(Complaint)
HASH_VERSION = 3  # what `append` writes (versions 2 and 3 share one link rule: `link_hash_for`)


class AuditDraft(NamedTuple):
    """An audit event before it has its place in the chain."""

    at: datetime
    actor: str
    action: str
    complaint_id: int | None = None
    case_no: str | None = None
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    detail: str = ""
    # The complaint row's material columns (ROW_COLUMNS_V3) after the change, when the caller has
    # them at hand (a batch path: a column missing from it must be NULL in the stored row);
    # otherwise `append` reads them (events that change no row carry none).
    row: Mapping[str, Any] | None = None


_MAX_INT = 2**63 - 1


def _plain(value: Any) -> bool:
    """Only str, int (64-bit), bool, None, and lists / str-keyed dicts of those (exact types).

    For such values orjson writes exactly what `json.dumps(..., sort_keys=True,
    ensure_ascii=False, separators=(",", ":"))` writes (tests/unit/test_audit_canonical.py);
    anything else (floats, enums, dates …) goes through the standard library as before.
    """
    t = type(value)
    if t is str or t is bool or value is None:
        return True
    if t is int:
        return bool(-_MAX_INT <= value <= _MAX_INT)
    if t is dict:
        for k, v in value.items():
            if type(k) is not str or not (type(v) is str or v is None or type(v) is bool or _plain(v)):
                return False
        return True
    if t is list:
        for v in value:
            if not _plain(v):
                return False
        return True
    return False


def _canonical(seq: int, at: datetime, actor: str, action: str, case_no: str | None,
               before: Any, after: Any, detail: str) -> bytes:
    at_text = at.astimezone(UTC).isoformat()
    if _plain(before) and _plain(after) and type(actor) is str and type(action) is str \
            and type(detail) is str and type(seq) is int and (case_no is None or type(case_no) is str):
        # The same bytes as below, about five times quicker (appending 40,000 audit events
        # is part of every intake benchmark run).
        body = {"seq": seq, "at": at_text, "actor": actor, "action": action, "case_no": case_no,
                "before": before, "after": after, "detail": detail}
        try:
            return orjson.dumps(body, option=orjson.OPT_SORT_KEYS)
        except orjson.JSONEncodeError:  # e.g. a lone surrogate: let the standard library decide
            pass
    return _json_canonical(seq, at, actor, action, case_no, before, after, detail)


def _json_canonical(seq: int, at: datetime, actor: str, action: str, case_no: str | None,
                    before: Any, after: Any, detail: str) -> bytes:
    body = {
        "seq": seq,
        "at": at.astimezone(UTC).isoformat(),
        "actor": actor,
        "action": action,
        "case_no": case_no,
        "before": before,
        "after": after,
        "detail": detail,
    }
    return json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str).encode()


def link_hash(prev_hash: str, seq: int, at: datetime, actor: str, action: str, case_no: str | None,
              before: Any, after: Any, detail: str) -> str:
    digest = hashlib.sha256(prev_hash.encode())
    digest.update(_canonical(seq, at, actor, action, case_no, before, after, detail))
    return digest.hexdigest()


# The complaint row's columns a version-2 event vouches for: everything a figure, a deadline or a
# decision depends on. A column added later joins with a new hash version (ROW_COLUMNS_V3).
ROW_COLUMNS: tuple[str, ...] = (
    "case_no", "status", "source", "branch", "outlet", "respondent", "channel", "category", "cause",
    "severity", "tags", "vulnerable", "group_size", "complainant_type", "complainant_name", "complainant_phone",
    "complainant_id_number", "agent_name", "request", "facts", "triage", "department", "department_branch",
    "handler", "regime", "tier", "received_at", "clock_started_at", "paused_days", "regulatory_due_at",
    "ack_due_at", "routed_at", "acknowledged_at", "responded_at", "closed_at", "created_at",
)
# Hash version 3: ROW_COLUMNS (in the same order, first) and every other column a person, a message
# or a decision reads. Each is written only where an event follows in the same transaction: at submit
# (models/submission.py, the `received` event, from the row it inserted), by intake (triage_reasons,
# chain, watchers: models/routing_store.apply_plans, `routed`), by reassignment (chain:
# models/case_actions.assign, `assigned`) and by transfer / return (chain: services/workbench._move).
# Left out on purpose:
# - search_phone_key, search_agent_phone_key, search_id_key, search_agent_id_key, search_card_key:
#   keyed hashes derived from covered columns with a key outside the database (models/search.py), an
#   index rather than a fact; migration 0009 back-filled them without an event, and rotating the
#   search key recomputes every one of them without one;
# - updated_at: bookkeeping (the analytics refresh's watermark, models/analytics.py), no figure,
#   deadline or decision depends on it; every change of a covered column moves it, and that change
#   is caught by itself;
# - repeat_count: nothing writes or reads it (always the column default); a writer joins it to the
#   digest with a new hash version, once it is known whether that writer appends an event.
ROW_COLUMNS_V3: tuple[str, ...] = ROW_COLUMNS + (
    "external_ref", "submitted_by", "request_fingerprint", "channel_raw", "category_raw", "cause_raw",
    "severity_requested", "vulnerable_note", "complainant_id_type", "complainant_email", "complainant_address",
    "complainant_credit_code", "complainant_legal_rep", "agent_phone", "agent_id_type", "agent_id_number",
    "agent_authorization", "triage_reasons", "chain", "watchers",
)
# The complaint's other columns, each left out for the reason above (`id` is the event's complaint_id);
# tests/unit/test_audit_row_digest.py fails on a column that is in neither set.
NOT_IN_ROW_DIGEST = frozenset({"id", "updated_at", "repeat_count", "search_phone_key", "search_agent_phone_key",
                               "search_id_key", "search_agent_id_key", "search_card_key"})
# Actions that record something beside the complaint row (it is unchanged): no row digest.
NO_ROW_ACTIONS = frozenset({"escalated", "escalation_acknowledged", "viewed_personal_data", "report_generated",
                            "exported",
                            # governance (models/governance.py): rows of case_outcome, callback, remediation
                            "callback_recorded", "remediation_opened", "remediation_escalated",
                            "remediation_closed"})


_DT = frozenset({"received_at", "clock_started_at", "regulatory_due_at", "ack_due_at", "routed_at",
                 "acknowledged_at", "responded_at", "closed_at", "created_at"})
_JSON_COLUMNS = frozenset({"tags", "triage_reasons", "chain", "watchers"})


class _Layout(NamedTuple):
    """How a hash version's row digest reads its columns (index tuples, for the batch paths)."""

    columns: tuple[str, ...]
    dt_idx: tuple[int, ...]
    bool_idx: tuple[int, ...]
    json_idx: tuple[int, ...]
    sort_keys: bool  # version 3: JSON objects (the chain's seats) with their keys sorted


def _layout(columns: tuple[str, ...], sort_keys: bool) -> _Layout:
    return _Layout(columns, tuple(i for i, c in enumerate(columns) if c in _DT),
                   tuple(i for i, c in enumerate(columns) if c in ("vulnerable", "triage")),
                   tuple(i for i, c in enumerate(columns) if c in _JSON_COLUMNS), sort_keys)


# Version 2's digest is byte for byte what it was (its columns hold no JSON object to sort).
_LAYOUTS: dict[int, _Layout] = {2: _layout(ROW_COLUMNS, False), 3: _layout(ROW_COLUMNS_V3, True)}
LINKED_VERSIONS = frozenset(_LAYOUTS)  # the versions hashed by `link_hash_for` (1 is `link_hash`)


@lru_cache(maxsize=65536)
def _dt_text(value: datetime) -> str:
    """A UTC instant as SQLite stores it ("2026-01-05 01:00:00.000000"): the canonical form of a time
    in a row digest, so a row read without result processing is digested without parsing it.
    Remembered: a batch's deadlines and times recur (five per row, 100,000 calls per 20,000 rows)."""
    if value.tzinfo is not UTC and value.utcoffset() is not None:
        value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%d %H:%M:%S.%f")


@lru_cache(maxsize=4096)
def _json_text(value: str | bytes) -> Any:
    """A JSON column as SQLite stores it, parsed (the same few chains and tag lists recur in a batch;
    only ever serialised again, never changed)."""
    return orjson.loads(value)


def row_digest_values(values: Sequence[Any], version: int | None = None) -> str:
    """sha256 of a complaint row's material columns (ROW_COLUMNS for version 2, ROW_COLUMNS_V3 for 3, in
    order; default: HASH_VERSION), as stored or as Python values: times as UTC text, booleans as 0/1,
    JSON columns as their JSON (version 3: objects' keys sorted); the same digest either way."""
    layout = _LAYOUTS[HASH_VERSION if version is None else version]
    data = list(values)
    for i in layout.dt_idx:
        v = data[i]
        if v is not None and not isinstance(v, str):
            data[i] = _dt_text(v)
    for i in layout.bool_idx:
        if data[i] is not None:
            data[i] = int(data[i])
    for i in layout.json_idx:
        if isinstance(data[i], (str, bytes)):
            data[i] = _json_text(data[i])
    try:
        raw = orjson.dumps(data, option=orjson.OPT_SORT_KEYS) if layout.sort_keys else orjson.dumps(data)
    except (orjson.JSONEncodeError, TypeError):
        raw = json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=str,
                         sort_keys=layout.sort_keys).encode()
    return hashlib.sha256(raw).hexdigest()


def row_digest(values: Mapping[str, Any], version: int | None = None) -> str:
    """The row digest from the values a batch wrote (a column missing from the mapping is NULL)."""
    v = HASH_VERSION if version is None else version
    return row_digest_values(list(map(values.get, _LAYOUTS[v].columns)), v)


def _canonical_linked(version: int, seq: int, at: datetime | str, actor: str, action: str, complaint_id: int | None,
                      case_no: str | None, before: Any, after: Any, detail: str, row_hash: str | None) -> bytes:
    at_text = at if isinstance(at, str) else at.astimezone(UTC).isoformat()
    body = {"v": version, "seq": seq, "at": at_text, "actor": actor, "action": action,
            "complaint_id": complaint_id, "case_no": case_no, "before": before, "after": after,
            "detail": detail, "row_hash": row_hash}
    if _plain(before) and _plain(after) and type(actor) is str and type(action) is str and type(detail) is str \
            and type(seq) is int and (case_no is None or type(case_no) is str) \
            and (complaint_id is None or type(complaint_id) is int) and (row_hash is None or type(row_hash) is str):
        try:
            return orjson.dumps(body, option=orjson.OPT_SORT_KEYS)
        except orjson.JSONEncodeError:
            pass
    return json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str).encode()


def link_hash_for(version: int, prev_hash: str, seq: int, at: datetime | str, actor: str, action: str,
                  complaint_id: int | None, case_no: str | None, before: Any, after: Any, detail: str,
                  row_hash: str | None) -> str:
    """The link of hash versions 2 and 3: one rule, the version itself ("v") in the hashed body."""
    if version not in LINKED_VERSIONS:
        raise ValueError(f"hash version {version} has no link rule here")
    digest = hashlib.sha256(prev_hash.encode())
    digest.update(_canonical_linked(version, seq, at, actor, action, complaint_id, case_no, before, after, detail,
                                    row_hash))
    return digest.hexdigest()


def link_hash_v2(prev_hash: str, seq: int, at: datetime | str, actor: str, action: str, complaint_id: int | None,
                 case_no: str | None, before: Any, after: Any, detail: str, row_hash: str | None) -> str:
    return link_hash_for(2, prev_hash, seq, at, actor, action, complaint_id, case_no, before, after, detail, row_hash)


def link_hash_v3(prev_hash: str, seq: int, at: datetime | str, actor: str, action: str, complaint_id: int | None,
                 case_no: str | None, before: Any, after: Any, detail: str, row_hash: str | None) -> str:
    return link_hash_for(3, prev_hash, seq, at, actor, action, complaint_id, case_no, before, after, detail, row_hash)


def row_link(prev_hash: str, r: Any) -> str | None:
    """The hash a stored row must have after `prev_hash`, by the rule of its hash_version (None: a
    version this code has no rule for, which no row can match)."""
    if r.hash_version == 1:
        at = datetime.fromisoformat(r.at) if isinstance(r.at, str) else r.at
        return link_hash(prev_hash, r.seq, at, r.actor, r.action, r.case_no, r.before, r.after, r.detail)
    if r.hash_version not in LINKED_VERSIONS:
        return None
    return link_hash_for(r.hash_version, prev_hash, r.seq, r.at, r.actor, r.action, r.complaint_id, r.case_no,
                         r.before, r.after, r.detail, r.row_hash)


def _id_in(bind: Session | Any, column: Any, ids: Sequence[int]) -> Any:
    dialect = bind.get_bind().dialect if isinstance(bind, Session) else bind.dialect
    if dialect.name == "postgresql":
        return column == any_(bindparam("ids", list(ids), type_=ARRAY(Integer)))
    return column.in_(list(ids))


# Every version's columns: version 2's are the first len(ROW_COLUMNS) of version 3's.
_ROW_SQL = f"SELECT id, {', '.join(ROW_COLUMNS_V3)} FROM complaint"
_V2_END = 1 + len(ROW_COLUMNS)
assert ROW_COLUMNS_V3[:len(ROW_COLUMNS)] == ROW_COLUMNS


def _utc_text(column: str) -> str:
    """PostgreSQL: a time column selected as SQLite stores it (UTC text with microseconds)."""
    return f"to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')"


def _as_stored(column: str) -> str:
    """PostgreSQL: a column selected in the form SQLite stores it (times as UTC text with microseconds,
    JSON as its text), so the row check digests it without psycopg building a datetime or a dict first."""
    if column in _DT:
        return f"{_utc_text(column)} AS {column}"
    if column in _JSON_COLUMNS:
        return f"{column}::text AS {column}"
    return column


_ROW_SQL_PG_TEXT = f"SELECT id, {', '.join(map(_as_stored, ROW_COLUMNS_V3))} FROM complaint"


def _stored_digest(r: Sequence[Any], version: int) -> str:
    """The digest by `version` of a row read by _ROW_SQL (the id first)."""
    return row_digest_values(r[1:_V2_END] if version == 2 else r[1:], version)


def _current_rows(session: Session, ids: Sequence[int], version: int) -> dict[int, str]:
    """Digests (by `version`) of these complaint rows as they now stand, read without result processing."""
    out: dict[int, str] = {}
    pg = session.get_bind().dialect.name == "postgresql"
    for i in range(0, len(ids), 900):
        chunk = list(ids[i:i + 900])
        if pg:
            rows = session.execute(text(_ROW_SQL + " WHERE id = ANY(:ids)").bindparams(
                bindparam("ids", type_=ARRAY(Integer))), {"ids": chunk})
        else:
            rows = session.execute(text(_ROW_SQL + " WHERE id IN :ids").bindparams(
                bindparam("ids", expanding=True)), {"ids": chunk})
        for r in rows:
            out[int(r[0])] = _stored_digest(r, version)
    return out


def _lock_head(session: Session) -> tuple[int, str]:
    insert_ignoring_conflicts(session, HEAD, [{"id": 1, "seq": 0, "hash": GENESIS_HASH}], key="id")
    stmt = select(HEAD.c.seq, HEAD.c.hash).where(HEAD.c.id == 1)
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    row = session.execute(stmt).one()
    return int(row.seq), str(row.hash)


def append(session: Session, drafts: Sequence[AuditDraft]) -> None:
    """Append events in order, in the caller's transaction (which holds the head lock until commit).

    Call it after the complaint rows are written: an event that changes a row carries the digest
    of that row as it now stands (from `draft.row`, or read here in one query per 900 cases)."""
    if not drafts:
        return
    wanted = sorted({d.complaint_id for d in drafts
                     if d.complaint_id is not None and d.row is None and d.action not in NO_ROW_ACTIONS})
    version = HASH_VERSION
    current = _current_rows(session, wanted, version) if wanted else {}
    seq, prev = _lock_head(session)
    rows: list[dict[str, Any]] = []
    for d in drafts:
        seq += 1
        at = d.at.astimezone(UTC)
        if d.complaint_id is None or d.action in NO_ROW_ACTIONS:
            rh = None
        elif d.row is not None:
            rh = row_digest(d.row, version)
        else:
            rh = current.get(d.complaint_id)
        h = link_hash_for(version, prev, seq, at, d.actor, d.action, d.complaint_id, d.case_no, d.before, d.after,
                          d.detail, rh)
        rows.append({
            "seq": seq, "at": at, "actor": d.actor, "action": d.action, "complaint_id": d.complaint_id,
            "case_no": d.case_no, "before": d.before, "after": d.after, "detail": d.detail,
            "prev_hash": prev, "hash": h, "hash_version": version, "row_hash": rh,
        })
        prev = h
    bulk_insert(session, AUDIT, rows)
    session.execute(update(HEAD).where(HEAD.c.id == 1).values(seq=seq, hash=prev))


def head_of(engine: Engine) -> tuple[int, str]:
    with engine.connect() as conn:
        head = conn.execute(select(HEAD.c.seq, HEAD.c.hash).where(HEAD.c.id == 1)).first()
    return (int(head.seq), str(head.hash)) if head else (0, GENESIS_HASH)


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    checked: int
    head_seq: int
    broken_seq: int | None = None
    broken_id: int | None = None
    problem: str | None = None
    from_seq: int = 0  # rows up to here were vouched for by a verified anchor (0: from genesis)
    verified_hash: str | None = None  # the hash of the last row checked (what a new checkpoint signs)
    anchors_checked: int = 0
    broken_anchor: str | None = None  # which anchor the database no longer contains
    rows_checked: int | None = None  # complaint rows compared with their last event (None: not asked)
    broken_case: str | None = None
    unsigned_anchors: int = 0
    files_checked: int | None = None  # evidence files re-hashed against their audit events (models/workbench.py)
    # evidence files recorded at or before the verified anchor this verify started from: their rows
    # were compared with their events, their bytes not re-hashed (the full verify re-hashes them)
    files_skipped: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    def failed(self, **changes: Any) -> VerifyResult:
        return VerifyResult(**{**self.__dict__, "ok": False, **changes})


_RAW_SQL = ("SELECT id, seq, {at}, actor, action, complaint_id, case_no, {before}, {after}, detail, prev_hash, "
            "hash, hash_version, row_hash FROM audit_event WHERE seq > {p} AND seq <= {p} ORDER BY seq LIMIT {p}")
# PostgreSQL: times as UTC text and JSON as text, decoded here (psycopg's datetime and json loaders
# cost more than the hashing).
_RAW_PG = _RAW_SQL.format(at=_utc_text("at"), before="before::text",
                          after="after::text", p="%s")
_RAW_SQLITE = _RAW_SQL.format(at="at", before="before", after="after", p="?")


class _Raw(NamedTuple):
    id: int
    seq: int
    at: str  # the canonical text of the instant (UTC isoformat)
    actor: str
    action: str
    complaint_id: int | None
    case_no: str | None
    before: Any
    after: Any
    detail: str
    prev_hash: str
    hash: str
    hash_version: int
    row_hash: str | None


def _json(value: Any) -> Any:
    return orjson.loads(value) if isinstance(value, (str, bytes)) else value


def _at_text(value: Any) -> str:
    """UTC isoformat of a stored instant; SQLite's text ("2026-01-05 01:00:00.000000") without parsing."""
    if isinstance(value, str):
        if len(value) == 26 and value[10] == " ":
            frac = value[20:]
            return f"{value[:10]}T{value[11:19]}{'' if frac == '000000' else '.' + frac}+00:00"
        value = datetime.fromisoformat(value)
    at: datetime = value
    return (at.replace(tzinfo=UTC) if at.utcoffset() is None else at.astimezone(UTC)).isoformat()


@contextmanager
def _driver_cursor(engine: Engine) -> Iterator[tuple[Any, bool]]:
    """The driver's own cursor on one connection, and whether it is PostgreSQL's."""
    with engine.connect() as conn:
        dbapi = conn.connection.dbapi_connection
        assert dbapi is not None
        cur = dbapi.cursor()
        try:
            yield cur, conn.dialect.name == "postgresql"
        finally:
            cur.close()


def _rows(engine: Engine, after: int, upto: int, chunk: int = 20000) -> Iterator[_Raw]:
    """The rows in seq order, read through the driver's own cursor (verify reads a million of them:
    bench/bench_audit.py), up to `upto` (the head as read: rows appended meanwhile are the next
    verify's); JSON and times decoded here as the column types would."""
    last = after
    with _driver_cursor(engine) as (cur, pg):
        sql = _RAW_PG if pg else _RAW_SQLITE
        while True:
            cur.execute(sql, (last, upto, chunk))
            batch = cur.fetchall()
            if not batch:
                return
            for r in batch:
                yield _Raw(r[0], r[1], _at_text(r[2]), r[3], r[4], r[5], r[6], _json(r[7]), _json(r[8]), r[9],
                           r[10], r[11], r[12], r[13])
            last = batch[-1][1]


def _walk(engine: Engine, head_seq: int, head_hash: str, start_seq: int, start_hash: str,
          start_version: int) -> VerifyResult:
    prev, expected_seq, checked, version = start_hash, start_seq + 1, 0, start_version
    sha256 = hashlib.sha256
    for r in _rows(engine, start_seq, max(head_seq, start_seq)):
        if r.seq != expected_seq:
            return VerifyResult(False, checked, head_seq, expected_seq, None,
                                f"第 {expected_seq} 条记录缺失（其后为第 {r.seq} 条）：有记录被删除"
                                f"（seq {expected_seq} is missing: a row was deleted）", start_seq, prev)
        if r.prev_hash != prev:
            return VerifyResult(False, checked, head_seq, r.seq, r.id,
                                f"第 {r.seq} 条记录的 prev_hash 与前一条的哈希不符：链被重新连接"
                                f"（the chain was re-linked）", start_seq, prev)
        if r.hash_version < version:
            return VerifyResult(False, checked, head_seq, r.seq, r.id,
                                f"第 {r.seq} 条记录按旧版哈希规则（版本 {r.hash_version}）写在新版之后：被改写"
                                f"（hash version downgraded: the row was rewritten）", start_seq, prev)
        if r.hash_version in LINKED_VERSIONS:
            h = sha256(prev.encode())
            h.update(_canonical_linked(r.hash_version, r.seq, r.at, r.actor, r.action, r.complaint_id, r.case_no,
                                       r.before, r.after, r.detail, r.row_hash))
            ok = h.hexdigest() == r.hash
        elif r.hash_version == 1:
            ok = row_link(prev, r) == r.hash
        else:
            return VerifyResult(False, checked, head_seq, r.seq, r.id,
                                f"第 {r.seq} 条记录的哈希版本 {r.hash_version} 未知：被改写"
                                f"（unknown hash version: the row was rewritten）", start_seq, prev)
        if not ok:
            return VerifyResult(False, checked, head_seq, r.seq, r.id,
                                f"第 {r.seq} 条记录的内容与其哈希不符：该记录被改动过（content does not match its "
                                f"hash: the row was edited）", start_seq, prev)
        prev, expected_seq, checked, version = r.hash, expected_seq + 1, checked + 1, r.hash_version
    last = start_seq + checked
    if last != head_seq or prev != head_hash:
        return VerifyResult(False, checked, head_seq, last + 1, None,
                            f"链止于第 {last} 条，而链头记为第 {head_seq} 条：末尾的记录被删除"
                            f"（rows were removed from the end）", start_seq, prev)
    return VerifyResult(True, checked, head_seq, from_seq=start_seq, verified_hash=prev)


# The decision told to the complainant (case_response) is a record of its own: its digest rides in the
# `responded` event (`after.response_sha256`), and `verify --rows` compares every stored response with it.
RESPONSE_COLUMNS: tuple[str, ...] = ("verified", "basis", "remedies", "told_via", "told_at", "proof_file_id")


def response_digest(values: Sequence[Any]) -> str:
    """sha256 of a response's RESPONSE_COLUMNS (in order), as stored or as Python values (times as UTC text)."""
    data = [(_dt_text(v) if isinstance(v, datetime) else v) for v in values]
    return hashlib.sha256(orjson.dumps(data)).hexdigest()


# The row and response checks walk the complaints in windows of this many ids, reading each window's
# events and responses by complaint_id: memory stays that of one window however many cases there are.
# Read through the driver's own cursor, times and JSON as SQLite stores them (as the chain walk does).
ROW_CHECK_WINDOW = 5000
# Per case of the window: its last event with a row digest (seq, row_hash, version; NULL if it has only
# events from before version 2) and its case number, one row per case with any event.
_WINDOW_EVENTS_SQL = (
    "SELECT g.cid, g.m, e.row_hash, e.hash_version, g.case_no FROM ("
    " SELECT complaint_id AS cid, MAX(CASE WHEN row_hash IS NOT NULL THEN seq END) AS m, MAX(case_no) AS case_no"
    " FROM audit_event WHERE complaint_id > {p} AND complaint_id <= {p} GROUP BY complaint_id) g"
    " LEFT JOIN audit_event e ON e.seq = g.m")
_GONE_AFTER_SQL = ("SELECT e.case_no FROM audit_event e WHERE e.complaint_id > {p} "
                   "AND NOT EXISTS (SELECT 1 FROM complaint c WHERE c.id = e.complaint_id) LIMIT 1")
_EXISTS_SQL = "SELECT 1 FROM complaint WHERE id = {p}"
_WINDOW_IDS_SQL = "SELECT id FROM complaint WHERE id > {p} ORDER BY id LIMIT {p}"
_WINDOW_RESPONDED_SQL = ("SELECT complaint_id, case_no, {after} FROM audit_event "
                         "WHERE complaint_id > {p} AND complaint_id <= {p} AND action = 'responded'")
_WINDOW_RESPONSES_SQL = ("SELECT r.id, r.complaint_id, c.case_no, {columns} "
                         "FROM case_response r JOIN complaint c ON c.id = r.complaint_id "
                         "WHERE r.complaint_id > {p} AND r.complaint_id <= {p} ORDER BY r.id")
_WINDOW_ROWS = " WHERE id > {p} ORDER BY id LIMIT {p}"


def _sql(template: str, pg: bool, **parts: str) -> str:
    return template.format(p="%s" if pg else "?", **parts)


def _gone(case_no: str | None) -> str:
    return (f"案件 {case_no} 有审计事件，但案件记录已不存在：案件被直接删除"
            f"（complaint row deleted behind the chain）")


def responses_problem(engine: Engine) -> tuple[int, str | None, str | None]:
    """(responses checked, case_no, problem) for the first case whose stored responses (核实情况, 依据,
    救济途径, how and when told) no longer match the digests its `responded` events recorded: a response
    edited, deleted or inserted behind the chain. A case's responses from before the digest was recorded
    (events without one) are allowed unmatched, one per such event. Read ROW_CHECK_WINDOW cases at a time."""
    from collections import Counter

    checked, last = 0, 0
    with _driver_cursor(engine) as (cur, pg):
        ids_sql = _sql(_WINDOW_IDS_SQL, pg)
        responded_sql = _sql(_WINDOW_RESPONDED_SQL, pg, after="after::text" if pg else "after")
        responses_sql = _sql(_WINDOW_RESPONSES_SQL, pg, columns=", ".join(
            _utc_text("r." + c) if pg and c == "told_at" else "r." + c for c in RESPONSE_COLUMNS))
        while True:
            cur.execute(ids_sql, (last, ROW_CHECK_WINDOW))
            ids = cur.fetchall()
            if not ids:
                return checked, None, None
            lo, hi = last, int(ids[-1][0])
            events: dict[int, list[str]] = {}
            legacy: dict[int, int] = {}
            case_of: dict[int, str] = {}
            cur.execute(responded_sql, (lo, hi))
            for cid, case_no, after in cur.fetchall():
                case_of[cid] = str(case_no)
                after = _json(after)
                digest = after.get("response_sha256") if isinstance(after, dict) else None
                if digest:
                    events.setdefault(cid, []).append(str(digest))
                else:
                    legacy[cid] = legacy.get(cid, 0) + 1
            stored: dict[int, tuple[str, list[str]]] = {}
            cur.execute(responses_sql, (lo, hi))
            for r in cur.fetchall():
                checked += 1
                case = stored.get(r[1])
                if case is None:
                    stored[r[1]] = case = (str(r[2]), [])
                case[1].append(response_digest(r[3:]))
            for cid, (case_no, rows) in stored.items():  # in the order of the responses' ids
                want = events.get(cid, [])
                if rows == want or sorted(rows) == sorted(want):
                    continue  # each recorded response stored, nothing else (one each, nearly always)
                unmatched_rows = sum((Counter(rows) - Counter(want)).values())
                if Counter(want) - Counter(rows):
                    return checked, case_no, (f"案件 {case_no} 的答复记录少于或不同于其答复事件所记：答复被删除或改动"
                                              f"（a recorded response was deleted or edited behind the chain）")
                if unmatched_rows > legacy.get(cid, 0):
                    return checked, case_no, (f"案件 {case_no} 的答复记录与其答复事件不符：答复被直接改动或插入"
                                              f"（response edited or inserted behind the chain）")
            for cid in sorted(events):
                if cid not in stored:
                    return checked, case_of[cid], (f"案件 {case_of[cid]} 的答复事件所记的答复已不存在：答复被删除"
                                                   f"（a recorded response was deleted）")
            last = hi


def rows_problem(engine: Engine) -> tuple[int, str | None, str | None]:
    """(complaints checked, case_no, problem) for the first complaint row that no longer matches the
    row digest of its last event (over the columns of that event's hash version), that no event
    records at all, or that is gone while its events remain. Read ROW_CHECK_WINDOW rows at a time
    with their events (by complaint_id), so memory does not grow with the number of cases."""
    checked, last = 0, 0
    with _driver_cursor(engine) as (cur, pg):
        rows_sql = _sql((_ROW_SQL_PG_TEXT if pg else _ROW_SQL) + _WINDOW_ROWS, pg)
        events_sql, exists_sql = _sql(_WINDOW_EVENTS_SQL, pg), _sql(_EXISTS_SQL, pg)
        while True:
            cur.execute(rows_sql, (last, ROW_CHECK_WINDOW))
            batch = cur.fetchall()
            if not batch:
                # events of cases past the last row: rows deleted from the end
                cur.execute(_sql(_GONE_AFTER_SQL, pg), (last,))
                gone = cur.fetchone()
                return (checked, gone[0], _gone(gone[0])) if gone is not None else (checked, None, None)
            hi = int(batch[-1][0])
            cur.execute(events_sql, (last, hi))
            recorded = {cid: (m, rh, v, case_no) for cid, m, rh, v, case_no in cur.fetchall()}
            for r in batch:
                checked += 1
                want = recorded.pop(r[0], None)
                if want is None:
                    return checked, r[1], (f"案件 {r[1]} 没有任何审计事件：案件记录被直接插入或其事件被删除"
                                           f"（complaint row without audit events）")
                if want[0] is None:
                    continue  # only events from before hash version 2: nothing to compare with
                if want[2] not in _LAYOUTS or _stored_digest(r, want[2]) != want[1]:
                    return checked, r[1], (f"案件 {r[1]} 的当前记录与其最后一条审计事件（第 {want[0]} 条）"
                                           f"不符：案件表被直接改动（complaint row edited behind the chain）")
            for cid in sorted(recorded):
                # a case with events but no row in the window: gone, unless committed after the window was read
                cur.execute(exists_sql, (cid,))
                if cur.fetchone() is None:
                    return checked, recorded[cid][3], _gone(recorded[cid][3])
            last = hi


def verify(engine: Engine, *, full: bool = True, anchors: Sequence[Anchor] | None = None,
           key: AnchorKey | None = None, rows: bool = False, checkpoint: bool = False) -> VerifyResult:
    """Recompute the links (from genesis with `full`, else from the last verified anchor), check each
    anchor given (and the database's own), optionally every complaint row; name the first problem.

    With `checkpoint` and a key, an intact chain is recorded as a new verified anchor (where the next
    incremental verify starts)."""
    from models.anchors import can_sign, check_anchors, last_verified, record_verified

    head_seq, head_hash = head_of(engine)
    start_seq, start_hash, start_version = 0, GENESIS_HASH, 1
    if not full and key is not None:
        mark = last_verified(engine, key, head_seq)
        if mark is not None:
            start_seq, start_hash, start_version = mark
    result = _walk(engine, head_seq, head_hash, start_seq, start_hash, start_version)
    if not result.ok:
        return result
    count, unsigned, bad = check_anchors(engine, anchors or (), key, head_seq)
    result = VerifyResult(**{**result.__dict__, "anchors_checked": count, "unsigned_anchors": unsigned})
    if bad is not None:
        return result.failed(broken_anchor=bad[0], broken_seq=bad[1], problem=bad[2])
    if rows:
        checked, case_no, problem = rows_problem(engine)
        result = VerifyResult(**{**result.__dict__, "rows_checked": checked})
        if problem is None:
            _, case_no, problem = responses_problem(engine)
        if problem is not None:
            return result.failed(broken_case=case_no, problem=problem)
    if checkpoint and key is not None and can_sign(key) and result.checked:
        record_verified(engine, key, head_seq, result.verified_hash or head_hash)
    return result
