"""config/report.yaml: validated against the org chart, errors naming file, line and field."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from complaints.config import REPO_ROOT, ConfigError, load_config


def _config_dir(tmp_path: Path, report_yaml: str | None) -> Path:
    shutil.copytree(REPO_ROOT / "config", tmp_path / "config")
    target = tmp_path / "config" / "report.yaml"
    if report_yaml is None:
        target.unlink()
    else:
        target.write_text(report_yaml, encoding="utf-8")
    return tmp_path / "config"


def test_the_shipped_report_config_loads() -> None:
    """The example report.yaml names known people, branches and departments."""
    report = load_config(REPO_ROOT / "config").report
    assert report.recipients and report.customers["dl"] > 0 and report.repeat_window_days == 30


def test_unknown_recipient_branch_and_department_are_named_with_their_lines(tmp_path: Path) -> None:
    """Each bad reference is reported as file:line: field: problem."""
    text = ("recipients: [nobody]\n"
            "customers: {mars: 10}\n"
            "caps:\n"
            "  - {branch: dl, department: spaceport, monthly: 5}\n")
    with pytest.raises(ConfigError) as exc:  # at start-up, not when the first report is built
        load_config(_config_dir(tmp_path, text))
    problems = exc.value.problems
    assert any("report.yaml:1: recipients[0]: unknown person 'nobody'" in p for p in problems)
    assert any("report.yaml:2: customers.mars: unknown branch 'mars'" in p for p in problems)
    assert any("report.yaml:4: caps[0].department: no department 'spaceport'" in p for p in problems)


def test_without_a_report_file_the_defaults_apply(tmp_path: Path) -> None:
    """No report.yaml: output under var/reports, 30-day repeat window, nobody notified, no caps."""
    report = load_config(_config_dir(tmp_path, None)).report
    assert report.output_dir == "var/reports" and report.recipients == [] and report.caps == []


def test_a_bad_channels_file_is_refused_at_start_up_naming_its_line(tmp_path: Path) -> None:
    """channels.yaml is validated by load_config too (not at the first dispatch)."""
    directory = _config_dir(tmp_path, None)
    (directory / "channels.yaml").write_text("batch_size: 200\nlease_seconds: -1\n", encoding="utf-8")
    with pytest.raises(ConfigError) as exc:
        load_config(directory)
    assert any("channels.yaml:2: lease_seconds" in p for p in exc.value.problems), exc.value.problems


def test_each_file_is_built_once_into_its_domain_object() -> None:
    """The escalation policy is the same object on every call; the report and channels are loaded already."""
    config = load_config(REPO_ROOT / "config")
    assert config.escalation.policy() is config.escalation.policy()
    assert config.channels is not None and config.channels.batch_size >= 1
