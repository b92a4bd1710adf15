"""PostgreSQL databases of this test run only.

Each pytest process gets its own databases, named after a run id (`complaints_t<pid>_…`), so two
runs at once on one machine (a developer's and CI's, or two helpers') never truncate each other's
data. They are dropped when the session ends. `COMPLAINTS_TEST_PG_URL` names a server and a
database to use instead of the per-run one (its host part is used for the per-test databases too).
"""

from __future__ import annotations

import os

from sqlalchemy import create_engine, text

RUN_ID = f"t{os.getpid()}"
_DEFAULT_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432"
_URL = os.environ.get("COMPLAINTS_TEST_PG_URL")
SERVER = _URL.rsplit("/", 1)[0] if _URL else _DEFAULT_SERVER
MAIN_URL = _URL or f"{SERVER}/complaints_{RUN_ID}"


def db_name(name: str) -> str:
    """A database name of this run for `name` (PostgreSQL keeps 63 bytes of a name)."""
    return f"{name}_{RUN_ID}"[:63]


def create_database(name: str, *, replace: bool = True) -> str:
    """Create the database `name` on the test server (dropped first when it exists); its URL."""
    admin = create_engine(SERVER + "/postgres", isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            exists = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first()
            if exists and replace:
                conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
            if not exists or replace:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
    return f"{SERVER}/{name}"


def drop_database(name: str) -> None:
    admin = create_engine(SERVER + "/postgres", isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def name_of(url: str) -> str:
    return url.rsplit("/", 1)[1].split("?")[0]
