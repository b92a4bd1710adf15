"""What the migration tests share: an empty database of either kind (not migrated yet), and a step
of the schema to a revision through Alembic, as `complaints migrate` takes it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import Engine

from models.db import REPO_ROOT, make_engine
from tests import pgtest


def unmigrated(kind: str, tmp_path: Path, tag: str) -> Iterator[Engine]:
    """An empty SQLite file, or a PostgreSQL database of this run's own (dropped afterwards)."""
    if kind == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
        yield engine
        engine.dispose()
        return
    name = pgtest.db_name(tag)
    engine = make_engine(pgtest.create_database(name))
    yield engine
    engine.dispose()
    pgtest.drop_database(name)


def to_revision(engine: Engine, revision: str, *, down: bool = False) -> None:
    cfg = AlembicConfig(str(REPO_ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(REPO_ROOT / "migrations"))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        (command.downgrade if down else command.upgrade)(cfg, revision)
