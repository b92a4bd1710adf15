"""The frozen weekly report's bytes, for one week of cases made by the producers (submit, intake,
the escalation sweep and the case commands through a Runtime), on SQLite and PostgreSQL.

The content's sha256, every CSV and the page are pinned: the values below were derived by running
this test's `frozen_outputs` on the code before the report's data became a typed structure (issue
13), so a change to how the figures are carried cannot change a stored report. The page is pinned
with its two charts cut out (the SVG measures text with whichever CJK fonts the machine has); the
charts are covered by the second test: the stored content read back is the computed content, and
renders the stored page, charts included, byte for byte.

If a change to the producers (intake, the sweep, a case action) or to config/ changes these
figures on purpose, re-derive the values with `PRINT_REPORT_DIGESTS=1` and say why in the commit.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select

from complaints.config import Config
from domain.deadlines import SHANGHAI
from domain.report import TABLE_KEYS, ReportContent
from flows.escalation import run_escalation
from flows.intake import run_intake
from flows.weekly_report import build_weekly_report
from models.report import SNAP
from models.report_html import HTML
from models.submission import submit
from notifications.report_render import markdown_summary, render_html, table_csv
from services import cases
from services.unit_of_work import Runtime
from tests.factories import complaint

WEEK = "2026-W48"  # Monday 2026-11-23 to Sunday 2026-11-29, Beijing time


def at(text: str) -> datetime:
    """A Beijing time written 'YYYY-MM-DD HH:MM'."""
    return datetime.fromisoformat(text.replace(" ", "T") + ":00+08:00").astimezone(UTC)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def produce_week(engine: Engine, config: Config) -> None:
    """Cases of 2026-W48 and around it, each written by the code that writes them in production."""
    rt = Runtime(config, engine)
    people = [{"name": "张三", "phone": "13812345678", "id_number": "210202198001011238"},
              {"name": "李四", "phone": "13987654321"},
              {"name": "王五", "phone": "15011112222"}]

    def file(received: str, ref: str, who: int = 0, **over: Any) -> str:
        item = complaint(external_ref=ref, received_at=at(received).isoformat(), complainant=people[who], **over)
        (result,) = submit(engine, [item], config=config, calendar=rt.calendar, now=at(received))
        run_intake(engine, config, now=at(received))
        return result.case_no

    def act(when: str, case_no: str, action: str, command: cases.Command, actor: str = "chen.jing") -> None:
        with rt.unit(now=at(when)) as uow:
            cases.act(uow, case_no, action, command, actor=actor)

    def sweep(when: str) -> None:
        run_escalation(engine, config, now=at(when), calendar=rt.calendar)

    def respond(when: str, case_no: str) -> None:
        act(when, case_no, "respond", cases.Respond(verified="已核实扣费情况", basis="按合同第5条",
                                                   remedies="可申请核查、调解、仲裁、诉讼", told_via="phone",
                                                   told_at=at(when), outcome="成立"))

    old = file("2026-10-12 09:00", "R-OLD", 2, category="银行卡")  # never answered: overdue at the week's end
    act("2026-10-12 11:00", old, "acknowledge", cases.Acknowledge())
    prev = file("2026-11-18 10:00", "R-PREV", 1, category="贷款", channel="电话")
    act("2026-11-18 11:00", prev, "acknowledge", cases.Acknowledge())
    respond("2026-11-20 15:00", prev)

    a = file("2026-11-23 09:30", "R-A", 0, category="银行卡", cause="定价收费")
    act("2026-11-23 11:00", a, "acknowledge", cases.Acknowledge())
    respond("2026-11-25 15:00", a)
    act("2026-11-26 10:00", a, "close", cases.Close(root_cause="R02"))
    b = file("2026-11-23 14:00", "R-B", 0, category="银行卡", cause="服务态度及服务质量")  # 张三 again: a repeat
    act("2026-11-23 16:00", b, "acknowledge", cases.Acknowledge())
    act("2026-11-24 10:00", b, "pause", cases.Pause(reason="鉴定", evidence="鉴定委托书 JD-1"))
    act("2026-11-26 10:00", b, "resume", cases.Resume())
    c = file("2026-11-24 10:00", "R-C", 1, category="贷款", channel="电话", severity="major",
             tags=["public_opinion"], request="李四要求退还罚息，联系13987654321，已向媒体反映")
    act("2026-11-24 11:00", c, "acknowledge", cases.Acknowledge())
    act("2026-11-25 10:00", c, "extend", cases.Extend(to="complex", approver="li.ming", reason="需调取监控录像",
                                                      customer_told_at=at("2026-11-25 10:00"),
                                                      customer_told_via="sms"), actor="li.ming")
    d = file("2026-11-25 16:00", "R-D", 2, category="个人金融信息", channel="移动客户端")
    act("2026-11-26 09:00", d, "withdraw", cases.Withdraw())
    file("2026-11-26 09:00", "R-E", 2, category="B04", channel="网银")  # never acknowledged: the L1 sweep
    file("2026-11-29 23:30", "R-F", 1, category="银行卡")  # Sunday 23:30: still this week
    file("2026-11-30 00:10", "R-G", 1, category="银行卡")  # Monday 00:10: the next week
    for when in ("2026-11-24 08:00", "2026-11-28 08:00", "2026-11-29 20:00", "2026-11-30 08:00"):
        sweep(when)


def frozen_outputs(engine: Engine, config: Config, out: Path) -> dict[str, Any]:
    """Freeze WEEK and return the sha256 of what is kept: the content, each CSV, the page without charts."""
    result = build_weekly_report(engine, config, WEEK, at("2026-12-01 09:00"), output_dir=out)
    with engine.connect() as conn:
        snap = conn.execute(select(SNAP).where(SNAP.c.week == WEEK)).one()
        page = conn.execute(select(HTML.c.html).where(HTML.c.snapshot_id == snap.id)).scalar_one()
    directory = out / WEEK
    on_disk = (directory / "report.html").read_text(encoding="utf-8")
    assert page == on_disk and result.sha256 == snap.sha256 == _sha(snap.content.encode())
    assert (directory / "content.json").read_bytes() == snap.content.encode()
    charts = re.findall(r"<svg.*?</svg>", page, flags=re.S)
    assert len(charts) == 2
    return {
        "content": snap.sha256,
        "csv": {p.stem: _sha(p.read_bytes()) for p in sorted(directory.glob("*.csv"))},
        "page_without_charts": _sha(re.sub(r"<svg.*?</svg>", "<svg/>", page, flags=re.S).encode()),
    }


# Derived at ae28be2 by frozen_outputs on this data (the same on SQLite and PostgreSQL); see the docstring.
EXPECTED: dict[str, Any] = {
    "content": "3d58dbefbf588fb333f0d65cc839976b4442fd51d518077731c412953f9efc1d",
    "csv": {
        "by-branch": "81b6e1a4d99b235c2a3b7d82877e7d7e8085b680cfe7fc31272fa7a83b325d3a",
        "by-category": "4a3cab503a1a72135962850851516ff6526bf5c8f76693233d1b2e7c5eed8959",
        "by-cause": "cdc63c044b62ff3253b7cbdb39b9ca2bbb3d7e6c27ea886a09bc1e9f83245e5c",
        "by-channel": "28a95cdc8df5e84cba3aac8c64561b61eb4417c833cc95b83604a7fa43437c3b",
        "by-department": "342814d92e055c66752eaeb6de2d1cbb1441bdacdd72c44f3cf393f2ae8130a2",
        "by-outlet": "5e007bc2b85292a8d93127a77c2185300b895d564f15d6932208017cb56b3504",
        "escalations": "1f3824b4c1f49e3eb559ee77ca7b149bf7290e2cde383da7979445b6802a323b",
        "extensions": "a8c595442270529684d77f080991975a9de3b1ea0f3ecfaacba9a3530114f4c3",
        "overdue": "0fddab12a94f4fd5be1cc74f8218cdf56006cf7f476ab229f4a7c67fa6ab014d",
        "pauses": "a1dc0fdeaa697dc942572b4edcb5fab13f2f704c06ad0d05c8edeeed5faf343a",
        "repeats": "82f53b98af3db4a3d8203d600ab2ffc30c38dc41d775c56a42c222e137ef3273",
        "sensitive": "404f53207dc744cd8cf9d8e985ee11bc2e0f9e0a9376e6bfdf3e8908308a2eee",
        "summary": "acb64f6ade64632af73b919b5da58d000f62166fe7b07d41336f4293bb0d1ad0",
        "trend": "c2d1d5ca1202024c12989a9b800ce81a8ee4def4bb4b98240dc7ec126ea09505",
        "trend-4w": "2a2c513976a2ccfa17cfc397c64634f562f76ae450197a21ead29366c4d2ca1c",
    },
    "page_without_charts": "e5f298e43e4b264cef85147b5fc7868d2d9692948b7677668437d25f46272d41",
}


def test_frozen_report_bytes_are_unchanged(db_engine: Engine, config: Config, tmp_path: Path) -> None:
    """The content's sha256, every CSV and the page (without its charts) of the frozen week are the pinned ones."""
    produce_week(db_engine, config)
    got = frozen_outputs(db_engine, config, tmp_path)
    if os.environ.get("PRINT_REPORT_DIGESTS"):
        print(json.dumps(got, indent=4, sort_keys=True))
    assert got == EXPECTED


def test_a_stored_report_reads_back_as_the_computed_content_and_renders_the_same_bytes(
        db_engine: Engine, config: Config, tmp_path: Path) -> None:
    """The snapshot's stored JSON read back (ReportContent.from_dict) equals the content computed at the
    freeze, and renders the stored page (charts included), every CSV and the markdown byte for byte."""
    produce_week(db_engine, config)
    result = build_weekly_report(db_engine, config, WEEK, at("2026-12-01 09:00"), output_dir=tmp_path)
    with db_engine.connect() as conn:
        snap = conn.execute(select(SNAP).where(SNAP.c.week == WEEK)).one()
        page = conn.execute(select(HTML.c.html).where(HTML.c.snapshot_id == snap.id)).scalar_one()
    stored = json.loads(snap.content)
    back = ReportContent.from_dict(stored)
    assert back == result.content and back.as_dict() == stored and back.sha256 == snap.sha256
    assert back.summary.new == 6 and back.tables.sensitive.rows[0][-1] == "李*要求退还罚息，联系139****4321，已向媒体反映"

    generated_at = snap.generated_at.astimezone(SHANGHAI).isoformat()
    assert render_html(back, version=1, generated_at=generated_at, sha256=snap.sha256,
                       institution=config.institution) == page
    for table in back.tables:
        assert table_csv(table).encode("utf-8-sig") == (tmp_path / WEEK / f"{table.key}.csv").read_bytes(), table.key
    assert [t.key for t in back.tables] == list(TABLE_KEYS) == list(result.content.as_dict()["tables"])
    link = result.link
    assert markdown_summary(back, version=1, sha256=snap.sha256, link=link) == \
        markdown_summary(result.content, version=1, sha256=snap.sha256, link=link)
