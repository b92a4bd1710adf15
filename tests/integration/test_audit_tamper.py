"""Tamper evidence an insider with database access cannot defeat (issue 12, docs/security.md).

Each probe is what an insider who owns the database does — drop the append-only triggers, rewrite
rows, recompute every hash, move the head — and each is caught by `audit verify` against an anchor
held outside the database (the anchor file, the report snapshot), naming the anchor and its seq.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, select, update
from sqlalchemy.exc import DBAPIError

from complaints.config import Config
from domain.calendar import WorkingCalendar
from domain.report import digest
from flows.anchor import ChainBroken, anchor_now
from flows.intake import run_intake
from flows.weekly_report import build_weekly_report
from models.anchors import ANCHOR, Anchor, anchor_file, make_anchor, read_file, verify_with_anchors
from models.audit import GENESIS_HASH, AuditEvent, AuditHead
from models.audit_chain import (
    ROW_COLUMNS,
    ROW_COLUMNS_V3,
    AuditDraft,
    append,
    link_hash_for,
    link_hash_v2,
    row_digest_values,
    verify,
)
from models.case_actions import acknowledge
from models.complaint import Complaint
from models.db import session_scope
from models.outbox import OutboxMessage
from models.report import ReportSnapshot
from models.sqlutil import table_of
from models.submission import submit
from notifications.render import Item, Renderer
from tests.factories import complaint
from tests.support.audit_insider import insider

KEY = "k3y-for-tests-only-0123456789abcdef"
NOW = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)
CAL = WorkingCalendar()
A = table_of(AuditEvent)
HEAD = table_of(AuditHead)
C = table_of(Complaint)
SNAP = table_of(ReportSnapshot)
OUT = table_of(OutboxMessage)


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COMPLAINTS_ANCHOR_KEY", KEY)


def _submit(engine: Engine, config: Config, n: int) -> list[str]:
    return [r.case_no for r in submit(engine, [complaint() for _ in range(n)], config=config, calendar=CAL, now=NOW)]


def _world(engine: Engine, config: Config) -> tuple[Anchor, list[str]]:
    """Four cases received, routed, one acknowledged; anchored; then one more case after the anchor."""
    cases = _submit(engine, config, 4)
    run_intake(engine, config, now=NOW)
    with session_scope(engine) as s:
        acknowledge(s, case_no=cases[0], config=config, calendar=CAL, now=NOW, actor="chen.jing")
    anchor = make_anchor(engine, KEY.encode(), "test", NOW, anchor_file())
    cases += _submit(engine, config, 1)
    run_intake(engine, config, now=NOW)
    assert anchor.seq == 9
    ok = verify_with_anchors(engine, key=KEY.encode(), full=True, rows=True, checkpoint=False)
    assert ok.ok and ok.anchors_checked >= 2 and ok.rows_checked == 5, ok
    return anchor, cases


def _check(engine: Engine, **kwargs: Any) -> Any:
    return verify_with_anchors(engine, key=KEY.encode(), full=True, checkpoint=False, **kwargs)


def _rows(conn: Connection) -> list[dict[str, Any]]:
    return [dict(r._mapping) for r in conn.execute(select(A).order_by(A.c.seq))]


def _rewrite(conn: Connection, change: Callable[[list[dict[str, Any]]], list[dict[str, Any]]]) -> None:
    """The insider's tool: change the rows, renumber, recompute every hash (each by its own version's
    rule), move the head."""
    rows = change(_rows(conn))
    conn.execute(A.delete())
    prev = GENESIS_HASH
    for seq, r in enumerate(rows, 1):
        r = {**r, "seq": seq, "prev_hash": prev}
        r.pop("id", None)
        r["hash"] = link_hash_for(r["hash_version"], prev, seq, r["at"], r["actor"], r["action"], r["complaint_id"],
                                  r["case_no"], r["before"], r["after"], r["detail"], r["row_hash"])
        conn.execute(A.insert().values(**r))
        prev = r["hash"]
    conn.execute(update(HEAD).where(HEAD.c.id == 1).values(seq=len(rows), hash=prev))
    conn.execute(ANCHOR.delete())  # and the database's own copies of the anchors


def _caught(result: Any, anchor: Anchor) -> None:
    assert not result.ok
    assert result.broken_anchor is not None and "锚点文件" in result.broken_anchor
    assert f"第 {anchor.seq} 条" in (result.problem or "") and anchor.hash[:12] in (result.problem or "")


def test_tail_cut_and_head_moved_is_caught_by_the_anchor(db_engine: Engine, config: Config) -> None:
    anchor, _ = _world(db_engine, config)
    with insider(db_engine) as conn:
        conn.execute(A.delete().where(A.c.seq >= anchor.seq))
        last = conn.execute(select(A.c.seq, A.c.hash).order_by(A.c.seq.desc()).limit(1)).one()
        conn.execute(update(HEAD).values(seq=last.seq, hash=last.hash))
        conn.execute(ANCHOR.delete())
    assert verify(db_engine).ok  # the chain alone is consistent: only the anchor knows
    result = _check(db_engine)
    _caught(result, anchor)
    assert "末尾的记录被删除" in (result.problem or "") and "tail cut" in (result.problem or "")


def test_every_row_and_the_head_deleted_is_caught(db_engine: Engine, config: Config) -> None:
    anchor, _ = _world(db_engine, config)
    with insider(db_engine) as conn:
        conn.execute(A.delete())
        conn.execute(HEAD.delete())
        conn.execute(ANCHOR.delete())
    result = _check(db_engine, rows=False)
    _caught(result, anchor)
    assert result.head_seq == 0


@pytest.mark.parametrize("probe", ["edit", "swap", "insert"])
def test_a_row_edited_swapped_or_inserted_and_rehashed_is_caught(db_engine: Engine, config: Config,
                                                                 probe: str) -> None:
    anchor, _ = _world(db_engine, config)

    def change(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if probe == "edit":
            rows[2]["detail"] = "改过的说明"
        elif probe == "swap":
            rows[2], rows[3] = rows[3], rows[2]
        else:
            rows.insert(3, {**rows[3], "detail": "补写的一条", "actor": "insider"})
        return rows

    with insider(db_engine) as conn:
        _rewrite(conn, change)
    assert verify(db_engine).ok  # rehashed: the chain alone verifies
    _caught(_check(db_engine), anchor)


def test_one_cases_events_deleted_and_renumbered_is_caught(db_engine: Engine, config: Config) -> None:
    anchor, cases = _world(db_engine, config)
    with insider(db_engine) as conn:
        _rewrite(conn, lambda rows: [r for r in rows if r["case_no"] != cases[1]])
    _caught(_check(db_engine), anchor)
    # and without any anchor the case's row no longer has an event behind it
    with insider(db_engine) as conn:
        conn.execute(ANCHOR.delete())
    anchor_file().unlink()
    result = _check(db_engine, rows=True)
    assert not result.ok and result.broken_case == cases[1] and "没有任何审计事件" in (result.problem or "")


def test_an_event_moved_to_another_case_breaks_its_hash(db_engine: Engine, config: Config) -> None:
    """complaint_id is in the hash (version 2): moving an event between cases is an edit."""
    _world(db_engine, config)
    with db_engine.connect() as conn:
        other = conn.execute(select(C.c.id).order_by(C.c.id.desc()).limit(1)).scalar_one()
        seq = conn.execute(select(A.c.seq).where(A.c.action == "acknowledged")).scalar_one()
    with insider(db_engine) as conn:
        conn.execute(update(A).where(A.c.seq == seq).values(complaint_id=other))
    result = _check(db_engine)
    assert not result.ok and result.broken_seq == seq
    assert f"第 {seq} 条记录的内容与其哈希不符" in (result.problem or "")


def test_a_complaint_row_edited_directly_no_longer_matches_its_last_event(db_engine: Engine, config: Config) -> None:
    _, cases = _world(db_engine, config)
    with db_engine.begin() as conn:  # the complaint table has no trigger: the row digest catches it
        conn.execute(update(C).where(C.c.case_no == cases[2]).values(status="closed", handler="wang.insider"))
    assert _check(db_engine).ok  # chain and anchors intact ...
    result = _check(db_engine, rows=True)  # ... but the row is not what its last event vouched for
    assert not result.ok and result.broken_case == cases[2]
    assert f"案件 {cases[2]} 的当前记录与其最后一条审计事件" in (result.problem or "")


def _delete_case_rows(engine: Engine, case_nos: list[str]) -> None:
    """The insider deletes complaint rows past the foreign keys, leaving their events in the chain: on
    SQLite with the file itself (the sqlite3 shell enforces no foreign keys), on PostgreSQL as a
    superuser who switches them off."""
    if engine.dialect.name == "sqlite":
        import sqlite3

        raw = sqlite3.connect(str(engine.url.database))
        raw.executemany("DELETE FROM complaint WHERE case_no = ?", [(c,) for c in case_nos])
        raw.commit()
        raw.close()
        return
    with engine.begin() as conn:
        conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
        conn.execute(C.delete().where(C.c.case_no.in_(case_nos)))


@pytest.mark.parametrize("which", ["middle", "last"])
def test_a_complaint_row_deleted_behind_the_chain_is_named(db_engine: Engine, config: Config, which: str,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """A case made to disappear (its row deleted, its events necessarily left in the chain) fails
    `verify --rows` naming it, whether other rows follow it or it was the last; with windows of 2 rows,
    so the gap falls inside a window and at the end of the walk."""
    import models.audit_chain as chain

    monkeypatch.setattr(chain, "ROW_CHECK_WINDOW", 2)
    _, cases = _world(db_engine, config)
    gone = cases[2] if which == "middle" else cases[-1]
    _delete_case_rows(db_engine, [gone])
    assert _check(db_engine).ok  # chain and anchors intact ...
    result = _check(db_engine, rows=True)  # ... but a case the chain records has no row
    assert not result.ok and result.broken_case == gone, result
    assert f"案件 {gone} 有审计事件，但案件记录已不存在" in (result.problem or "")


def test_the_row_check_reads_in_windows_and_finds_an_edit_in_a_later_window(db_engine: Engine, config: Config,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    import models.audit_chain as chain

    monkeypatch.setattr(chain, "ROW_CHECK_WINDOW", 2)
    _, cases = _world(db_engine, config)
    assert _check(db_engine, rows=True).rows_checked == 5  # every row, over three windows
    with db_engine.begin() as conn:
        conn.execute(update(C).where(C.c.case_no == cases[4]).values(handler="wang.insider"))
    result = _check(db_engine, rows=True)
    assert not result.ok and result.broken_case == cases[4] and result.rows_checked == 5, result


def test_a_consistent_rewrite_of_report_snapshot_event_and_chain_is_caught(db_engine: Engine, config: Config,
                                                                          tmp_path: Path) -> None:
    """Complaint, snapshot content, its sha256, the report_generated event and the chain all rewritten
    consistently: `report verify` is satisfied, the anchor frozen with the report is not."""
    _world(db_engine, config)
    report = build_weekly_report(db_engine, config, "2026-W48", datetime(2026, 12, 1, 2, 0, tzinfo=UTC),
                                 output_dir=tmp_path)
    assert report.anchor is not None
    with db_engine.connect() as conn:
        snap = conn.execute(select(SNAP)).one()
    content = json.loads(snap.content)
    content["summary"]["closed"] += 1
    sha = digest(content)
    with insider(db_engine) as conn:
        conn.execute(update(C).where(C.c.id == 1).values(status="closed"))
        conn.execute(update(SNAP).values(content=json.dumps(content, sort_keys=True, ensure_ascii=False,
                                                            separators=(",", ":")), sha256=sha))

        def change(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
            for r in rows:
                if r["action"] == "report_generated":
                    r["after"] = {**r["after"], "sha256": sha}
            return rows

        _rewrite(conn, change)
        head = conn.execute(select(HEAD.c.seq, HEAD.c.hash)).one()
        conn.execute(update(SNAP).values(anchor={**report.anchor, "hash": head.hash, "seq": head.seq}))
    assert verify(db_engine).ok
    result = _check(db_engine)
    assert not result.ok and result.broken_anchor is not None
    assert f"第 {report.anchor['seq']} 条" in (result.problem or "")


def test_triggers_refuse_update_and_delete_of_audit_rows(db_engine: Engine, config: Config) -> None:
    _world(db_engine, config)
    for statement in (update(A).where(A.c.seq == 1).values(detail="x"), A.delete().where(A.c.seq == 1),
                      update(ANCHOR).values(seq=1), ANCHOR.delete()):
        with pytest.raises(DBAPIError, match="审计记录只可追加"), db_engine.begin() as conn:
            conn.execute(statement)
    with session_scope(db_engine) as s:  # the head still moves on append
        append(s, [AuditDraft(at=NOW, actor="t", action="note", detail="still appends")])
    assert _check(db_engine, rows=True).ok


def test_incremental_verify_starts_at_the_last_verified_anchor_and_sees_a_later_edit(db_engine: Engine,
                                                                                    config: Config) -> None:
    _world(db_engine, config)
    key = KEY.encode()
    first = verify_with_anchors(db_engine, key=key)  # from genesis: nothing verified yet; records a checkpoint
    assert first.ok and first.from_seq == 0 and first.checked == first.head_seq
    _submit(db_engine, config, 2)
    again = verify_with_anchors(db_engine, key=key)
    assert again.ok and again.from_seq == first.head_seq and again.checked == 2
    _submit(db_engine, config, 3)
    with insider(db_engine) as conn:
        conn.execute(update(A).where(A.c.seq == again.head_seq + 2).values(actor="someone.else"))
    result = verify_with_anchors(db_engine, key=key)
    assert not result.ok and result.from_seq == again.head_seq and result.broken_seq == again.head_seq + 2
    assert verify_with_anchors(db_engine, key=key, full=True).broken_seq == again.head_seq + 2


def test_forged_verified_anchor_is_not_trusted(db_engine: Engine, config: Config) -> None:
    """A checkpoint without the key's signature does not move where verification starts."""
    _world(db_engine, config)
    with db_engine.begin() as conn:
        head = conn.execute(select(HEAD.c.seq, HEAD.c.hash)).one()
        conn.execute(ANCHOR.insert().values(seq=head.seq, hash=head.hash, at=NOW, source="verified",
                                            verified=True, sig="0" * 64))
    result = verify_with_anchors(db_engine, key=KEY.encode(), checkpoint=False)
    assert not result.ok and "签名无效" in (result.problem or "")


def test_anchor_file_lines_are_chained(db_engine: Engine, config: Config) -> None:
    _world(db_engine, config)
    anchor_now(db_engine, NOW)
    anchor_now(db_engine, NOW)
    path = anchor_file()
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 3 and read_file(path)[1] is None
    path.write_text("\n".join([lines[0], lines[2]]) + "\n", encoding="utf-8")  # a line removed
    result = _check(db_engine)
    assert not result.ok and "第 2 行" in (result.problem or "") and "锚点文件被删改" in (result.problem or "")


def test_scheduled_anchor_refuses_a_broken_chain(db_engine: Engine, config: Config) -> None:
    _world(db_engine, config)
    with insider(db_engine) as conn:
        _rewrite(conn, lambda rows: rows[:3] + rows[4:])
    with pytest.raises(ChainBroken, match="数据库不再包含锚点"):
        anchor_now(db_engine, NOW)


def test_report_snapshot_and_message_carry_the_anchor(db_engine: Engine, config: Config, tmp_path: Path) -> None:
    _world(db_engine, config)
    report = build_weekly_report(db_engine, config, "2026-W48", datetime(2026, 12, 1, 2, 0, tzinfo=UTC),
                                 output_dir=tmp_path)
    with db_engine.connect() as conn:  # the head right after its report_generated event
        head_before = conn.execute(select(HEAD.c.seq, HEAD.c.hash)).one()
        last_action = conn.execute(select(A.c.action).where(A.c.seq == head_before.seq)).scalar_one()
    assert last_action == "report_generated" and report.anchor is not None
    assert (report.anchor["seq"], report.anchor["hash"]) == (head_before.seq, head_before.hash)
    assert Anchor.from_json(report.anchor, "").sig_ok(KEY.encode())
    with db_engine.connect() as conn:
        assert conn.execute(select(SNAP.c.anchor)).scalar_one() == report.anchor
        row = conn.execute(select(OUT).where(OUT.c.kind == "report_ready")).first()
    assert row is not None
    assert row.context["anchor_seq"] == head_before.seq and row.context["anchor_hash"] == head_before.hash[:16]
    out = Renderer().render(Item("report_ready", row.context, "m1"), html=True)
    expected = f"审计链锚点：第 {head_before.seq} 条，哈希 {head_before.hash[:16]}…"
    assert expected in out.text
    assert out.html is not None and f"第 {head_before.seq} 条" in out.html and head_before.hash[:16] in out.html
    file_anchors, problem = read_file(anchor_file())
    assert problem is None and file_anchors[-1].seq == head_before.seq
    assert file_anchors[-1].source == "report:2026-W48:v1"
    assert _check(db_engine, rows=True).ok


def test_cli_audit_anchor_then_verify_names_the_missing_anchor(cli_db: Engine, config: Config,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    from complaints.cli import main

    _submit(cli_db, config, 3)
    assert main(["audit", "anchor"]) == 0
    line = json.loads(capsys.readouterr().out)
    assert line["seq"] == 3 and line["sig"] and Path(line["file"]) == anchor_file()
    assert main(["audit", "verify"]) == 0
    # the file's and the database's copy, and the verified checkpoint `audit anchor` recorded as it checked
    assert json.loads(capsys.readouterr().out)["anchors_checked"] == 3
    with insider(cli_db) as conn:
        conn.execute(A.delete().where(A.c.seq == 3))
        conn.execute(update(HEAD).values(seq=2, hash=conn.execute(select(A.c.hash).where(A.c.seq == 2)).scalar_one()))
        conn.execute(ANCHOR.delete())
    assert main(["audit", "verify", "--full", "--anchors", str(anchor_file())]) == 1
    out = capsys.readouterr()
    assert json.loads(out.out)["broken_anchor"].startswith("锚点文件")
    assert "审计链校验失败" in out.err and "数据库不再包含锚点" in out.err and "第 3 条" in out.err


def test_cli_audit_anchor_refuses_to_vouch_for_an_edited_row(cli_db: Engine, config: Config,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    """`complaints audit anchor` verifies as the hourly flow does before it signs: over a complaint row
    edited behind the chain it writes no anchor (file or database) and exits 1 naming the case."""
    from complaints.cli import main

    cases = _submit(cli_db, config, 2)
    with cli_db.begin() as conn:
        conn.execute(update(C).where(C.c.case_no == cases[1]).values(handler="wang.insider"))
    with cli_db.connect() as conn:
        before = conn.execute(select(ANCHOR.c.seq).where(ANCHOR.c.source == "cli")).all()
    assert main(["audit", "anchor"]) == 1
    out = capsys.readouterr()
    assert "未写锚点" in out.err and cases[1] in out.err and json.loads(out.out)["broken_case"] == cases[1]
    with cli_db.connect() as conn:
        assert conn.execute(select(ANCHOR.c.seq).where(ANCHOR.c.source == "cli")).all() == before == []
    assert not anchor_file().exists() or anchor_file().read_text(encoding="utf-8") == ""


def test_rows_from_before_0007_verify_by_their_rule_and_no_row_is_downgraded(db_engine: Engine,
                                                                           config: Config) -> None:
    """Version-1 rows (stored before migration 0007) still verify; a version-1 row after a version-2 one
    (an insider re-hashing by the old rule, which leaves complaint_id out) is refused."""
    from models.audit_chain import link_hash

    at = NOW
    h1 = link_hash(GENESIS_HASH, 1, at, "desk", "received", "DL-2026-000001", None, {"status": "received"}, "")
    with db_engine.begin() as conn:
        conn.execute(A.insert().values(seq=1, at=at, actor="desk", action="received", case_no="DL-2026-000001",
                                       before=None, after={"status": "received"}, detail="", prev_hash=GENESIS_HASH,
                                       hash=h1, hash_version=1))
        conn.execute(HEAD.insert().values(id=1, seq=1, hash=h1))
    _submit(db_engine, config, 1)
    assert _check(db_engine).ok
    with insider(db_engine) as conn:
        r = conn.execute(select(A).where(A.c.seq == 2)).one()
        h2 = link_hash(h1, 2, r.at, r.actor, r.action, r.case_no, r.before, r.after, r.detail)
        conn.execute(update(A).where(A.c.seq == 2).values(hash_version=1, hash=h2))
        conn.execute(update(HEAD).values(hash=h2))
    # seq 1 is v1, seq 2 now v1 too: allowed; a v2 row followed by v1 is the downgrade
    _submit(db_engine, config, 1)
    with insider(db_engine) as conn:
        r = conn.execute(select(A).where(A.c.seq == 3)).one()
        conn.execute(update(A).where(A.c.seq == 3).values(hash_version=2, hash=link_hash_v2(
            h2, 3, r.at, r.actor, r.action, r.complaint_id, r.case_no, r.before, r.after, r.detail, r.row_hash)))
        h3 = conn.execute(select(A.c.hash).where(A.c.seq == 3)).scalar_one()
        conn.execute(update(HEAD).values(hash=h3))
    assert _check(db_engine).ok
    _submit(db_engine, config, 1)
    with insider(db_engine) as conn:
        r = conn.execute(select(A).where(A.c.seq == 4)).one()
        h4 = link_hash(h3, 4, r.at, r.actor, r.action, r.case_no, r.before, r.after, r.detail)
        conn.execute(update(A).where(A.c.seq == 4).values(hash_version=1, hash=h4))
        conn.execute(update(HEAD).values(hash=h4))
    result = _check(db_engine)
    assert not result.ok and result.broken_seq == 4 and "旧版哈希规则" in (result.problem or "")


def test_rows_appended_while_verifying_are_left_for_the_next_verify(db_engine: Engine, config: Config) -> None:
    """verify walks up to the head it read: events committed meanwhile are not a 'tail' problem."""
    from models.audit_chain import _walk, head_of

    _submit(db_engine, config, 3)
    seq, h = head_of(db_engine)
    _submit(db_engine, config, 2)  # committed after the head was read
    result = _walk(db_engine, seq, h, 0, GENESIS_HASH, 1)
    assert result.ok and result.checked == seq == 3


# ---------------------------------------------------------------- the decision told to the complainant


def _responded(engine: Engine, config: Config) -> tuple[str, int]:
    """A case routed, acknowledged and answered through the real case actions; its response row id."""
    from models.case_actions import respond
    from models.escalation import CaseResponse

    case_no = _submit(engine, config, 1)[0]
    run_intake(engine, config, now=NOW)
    with session_scope(engine) as s:
        acknowledge(s, case_no=case_no, config=config, calendar=CAL, now=NOW, actor="chen.jing")
        respond(s, case_no=case_no, verified="经核实，年费系系统错误扣收", basis="《收费管理办法》第 5 条",
                remedies="可申请核查、调解、仲裁、诉讼", told_via="phone", told_at=NOW, config=config, calendar=CAL,
                now=NOW, actor="chen.jing", outcome="成立", redress_type="退还费用", redress_amount="200.00")
    with engine.connect() as conn:
        rid = conn.execute(select(table_of(CaseResponse).c.id)).scalar_one()
    assert _check(engine, rows=True).ok
    return case_no, rid


@pytest.mark.parametrize("tamper", ["edit", "delete", "insert"])
def test_a_response_changed_behind_the_chain_fails_verify_rows(db_engine: Engine, config: Config,
                                                               tamper: str) -> None:
    """The 核实情况 / 依据 / 救济途径 told to the complainant is digested into its `responded` event:
    editing, deleting or inserting a response row directly is caught by `verify --rows`."""
    from models.escalation import CaseResponse

    case_no, rid = _responded(db_engine, config)
    resp = table_of(CaseResponse)
    with db_engine.begin() as conn:
        if tamper == "edit":
            conn.execute(update(resp).where(resp.c.id == rid).values(verified="经核实，投诉不成立"))
        elif tamper == "delete":
            conn.execute(resp.delete().where(resp.c.id == rid))
        else:
            row = dict(conn.execute(select(resp).where(resp.c.id == rid)).one()._mapping)
            conn.execute(resp.insert().values({**{k: v for k, v in row.items() if k != "id"},
                                               "remedies": "无"}))
    assert _check(db_engine).ok  # the chain itself is intact ...
    result = _check(db_engine, rows=True)  # ... but the responses are not what the events vouched for
    assert not result.ok and "答复" in (result.problem or "") and result.broken_case == case_no, result


# ---------------------------------------------------------------- hash version 3: the rest of the row

V3_ONLY = ROW_COLUMNS_V3[len(ROW_COLUMNS):]
_JSON_COLUMNS = {"triage_reasons", "chain", "watchers"}


def _full(**over: Any) -> Any:
    """A complaint with every contact, identity and agent field filled in (the columns version 3 adds)."""
    return complaint(
        vulnerable=True, vulnerable_note="听力障碍，需书面沟通",
        complainant={"name": "张三", "phone": "13812345678", "id_number": "210202198001011238",
                     "email": "zhangsan@example.cn", "address": "大连市中山区人民路 1 号", "legal_representative": "张大"},
        agent={"name": "李四", "phone": "13900001111", "id_number": "210202198001011238",
               "authorization": "授权委托书 2026-001"}, **over)


def _full_world(engine: Engine, config: Config) -> list[str]:
    """Three cases submitted and routed, the first acknowledged; a fourth only submitted. Their last
    events come from a case action, from intake and from submit (the `row=` path)."""
    cases = [r.case_no for r in submit(engine, [_full() for _ in range(3)], config=config, calendar=CAL, now=NOW)]
    run_intake(engine, config, now=NOW)
    with session_scope(engine) as s:
        acknowledge(s, case_no=cases[0], config=config, calendar=CAL, now=NOW, actor="chen.jing")
    cases += [r.case_no for r in submit(engine, [_full()], config=config, calendar=CAL, now=NOW)]
    result = _check(engine, rows=True)
    assert result.ok and result.rows_checked == 4, result
    return cases


def _other(column: str, value: Any) -> Any:
    if column in _JSON_COLUMNS:
        return [{"level": "handler", "person": "wang.insider"}] if column == "chain" else ["wang.insider"]
    return "wang.insider" if value != "wang.insider" else "li.insider"


def _edited(result: Any, case_no: str) -> bool:
    return (not result.ok and result.broken_case == case_no
            and f"案件 {case_no} 的当前记录与其最后一条审计事件" in (result.problem or ""))


def test_a_direct_edit_of_any_column_version_3_adds_is_caught_naming_the_case(db_engine: Engine,
                                                                              config: Config) -> None:
    """Every column version 3 adds, edited behind the chain on a case whose last event came from a case
    action, from intake or from submit, fails `verify --rows` naming the case; put back, it verifies."""
    cases = _full_world(db_engine, config)
    for case_no in (cases[0], cases[1], cases[3]):
        for column in V3_ONLY:
            with db_engine.begin() as conn:
                value = conn.execute(select(C.c[column]).where(C.c.case_no == case_no)).scalar_one()
                conn.execute(update(C).where(C.c.case_no == case_no).values({column: _other(column, value)}))
            assert _check(db_engine).ok  # the chain itself is intact
            result = _check(db_engine, rows=True)
            assert _edited(result, case_no), (case_no, column, result)
            with db_engine.begin() as conn:
                conn.execute(update(C).where(C.c.case_no == case_no).values({column: value}))
            assert _check(db_engine, rows=True).ok, (case_no, column)


@pytest.mark.parametrize("column", ["complainant_email", "submitted_by", "vulnerable_note", "agent_id_number"])
def test_cli_audit_verify_names_the_case_whose_new_column_was_edited(cli_db: Engine, config: Config, column: str,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    from complaints.cli import main

    cases = _full_world(cli_db, config)
    assert main(["audit", "verify", "--full"]) == 0
    capsys.readouterr()
    with cli_db.begin() as conn:
        conn.execute(update(C).where(C.c.case_no == cases[0]).values({column: "wang.insider"}))
    assert main(["audit", "verify", "--full"]) == 1
    out = capsys.readouterr()
    assert json.loads(out.out)["broken_case"] == cases[0]
    assert "审计链校验失败（案件表）" in out.err and f"案件 {cases[0]} 的当前记录" in out.err


def test_a_chain_of_version_2_events_then_version_3_events_verifies(db_engine: Engine, config: Config,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Events written as version 2 keep verifying by their rule after version 3 events follow them, from
    genesis and incrementally from a checkpoint at a version-2 row; each complaint is compared over the
    columns of its last event's version."""
    import models.audit_chain as chain

    key = KEY.encode()
    with monkeypatch.context() as m:
        m.setattr(chain, "HASH_VERSION", 2)
        old = _full_world(db_engine, config)
        first = verify_with_anchors(db_engine, key=key, rows=True)  # records a checkpoint at a version-2 row
    assert first.ok and first.checked == first.head_seq, first
    with db_engine.connect() as conn:
        assert set(conn.execute(select(A.c.hash_version)).scalars()) == {2}
    with session_scope(db_engine) as s:  # version 3 from here: a version-2 case acted on again ...
        acknowledge(s, case_no=old[1], config=config, calendar=CAL, now=NOW, actor="chen.jing")
    new = [r.case_no for r in submit(db_engine, [_full()], config=config, calendar=CAL, now=NOW)]
    run_intake(db_engine, config, now=NOW)  # ... and routed: old[3] (received as version 2) and a new case
    with db_engine.connect() as conn:
        versions = list(conn.execute(select(A.c.hash_version).order_by(A.c.seq)).scalars())
        last_version = {r.case_no: r.hash_version for r in conn.execute(select(A.c.case_no, A.c.hash_version)
                                                                         .order_by(A.c.seq))}
    assert versions == sorted(versions) and versions.count(2) == first.head_seq and versions[-1] == 3
    assert {c: last_version[c] for c in (*old, *new)} == {old[0]: 2, old[1]: 3, old[2]: 2, old[3]: 3, new[0]: 3}
    again = verify_with_anchors(db_engine, key=key, rows=True)
    assert again.ok and again.from_seq == first.head_seq and again.checked == again.head_seq - first.head_seq, again
    assert _check(db_engine, rows=True).ok  # and from genesis

    def edit(case_no: str, **values: Any) -> Any:
        with db_engine.begin() as conn:
            before = dict(conn.execute(select(*(C.c[k] for k in values)).where(C.c.case_no == case_no)).one()._mapping)
            conn.execute(update(C).where(C.c.case_no == case_no).values(**values))
        result = _check(db_engine, rows=True)
        with db_engine.begin() as conn:
            conn.execute(update(C).where(C.c.case_no == case_no).values(**before))
        return result

    # old[0] and old[2]'s last events are version 2: their rows are compared over version 2's columns ...
    for case_no in (old[0], old[2]):
        assert _edited(edit(case_no, handler="wang.insider"), case_no), case_no
        assert edit(case_no, complainant_email="wang@insider.cn").ok  # (a column version 2 does not cover)
    # ... and a case whose last event is version 3 over version 3's
    for case_no in (old[1], old[3], new[0]):
        assert _edited(edit(case_no, complainant_email="wang@insider.cn"), case_no), case_no
    assert _check(db_engine, rows=True).ok


@pytest.mark.parametrize("rewrite", ["as_version_2", "unknown_version"])
def test_a_version_3_event_rewritten_by_an_older_or_unknown_rule_is_caught(db_engine: Engine, config: Config,
                                                                          rewrite: str) -> None:
    """The last event re-hashed consistently by version 2's rule (its row digest over version 2's columns,
    so `--rows` alone would pass it) is a downgrade; a version this code has no rule for is refused."""
    _world(db_engine, config)
    with insider(db_engine) as conn:
        last = conn.execute(select(A).order_by(A.c.seq.desc()).limit(1)).one()
        assert last.hash_version == 3 and last.row_hash is not None
        if rewrite == "as_version_2":
            values = conn.execute(select(*(C.c[c] for c in ROW_COLUMNS)).where(C.c.id == last.complaint_id)).one()
            rh = row_digest_values(values, 2)
            h = link_hash_v2(last.prev_hash, last.seq, last.at, last.actor, last.action, last.complaint_id,
                             last.case_no, last.before, last.after, last.detail, rh)
            conn.execute(update(A).where(A.c.seq == last.seq).values(hash_version=2, hash=h, row_hash=rh))
        else:
            h = link_hash_for(3, last.prev_hash, last.seq, last.at, last.actor, last.action, last.complaint_id,
                              last.case_no, last.before, last.after, last.detail, last.row_hash)
            conn.execute(update(A).where(A.c.seq == last.seq).values(hash_version=4, hash=h))
        conn.execute(update(HEAD).values(hash=h))
    for result in (verify(db_engine, rows=True), _check(db_engine, rows=True)):
        assert not result.ok and result.broken_seq == last.seq, result
        expected = "旧版哈希规则（版本 2）" if rewrite == "as_version_2" else "哈希版本 4 未知"
        assert expected in (result.problem or ""), result
