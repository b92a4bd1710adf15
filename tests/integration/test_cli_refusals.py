"""CLI refusals (exit 2, a Chinese message naming the option, nothing stored) and the read side:
`list --overdue` and `show` count an open pause up to `--now`; `show` carries the review (核查)
deadline and owner and the Chinese names beside the codes. Cases are built by their real producers
(submit, intake, the case-action commands) on SQLite and PostgreSQL, with an injected `now`.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from complaints.config import Config
from models.audit import AuditEvent
from models.complaint import Complaint
from models.report import ReportSnapshot
from models.sqlutil import table_of
from tests.clirun import run_json
from tests.integration.test_escalation import make_case

_run = run_json
C, A, SNAP = table_of(Complaint), table_of(AuditEvent), table_of(ReportSnapshot)


def _counts(engine: Engine) -> tuple[int, int, int]:
    with engine.connect() as conn:
        return tuple(int(conn.execute(select(func.count()).select_from(t)).scalar_one())  # type: ignore[return-value]
                     for t in (C, A, SNAP))


@pytest.mark.parametrize(("args", "named", "words"), [
    (["list", "--status", "bogus"], "--status", ["'bogus'", "routed（已分派）", "closed（已办结）", "under_review（核查中）"]),
    (["list", "--limit", "0"], "--limit", ["返回条数"]),
    (["list", "--now", "2026-12-01T10:00:00"], "--now", ["缺少时区"]),
    (["forecast", "--days", "-1"], "--days", ["预测天数", "大于 0"]),
    (["forecast", "--days", "abc"], "--days", ["预测天数"]),
    (["ack-escalation", "X", "--level", "12", "--by", "feng.yu"], "--level", ["督办级别"]),
    (["outbox", "--limit", "-5"], "--limit", ["返回条数"]),
    (["dispatch", "--batch-size", "0"], "--batch-size", ["每批条数"]),
    (["intake", "--batch-size", "x"], "--batch-size", ["每批条数"]),
    (["up", "--web-port", "70000"], "--web-port", ["网页端口"]),
    (["up", "--poll-seconds", "0"], "--poll-seconds", ["轮询间隔"]),
    (["extend", "X", "--to", "forever", "--approver", "a", "--reason", "r", "--customer-told-at",
      "2026-11-27T10:00:00+08:00", "--customer-told-via", "sms"], "--to", ["不是可选值之一"]),
    (["report", "--direct", "--week", "2026-W99", "--now", "2026-12-01T10:00:00+08:00"], "--week",
     ["报告周", "没有第 99 周"]),
    (["report", "--direct", "--week", "abc", "--now", "2026-12-01T10:00:00+08:00"], "--week", ["报告周", "不是 ISO 周"]),
    (["report", "--direct", "--week", "2026-W49", "--now", "2026-12-01T10:00:00+08:00"], "--week",
     ["报告周", "尚未结束", "2026-12-07 00:00"]),
    (["report", "--week", "2099-W01"], "--week", ["尚未结束"]),  # the flow path: refused before any flow run
    (["report", "verify", "--week", "abc"], "--week", ["不是 ISO 周"]),
])
def test_bad_option_exits_2_naming_it_in_chinese_and_stores_nothing(
        cli_db: Engine, config: Config, capsys: pytest.CaptureFixture[str],
        args: list[str], named: str, words: list[str]) -> None:
    """Each bad option value is refused with exit 2 and a Chinese message naming the option."""
    make_case(cli_db, config)
    before = _counts(cli_db)
    code, out, err = _run(capsys, *args)
    assert code == 2 and out is None, err
    assert named in err and all(w in err for w in words), err
    assert "Traceback" not in err and "error:" not in err
    assert _counts(cli_db) == before


def test_status_filter_takes_the_code_or_the_chinese_name(cli_db: Engine, config: Config,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    case_no = make_case(cli_db, config)
    for value in ("routed", "已分派"):
        code, out, _ = _run(capsys, "list", "--status", value, "--now", "2026-11-27T10:00:00+08:00")
        assert code == 0 and [c["case_no"] for c in out] == [case_no]
        assert out[0]["status_name"] == "已分派"
    code, out, _ = _run(capsys, "list", "--status", "closed", "--now", "2026-11-27T10:00:00+08:00")
    assert code == 0 and out == []


def _paused_case(cli_db: Engine, config: Config, capsys: pytest.CaptureFixture[str]) -> str:
    """Received 2026-11-26 (due 12-11 23:59:59); paused for appraisal on 12-05 and never resumed."""
    case_no = make_case(cli_db, config)
    code, _, err = _run(capsys, "pause", case_no, "--reason", "鉴定", "--evidence", "JD-2026-17",
                        "--at", "2026-12-05T10:00:00+08:00", "--now", "2026-12-05T10:00:00+08:00")
    assert code == 0, err
    return case_no


def test_open_pause_keeps_a_case_off_the_overdue_list(cli_db: Engine, config: Config,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """On 12-13 the stored deadline (12-11) has passed, but 8 days paused so far make it 12-19: not overdue."""
    case_no = _paused_case(cli_db, config, capsys)
    code, out, _ = _run(capsys, "list", "--overdue", "--now", "2026-12-13T10:00:00+08:00")
    assert code == 0 and out == []
    code, out, _ = _run(capsys, "list", "--now", "2026-12-13T10:00:00+08:00")
    (row,) = out
    assert row["case_no"] == case_no and row["paused"] is True
    assert row["due_at"] == "2026-12-19T23:59:59+08:00" and row["paused_since"] == "2026-12-05T10:00:00+08:00"
    # Still paused on 2027-01-10: 36 days paused → due 2027-01-16; resumed cases count like before.
    code, out, _ = _run(capsys, "list", "--overdue", "--now", "2027-01-10T10:00:00+08:00")
    assert out == []
    _run(capsys, "resume", case_no, "--at", "2026-12-06T10:00:00+08:00", "--now", "2026-12-06T10:00:00+08:00")
    code, out, _ = _run(capsys, "list", "--overdue", "--now", "2026-12-13T10:00:00+08:00")
    assert [c["case_no"] for c in out] == [case_no] and out[0]["paused"] is False
    assert out[0]["due_at"] == "2026-12-12T23:59:59+08:00"  # one day paused


def test_show_carries_the_current_deadline_of_a_paused_case(cli_db: Engine, config: Config,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    """`show --now` while paused: the deadline with the open pause counted, paused days, since when, why."""
    case_no = _paused_case(cli_db, config, capsys)
    code, case, _ = _run(capsys, "show", case_no, "--now", "2026-12-13T10:00:00+08:00")
    assert code == 0
    assert case["paused"] is True and case["paused_days"] == 8 and case["pause_reason"] == "鉴定"
    assert case["paused_since"] == "2026-12-05T10:00:00+08:00"
    assert case["due_at"] == "2026-12-19T23:59:59+08:00"
    assert case["stored_due_at"] == "2026-12-11T23:59:59+08:00"
    assert case["as_of"] == "2026-12-13T10:00:00+08:00"


def _names(case: dict[str, Any]) -> dict[str, Any]:
    return {k: case[k] for k in ("status_name", "source_name", "severity_name", "tier_name", "category_name",
                                 "channel_name")}


def test_show_has_chinese_names_review_owner_and_vulnerable(cli_db: Engine, config: Config,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    """After a response and a review request, `show` names the review's deadline and owner (核查, Art. 20)."""
    case_no = make_case(cli_db, config, category="银行卡", vulnerable=True, vulnerable_note="老年客户",
                        outlet="中山支行营业部", respondent="信用卡中心")
    code, case, _ = _run(capsys, "show", case_no, "--now", "2026-11-27T10:00:00+08:00")
    assert code == 0 and case["review"] is None and case["review_due_at"] is None and case["paused"] is False
    assert _names(case) == {"status_name": "已分派", "source_name": "网点现场", "severity_name": case["severity_name"],
                            "tier_name": "一般（15日）", "category_name": "银行卡", "channel_name": "营业现场"}
    assert case["severity_name"] in {"普通", "复杂", "重大"}
    assert case["vulnerable"] is True and case["vulnerable_note"] == "老年客户"
    assert case["outlet"] == "中山支行营业部" and case["respondent"] == "信用卡中心"
    code, _, err = _run(capsys, "respond", case_no, "--verified", "已核实", "--basis", "依据合同第5条",
                        "--remedies", "可申请核查、调解、仲裁或诉讼", "--told-via", "written",
                        "--now", "2026-11-28T10:00:00+08:00")
    assert code == 2 and "outcome（投诉是否成立）：必填" in err  # the outcome is required (docs/governance.md)
    code, _, err = _run(capsys, "respond", case_no, "--verified", "已核实", "--basis", "依据合同第5条",
                        "--remedies", "可申请核查、调解、仲裁或诉讼", "--told-via", "written", "--outcome", "部分成立",
                        "--redress-type", "退还费用", "--redress-amount", "200.001", "--now", "2026-11-28T10:00:00+08:00")
    assert code == 2 and "redress-amount（补偿金额）：200.001 超过两位小数" in err
    code, _, err = _run(capsys, "respond", case_no, "--verified", "已核实", "--basis", "依据合同第5条",
                        "--remedies", "可申请核查、调解、仲裁或诉讼", "--told-via", "written", "--outcome", "部分成立",
                        "--redress-type", "退还费用", "--redress-amount", "200.00", "--now", "2026-11-28T10:00:00+08:00")
    assert code == 0, err
    code, _, err = _run(capsys, "review", case_no, "--requested-at", "2026-11-30T09:00:00+08:00",
                        "--now", "2026-11-30T09:00:00+08:00")
    assert code == 0, err
    code, case, _ = _run(capsys, "show", case_no, "--now", "2026-12-01T10:00:00+08:00")
    assert case["status_name"] == "核查中"
    review = case["review"]
    assert review["owner_name"] == "刘洋" and review["owner_org"] == "某银行辽宁省分行消费者权益保护部"
    assert case["review_owner"] == "某银行辽宁省分行消费者权益保护部 刘洋"
    assert case["review_due_at"] == review["due_at"] and review["requested_at"] == "2026-11-30T09:00:00+08:00"
    assert review["due_at"] > "2026-12-29"  # 30 days after the request


def _escalated_status(engine: Engine) -> list[str]:
    from models.outbox import OutboxMessage

    out = table_of(OutboxMessage)
    with engine.connect() as conn:
        rows = conn.execute(select(out.c.status, out.c.attempts).where(out.c.kind == "escalated")).all()
    # "untouched": still pending and never attempted; anything else was taken up by a dispatch
    return ["untouched" if st == "pending" and not n else "taken up" for st, n in rows]


def test_dispatch_now_delivers_what_is_due_by_then(cli_db: Engine, config: Config,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """`dispatch --now` takes up messages due by then (an escalation queued by `escalate --now`), directly."""
    make_case(cli_db, config, category="银行卡")
    code, out, _ = _run(capsys, "escalate", "--now", "2026-11-28T08:00:00+08:00")
    assert code == 0 and out["per_level"] == {"L1": 1}
    queued = _escalated_status(cli_db)
    assert queued and set(queued) == {"untouched"}
    code, out, err = _run(capsys, "dispatch", "--now", "2026-11-28T07:00:00+08:00")
    assert code == 0, err
    assert set(_escalated_status(cli_db)) == {"untouched"}  # queued at 08:00: not due at 07:00
    code, out, err = _run(capsys, "dispatch", "--now", "2026-11-28T08:00:00+08:00")
    assert code == 0 and out["claimed"] >= 1, err
    assert "taken up" in _escalated_status(cli_db)  # (one may be deferred to its recipient's working hours)


def test_api_overdue_list_and_case_agree_with_the_cli(cli_db: Engine, config: Config, monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """GET /api/complaints?overdue=true leaves the paused case out on 12-13; its JSON has the current deadline."""
    import warnings
    from datetime import datetime

    from api.app import create_app
    from services import unit_of_work
    from tests.api.support import account, bearer

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient

    case_no = _paused_case(cli_db, config, capsys)
    other = make_case(cli_db, config)  # not paused: overdue on 12-13
    token = account(cli_db, config, "cpo-x", "cpo")
    monkeypatch.setattr(unit_of_work, "utcnow", lambda: datetime.fromisoformat("2026-12-13T10:00:00+08:00"))
    with TestClient(create_app(config, cli_db), base_url="http://127.0.0.1") as client:
        listed = client.get("/api/complaints", params={"overdue": "true"}, headers=bearer(token))
        assert listed.status_code == 200, listed.text
        assert [c["case_no"] for c in listed.json()] == [other]
        code, out, _ = _run(capsys, "list", "--overdue", "--now", "2026-12-13T10:00:00+08:00")
        assert [c["case_no"] for c in out] == [other]
        case = client.get(f"/api/complaints/{case_no}", headers=bearer(token)).json()
        assert case["paused"] is True and case["paused_days"] == 8
        assert case["due_at"] == "2026-12-19T23:59:59+08:00" and case["paused_since"] == "2026-12-05T10:00:00+08:00"
        soon = client.get("/api/complaints", params={"due_within_days": 7}, headers=bearer(token)).json()
        assert [c["case_no"] for c in soon] == [case_no]  # due 12-19, within a week of 12-13
