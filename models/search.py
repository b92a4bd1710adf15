"""Search: keyed hashes of personal identifiers, and full text over a case's own words.

Phones, ID numbers and a card number are found through keyed hashes (HMAC-SHA256, the key from
COMPLAINTS_SEARCH_KEY or the file COMPLAINTS_SEARCH_KEY_FILE, never in the database), stored in
`complaint.search_*_key` at submit; a search hashes what was typed and looks the hash up in an
index, so no personal data is scanned or compared in clear and a role that sees data masked can
still find a case by it.

Full text (case number, facts, request, respondent, and the internal notes of `case_note`) works
for Chinese, where words are not separated: PostgreSQL matches terms of 3+ characters with
pg_trgm's GIN index and 2-character terms ("冻结", "断卡") with a GIN index over the text's
character bigrams; SQLite matches 3+ characters with an FTS5 trigram table and 2-character terms
with LIKE over that table's content (migration 0009). The notes have the same indexes of their own
(migration 0013: GINs over `lower(case_note.text)`, the FTS5 table `case_note_fts`); a term's
note matches are read first and their cases added beside the case text's matches.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import os
import re
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    Text,
    and_,
    bindparam,
    cast,
    exists,
    func,
    literal,
    literal_column,
    or_,
    select,
    text,
    union,
)
from sqlalchemy import column as sql_column
from sqlalchemy.dialects.postgresql import ARRAY, array
from sqlalchemy.orm import Session
from sqlalchemy.sql.selectable import TextualSelect

from models.complaint import Complaint
from models.sqlutil import table_of
from models.workbench import NOTE

COMPLAINT = table_of(Complaint)
KEY_ENV = "COMPLAINTS_SEARCH_KEY"
FILE_ENV = "COMPLAINTS_SEARCH_KEY_FILE"
DEV_KEY = b"complaints-dev-search-key--not-for-production"
MIN_KEY_BYTES = 16
MIN_TERM = 2
MAX_TERMS = 5
_CARD = re.compile(r"(?<!\d)(\d{16,19})(?!\d)")


class SearchKeyError(ValueError):
    """A search key that cannot be used (the message is in Chinese and names it)."""


def _read_key(environ: dict[str, str] | os._Environ[str]) -> bytes | None:
    value = environ.get(KEY_ENV)
    if value:
        raw = value.encode()
    elif environ.get(FILE_ENV):
        try:
            raw = Path(environ[FILE_ENV]).read_bytes().strip()
        except OSError as exc:
            raise SearchKeyError(f"{FILE_ENV}（检索密钥文件）无法读取：{exc.strerror}") from None
    else:
        return None
    if len(raw) < MIN_KEY_BYTES:
        raise SearchKeyError(f"{KEY_ENV}（检索密钥）太短：至少 {MIN_KEY_BYTES} 个字节")
    return raw


@lru_cache(maxsize=1)
def search_key() -> bytes:
    """The key of the identifier hashes; without one configured, a development key and a warning."""
    key = _read_key(os.environ)
    if key is None:
        print(f"complaints: 未配置 {KEY_ENV} / {FILE_ENV}（检索密钥）：使用开发用默认密钥，生产环境必须配置",
              file=sys.stderr)
        return DEV_KEY
    return key


def _digest(kind: str, value: str) -> str:
    return hmac.new(search_key(), f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()[:32]


def normal_phone(value: str) -> str:
    digits = re.sub(r"\D", "", value)
    if len(digits) == 13 and digits.startswith("86"):
        digits = digits[2:]
    elif len(digits) == 15 and digits.startswith("0086"):
        digits = digits[4:]
    return digits


def phone_key(value: str | None) -> str | None:
    digits = normal_phone(value or "")
    return _digest("phone", digits) if len(digits) >= 5 else None


def id_key(value: str | None) -> str | None:
    v = re.sub(r"[\s\-]", "", value or "").upper()
    return _digest("id", v) if len(v) >= 4 else None


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def card_key(value: str | None) -> str | None:
    """A bank card number typed on its own (spaces and dashes dropped)."""
    digits = re.sub(r"[\s\-]", "", value or "")
    return _digest("card", digits) if digits.isdigit() and 12 <= len(digits) <= 19 else None


def first_card(text_value: str) -> str | None:
    """The first card number (16-19 digits passing the Luhn check) written in free text."""
    for m in _CARD.finditer(re.sub(r"(?<=\d)[ \-](?=\d)", "", text_value)):
        if _luhn(m.group(1)):
            return m.group(1)
    return None


def search_keys(*, phone: str | None, agent_phone: str | None, id_number: str | None,
                agent_id_number: str | None, text: str) -> dict[str, str | None]:
    """The complaint row's `search_*_key` columns."""
    card = first_card(text)
    return {
        "search_phone_key": phone_key(phone), "search_agent_phone_key": phone_key(agent_phone),
        "search_id_key": id_key(id_number), "search_agent_id_key": id_key(agent_id_number),
        "search_card_key": card_key(card) if card else None,
    }


# ---------------------------------------------------------------- full text


def terms_of(q: str) -> list[str]:
    """The search terms (whitespace separated, lower-cased), each of at least two characters."""
    return [t.lower() for t in q.split() if t.strip()][:MAX_TERMS]


def short_terms(q: str) -> list[str]:
    return [t for t in terms_of(q) if len(t) < MIN_TERM]


def _like_escape(term: str) -> str:
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


NOTE_CAP = 10_000  # a term's note matches read per search: the newest cases' (see _note_ids)


def _frequent(session: Session, rowids: TextualSelect) -> bool:
    """Whether a term's rows are too many to fetch and sort for one page of 50: more than
    sqrt(50 × cases), where fetching them all costs about as much as walking the newest cases until
    50 match (1M cases: 7,071 rows; 100k: 2,236). Counted only up to that bound."""
    cases = session.execute(select(func.max(COMPLAINT.c.id))).scalar() or 0
    bound = int(math.sqrt(50 * cases))
    first = rowids.subquery()
    n = session.execute(select(func.count()).select_from(select(first.c.rowid).limit(bound + 1).subquery())).scalar()
    return int(n or 0) > bound


def _fts_rowids(table: str, term: str) -> TextualSelect:
    """`SELECT rowid FROM <table> WHERE <table> MATCH "<term>"`: the rows of an FTS5 trigram table
    holding the term as a phrase (3+ characters)."""
    phrase = '"' + term.replace('"', '""') + '"'
    return (text(f"SELECT rowid FROM {table} WHERE {table} MATCH :m")
            .bindparams(bindparam("m", phrase, unique=True)).columns(sql_column("rowid", Integer)))


def note_hits(postgres: bool, term: str) -> Select[int] | None:
    """The cases (`complaint_id`) of the internal notes holding `term`, read through the notes' own
    text indexes (migration 0013), as the case text is read through the case's: PostgreSQL pg_trgm
    GIN over `lower(text)` for 3+ characters, the bigram GIN beside `strpos` for 2; SQLite the FTS5
    trigram table `case_note_fts` for 3+. None for a 2-character term on SQLite, which no index
    serves: each case row read checks its notes instead (`_note_exists`)."""
    if postgres:
        body = func.lower(NOTE.c.text)
        if len(term) == 2:
            hit: ColumnElement[bool] = and_(
                func.complaint_bigrams(body, type_=ARRAY(Text)).contains(cast(array([term]), ARRAY(Text))),
                func.strpos(body, term) > 0)
        else:
            hit = body.like(f"%{_like_escape(term)}%", escape="\\")
        return select(NOTE.c.complaint_id).where(hit)
    if len(term) >= 3:
        return select(NOTE.c.complaint_id).where(NOTE.c.id.in_(_fts_rowids("case_note_fts", term)))
    return None


def _note_ids(session: Session, stmt: Select[int]) -> list[int]:
    """The cases of a term's notes, read first, so the case query keeps its indexes (`id IN (…)`
    beside the text index, never an OR with a subquery). A term in the notes of more than NOTE_CAP
    cases keeps the newest (highest id) NOTE_CAP of them."""
    ids = session.execute(stmt.distinct().order_by(NOTE.c.complaint_id.desc()).limit(NOTE_CAP)).scalars().all()
    return [int(i) for i in ids]


def _note_exists(pattern: str) -> ColumnElement[bool]:
    """The case row has a note holding the pattern (its notes read by `ix_case_note_complaint`)."""
    return exists(select(NOTE.c.id).where(NOTE.c.complaint_id == COMPLAINT.c.id,
                                          NOTE.c.text.like(pattern, escape="\\")))


def text_match(session: Session, q: str) -> ColumnElement[bool]:
    """A filter on complaint rows: every term of `q` in the case's text or in one of its notes."""
    postgres = session.get_bind().dialect.name == "postgresql"
    clauses: list[ColumnElement[bool]] = []
    for term in terms_of(q):
        pattern = f"%{_like_escape(term)}%"
        if postgres:
            doc = func.complaint_search_text(COMPLAINT.c.case_no, COMPLAINT.c.facts, COMPLAINT.c.request,
                                             COMPLAINT.c.respondent)
            if len(term) == 2:
                # The bigram GIN index finds the rows of a rare term; for a frequent one the planner
                # reads by date and checks each row with strpos (cheap, and no trigram index scan:
                # a LIKE of 2 characters would read the whole pg_trgm index).
                hit: ColumnElement[bool] = and_(
                    func.complaint_bigrams(doc, type_=ARRAY(Text)).contains(cast(array([term]), ARRAY(Text))),
                    func.strpos(doc, term) > 0)
            else:  # 3+ characters: the pg_trgm GIN index serves LIKE
                hit = doc.like(pattern, escape="\\")
        elif len(term) >= 3:
            rowids = _fts_rowids("complaint_fts", term)
            # A frequent term: read the list in its own order (newest first) and check each case
            # against the term's rows (the unary + keeps SQLite from driving the query by them); a
            # rare one: fetch its few rows and sort them (walking the list would read all of it).
            hit = (literal_column("+complaint.id").in_(rowids) if _frequent(session, rowids)
                   else COMPLAINT.c.id.in_(rowids))
        else:  # under 3 characters the trigram index cannot help: each row is checked as the list is read
            # (newest first, a frequent term is found within the first rows; LIKE ignores ASCII case)
            c = COMPLAINT.c
            clauses.append(or_(*(col.like(pattern, escape="\\") for col in (c.case_no, c.facts, c.request,
                                                                             c.respondent)),
                               _note_exists(pattern)))
            continue
        notes = note_hits(postgres, term)
        ids = _note_ids(session, notes) if notes is not None else []
        clauses.append(or_(hit, COMPLAINT.c.id.in_(ids)) if ids else hit)
    return and_(*clauses)


def _key_ids(*pairs: tuple[ColumnElement[Any], str]) -> ColumnElement[bool]:
    """complaint rows whose key column equals the hash: `id IN (… UNION …)`, so both databases drive
    the query from the key indexes (SQLite otherwise reads the whole table in date order)."""
    parts = [select(COMPLAINT.c.id).where(column == key) for column, key in pairs]
    return COMPLAINT.c.id.in_(union(*parts) if len(parts) > 1 else parts[0])


def key_match(*, phone: str | None = None, id_number: str | None = None,
              card: str | None = None) -> ColumnElement[bool] | None:
    """A filter on complaint rows by the keyed hashes of what was typed (None: nothing typed)."""
    c = COMPLAINT.c
    clauses: list[ColumnElement[bool]] = []
    if phone:
        k = phone_key(phone)
        clauses.append(_key_ids((c.search_phone_key, k), (c.search_agent_phone_key, k)) if k else literal(False))
    if id_number:
        k = id_key(id_number)
        clauses.append(_key_ids((c.search_id_key, k), (c.search_agent_id_key, k)) if k else literal(False))
    if card:
        k = card_key(card)
        clauses.append(_key_ids((c.search_card_key, k)) if k else literal(False))
    return and_(*clauses) if clauses else None
