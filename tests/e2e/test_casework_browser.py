"""Chromium (Playwright) against the app on loopback: the 消保办 opens a case, attaches an evidence file,
adds a note, transfers the case to another department, and exports the case list as CSV."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from api.app import create_app, serving
from complaints.config import Config
from domain.calendar import WorkingCalendar
from flows.intake import run_intake
from models.complaint import Complaint
from models.db import make_engine, session_scope
from models.sqlutil import table_of
from models.submission import submit
from models.users import create_user
from tests.e2e.support import ARGS, CHROMIUM, PASSWORD, login
from tests.factories import complaint

COMPLAINT = table_of(Complaint)

playwright = pytest.importorskip("playwright.sync_api")


@pytest.fixture
def engine(tmp_path: Path, sqlite_template: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    monkeypatch.setenv("COMPLAINTS_EVIDENCE_DIR", str(tmp_path / "evidence"))
    path = tmp_path / "e2e.db"
    shutil.copy(sqlite_template, path)
    eng = make_engine(f"sqlite:///{path}")
    yield eng
    eng.dispose()


def test_open_attach_note_transfer_export(engine: Engine, config: Config, tmp_path: Path) -> None:
    if not CHROMIUM.exists():
        pytest.fail("/usr/bin/chromium is missing: apt-get install -y chromium chromium-driver")
    now = datetime.now(UTC)
    (r,) = submit(engine, [complaint(category="银行卡", received_at=now.isoformat(),
                                     complainant={"name": "张三", "phone": "13812345678"})],
                  config=config, calendar=WorkingCalendar(), now=now)
    run_intake(engine, config)
    with session_scope(engine) as s:
        create_user(s, username="cpo1", role="cpo", password=PASSWORD, config=config, now=now, person_id="zhao.li")
    evidence = tmp_path / "回执.pdf"
    evidence.write_bytes(b"%PDF-1.4\n% proof of notice\n")
    with serving(create_app(config, engine)) as base, playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        page = browser.new_page(accept_downloads=True)
        page.goto(f"{base}/cases/{r.case_no}")
        login(page, "cpo1")
        page.wait_for_url(f"{base}/cases/{r.case_no}")

        page.set_input_files("#form-upload input[type=file]", str(evidence))
        page.fill("#form-upload input[name=description]", "告知回执")
        page.click("#act-upload")
        page.wait_for_url(f"{base}/cases/{r.case_no}?done=**")
        assert "回执.pdf" in page.inner_text("#files")

        page.fill("#form-note textarea[name=text]", "张三来电，手机13812345678，要求回电")
        page.click("#act-note")
        page.wait_for_url(f"{base}/cases/{r.case_no}?done=**")
        notes = page.inner_text("#notes")
        assert "138****5678" in notes and "13812345678" not in notes  # masked until unmasked

        page.select_option("#form-transfer select[name=to]", "retail")
        page.fill("#form-transfer textarea[name=reason]", "借记卡年费，属个人金融部")
        page.click("#act-transfer")
        page.wait_for_url(f"{base}/cases/{r.case_no}?done=**")
        assert "转办" in page.inner_text("#timeline")

        page.goto(f"{base}/cases")
        with page.expect_download() as info:
            page.click("#export-csv")
        text = Path(info.value.path()).read_bytes().decode("utf-8-sig")
        browser.close()
    assert r.case_no in text and "个人金融部" in text and "张三" not in text
    with session_scope(engine) as s:
        department = s.execute(select(COMPLAINT.c.department).where(COMPLAINT.c.case_no == r.case_no)).scalar_one()
    assert department == "retail"
