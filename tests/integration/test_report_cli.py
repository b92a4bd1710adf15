"""`complaints report` and `complaints report verify`: JSON out, exit 1 naming what differs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, update

from complaints import cli_report
from complaints.cli import main
from complaints.services import open_app
from models.report import SNAP
from services.unit_of_work import Runtime
from tests.integration.report_seed import seed


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, Any, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, (json.loads(out.out) if out.out.strip() else None), out.err


def test_report_then_verify_and_an_edited_snapshot_is_named(db_engine: Engine, monkeypatch: pytest.MonkeyPatch,
                                                            capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """report --direct freezes the week and verify passes (exit 0); editing the stored content makes verify exit 1 saying so."""
    monkeypatch.setenv("COMPLAINTS_DATABASE_URL", db_engine.url.render_as_string(hide_password=False))
    seed(db_engine)
    code, out, _ = _run(capsys, "report", "--direct", "--week", "2026-W47", "--now", "2026-11-30T08:30:00+08:00",
                        "--out", str(tmp_path))
    assert code == 0 and out["week"] == "2026-W47" and out["version"] == 1 and out["created"] is True
    assert (tmp_path / "2026-W47" / "report.html").exists()
    code, out, _ = _run(capsys, "report", "verify", "--week", "2026-W47", "--out", str(tmp_path))
    assert code == 0 and out["ok"] is True
    with db_engine.begin() as conn:
        content = json.loads(conn.execute(SNAP.select()).first().content)  # type: ignore[union-attr]
        content["summary"]["overdue_at_end"] = 0
        conn.execute(update(SNAP).values(content=json.dumps(content)))
    code, out, err = _run(capsys, "report", "verify", "--week", "2026-W47", "--out", str(tmp_path))
    assert code == 1 and "snapshot was edited" in err and "summary.overdue_at_end" in err


def test_default_week_is_the_last_complete_one_and_a_bad_week_exits_2(db_engine: Engine, monkeypatch: pytest.MonkeyPatch,
                                                                      capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """Without --week the report covers the week before --now; a malformed week is a usage error."""
    monkeypatch.setenv("COMPLAINTS_DATABASE_URL", db_engine.url.render_as_string(hide_password=False))
    code, out, _ = _run(capsys, "report", "--direct", "--now", "2026-11-23T08:30:00+08:00", "--out", str(tmp_path))
    assert code == 0 and out["week"] == "2026-W47"
    code, _, err = _run(capsys, "report", "--direct", "--week", "2026-47", "--out", str(tmp_path))
    assert code == 2 and "报告周（--week）" in err and "不是 ISO 周" in err


def test_report_and_verify_run_in_the_process_runtime(db_engine: Engine, monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """report --direct and report verify each run their transaction in the Runtime open_app built for
    the process, not in a session of their own."""
    monkeypatch.setenv("COMPLAINTS_DATABASE_URL", db_engine.url.render_as_string(hide_password=False))
    opened: list[Runtime] = []
    used: list[Runtime] = []
    real_session = Runtime.session

    @contextmanager
    def recording_open_app(**kw: Any) -> Iterator[Runtime]:
        with open_app(**kw) as app:
            opened.append(app)
            yield app

    def recording_session(self: Runtime) -> Any:
        used.append(self)
        return real_session(self)

    monkeypatch.setattr(cli_report, "open_app", recording_open_app)
    monkeypatch.setattr(Runtime, "session", recording_session)
    week = ("--week", "2026-W47")
    assert _run(capsys, "report", "--direct", *week, "--now", "2026-11-30T08:30:00+08:00", "--out", str(tmp_path))[0] == 0
    assert _run(capsys, "report", "verify", *week, "--out", str(tmp_path))[0] == 0
    assert len(opened) == 2 and len(used) == 2
    assert used[0] is opened[0] and used[1] is opened[1]
