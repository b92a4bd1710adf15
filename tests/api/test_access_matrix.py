"""Every role against every endpoint: who is let in (2xx or a domain refusal), who gets 403, and
that nobody gets in anonymously (401 for the API, the login page for pages)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from complaints.config import Config
from flows.weekly_report import build_weekly_report
from tests.api.support import PASSWORD, account, bearer, routed_case
from tests.factories import complaint_data

ROLES = ("desk", "handler", "supervisor", "cpo", "auditor", "admin")
ALL = set(ROLES)
SUBMIT = {"desk", "handler", "supervisor", "cpo", "admin"}
ACT = {"handler", "supervisor", "cpo", "admin"}
REPORTS = {"supervisor", "cpo", "auditor", "admin"}
AUDIT = {"cpo", "auditor", "admin"}
WEEK = "2026-W47"
NOW = "2026-11-27T10:00:00+08:00"

# (method, path, json body, roles allowed) — written out here, not imported from api.access.
API = [
    ("GET", "/api/me", None, ALL),
    ("POST", "/api/complaints", "complaint", SUBMIT),
    ("GET", "/api/complaints", None, ALL),
    ("GET", "/api/complaints/{case}", None, ALL),
    ("GET", "/api/complaints/{case}?unmask=true", None, {"handler", "supervisor", "cpo", "admin"}),
    ("POST", "/api/complaints/{case}/acknowledge", None, ACT),
    # Assigning to the current handler is refused (422), so the matrix does not move the case away
    # from the 'handler' role half way through.
    ("POST", "/api/complaints/{case}/assign", {"handler": "{handler}"}, {"supervisor", "cpo", "admin"}),
    ("POST", "/api/complaints/{case}/pause", {"reason": "鉴定", "evidence": "JD-1"}, ACT),
    ("POST", "/api/complaints/{case}/resume", {}, ACT),
    ("POST", "/api/complaints/{case}/new-facts", {"at": NOW}, ACT),
    ("POST", "/api/complaints/{case}/extend", {"to": "complex", "approver": "zhao.li", "reason": "复杂",
                                               "customer_told_at": NOW, "customer_told_via": "phone"}, ACT),
    ("POST", "/api/complaints/{case}/respond", {"verified": "已核实", "basis": "合同第5条", "remedies": "可申请核查、调解、仲裁、诉讼",
                                                "told_via": "phone", "outcome": "成立"}, ACT),
    ("POST", "/api/complaints/{case}/close", {"root_cause": "收费定价"}, ACT),
    ("POST", "/api/complaints/{case}/withdraw", {}, ACT),
    ("POST", "/api/complaints/{case}/reopen", {"reason": "投诉人补充材料"}, ACT),
    ("POST", "/api/complaints/{case}/review", {"requested_at": NOW}, ACT),
    ("GET", "/api/escalations/mine", None, ACT),
    ("POST", "/api/complaints/{case}/escalations/0/acknowledge", None, ACT),
    ("GET", "/api/reports", None, REPORTS),
    ("GET", f"/api/reports/{WEEK}", None, REPORTS),
    ("GET", f"/api/reports/{WEEK}/html", None, REPORTS),
    ("GET", f"/api/reports/{WEEK}/csv/summary", None, REPORTS),
    ("GET", f"/api/reports/{WEEK}/verify", None, REPORTS),
    ("GET", "/api/audit/verify", None, AUDIT),
]

PAGES = [
    ("/desk/new", SUBMIT),
    ("/desk/receipt/{case}", ALL),
    ("/queue", ALL),
    ("/overdue", ALL),
    ("/cases/{case}", ALL),
    ("/cases/{case}?unmask=true", {"handler", "supervisor", "cpo", "admin"}),
    ("/reports", REPORTS),
    ("/audit", AUDIT),
]


@pytest.fixture
def world(client: TestClient, db_engine: Engine, config: Config, tmp_path: Path) -> Iterator[dict[str, str]]:
    case = routed_case(db_engine, config)
    assert case["handler"]
    build_weekly_report(db_engine, config, WEEK, datetime.now(UTC), output_dir=tmp_path)
    people = {"desk": None, "handler": case["handler"], "supervisor": "feng.yu", "cpo": "zhao.li",
              "auditor": "lin.shen", "admin": None}
    tokens = {role: account(db_engine, config, f"u-{role}", role, person=people[role],
                            branch="dl" if role == "desk" else None) for role in ROLES}
    yield {"case": case["case_no"], "handler_id": case["handler"], **tokens}


def _allowed(status: int) -> bool:
    return status not in (401, 403) and status < 500


def test_api_matrix(client: TestClient, world: dict[str, str]) -> None:
    """Each role reaches exactly the API endpoints its row allows; the rest answer 403; anonymous 401."""
    for method, template, body, allowed in API:
        path = template.format(case=world["case"])
        payload = complaint_data(external_ref=None) if body == "complaint" else body
        if isinstance(payload, dict) and payload.get("handler") == "{handler}":
            payload = {"handler": world["handler_id"]}
        r = client.request(method, path, json=payload)
        assert r.status_code == 401, (path, "anonymous", r.status_code)
        for role in ROLES:
            r = client.request(method, path, json=payload, headers=bearer(world[role]))
            assert r.status_code < 500, (path, role, r.text)
            if role in allowed:
                assert _allowed(r.status_code), (method, path, role, r.status_code, r.text)
            else:
                assert r.status_code == 403, (method, path, role, r.status_code, r.text)


def test_page_matrix(client: TestClient, world: dict[str, str]) -> None:
    """Each role opens exactly the pages its row allows (else 403); without a session every page sends to login."""
    for template, _allowed_roles in PAGES:
        r = client.get(template.format(case=world["case"]), follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/login?next="), template
    for role in ROLES:
        client.cookies.clear()
        login = client.get("/login")
        csrf = login.text.split('name="csrf" value="')[1].split('"')[0]
        r = client.post("/login", data={"username": f"u-{role}", "password": PASSWORD, "csrf": csrf, "next": "/"},
                        follow_redirects=False)
        assert r.status_code == 303, (role, r.text)
        for template, allowed in PAGES:
            r = client.get(template.format(case=world["case"]), follow_redirects=False)
            if role in allowed:
                assert r.status_code == 200, (template, role, r.status_code, r.text[:500])
            else:
                assert r.status_code == 403, (template, role, r.status_code)


def test_case_outside_scope_answers_as_an_unknown_case(client: TestClient, db_engine: Engine, config: Config) -> None:
    """Every API case endpoint and case page gives a supervisor the same answer for a case outside
    the sub-branch as for a number that does not exist (404, same body): case numbers cannot be probed."""
    city = routed_case(db_engine, config)["case_no"]
    token = account(db_engine, config, "ma", "supervisor", person="ma.lei")
    unknown = "DL-2026-999999"
    for method, template, body, _roles in API:
        if "{case}" not in template:
            continue
        hidden = client.request(method, template.format(case=city), json=body, headers=bearer(token))
        missing = client.request(method, template.format(case=unknown), json=body, headers=bearer(token))
        assert hidden.status_code == missing.status_code == 404, (template, hidden.status_code, hidden.text)
        assert hidden.text.replace(city, unknown) == missing.text, template
    client.cookies.clear()
    login = client.get("/login")
    csrf = login.text.split('name="csrf" value="')[1].split('"')[0]
    client.post("/login", data={"username": "ma", "password": PASSWORD, "csrf": csrf, "next": "/"})
    for template in ("/cases/{case}", "/cases/{case}/letter", "/desk/receipt/{case}"):
        hidden = client.get(template.format(case=city))
        missing = client.get(template.format(case=unknown))
        assert hidden.status_code == missing.status_code == 404, (template, hidden.status_code)
        assert _page_text(hidden.text).replace(city, unknown) == _page_text(missing.text), template


def _page_text(html: str) -> str:
    """The page without its per-request tokens (CSRF, nonces)."""
    import re

    return re.sub(r'value="[^"]{20,}"', 'value=""', html)
