"""Alembic environment: runs on a connection handed over by models.db.migrate, or on the URL."""

from alembic import context
from sqlmodel import SQLModel

import models  # noqa: F401  (registers the tables)
from models.db import make_engine

target_metadata = SQLModel.metadata


def run_migrations() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = make_engine()
    with engine.begin() as conn:
        context.configure(connection=conn, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()


run_migrations()
