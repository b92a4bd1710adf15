"""Search: keyed hashes of personal identifiers, and full text over a case's own words.

Phones, ID numbers and a card number are found through keyed hashes (HMAC-SHA256, the key from
COMPLAINTS_SEARCH_KEY or the file COMPLAINTS_SEARCH_KEY_FILE, never in the database), stored in
`complaint.search_*_key` at submit; a search hashes what was typed and looks the hash up in an
index, so no personal data is scanned or compared in clear and a role that sees data masked can
still find a case by it.

Full text (case number, facts, request, respondent, and internal notes when `case_note` exists)
works for Chinese, where words are not separated: PostgreSQL matches terms of 3+ characters with
pg_trgm's GIN index and 2-character terms ("冻结", "断卡") with a GIN index over the text's
character bigrams; SQLite matches 3+ characters with an FTS5 trigram table and 2-character terms
with LIKE over that table's content (migration 0009).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    Text,
    and_,
    bindparam,
    cast,
    func,
    literal,
    or_,
    select,
    text,
    union,
)
from sqlalchemy import column as sql_column
from sqlalchemy.dialects.postgresql import ARRAY, array
from sqlalchemy.orm import Session

from models.complaint import Complaint
from models.sqlutil import table_of

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


_NOTE_COLUMN: dict[str, str | None] = {}


def _note_column(session: Session) -> str | None:
    """The text column of the internal notes table (issue 14's notes), if that table exists here."""
    url = str(session.get_bind().engine.url)
    if url not in _NOTE_COLUMN:
        from sqlalchemy import inspect

        insp = inspect(session.connection())
        column: str | None = None
        if insp.has_table("case_note"):
            names = [c["name"] for c in insp.get_columns("case_note")]
            column = next((n for n in ("body", "text", "content", "note") if n in names), None)
        _NOTE_COLUMN[url] = column
    return _NOTE_COLUMN[url]


def _note_ids(session: Session, pattern: str) -> list[int] | None:
    """Cases whose internal notes contain the pattern, when the notes table exists (read first, so
    the case query keeps its indexes: `id IN (…)` beside the text index, never an OR with a subquery)."""
    column = _note_column(session)
    if column is None:
        return None
    ids = session.execute(text(f"SELECT DISTINCT complaint_id FROM case_note WHERE lower({column}) LIKE :np "
                               "ESCAPE '\\' LIMIT 10000"), {"np": pattern}).scalars().all()
    return [int(i) for i in ids]


def text_match(session: Session, q: str) -> ColumnElement[bool]:
    """A filter on complaint rows: every term of `q` in the case's text (or its notes)."""
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
        else:
            if len(term) >= 3:
                phrase = '"' + term.replace('"', '""') + '"'
                fts = text("SELECT rowid FROM complaint_fts WHERE complaint_fts MATCH :m").bindparams(bindparam("m", phrase, unique=True))
                hit = COMPLAINT.c.id.in_(fts.columns(sql_column("rowid", Integer)))
            else:  # under 3 characters the trigram index cannot help: each row is checked as the list is read
                # (newest first, a frequent term is found within the first rows; LIKE ignores ASCII case)
                c = COMPLAINT.c
                hit = or_(*(col.like(pattern, escape="\\") for col in (c.case_no, c.facts, c.request, c.respondent)))
        notes = _note_ids(session, pattern)
        clauses.append(or_(hit, COMPLAINT.c.id.in_(notes)) if notes else hit)
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
