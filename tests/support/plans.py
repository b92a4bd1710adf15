"""The query plan of a statement, as text, on SQLite (EXPLAIN QUERY PLAN) and PostgreSQL (EXPLAIN).

On PostgreSQL the plan is taken with sequential scans priced out (`enable_seqscan = off`, for this
transaction only): a test's few rows would otherwise be read by a sequential scan whatever indexes
exist, while a predicate that no index can serve (a LIKE over JSON text) still plans a Seq Scan.
"""

from __future__ import annotations

from sqlalchemy import Connection, text
from sqlalchemy.sql import Executable


def plan_of(conn: Connection, stmt: Executable | str) -> str:
    sql = stmt if isinstance(stmt, str) else str(stmt.compile(conn, compile_kwargs={"literal_binds": True}))  # type: ignore[attr-defined]
    if conn.dialect.name == "postgresql":
        if not isinstance(stmt, str) and conn.dialect.paramstyle in ("format", "pyformat"):
            sql = sql.replace("%%", "%")  # the compiler doubles a literal % for the driver's placeholders
        conn.execute(text("SET LOCAL enable_seqscan = off"))
        return "\n".join(conn.execute(text("EXPLAIN " + sql)).scalars())
    return "\n".join(str(r[-1]) for r in conn.execute(text("EXPLAIN QUERY PLAN " + sql)))
