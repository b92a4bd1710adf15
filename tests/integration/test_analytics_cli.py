"""`complaints stats`, `dashboard`, `early-warning`: JSON out; a bad period or institution exits 2 in Chinese;
`stats --verify` exits 0 on an intact snapshot and 1, naming the difference, on data changed since the freeze
or an edited snapshot."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook  # type: ignore[import-untyped]
from sqlalchemy import Engine, update

from complaints.cli import main
from complaints.config import Config
from domain.calendar import WorkingCalendar
from flows.intake import run_intake
from models.analytics import SNAP
from models.submission import submit
from tests.factories import complaint

NOW = "2026-04-08T10:00:00+08:00"


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, Any, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, (json.loads(out.out) if out.out.strip() else None), out.err


def test_stats_dashboard_and_early_warning_commands(db_engine: Engine, config: Config, monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """stats prints total and counts per dimension and freezes v1; verify passes, then names an edited snapshot."""
    monkeypatch.setenv("COMPLAINTS_DATABASE_URL", db_engine.url.render_as_string(hide_password=False))
    items = [complaint(received_at=f"2026-03-{d:02d}T10:00:00+08:00", branch=b, category=c)
             for d, b, c in ((1, "dl", "银行卡"), (15, "dl-zs", "银行卡"), (31, "dl-zs", "贷款"), (1, "dl-xg", "自营理财"))]
    at = datetime.fromisoformat(NOW)
    submit(db_engine, items, config=config, calendar=WorkingCalendar(), now=at)
    run_intake(db_engine, config, now=at)
    xlsx = tmp_path / "q1.xlsx"
    code, out, _ = _run(capsys, "stats", "--month", "2026-03", "--now", NOW, "--xlsx", str(xlsx))
    assert code == 0 and out["total"] == 4 and out["version"] == 1 and out["created"] is True
    assert out["branch"] == {"dl-zs": 2, "dl": 1, "dl-xg": 1} and out["category"] == {"B03": 2, "B02": 1, "B10": 1}
    assert load_workbook(xlsx)["汇总"]["B3"].value == 4
    code, out, _ = _run(capsys, "stats", "--month", "2026-03", "--verify", "--now", NOW)
    assert code == 0 and out["intact"] is True and out["matches_data"] is True
    assert list(out) == ["period", "version", "sha256", "intact", "matches_data", "diff"]  # the keys, in order
    later = datetime.fromisoformat("2026-04-09T10:00:00+08:00")  # a late registration (补录) for March
    submit(db_engine, [complaint(received_at="2026-03-20T10:00:00+08:00", branch="dl-xg", category="贷款")],
           config=config, calendar=WorkingCalendar(), now=later)
    run_intake(db_engine, config, now=later)
    code, out, err = _run(capsys, "stats", "--month", "2026-03", "--verify", "--now", NOW)
    assert code == 1 and out["intact"] is True and out["matches_data"] is False
    assert out["diff"]["total_before"] == 4 and out["diff"]["total_after"] == 5
    (added,) = out["diff"]["cells"][0]["added"]
    assert "complaints: stats 2026-03 v1 does not match:" in err and "total: 4 → 5" in err and added in err
    with db_engine.begin() as conn:
        conn.execute(update(SNAP).values(content=json.dumps({"total": 3, "cells": []})))
    code, out, err = _run(capsys, "stats", "--month", "2026-03", "--verify", "--now", NOW)
    assert code == 1 and out["intact"] is False
    assert list(out) == ["period", "version", "sha256", "intact", "matches_data", "diff"]  # the JSON is still printed
    assert "stored content of v1 does not match its sha256: the snapshot was edited" in err
    code, out, _ = _run(capsys, "dashboard", "--institution", "dl-zs", "--now", NOW)
    assert code == 0 and out["institution"] == "dl-zs"
    assert [f["value"] for f in out["counts"]][2] == 2
    code, out, _ = _run(capsys, "early-warning", "--now", NOW)
    assert code == 0 and out["new"] == 0
    code, _, err = _run(capsys, "stats", "--quarter", "2026-Q5")
    assert code == 2 and "--quarter（统计季度）" in err
    code, _, err = _run(capsys, "dashboard", "--institution", "nope")
    assert code == 2 and "institution（机构）" in err
