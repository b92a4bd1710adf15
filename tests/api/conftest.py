"""The app on the test database (SQLite and the real PostgreSQL), and a client for it."""

from __future__ import annotations

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


@pytest.fixture
def app(db_engine: Engine, config: Config) -> FastAPI:
    return create_app(config, db_engine)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, base_url="http://127.0.0.1") as c:
        yield c
