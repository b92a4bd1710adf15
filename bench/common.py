"""Shared helpers for the benchmarks: fresh databases and timing."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from sqlalchemy import Engine, create_engine, text

from complaints.config import Config
from domain.escalation import case_chain
from domain.org import chain_snapshot
from models.db import make_engine, migrate

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
T = TypeVar("T")


def fresh_sqlite(path: Path) -> Engine:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    engine = make_engine(f"sqlite:///{path}")
    migrate(engine)
    return engine


def fresh_postgres(name: str) -> Engine:
    drop_postgres(name)
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    engine = make_engine(f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}")
    migrate(engine)
    return engine


def drop_postgres(*names: str) -> None:
    """Drop scratch benchmark databases (they hold 100,000s of rows)."""
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        for name in names:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@contextmanager
def timer() -> Iterator[list[float]]:
    out: list[float] = []
    start = time.perf_counter()
    try:
        yield out
    finally:
        out.append(time.perf_counter() - start)


def timed(fn: Callable[[], T]) -> tuple[T, float]:
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


def handler_routes(config: Config) -> list[tuple[str, str, str, str, list[dict[str, object]]]]:
    """(branch, department_branch, department, handler, chain as routing stores it) for every handler
    of the org chart: the routes the benchmarks' seeded cases are spread over."""
    org = config.org
    out = []
    for code, b in org.branches.items():
        for dcode, d in b.departments.items():
            for h in d.handlers:
                chain = chain_snapshot(case_chain(org, branch=code, department_branch=code, department=dcode,
                                                  handler=h), org.people)
                out.append((code, code, dcode, h, chain))
    return out
