"""The weekly report against an independent computation from the raw seeded rows, on SQLite and
PostgreSQL: figures as of the week's end, freezing and verification, files and privacy."""

from __future__ import annotations

import csv
import math
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, insert, select, update

from complaints.config import Config
from domain.report import ReportContent, Week, parse_week, trailing
from flows.weekly_report import ReportChanged, build_weekly_report, verify_weekly_report
from models.outbox import OutboxMessage
from models.sqlutil import table_of
from tests.integration.report_seed import C, local, seed

W47 = parse_week("2026-W47")
NOW = local(2026, 11, 30, 8, 30)
SENSITIVE = {"public_opinion", "judicial", "regulatory"}


def _in(at: datetime | None, w: Week) -> bool:
    return at is not None and w.start <= at < w.end


def _ended(r: dict[str, Any]) -> datetime | None:
    ended: datetime | None = r["responded_at"] or r["closed_at"]
    return ended


def _due_at_end(r: dict[str, Any], exts: list[dict[str, Any]], end: datetime) -> datetime:
    later = sorted((x for x in exts if x["complaint_id"] == r["id"] and x["recorded_at"] >= end), key=lambda x: x["recorded_at"])
    due: datetime = later[0]["previous_due_at"] if later else r["regulatory_due_at"]
    return due


def _open(r: dict[str, Any], end: datetime) -> bool:
    e = _ended(r)
    return r["received_at"] < end and r["status"] != "merged" and (e is None or e >= end)


def expected(data: dict[str, Any], w: Week) -> dict[str, Any]:
    """Every headline figure of week `w`, computed in Python from the raw rows."""
    rows, exts = data["rows"], data["extensions"]
    responded = [r for r in rows if _in(r["responded_at"], w)]
    minutes = sorted(math.floor((r["responded_at"] - r["received_at"]).total_seconds() / 60) for r in responded)

    def pct(q: float) -> float | None:
        return round(minutes[math.ceil(q * len(minutes)) - 1] / 60, 1) if minutes else None

    ack = [r for r in rows if _in(r["ack_due_at"], w)
           and not (r["status"] == "withdrawn" and r["closed_at"] <= r["ack_due_at"]
                    and (r["acknowledged_at"] or r["responded_at"]) is None)]
    ack_ok = [r for r in ack if (r["acknowledged_at"] or r["responded_at"]) is not None
              and (r["acknowledged_at"] or r["responded_at"]) <= r["ack_due_at"]]
    open_rows = [r for r in rows if _open(r, w.end)]
    overdue = [r for r in open_rows if _due_at_end(r, exts, w.end) < w.end]
    on_time = [r for r in responded if r["responded_at"] <= r["regulatory_due_at"]]
    return {
        "new": sum(_in(r["received_at"], w) for r in rows),
        "responded": len(responded),
        "closed": sum(_in(r["closed_at"], w) and r["status"] != "withdrawn" for r in rows),
        "withdrawn": sum(_in(r["closed_at"], w) and r["status"] == "withdrawn" for r in rows),
        "open_at_end": len(open_rows),
        "overdue_at_end": len(overdue),
        "on_time_rate": round(len(on_time) / len(responded), 4) if responded else None,
        "ack_sla_rate": round(len(ack_ok) / len(ack), 4) if ack else None,
        "median_hours": pct(0.5),
        "p90_hours": pct(0.9),
        "_overdue": sorted(r["case_no"] for r in overdue),
    }


def _table(content: ReportContent, key: str) -> list[list[Any]]:
    table = content.tables.get(key)
    assert table is not None, key
    return [list(r) for r in table.rows]


def test_every_figure_matches_an_independent_computation_from_the_raw_rows(db_engine: Engine, config: Config, tmp_path: Path) -> None:
    """Headline, breakdowns, escalations, extensions, pauses, lists, repeats, caps, per-10k and trends match Python over the raw rows."""
    data = seed(db_engine)
    rows = data["rows"]
    result = build_weekly_report(db_engine, config, "2026-W47", NOW, output_dir=tmp_path)
    c, s = result.content, result.content.summary.as_dict()
    exp = expected(data, W47)
    for key in ("new", "responded", "closed", "withdrawn", "open_at_end", "overdue_at_end", "on_time_rate",
                "ack_sla_rate", "median_hours", "p90_hours"):
        assert s[key] == exp[key], key
    assert exp["new"] > 10 and exp["overdue_at_end"] > 0 and exp["withdrawn"] > 0
    prev = expected(data, W47.shift(-1))
    summary = {r[0]: r for r in _table(c, "summary")}
    assert summary["新受理"][2] == prev["new"] and summary["新受理"][3] == exp["new"] - prev["new"]
    assert c.input_rows == sum(r["received_at"] < W47.end for r in rows)

    new = [r for r in rows if _in(r["received_at"], W47)]
    for key, dim in (("by-channel", "channel"), ("by-category", "category"), ("by-cause", "cause")):
        got = {row[0]: row[2] for row in _table(c, key)}
        assert got == {(k or "—"): n for k, n in Counter(r[dim] for r in new).items()}, key
    # The boundary rows: Sunday 23:30 local is in W47, Monday 00:10 local is not, Monday 00:00 is.
    new_nos = {r["case_no"] for r in new}
    assert {"DL-2026-000901", "DL-2026-000903"} <= new_nos and not {"DL-2026-000902", "DL-2026-000904"} & new_nos

    dept = {(row[1], row[0]): row for row in _table(c, "by-department")}
    card = dept[("card", "大连分行")]
    month_start = local(2026, 11, 1)
    assert card[3] == sum(r["department"] == "card" for r in new)
    assert card[4] == sum(r["department"] == "card" and _open(r, W47.end) for r in rows)
    assert card[6] == sum(r["department"] == "card" and month_start <= r["received_at"] < W47.end for r in rows)
    assert card[7] == 120 and card[9] in ("正常", "预警", "超限")

    by_branch = {row[0]: row for row in _table(c, "by-branch")}
    n_dl = sum(r["branch"] == "dl" for r in new)
    assert by_branch["dl"][2] == n_dl and by_branch["dl"][4] == round(n_dl * 10_000 / 1_200_000, 2)

    esc = Counter(e["level"] for e in data["escalations"] if _in(e["fired_at"], W47))
    assert {row[0]: row[2] for row in _table(c, "escalations")} == dict(esc)
    ext = Counter(x["to_tier"] for x in data["extensions"] if _in(x["recorded_at"], W47))
    assert {row[0]: row[1] for row in _table(c, "extensions")} == {"延期至30天": ext["complex"], "延期至60天": ext["special"]}
    assert ext["special"] == 1
    pauses = Counter(e["reason"] for e in data["clock"] if e["kind"] == "pause" and _in(e["at"], W47))
    assert {row[0]: row[1] for row in _table(c, "pauses")} == dict(pauses)

    sens = sorted(r["case_no"] for r in new if r["severity"] == "major" or SENSITIVE & set(r["tags"]))
    assert sorted(row[0] for row in _table(c, "sensitive")) == sens and "DL-2026-000903" in sens

    def repeat(r: dict[str, Any]) -> bool:
        return r["category"] is not None and any(
            p is not r and p["category"] == r["category"]
            and r["received_at"] - timedelta(days=30) <= p["received_at"] <= r["received_at"]
            and (p["received_at"] < r["received_at"] or p["id"] < r["id"])
            and ((r["complainant_id_number"] and p["complainant_id_number"] == r["complainant_id_number"])
                 or p["complainant_phone"] == r["complainant_phone"])
            for p in rows)
    assert sorted(row[0] for row in _table(c, "repeats")) == sorted(r["case_no"] for r in new if repeat(r))

    assert sorted(row[0] for row in _table(c, "overdue")) == exp["_overdue"]
    assert "DL-2026-000905" in exp["_overdue"]  # received on the National Day holiday, still open
    for row in _table(c, "overdue"):
        assert row[5] in ("陈静", "（未指派）")

    trend = _table(c, "trend")
    assert [t[0] for t in trend] == [w.label for w in trailing(W47, 13)]
    for t, w in zip(trend, trailing(W47, 13), strict=True):
        e = expected(data, w)
        assert t[1:] == [e["new"], e["responded"], e["open_at_end"], e["overdue_at_end"]], w.label


def test_rerun_later_gives_the_same_figures_and_verify_names_what_changed(db_engine: Engine, config: Config, tmp_path: Path) -> None:
    """Changes after the week's end leave the frozen figures and sha256 unchanged; a backdated edit makes verify fail naming the figure, and regeneration refuses without force."""
    data = seed(db_engine)
    first = build_weekly_report(db_engine, config, "2026-W47", NOW, output_dir=tmp_path)
    open_no = next(r for r in data["rows"] if _open(r, W47.end) and r["responded_at"] is None)["case_no"]
    with db_engine.begin() as conn:  # life goes on after the week: responses, new complaints
        conn.execute(update(C).where(C.c.case_no == open_no).values(
            status="responded", responded_at=local(2026, 11, 25, 10)))
        row = dict(data["rows"][0], case_no="DL-2026-099999", received_at=local(2026, 11, 24, 9),
                   responded_at=None, closed_at=None, acknowledged_at=None, status="routed")
        row.pop("id")
        conn.execute(insert(C).values(**row))
    again = build_weekly_report(db_engine, config, "2026-W47", NOW + timedelta(days=3), output_dir=tmp_path)
    assert (again.sha256, again.version, again.created) == (first.sha256, 1, False)
    assert verify_weekly_report(db_engine, config, "2026-W47", output_dir=tmp_path).ok

    with db_engine.begin() as conn:  # someone backdates a complaint into the frozen week
        conn.execute(update(C).where(C.c.case_no == "DL-2026-099999").values(received_at=local(2026, 11, 20, 9)))
    outcome = verify_weekly_report(db_engine, config, "2026-W47", output_dir=tmp_path)
    assert not outcome.ok and any("summary.new" in p for p in outcome.problems)
    with pytest.raises(ReportChanged) as exc:
        build_weekly_report(db_engine, config, "2026-W47", NOW + timedelta(days=4), output_dir=tmp_path)
    assert "summary.new" in str(exc.value)
    forced = build_weekly_report(db_engine, config, "2026-W47", NOW + timedelta(days=4), force=True, output_dir=tmp_path)
    assert forced.version == 2 and forced.created and forced.content.summary.new == first.content.summary.new + 1
    assert verify_weekly_report(db_engine, config, "2026-W47", output_dir=tmp_path).ok


def test_report_is_announced_once_to_each_recipient_through_the_outbox(db_engine: Engine, config: Config, tmp_path: Path) -> None:
    """A new version queues one report_ready message per recipient channel with a link and no personal data; a rerun queues nothing."""
    seed(db_engine)
    build_weekly_report(db_engine, config, "2026-W47", NOW, output_dir=tmp_path)
    build_weekly_report(db_engine, config, "2026-W47", NOW, output_dir=tmp_path)
    outbox = table_of(OutboxMessage)
    with db_engine.connect() as conn:
        msgs = conn.execute(select(outbox.c.recipient, outbox.c.kind, outbox.c.context)).all()
    assert {m.recipient for m in msgs} == set(config.report.recipients)
    assert all(m.kind == "report_ready" and m.context["link"] == "http://127.0.0.1:8000/reports/2026-W47" for m in msgs)
    assert len(msgs) == sum(len(config.org.people[p].contacts) for p in config.report.recipients)
    with db_engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(outbox)).scalar_one() == len(msgs)


def test_html_and_csv_hold_no_personal_data_and_script_text_is_inert(db_engine: Engine, config: Config, tmp_path: Path) -> None:
    """The HTML and every CSV contain no complainant name, phone or ID number, and a <script> in a complaint renders escaped."""
    data = seed(db_engine)
    result = build_weekly_report(db_engine, config, "2026-W47", NOW, output_dir=tmp_path)
    html = (result.output_dir / "report.html").read_text(encoding="utf-8")
    texts = [html] + [p.read_text(encoding="utf-8-sig") for p in result.output_dir.glob("*.csv")]
    secrets = {r["complainant_name"] for r in data["rows"]} | {r["complainant_phone"] for r in data["rows"]}
    secrets |= {r["complainant_id_number"] for r in data["rows"] if r["complainant_id_number"]}
    for text in texts:
        for secret in secrets:
            assert secret not in text
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert html.count("<svg") == 2
    with (result.output_dir / "summary.csv").open(encoding="utf-8-sig") as f:
        assert next(csv.reader(f)) == ["指标", "本周", "上周", "变化", "变化率"]


def test_a_week_not_yet_over_is_refused(db_engine: Engine, config: Config, tmp_path: Path) -> None:
    """Freezing a week before its Sunday 24:00 local would freeze partial figures, so it is refused."""
    with pytest.raises(ValueError, match="尚未结束"):
        build_weekly_report(db_engine, config, "2026-W48", local(2026, 11, 29, 23, 59), output_dir=tmp_path)
    assert datetime(2026, 11, 29, 16, tzinfo=UTC) == parse_week("2026-W48").end


def test_report_names_categories_in_chinese_in_tables_and_charts(db_engine: Engine, config: Config,
                                                                   tmp_path: Path) -> None:
    """Complaints submitted and routed by intake show in the week's HTML by JR/T 0169 name: chart labels are
    SVG text in Chinese with CJK fonts named, and no table or chart label shows our codes (B03 …)."""
    import re

    from domain.calendar import WorkingCalendar
    from domain.taxonomy import CATEGORIES
    from flows.intake import run_intake
    from models.submission import submit
    from tests.factories import complaint

    items = [complaint(received_at=f"2026-11-{day}T10:00:00+08:00", category=category)
             for day, category in (("17", "银行卡"), ("18", "银行卡"), ("18", "贷款"), ("19", "B04"),
                                   ("20", "个人金融信息"))]
    submit(db_engine, items, config=config, calendar=WorkingCalendar(), now=local(2026, 11, 20, 12))
    run_intake(db_engine, config, now=local(2026, 11, 20, 12, 5))
    result = build_weekly_report(db_engine, config, "2026-W47", NOW, output_dir=tmp_path)
    html = (result.output_dir / "report.html").read_text(encoding="utf-8")

    by_category = {r[1]: r[2] for r in result.content.tables.by_category.rows}
    assert by_category == {"银行卡": 2, "贷款": 1, "支付结算": 1, "个人金融信息": 1}
    codes = {t.code for t in CATEGORIES}
    svgs = re.findall(r"<svg.*?</svg>", html, flags=re.S)
    assert len(svgs) == 2
    chart_labels = [re.sub(r"<[^>]+>", "", t) for t in re.findall(r"<text[^>]*>.*?</text>", svgs[1], flags=re.S)]
    for name in by_category:
        assert name in chart_labels
    assert not codes & set(chart_labels)
    assert "本周新受理（件）" in chart_labels
    assert "WenQuanYi Micro Hei" in svgs[1] and "Microsoft YaHei" in svgs[1]
    trend_labels = [re.sub(r"<[^>]+>", "", t) for t in re.findall(r"<text[^>]*>.*?</text>", svgs[0], flags=re.S)]
    assert "47周" in trend_labels and {"新受理", "已答复", "周末逾期"} <= set(trend_labels)

    section = html[html.index(result.content.tables.by_category.title):]
    table = section[section.index("<table>"):section.index("</table>")]
    assert "<th>名称</th>" in table and "<th>代码</th>" not in table
    for name in by_category:
        assert f"<td>{name}</td>" in table
    assert not re.search(r">\s*[ABC]\d{2,4}\s*<", html.replace(svgs[0], "").replace(svgs[1], ""))
