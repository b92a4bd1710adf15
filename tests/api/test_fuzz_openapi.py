"""Property-based fuzzing of the API from its own OpenAPI schema (schemathesis): whatever is sent,
no 5xx and every response matches the schema. Bounded examples per operation, so it stays fast.
Hostile bodies the schema does not describe (depth, integer size, body size) are generated too."""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import checks
from sqlalchemy import Engine

from complaints.config import Config
from tests.api.support import account, bearer, routed_case

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

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


# Generated bodies beyond what the schema describes: nested up to 1,000 levels, integers of up to
# 6,000 digits, long strings, bodies around the size limit. Every one is answered, none with a 5xx,
# and anything deeper than 32 levels or with an integer over 20 digits is a 422 naming the limit.
_LEAF = (st.none() | st.booleans() | st.integers(min_value=-(10**30), max_value=10**30) | st.floats(allow_nan=False)
         | st.text(max_size=50))
_JSON = st.recursive(_LEAF, lambda kids: st.lists(kids, max_size=5) | st.dictionaries(st.text(max_size=10), kids,
                                                                                    max_size=5), max_leaves=30)


@st.composite
def _hostile(draw: st.DrawFn) -> tuple[bytes, str | None]:
    kind = draw(st.sampled_from(["deep", "bigint", "wide", "plain"]))
    inner = json.dumps(draw(_JSON)).encode()
    if kind == "deep":
        depth = draw(st.integers(min_value=1, max_value=1000))
        opener = draw(st.sampled_from([b"[", b'{"a":']))
        closer = b"]" if opener == b"[" else b"}"
        return opener * depth + inner + closer * depth, "嵌套层数" if depth > 32 else None
    if kind == "bigint":
        digits = draw(st.integers(min_value=1, max_value=6000))
        body = b'{"group_size": ' + b"7" * digits + b', "x": ' + inner + b"}"
        return body, "整数不能超过 20 位" if digits > 20 else None
    if kind == "wide":
        n = draw(st.integers(min_value=1, max_value=1_200_000))
        return b'{"facts": "' + b"a" * n + b'"}', None
    return inner, None


@pytest.fixture
def fuzz_client(app: FastAPI, db_engine: Engine, config: Config) -> Iterator[tuple[TestClient, str, str]]:
    case = routed_case(db_engine, config)
    token = account(db_engine, config, "fuzz-admin", "admin")
    with TestClient(app, base_url="http://127.0.0.1") as c:
        yield c, token, case["case_no"]


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True, database=None)
@given(body=_hostile(), path=st.sampled_from(["/api/complaints", "/api/complaints/{case}/respond",
                                              "/api/complaints/{case}/extend"]))
def test_hostile_bodies_never_fail(fuzz_client: tuple[TestClient, str, str], body: tuple[bytes, str | None],
                                   path: str) -> None:
    """Deep, huge-integer and oversized bodies get a 4xx (413 over 1 MiB, 422 naming the limit), never a 5xx."""
    client, token, case_no = fuzz_client
    raw, limit = body
    r = client.post(path.format(case=case_no), content=raw,
                    headers={**bearer(token), "Content-Type": "application/json"})
    assert r.status_code < 500, (r.status_code, r.text[:300])
    if len(raw) > 1024 * 1024:
        assert r.status_code == 413 and "1 MiB" in r.json()["detail"]
    elif limit is not None:
        assert r.status_code == 422 and limit in " ".join(r.json()["errors"]), r.text[:300]
