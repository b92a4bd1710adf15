"""What an insider who owns the database does first: drop the append-only triggers of migration
0007 (and, as these tests share one PostgreSQL database, put them back afterwards)."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType

from sqlalchemy import Connection, Engine, text

from complaints.config import REPO_ROOT


def _migration() -> ModuleType:
    path = REPO_ROOT / "migrations" / "versions" / "0007_audit_tamper_evidence.py"
    spec = importlib.util.spec_from_file_location("migration_0007", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@contextmanager
def insider(engine: Engine) -> Iterator[Connection]:
    """A transaction without the append-only triggers; they are restored when it ends."""
    m = _migration()
    dialect = engine.dialect.name
    with engine.begin() as conn:
        for statement in m.unguard_sql(dialect):
            conn.execute(text(statement))
        yield conn
        for statement in m.guard_sql(dialect):
            conn.execute(text(statement))
