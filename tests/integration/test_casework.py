"""The workbench's case work on the real databases (services/workbench.py, complaints/cli_casework.py):
evidence files in the audit chain (a changed byte on disk fails `audit verify`), read-only after
close, notes and contacts masked, transfer and return (deadlines stay; chain, participants, schedule
and message follow), export masked and formula-safe, bulk actions one transaction per case."""

from __future__ import annotations

import dataclasses
import io
import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from complaints.config import Config
from domain.calendar import WorkingCalendar
from flows.intake import run_intake
from models import case_actions
from models.anchors import verify_with_anchors
from models.audit import AuditEvent
from models.case_actions import ActionError
from models.case_views import case_detail, list_cases
from models.complaint import ClockEventRow, Complaint
from models.db import session_scope
from models.escalation import EscalationSchedule
from models.escalation_store import reschedule
from models.evidence_store import DirectoryStore
from models.outbox import OutboxMessage
from models.sqlutil import table_of
from models.submission import submit
from models.workbench import FILE, contacts_of, files_of, notes_of
from services import workbench
from services.unit_of_work import Runtime, UnitOfWork
from tests.clirun import run_json
from tests.factories import complaint

NOW = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)
LATER = NOW + timedelta(hours=2)
CAL = WorkingCalendar()
AUDIT = table_of(AuditEvent)
OUTBOX = table_of(OutboxMessage)
SCHED = table_of(EscalationSchedule)
COMPLAINT = table_of(Complaint)
CLOCK = table_of(ClockEventRow)
PDF = b"%PDF-1.4\n% evidence\n" + bytes(range(256)) * 4


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> DirectoryStore:
    monkeypatch.setenv("COMPLAINTS_EVIDENCE_DIR", str(tmp_path / "evidence"))
    return DirectoryStore(tmp_path / "evidence")


def _routed(engine: Engine, config: Config, **kw: Any) -> str:
    (r,) = submit(engine, [complaint(category="银行卡", **kw)], config=config, calendar=CAL, now=NOW)
    run_intake(engine, config, now=NOW)
    return r.case_no


def _rt(engine: Engine, config: Config) -> Runtime:
    return Runtime(config, engine, clock=lambda: LATER)


def _row(engine: Engine, case_no: str) -> Any:
    with session_scope(engine) as s:
        return s.execute(select(COMPLAINT).where(COMPLAINT.c.case_no == case_no)).first()


def test_an_attached_file_is_in_the_chain_and_a_changed_byte_on_disk_fails_verify(
        db_engine: Engine, config: Config, store: DirectoryStore) -> None:
    case_no = _routed(db_engine, config)
    rt = _rt(db_engine, config)
    with rt.unit() as uow:
        out = workbench.attach(uow, store, case_no=case_no, filename="录音说明.pdf", data=PDF, actor="chen.jing")
    assert out["content_type"] == "application/pdf" and out["size"] == len(PDF)
    cid = _row(db_engine, case_no).id
    with session_scope(db_engine) as s:
        (event,) = s.execute(select(AUDIT.c.after).where(AUDIT.c.action == "evidence_attached")).all()
        (f,) = files_of(s, cid)
    assert event.after["sha256"] == out["sha256"] == f["sha256"]
    ok = verify_with_anchors(db_engine, evidence=store, full=True)
    assert ok.ok and ok.files_checked == 1, ok
    path = store.path(out["sha256"])
    os.chmod(path, 0o644)
    raw = bytearray(path.read_bytes())
    raw[100] ^= 0x01
    path.write_bytes(bytes(raw))
    bad = verify_with_anchors(db_engine, evidence=store, full=True)
    assert not bad.ok and bad.broken_case == case_no
    assert bad.problem is not None and "内容已被改动" in bad.problem
    with rt.unit() as uow, pytest.raises(ActionError, match="不予下载"):
        workbench.read_file(uow, store, case_no=case_no, file_id=out["file_id"], actor="chen.jing")
    path.unlink()
    gone = verify_with_anchors(db_engine, evidence=store, full=True)
    assert not gone.ok and gone.problem is not None and "已不存在" in gone.problem


def test_limits_and_read_only_after_close(db_engine: Engine, config: Config, store: DirectoryStore) -> None:
    case_no = _routed(db_engine, config)
    rt = _rt(db_engine, config)
    with rt.unit() as uow, pytest.raises(ActionError, match="file（文件）：文件 run.exe 的类型 .* 不在允许的类型之中"):
        workbench.attach(uow, store, case_no=case_no, filename="run.exe", data=b"MZ", actor="chen.jing")
    small = config.policy.model_copy(update={"evidence": config.policy.evidence.model_copy(update={"max_bytes": 1024})})
    with Runtime(dataclasses.replace(config, policy=small), db_engine, clock=lambda: LATER).unit() as uow, \
            pytest.raises(ActionError, match="超过上限 1024 字节"):
        workbench.attach(uow, store, case_no=case_no, filename="a.pdf", data=PDF, actor="chen.jing")
    assert not [p for p in store.root.rglob("*") if p.is_file()]  # nothing stored
    with session_scope(db_engine) as s:
        case_actions.withdraw(s, case_no=case_no, at=LATER, config=config, calendar=CAL, now=LATER, actor="chen.jing")
    runs: list[Callable[[UnitOfWork], Any]] = [
        lambda u: workbench.attach(u, store, case_no=case_no, filename="a.pdf", data=PDF, actor="x"),
        lambda u: workbench.add_note(u, case_no=case_no, text="补充", actor="x"),
        lambda u: workbench.log_contact(u, case_no=case_no, at=None, channel="phone", summary="回访",
                                        outcome="reached", actor="x")]
    for run in runs:
        with rt.unit() as uow, pytest.raises(ActionError, match="案件当前状态为“已撤诉”，已结案只读"):
            run(uow)


def test_notes_and_contacts_are_masked_and_a_pause_and_response_point_to_files(
        db_engine: Engine, config: Config, store: DirectoryStore) -> None:
    case_no = _routed(db_engine, config)
    rt = _rt(db_engine, config)
    with rt.unit() as uow:
        f = workbench.attach(uow, store, case_no=case_no, filename="鉴定报告.pdf", data=PDF, actor="chen.jing")
        workbench.add_note(uow, case_no=case_no, text="张三来电，手机13812345678，要求尽快退费", actor="chen.jing")
        c = workbench.log_contact(uow, case_no=case_no, at=LATER - timedelta(minutes=30), channel="phone",
                                  summary="告知张三处理决定，其身份证210202198001011238", outcome="notified",
                                  evidence_file_id=f["file_id"], actor="chen.jing")
    with rt.unit() as uow, pytest.raises(ActionError, match="channel（.*'fax' 不是可选值之一"):
        workbench.log_contact(uow, case_no=case_no, at=None, channel="fax", summary="x", outcome="reached",
                              actor="chen.jing")
    row = _row(db_engine, case_no)
    with session_scope(db_engine) as s:
        (note,) = notes_of(s, row.id, names=("张三",))
        (contact,) = contacts_of(s, row.id, names=("张三",))
        (raw,) = notes_of(s, row.id, unmask=True)
        detail = case_detail(s, case_no)
    assert "张三" not in note["text"] and "13812345678" not in note["text"] and "138****5678" in note["text"]
    assert "张三" not in contact["summary"] and "210202198001011238" not in contact["summary"]
    assert contact["evidence_file_id"] == f["file_id"] and contact["id"] == c["contact_id"]
    assert raw["text"].startswith("张三来电")
    assert detail is not None
    trail = " ".join(str(e["detail"]) for e in detail["audit"])  # the masked timeline masks the note too
    assert "13812345678" not in trail and "张三来电" not in trail and "张*来电" in trail
    with session_scope(db_engine) as s:
        case_actions.pause(s, case_no=case_no, reason="鉴定", evidence="JD-1", at=LATER, config=config, calendar=CAL,
                           now=LATER, actor="chen.jing", evidence_file_id=f["file_id"])
        with pytest.raises(ActionError, match="没有编号为 999 的证据文件"):
            case_actions.respond(s, case_no=case_no, verified="a", basis="b", remedies="c", told_via="phone",
                                 told_at=LATER, config=config, calendar=CAL, now=LATER, actor="chen.jing",
                                 proof_file_id=999, outcome="upheld")
        pointed = s.execute(select(CLOCK.c.evidence_file_id).where(CLOCK.c.complaint_id == row.id)).scalar_one()
    assert pointed == f["file_id"]


def _schedule(engine: Engine, cid: int) -> Any:
    with session_scope(engine) as s:
        return s.execute(select(SCHED.c.next_at, SCHED.c.next_level).where(SCHED.c.complaint_id == cid)).first()


def test_transfer_keeps_deadlines_and_moves_chain_schedule_participants_and_message(
        db_engine: Engine, config: Config) -> None:
    case_no = _routed(db_engine, config)  # 银行卡 → 信用卡部 (card)
    before = _row(db_engine, case_no)
    assert before.department == "card"
    with session_scope(db_engine) as s:  # the escalation sweep schedules new cases (schedule_new); here at once
        reschedule(s, [before.id], config=config, calendar=CAL)
    sched_before = _schedule(db_engine, before.id)
    assert sched_before is not None
    rt = _rt(db_engine, config)
    with rt.unit() as uow:
        out = workbench.transfer(uow, case_no=case_no, department="retail", handler="wu.fang",
                                 reason="借记卡年费，属个人金融部", actor="zhao.li")
    assert [e for e, _ in uow.events] == ["complaint.transferred"]
    after = _row(db_engine, case_no)
    assert (after.department, after.handler, out["notified"]) == ("retail", "wu.fang", "wu.fang")
    assert (after.regulatory_due_at, after.ack_due_at, after.received_at) == (
        before.regulatory_due_at, before.ack_due_at, before.received_at)
    assert after.chain[0]["person"] == "wu.fang" and any(m["person"] == "zhou.qiang" for m in after.chain)
    assert not any(m["person"] == "feng.yu" for m in after.chain)
    assert _schedule(db_engine, after.id) == sched_before  # the same deadlines: the same next level and time
    with session_scope(db_engine) as s:
        sent = s.execute(select(OUTBOX.c.recipient, OUTBOX.c.kind).where(
            OUTBOX.c.dedupe_key.like(f"{case_no}:transferred:%"))).all()
        last = s.execute(select(AUDIT.c.action, AUDIT.c.before, AUDIT.c.after, AUDIT.c.detail)
                         .where(AUDIT.c.complaint_id == after.id).order_by(AUDIT.c.seq.desc()).limit(1)).one()
        from models.participants import people_of

        people = {(p["person"], p["role"]) for p in people_of(s, after.id)}
    assert {tuple(r) for r in sent} == {("wu.fang", "routed")}
    assert last.action == "transferred" and last.before["department"] == "card" and last.after["handler"] == "wu.fang"
    assert last.detail == "借记卡年费，属个人金融部"
    assert ("wu.fang", "handler") in people and ("zhou.qiang", "chain") in people
    assert not any(p in (before.handler, "feng.yu") for p, _ in people)
    with rt.unit() as uow, pytest.raises(ActionError, match="to（.*没有部门 'nowhere'"):
        workbench.transfer(uow, case_no=case_no, department="nowhere", reason="x", actor="zhao.li")
    with rt.unit() as uow, pytest.raises(ActionError, match="handler（.*'chen.jing' 不是部门"):
        workbench.transfer(uow, case_no=case_no, department="retail", handler="chen.jing", reason="x", actor="zhao.li")
    with rt.unit() as uow, pytest.raises(ActionError, match="reason（.*须填写转办理由"):
        workbench.transfer(uow, case_no=case_no, department="credit", reason="  ", actor="zhao.li")


def test_return_to_triage_goes_to_the_cp_office_head(db_engine: Engine, config: Config) -> None:
    case_no = _routed(db_engine, config)
    before = _row(db_engine, case_no)
    rt = _rt(db_engine, config)
    with rt.unit() as uow:
        out = workbench.return_to_triage(uow, case_no=case_no, reason="借记卡业务，误派信用卡部", actor=before.handler)
    after = _row(db_engine, case_no)
    assert (after.department, after.handler, after.triage) == ("cpo", None, True)
    assert after.regulatory_due_at == before.regulatory_due_at
    assert out["notified"] == "zhao.li"
    with session_scope(db_engine) as s:
        sent = [r for (r,) in s.execute(select(OUTBOX.c.recipient).where(
            OUTBOX.c.dedupe_key.like(f"{case_no}:returned_to_triage:%")))]
    assert set(sent) == {"zhao.li"}  # one row per channel of the person
    with rt.unit() as uow, pytest.raises(ActionError, match="已在消保办分拣队列"):
        workbench.return_to_triage(uow, case_no=case_no, reason="再退", actor="x")
    with rt.unit() as uow:  # 消保办 sends it on from triage
        workbench.transfer(uow, case_no=case_no, department="retail", reason="分拣后转个人金融部", actor="zhao.li")
    assert _row(db_engine, case_no).triage is False


def test_export_is_masked_and_formula_safe_in_csv_and_xlsx(db_engine: Engine, config: Config) -> None:
    from openpyxl import load_workbook  # type: ignore[import-untyped]

    _routed(db_engine, config, complainant={"name": '=HYPERLINK("http://evil/")', "phone": "13812345678"})
    _routed(db_engine, config)
    with session_scope(db_engine) as s:
        cases = list_cases(s, now=LATER)
    rows = workbench.export_rows(cases, people=config.org.people, now=LATER)
    text = workbench.to_csv(rows).decode("utf-8-sig")
    assert text.splitlines()[0].startswith("受理编号,状态,等级")
    assert "HYPERLINK" not in text and "张三" not in text and "'=" in text and "张*" in text
    book = load_workbook(io.BytesIO(workbench.to_xlsx(rows)))
    values = [[c.value for c in r] for r in book.active.iter_rows()]
    assert values[0][0] == "受理编号" and len(values) == 3
    cells = [v for r in values for v in r if isinstance(v, str)]
    assert all(not v.startswith(("=", "+", "-", "@")) for v in cells)
    assert all(c.data_type != "f" for r in book.active.iter_rows() for c in r)
    assert any(v.startswith("'=") for v in cells)


def test_bulk_runs_each_case_in_its_own_transaction(db_engine: Engine, config: Config) -> None:
    good, other = _routed(db_engine, config), _routed(db_engine, config)
    rt = _rt(db_engine, config)
    results = workbench.bulk(rt.unit, [good, "DL-2099-000001", other],
                             lambda u, n: workbench.transfer(u, case_no=n, department="retail", reason="批量转办",
                                                             actor="zhao.li"), done="已转办")
    assert [(r.case_no, r.ok) for r in results] == [(good, True), ("DL-2099-000001", False), (other, True)]
    assert "没有案件" in results[1].message
    assert _row(db_engine, good).department == _row(db_engine, other).department == "retail"


def test_cli_attach_note_contact_transfer_return_export(cli_db: Engine, config: Config, store: DirectoryStore,
                                                         tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    case_no = _routed(cli_db, config)
    f = tmp_path / "proof.pdf"
    f.write_bytes(PDF)
    code, out, err = run_json(capsys, "attach", case_no, str(f), "--description", "回执")
    assert code == 0, err
    assert out["filename"] == "proof.pdf" and store.rehash(out["sha256"]) == out["sha256"]
    code, out, err = run_json(capsys, "note", case_no, "客户要求电话联系")
    assert code == 0 and out["note_id"], err
    code, _, err = run_json(capsys, "contact", case_no, "--channel", "phone", "--outcome", "reached",
                            "--summary", "已电话联系", "--evidence-file", "1")
    assert code == 0, err
    code, _, err = run_json(capsys, "contact", case_no, "--channel", "phone", "--outcome", "reached",
                            "--summary", "  ")
    assert code == 2 and "summary（" in err and "须填写联系内容摘要" in err
    code, out, err = run_json(capsys, "return", case_no, "--reason", "误派")
    assert code == 0 and out["department"] == "cpo", err
    code, out, err = run_json(capsys, "transfer", case_no, "--to", "retail", "--reason", "分拣", "--handler", "wu.fang")
    assert code == 0 and out["handler"] == "wu.fang", err
    target = tmp_path / "cases.xlsx"
    code, out, err = run_json(capsys, "export", "--format", "xlsx", "--output", str(target))
    assert code == 0 and out["count"] == 1, err
    assert target.read_bytes()[:2] == b"PK"
    code, _, err = run_json(capsys, "attach", case_no, str(tmp_path / "missing.pdf"))
    assert code == 2 and "file（" in err
    with session_scope(cli_db) as s:
        actions = [a for (a,) in s.execute(select(AUDIT.c.action).order_by(AUDIT.c.seq))]
    assert {"evidence_attached", "note_added", "contact_logged", "returned_to_triage", "transferred",
            "exported"} <= set(actions)
    code, out, err = run_json(capsys, "audit", "verify", "--full")
    assert code == 0 and out["files_checked"] == 1, err
    path = store.path(out_sha := next(iter(_digests(cli_db))))
    os.chmod(path, 0o644)
    path.write_bytes(path.read_bytes() + b" ")  # one byte more on disk
    code, out, err = run_json(capsys, "audit", "verify", "--full")
    assert code == 1 and not out["ok"] and out["broken_case"] == case_no, err
    assert "内容已被改动" in err and out_sha[:12] in err


def _digests(engine: Engine) -> list[str]:
    with session_scope(engine) as s:
        return [d for (d,) in s.execute(select(FILE.c.sha256))]
