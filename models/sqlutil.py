"""Small SQL helpers that differ by dialect, and the bulk writer the batch paths share."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import orjson
import psycopg
from sqlalchemy import JSON, ColumnElement, Integer, Table, any_, bindparam, text, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session
from sqlmodel import SQLModel


@dataclass(frozen=True)
class _Plan:
    """A statement compiled once per (table, columns, kind, dialect), and how to bind rows to it."""

    sql: str
    binder: Callable[..., list[Any]]  # (rows, *processors) -> DB-API parameters
    processors: tuple[tuple[Callable[[Any], Any], bool], ...]  # (processor, memoise by value?)


_PLANS: dict[tuple[str, str, str, tuple[str, ...], tuple[str, ...]], _Plan] = {}


def _processor(table: Table, column: str, dialect: Dialect) -> tuple[Callable[[Any], Any], bool] | None:
    """The column type's own bind processor (so values are stored exactly as SQLAlchemy would),
    and whether its results can be memoised by value (scalars such as datetimes: yes)."""
    col_type = table.c[column].type
    if isinstance(col_type, JSON) and not col_type.none_as_null:
        # What JSON's processor does (None is stored as JSON null), minus its per-value wrapping;
        # PostgreSQL's statement casts the text to JSON.
        serializer: Callable[[Any], Any] = getattr(dialect, "_json_serializer", None) or json.dumps
        return serializer, False
    proc = col_type.dialect_impl(dialect).bind_processor(dialect)
    if proc is None:
        return None
    return proc, not isinstance(col_type, JSON)


def _binder(names: tuple[str, ...], keys: tuple[str, ...], positional: bool, processed: list[int]) -> Callable[..., list[Any]]:
    """A function turning row dicts into DB-API parameters in one list comprehension.

    Generated once per plan: a loop that looks up each column and calls its processor measured
    about twice as slow, and this is the innermost loop of every batch path.
    """
    parts = []
    for i, (name, key) in enumerate(zip(names, keys, strict=True)):
        expr = f"r[{key!r}]"
        if i in processed:
            expr = f"p{i}({expr})"
        parts.append(expr if positional else f"{name!r}: {expr}")
    body = "(" + ", ".join(parts) + ",)" if positional else "{" + ", ".join(parts) + "}"
    params = "".join(f", p{i}" for i in processed)
    namespace: dict[str, Any] = {}
    exec(f"def bind(rows{params}):\n    return [{body} for r in rows]\n", namespace)  # noqa: S102
    return cast(Callable[..., list[Any]], namespace["bind"])


def _plan(session: Session, table: Table, kind: str, columns: tuple[str, ...], conflict: tuple[str, ...]) -> _Plan:
    dialect = session.get_bind().dialect
    cache_key = (dialect.name, table.name, kind, columns, conflict)
    plan = _PLANS.get(cache_key)
    if plan is not None:
        return plan
    stmt: Any
    if kind == "update":
        targets = [c for c in columns if c != "id"]
        stmt = update(table).where(table.c.id == bindparam("b_id")).values({c: bindparam(c) for c in targets})
        keys: list[str] = [*targets, "b_id"]
    else:
        if conflict:
            insert = pg_insert if dialect.name == "postgresql" else sqlite_insert
            stmt = insert(table).on_conflict_do_nothing(index_elements=list(conflict))
        else:
            stmt = table.insert()
        stmt = stmt.values({c: bindparam(c) for c in columns})
        keys = list(columns)
    compiled = stmt.compile(dialect=dialect)
    positional = compiled.positiontup is not None
    names = tuple(compiled.positiontup) if positional else tuple(keys)
    if sorted(names) != sorted(keys):  # pragma: no cover - a guard against SQLAlchemy renaming binds
        raise RuntimeError(f"unexpected parameters {names} for {keys}")
    row_keys = tuple("id" if n == "b_id" else n for n in names)
    plan = _PLANS[cache_key] = _make_plan(str(compiled), table, dialect, names, row_keys, positional)
    return plan


def _make_plan(sql: str, table: Table, dialect: Dialect, names: tuple[str, ...], row_keys: tuple[str, ...],
               positional: bool) -> _Plan:
    """The plan for parameters `names`, taken from the row keys `row_keys` (same order)."""
    processed: list[int] = []
    processors: list[tuple[Callable[[Any], Any], bool]] = []
    for i, key in enumerate(row_keys):
        found = _processor(table, key, dialect)
        if found is not None:
            processed.append(i)
            processors.append(found)
    return _Plan(sql, _binder(names, row_keys, positional, processed), tuple(processors))


def _memoised(proc: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """`proc` with its results remembered for one call (a batch's rows share `now` and dates)."""
    cache: dict[Any, Any] = {}

    def call(value: Any) -> Any:
        try:
            return cache[value]
        except KeyError:
            out = cache[value] = proc(value)
            return out

    return call


def _bind(plan: _Plan, rows: Sequence[Mapping[str, Any]]) -> list[Any]:
    """Row dicts as DB-API parameters, each value through its column's processor."""
    return plan.binder(rows, *(_memoised(p) if memo else p for p, memo in plan.processors))


def _run(session: Session, plan: _Plan, rows: Sequence[Mapping[str, Any]]) -> int:
    result = session.connection().exec_driver_sql(plan.sql, _bind(plan, rows))
    return int(result.rowcount or 0)


def _copy_plan(session: Session, table: Table, columns: tuple[str, ...]) -> _Plan:
    """PostgreSQL: bind rows as tuples in `columns` order for COPY (no statement of its own)."""
    dialect = session.get_bind().dialect
    cache_key = (dialect.name, table.name, "copy", columns, ())
    plan = _PLANS.get(cache_key)
    if plan is None:
        plan = _PLANS[cache_key] = _make_plan("", table, dialect, columns, columns, positional=True)
    return plan


def _quoted(session: Session, names: Sequence[str]) -> str:
    quote = session.get_bind().dialect.identifier_preparer.quote
    return ", ".join(quote(n) for n in names)


def _copy(session: Session, target: str, table: Table, columns: tuple[str, ...],
          rows: Sequence[Mapping[str, Any]]) -> None:
    """COPY rows into `target` (the table itself or a scratch copy of it), in the session's transaction.

    COPY measured 3-4x quicker than psycopg's pipelined executemany for the same rows (psycopg
    adapts and sends each executemany row in Python; COPY streams them).
    """
    params = _bind(_copy_plan(session, table, columns), rows)
    dbapi = cast(psycopg.Connection[Any], session.connection().connection.dbapi_connection)
    with dbapi.cursor() as cur, cur.copy(f"COPY {target} ({_quoted(session, columns)}) FROM STDIN") as copy:
        for row in params:
            copy.write_row(row)


def _scratch(session: Session, table: Table, columns: tuple[str, ...]) -> str:
    """A temporary table with these columns of `table` (same types, no constraints), dropped at commit."""
    name = f"_bulk_{table.name}"
    session.connection().exec_driver_sql(
        f"CREATE TEMPORARY TABLE {name} ON COMMIT DROP AS "
        f"SELECT {_quoted(session, columns)} FROM {table.name} WITH NO DATA")
    return name


def _is_bulk_postgres(session: Session, rows: Sequence[object]) -> bool:
    return len(rows) > 1 and session.get_bind().dialect.name == "postgresql"


def bulk_insert(session: Session, table: Table, rows: Sequence[Mapping[str, Any]], *,
                ignore_conflicts_on: str | tuple[str, ...] = ()) -> int:
    """INSERT many rows (same keys in each) in the caller's transaction; returns how many were stored.

    Values go through each column type's own bind processor, so what is stored is what
    `session.execute(table.insert(), rows)` would store, without SQLAlchemy's per-row
    parameter machinery (the largest cost of our batch paths: bench/bench_intake.py).
    With `ignore_conflicts_on`, rows whose key already exists are skipped (ON CONFLICT DO
    NOTHING). SQLite: one executemany. PostgreSQL, several rows: COPY (into the table, or into
    a scratch table and then one INSERT … SELECT … ON CONFLICT DO NOTHING).
    """
    if not rows:
        return 0
    conflict = (ignore_conflicts_on,) if isinstance(ignore_conflicts_on, str) else tuple(ignore_conflicts_on)
    rows = _with_defaults(table, rows)
    columns = tuple(rows[0])
    if not _is_bulk_postgres(session, rows):
        return _run(session, _plan(session, table, "insert", columns, conflict), rows)
    if not conflict:
        _copy(session, table.name, table, columns, rows)
        return len(rows)
    # COPY cannot skip conflicts: stream into a scratch table, then one INSERT … SELECT that does.
    # ORDER BY ctid keeps the batch's order (ids, and the first of two equal keys wins).
    scratch = _scratch(session, table, columns)
    _copy(session, scratch, table, columns, rows)
    cols = _quoted(session, columns)
    result = session.connection().exec_driver_sql(
        f"INSERT INTO {table.name} ({cols}) SELECT {cols} FROM {scratch} ORDER BY ctid "
        f"ON CONFLICT ({_quoted(session, conflict)}) DO NOTHING")
    session.connection().exec_driver_sql(f"DROP TABLE {scratch}")
    return int(result.rowcount)


def _with_defaults(table: Table, rows: Sequence[Mapping[str, Any]]) -> Sequence[Mapping[str, Any]]:
    """Fill in the Python-side column defaults a Core insert would apply (scalars, and factories
    like `list`, called per row)."""
    given = rows[0].keys()
    missing = [c for c in table.columns if c.key not in given and c.default is not None]
    if not missing:
        return rows
    scalars = {c.key: c.default.arg for c in missing if c.default.is_scalar}  # type: ignore[union-attr]
    factories = [(c.key, c.default.arg) for c in missing if c.default.is_callable]  # type: ignore[union-attr]
    return [{**scalars, **{k: f(None) for k, f in factories}, **row} for row in rows]


def insert_ignoring_conflicts(session: Session, table: Table, rows: Sequence[dict[str, Any]], *, key: str | tuple[str, ...]) -> int:
    """INSERT … ON CONFLICT (key) DO NOTHING; returns how many rows were new."""
    return bulk_insert(session, table, rows, ignore_conflicts_on=key)


def table_of(model: type[SQLModel]) -> Table:
    """The Core table behind a SQLModel table class (typed, for set-based SQL)."""
    return cast(Table, model.__table__)  # type: ignore[attr-defined]


def update_rows_by_id(session: Session, table: Table, params: Sequence[Mapping[str, Any]]) -> None:
    """UPDATE many rows, each by its `id`, setting the other keys of its dict (same keys in all).

    SQLite: one executemany (sqlite3 loops in C). PostgreSQL, several rows: COPY into a scratch
    table and one `UPDATE … FROM` it (an `UPDATE … FROM (VALUES …)` with bound parameters had
    measured 2x slower than executemany; COPY is quicker than both).
    """
    if not params:
        return
    columns = tuple(params[0])
    if not _is_bulk_postgres(session, params):
        _run(session, _plan(session, table, "update", columns, ()), params)
        return
    scratch = _scratch(session, table, columns)
    _copy(session, scratch, table, columns, params)
    sets = ", ".join(f"{c} = s.{c}" for c in (_quoted(session, [k]) for k in columns if k != "id"))
    session.connection().exec_driver_sql(f"UPDATE {table.name} AS t SET {sets} FROM {scratch} AS s WHERE t.id = s.id")
    session.connection().exec_driver_sql(f"DROP TABLE {scratch}")


ID_CHUNK = 900  # ids per IN (…) on SQLite: under its parameter limit with room to spare


def id_chunks(session: Session, ids: Sequence[int]) -> Iterable[Sequence[int]]:
    """Pieces of `ids` for `id_in`: one piece on PostgreSQL (one array parameter, no limit)."""
    if session.get_bind().dialect.name == "postgresql":
        if ids:
            yield ids
        return
    for i in range(0, len(ids), ID_CHUNK):
        yield ids[i:i + ID_CHUNK]


def id_in(session: Session, column: Any, ids: Sequence[int]) -> ColumnElement[bool]:
    """`column IN ids`: on PostgreSQL `= ANY(array)`, one parameter, so the statement text stays
    the same and small (psycopg re-parsed a 900-placeholder IN list on every call)."""
    if session.get_bind().dialect.name == "postgresql":
        return cast(ColumnElement[bool], column == any_(bindparam("ids", list(ids), type_=ARRAY(Integer))))
    return cast(ColumnElement[bool], column.in_(list(ids)))


_JSON_SQL: dict[tuple[str, tuple[str, ...], tuple[str, ...], tuple[str, ...], tuple[str, ...]], Any] = {}


def _json_recordset_sql(session: Session, table: Table, columns: tuple[str, ...], conflict: tuple[str, ...],
                        update_columns: tuple[str, ...], returning: tuple[str, ...]) -> Any:
    """PostgreSQL: INSERT … SELECT FROM json_to_recordset(:rows) ON CONFLICT …, compiled once."""
    key = (table.name, columns, conflict, update_columns, returning)
    stmt = _JSON_SQL.get(key)
    if stmt is None:
        dialect = session.get_bind().dialect
        quote = dialect.identifier_preparer.quote
        cols = ", ".join(quote(c) for c in columns)
        types = ", ".join(f"{quote(c)} {table.c[c].type.compile(dialect=dialect)}" for c in columns)
        action = ("UPDATE SET " + ", ".join(f"{quote(c)} = excluded.{quote(c)}" for c in update_columns)
                  if update_columns else "NOTHING")
        sql = (f"INSERT INTO {table.name} ({cols}) SELECT {cols} FROM json_to_recordset(CAST(:rows AS json)) "
               f"AS r({types}) ON CONFLICT ({', '.join(quote(c) for c in conflict)}) DO {action}")
        if returning:
            sql += " RETURNING " + ", ".join(quote(c) for c in returning)
        stmt = _JSON_SQL[key] = text(sql)
    return stmt


def _rows_json(rows: Sequence[Mapping[str, Any]]) -> str:
    """A batch of rows as one JSON parameter for `json_to_recordset` (PostgreSQL): orjson writes
    it in C, where psycopg's text arrays quoted each string with a regex (a third of the sweep)."""
    return orjson.dumps(rows).decode()


def upsert_rows(session: Session, table: Table, rows: Sequence[Mapping[str, Any]], *, key: tuple[str, ...],
                update: tuple[str, ...]) -> None:
    """INSERT many rows (same keys in each), or UPDATE `update` of the row with the same `key`
    (with no `update`: leave that row alone).

    PostgreSQL: one statement over one JSON parameter (`json_to_recordset`), whatever the number
    of rows. SQLite: one executemany of INSERT … ON CONFLICT DO UPDATE / DO NOTHING.
    """
    if not rows:
        return
    if session.get_bind().dialect.name == "postgresql":
        stmt = _json_recordset_sql(session, table, tuple(rows[0]), key, update, ())
        session.execute(stmt, {"rows": _rows_json(rows)})
        return
    ins = sqlite_insert(table)
    stmt = (ins.on_conflict_do_update(index_elements=list(key), set_={c: ins.excluded[c] for c in update})
            if update else ins.on_conflict_do_nothing(index_elements=list(key)))
    session.execute(stmt, list(rows))


def insert_json_rows_returning(session: Session, table: Table, rows: Sequence[Mapping[str, Any]], *,
                               conflict: tuple[str, ...], returning: tuple[str, ...]) -> set[tuple[Any, ...]]:
    """INSERT … ON CONFLICT DO NOTHING RETURNING `returning`: the keys of the rows this call created.

    PostgreSQL: one statement over one JSON parameter (`json_to_recordset`); a multi-row VALUES
    list was re-parsed by the driver on every call. SQLite: one executemany that SQLAlchemy
    batches into multi-row INSERTs from one cached compilation.
    """
    if not rows:
        return set()
    if session.get_bind().dialect.name == "postgresql":
        stmt = _json_recordset_sql(session, table, tuple(rows[0]), conflict, (), returning)
        return {tuple(r) for r in session.execute(stmt, {"rows": _rows_json(rows)}).all()}
    ins = sqlite_insert(table).on_conflict_do_nothing(index_elements=list(conflict)).returning(
        *(table.c[c] for c in returning))
    return {tuple(r) for r in session.execute(ins, list(rows)).all()}
