"""The command line for notifications: dead letters listed and requeued; submit → intake → dispatch."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from complaints.config import REPO_ROOT
from models.outbox import OutboxStatus
from notifications.dispatch import dispatch_once
from notifications.outbox import OutboxItem
from notifications.settings import ChannelSet
from tests.clirun import run_json
from tests.support.fake_services import FakeServices
from tests.support.notify import (  # noqa: F401 - fixtures
    T0,
    channels_fixture,
    inbox_fixture,
    org_for,
    queue,
    routed_contract,
    rows,
    services_fixture,
)
from tests.support.smtp_server import SmtpInbox


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    code, out, err = run_json(capsys, *argv)
    assert code == 0, err
    return out


def test_dead_letters_are_listed_and_requeued_then_delivered(
    cli_db: Engine, services: FakeServices, channels: ChannelSet, capsys: pytest.CaptureFixture[str]
) -> None:
    """`outbox --dead` shows the dead row with its error; `outbox requeue --all-dead` makes it deliverable again."""
    org = org_for(services, [("p1", ["webhook"])])
    queue(cli_db, org, [OutboxItem("routed", "p1", "DL-2026-000001:routed", routed_contract("DL-2026-000001"),
                                   None, "DL-2026-000001")])
    services.outage["webhook"] = "400"
    dispatch_once(cli_db, channels=channels, now=T0, batch_size=10, owner="t")
    [dead] = _run(capsys, "outbox", "--dead")
    assert dead["case_no"] == "DL-2026-000001" and "HTTP 400" in dead["last_error"]
    assert _run(capsys, "outbox") == {"pending": 0, "sent": 0, "dead": 1, "due_now": 0}
    assert _run(capsys, "outbox", "requeue", "--all-dead") == {"requeued": 1}
    services.outage.clear()
    [row] = rows(cli_db)
    result = dispatch_once(cli_db, channels=channels, now=row.next_attempt_at, batch_size=10, owner="t")
    assert result.sent == 1 and rows(cli_db)[0].status == OutboxStatus.SENT
    assert _run(capsys, "outbox", "requeue", str(row.id)) == {"requeued": 0}  # sent rows stay sent


def test_submit_intake_dispatch_reaches_smtp_and_webhook_masked(
    cli_db: Engine, services: FakeServices, inbox: SmtpInbox, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    """The example config pointed at a local SMTP server and webhook: a submitted complaint's routing notice arrives masked on both."""
    config = tmp_path / "config"
    shutil.copytree(REPO_ROOT / "config", config)
    org = (config / "org.yaml").read_text(encoding="utf-8")
    org = re.sub(r"email: ([\w.]+)@bank\.example", lambda m: f"{m.group(0)}, webhook: {services.webhook_url(m.group(1))}", org)
    (config / "org.yaml").write_text(org, encoding="utf-8")
    monkeypatch.setenv("COMPLAINTS_CONFIG", str(config))
    monkeypatch.setenv("COMPLAINTS_SMTP_PORT", str(inbox.port))
    monkeypatch.setenv("COMPLAINTS_WECOM_BASE_URL", services.url)
    monkeypatch.setenv("COMPLAINTS_DINGTALK_BASE_URL", services.url)
    monkeypatch.setenv("COMPLAINTS_FEISHU_BASE_URL", services.url)
    monkeypatch.setenv("COMPLAINTS_WEBHOOK_KEY", "test-webhook-key")

    _run(capsys, "submit", str(REPO_ROOT / "examples" / "complaint.json"))
    _run(capsys, "intake", "--direct")
    result = _run(capsys, "dispatch", "--direct")
    assert isinstance(result, dict) and result["sent"] >= 2
    webhook_texts = [r.text for r in services.received if r.service == "webhook"]
    mails = [m.get_body(("plain",)).get_content() for m in inbox.messages]  # type: ignore[union-attr]
    assert webhook_texts and mails
    for text in webhook_texts + mails:
        assert "张*" in text and "13812345678" not in text and "210202198001011234" not in text
        assert "张三" not in text
