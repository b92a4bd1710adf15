"""The case page as the auditor (always masked) and a handler (masked by default) read it: personal
data in the complaint's free text, the extension's reason (and its queued messages) and the
recorded decision is masked,
from a case submitted, routed, extended and answered through the real routes (SQLite and PostgreSQL)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import Engine, select

from complaints.config import Config
from models.outbox import OutboxMessage
from models.sqlutil import table_of
from tests.api.support import Clock, install_clock
from tests.api.test_pages import T0, Browser, _case, _text, _user
from tests.integration.test_masking_paths import FACTS, REQUEST, assert_masked

NAME, AGENT = "刘桂兰", "王建国"
OUT = table_of(OutboxMessage)


@pytest.fixture(name="page_clock")
def page_clock_fixture(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """The injected clock of the pages (as tests/api/test_pages.py's `clock`)."""
    c = Clock(T0)
    install_clock(monkeypatch, c)
    return c


def test_case_page_masks_free_text_for_the_auditor_and_by_default(app: FastAPI, db_engine: Engine, config: Config,
                                                                   page_clock: Clock) -> None:
    """No raw name, phone, card, ID, e-mail or address on the masked page; the same page unmasked
    (a handler's 查看完整个人信息) still shows what was written, so the test can fail."""
    clock = page_clock
    case = _case(db_engine, config, request=REQUEST, facts=FACTS,
                 complainant={"name": NAME, "phone": "13812345678", "email": "liu.guilan@example.com"},
                 agent={"name": AGENT, "phone": "13987654321", "authorization": "委托书 2026-001"})
    case_no = case["case_no"]
    _user(db_engine, config, "u-supervisor", "supervisor", person="feng.yu")
    _user(db_engine, config, "u-handler", "handler", person=case["handler"])
    _user(db_engine, config, "u-auditor", "auditor", person="lin.shen")
    handler, auditor = Browser(app, "u-handler"), Browser(app, "u-auditor")
    clock.browsers.extend([handler, auditor])
    handler.act(case_no, "acknowledge")
    told = clock.now.strftime("%Y-%m-%dT%H:%M")
    handler.act(case_no, "extend", to="complex", approver="li.ming", reason="需核实刘桂兰卡号6222 0212 3456 7890 123的交易",
                customer_told_via="phone", customer_told_at=told)
    clock.advance(days=1)
    handler.act(case_no, "respond", verified="经核实，刘桂兰（电话138.1234.5678）的年费按合约收取",
                basis="《信用卡领用合约》第五条", remedies="可向上级机构申请核查，或申请调解、仲裁、诉讼", told_via="phone",
                outcome="不成立", not_upheld_reason="年费按合约收取")

    pages: dict[str, Any] = {"auditor": auditor.get(f"/cases/{case_no}"), "handler": handler.get(f"/cases/{case_no}")}
    for who, r in pages.items():
        assert r.status_code == 200, (who, r.text[:2000])
        text = _text(r.text)
        assert_masked(f"case page ({who})", text)
        assert "刘**" in text and "138.****.5678" in text and "经核实" in text and "需核实刘**卡号" in text, who
    with db_engine.connect() as conn:  # the extension's messages as queued
        notes = [c for (c,) in conn.execute(select(OUT.c.context).where(OUT.c.kind.like("extension%")))]
    assert notes and all("需核实刘**卡号" in str(c) for c in notes)
    for c in notes:
        assert_masked("extension message", str(c))
    unmasked = handler.get(f"/cases/{case_no}?unmask=true")
    assert unmasked.status_code == 200
    assert NAME in _text(unmasked.text)
    for b in (handler, auditor):
        b.client.close()
