"""Engine, sessions and schema migration for SQLite (embedded default) and PostgreSQL."""

from __future__ import annotations

import gc
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Engine, create_engine, event
from sqlmodel import Session

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SQLITE = REPO_ROOT / "var" / "complaints.db"


def database_url() -> str:
    return os.environ.get("COMPLAINTS_DATABASE_URL") or f"sqlite:///{DEFAULT_SQLITE}"


def _normalise(url: str) -> str:
    # psycopg 3 is the driver we ship; accept the plain URL people copy from docs.
    for plain in ("postgresql://", "postgres://"):
        if url.startswith(plain):
            return "postgresql+psycopg://" + url[len(plain):]
    return url


def is_postgres(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


def _json_dumps(value: Any) -> str:
    # orjson: JSON columns (chain, tags, outbox context) are written per row in bulk; the
    # standard library's encoder was the largest single cost of intake (bench/bench_intake.py).
    return orjson.dumps(value).decode()


# Connections kept open per process. The web serves requests on up to 40 threads (AnyIO's default);
# a pool smaller than the threads that use it at once opens and closes a connection per request
# beyond it (SQLAlchemy closes overflow connections when they are returned), which under load cost
# more than the requests themselves (bench/bench_api.py, docs/benchmarks.md "HTTP API").
POOL_SIZE = 20
POOL_OVERFLOW = 20


def make_engine(url: str | None = None) -> Engine:
    url = _normalise(url or database_url())
    if url.startswith("sqlite"):
        path = url.split("sqlite:///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 60},
                               pool_size=POOL_SIZE, max_overflow=POOL_OVERFLOW,
                               json_serializer=_json_dumps, json_deserializer=orjson.loads)
        _sqlite_single_writer(engine)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=POOL_SIZE, max_overflow=POOL_OVERFLOW,
                         json_serializer=_json_dumps, json_deserializer=orjson.loads)


def _sqlite_single_writer(engine: Engine) -> None:
    """SQLite: WAL, foreign keys, and BEGIN IMMEDIATE so a writer takes the lock up front.

    Taking the write lock at BEGIN (not at the first write) is what makes two intake runs on
    SQLite safe: the second waits for the first instead of both reading the same pending rows.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # let us issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA busy_timeout=60000")
        cur.execute("PRAGMA cache_size=-65536")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # A lookup (`read_scope`) only reads: a deferred BEGIN, so it neither takes nor waits for
        # the write lock (WAL readers see the last commit while a writer works).
        conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get(LOOKUP_OPTION) else "BEGIN IMMEDIATE")


LOOKUP_OPTION = "complaints_lookup"


@contextmanager
def read_scope(engine: Engine) -> Iterator[Session]:
    """A session for reads that must not queue behind writers (a request's sign-in check): on
    PostgreSQL in autocommit, so a statement costs one round trip (no BEGIN, no COMMIT) and each
    statement sees the last commit; on SQLite a deferred BEGIN (no write lock). Not for writes:
    on SQLite they are rolled back at the end, on PostgreSQL they would commit at once."""
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        else:
            conn = conn.execution_options(**{LOOKUP_OPTION: True})
        with Session(bind=conn, expire_on_commit=False) as session:
            try:
                yield session
            finally:
                session.rollback()


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """One transaction: commit on success, roll back on any error."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest Alembic revision (creates it on an empty database)."""
    from alembic import command
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig(str(REPO_ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(REPO_ROOT / "migrations"))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


class _GcPause:
    """A counted pause of the process-wide cyclic collector, shared by every thread.

    The collector is one switch for the whole process, and batches run in worker threads
    (intake and the sweep on PostgreSQL, the API's submits). A plain "disable, then re-enable if
    it was enabled" lets the first batch to finish switch collection back on under a batch still
    running; here the first batch in switches it off, the last one out restores what the first
    found, under one lock.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._depth = 0
        self._restore = False

    def enter(self) -> None:
        with self._lock:
            if self._depth == 0:
                self._restore = gc.isenabled()
                gc.disable()
            self._depth += 1

    def exit(self) -> None:
        with self._lock:
            self._depth -= 1
            if self._depth == 0 and self._restore:
                gc.enable()


_GC_PAUSE = _GcPause()


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector for one batch (submit, intake, sweep).

    A batch allocates tens of objects per case; those allocations keep triggering collections
    that traverse every live object of the process (a flow run or an import holds many), which
    measured ~30 % of submit + intake time in bench/bench_intake.py. The batch code makes no
    reference cycles, so reference counting frees its garbage; the collector resumes when the
    last batch in flight ends (in any thread: `_GcPause`), as the first one found it.
    """
    _GC_PAUSE.enter()
    try:
        yield
    finally:
        _GC_PAUSE.exit()
