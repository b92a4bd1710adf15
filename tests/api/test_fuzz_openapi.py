"""Property-based fuzzing of the API from its own OpenAPI schema (schemathesis): whatever is sent,
no 5xx and every response matches the schema. Bounded examples per operation, so it stays fast."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis import checks
from sqlalchemy import Engine

from complaints.config import Config
from tests.api.support import account, bearer, routed_case

schema = schemathesis.pytest.from_fixture("api_schema")
CHECKS = [checks.not_a_server_error, checks.response_schema_conformance]


@pytest.fixture
def api_schema(app: FastAPI, db_engine: Engine, config: Config) -> Any:
    routed_case(db_engine, config)
    app.state.fuzz_token = account(db_engine, config, "fuzz-admin", "admin")
    return schemathesis.openapi.from_asgi("/openapi.json", app)


@schema.parametrize()
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True,
          database=None)
def test_api_never_fails_and_keeps_its_schema(case: Any, app: FastAPI) -> None:
    """Generated requests of an admin never produce a 5xx or a response outside the schema."""
    case.call_and_validate(headers=bearer(app.state.fuzz_token), checks=CHECKS)
