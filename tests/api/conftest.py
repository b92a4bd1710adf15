"""The app on the test database (SQLite and the real PostgreSQL), and a client for it."""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from sqlalchemy import Engine

from api.app import create_app
from complaints.config import Config

with warnings.catch_warnings():
    # Starlette asks for httpx2 in its test client; httpx 0.28 is what the project pins.
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


def without_backdating_window(config: Config) -> Config:
    """The shipped config, but a receipt may lie ten years back: the factories' fixed receipt
    dates must not fall out of the 30-day window as the calendar moves on. The window itself is
    tested on an app with the shipped config (tests/api/test_hardening.py)."""
    intake = config.policy.intake.model_copy(update={"backdate_days": 3650})
    return dataclasses.replace(config, policy=config.policy.model_copy(update={"intake": intake}))


@pytest.fixture
def app(db_engine: Engine, config: Config) -> FastAPI:
    return create_app(without_backdating_window(config), db_engine)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, base_url="http://127.0.0.1") as c:
        yield c
