"""Shared fixtures: a migrated database on SQLite and on the real PostgreSQL, and the config.

`db_engine` is parametrised over both back-ends, so every test that takes it runs twice. The
PostgreSQL database is this run's own (`tests/pgtest.py`: created at the start, dropped at the end,
so two runs at once do not truncate each other's data); COMPLAINTS_TEST_PG_URL names another.
PostgreSQL not reachable is an error, not a skip: `.ci/run` starts it.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlmodel import SQLModel

import models  # noqa: F401
from complaints.config import REPO_ROOT, Config, load_config
from models.db import make_engine, migrate
from tests import pgtest

PG_URL = pgtest.MAIN_URL


@pytest.fixture(scope="session")
def pg_engine() -> Iterator[Engine]:
    """The real PostgreSQL, schema dropped and migrated once per session."""
    own = "COMPLAINTS_TEST_PG_URL" not in os.environ
    pgtest.create_database(pgtest.name_of(PG_URL), replace=own)
    engine = make_engine(PG_URL)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    migrate(engine)
    yield engine
    engine.dispose()
    if own:
        pgtest.drop_database(pgtest.name_of(PG_URL))


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file that each test copies (migrating once is cheaper)."""
    path = tmp_path_factory.mktemp("sqlite") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate(engine)
    engine.dispose()
    return path


def _truncate_pg(engine: Engine) -> None:
    tables = ", ".join(f'"{t.name}"' for t in SQLModel.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


@pytest.fixture(params=["sqlite", "postgres"])
def db_engine(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> Iterator[Engine]:
    """A freshly migrated, empty database: SQLite file, then the real PostgreSQL."""
    if request.param == "sqlite":
        path = tmp_path / "complaints.db"
        shutil.copy(sqlite_template, path)
        engine = make_engine(f"sqlite:///{path}")
        yield engine
        engine.dispose()
    else:
        engine = request.getfixturevalue("pg_engine")
        _truncate_pg(engine)
        yield engine


@pytest.fixture(scope="session")
def config() -> Config:
    """The example configuration shipped in config/."""
    return load_config(REPO_ROOT / "config")


@pytest.fixture
def cli_db(db_engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Engine:
    """The CLI (in this process) pointed at the test database."""
    monkeypatch.setenv("COMPLAINTS_DATABASE_URL", db_engine.url.render_as_string(hide_password=False))
    return db_engine


@pytest.fixture(autouse=True)
def _own_anchor_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test writes audit anchors to its own file, never to the repo's var/anchors/anchors.jsonl."""
    monkeypatch.setenv("COMPLAINTS_ANCHOR_FILE", str(tmp_path / "anchors" / "anchors.jsonl"))
    monkeypatch.delenv("COMPLAINTS_ANCHOR_KEY", raising=False)


@pytest.hookimpl(tryfirst=True)  # before xdist's own, which reads the xdist_group marks
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under pytest-xdist (`./run test` runs two workers, `--dist loadgroup`): the system tests
    (tests/system: Prefect servers, workers, Redis, `complaints up`, fixed timings) all run on one
    worker, one after another, as they would alone, and first (the longest part: the other worker
    shares out the rest meanwhile); without xdist the order is pytest's own."""
    if not hasattr(config, "workerinput"):  # not an xdist worker
        return
    system = [item for item in items if item.nodeid.startswith("tests/system/")]
    for item in system:
        item.add_marker(pytest.mark.xdist_group("system"))
    items[:] = system + [item for item in items if not item.nodeid.startswith("tests/system/")]
