"""escalation.yaml's scheduling settings: loaded once into the policy object, bad values named by file, line and field."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from complaints.config import REPO_ROOT, ConfigError, load_config

SHIPPED = ("  schedule_page: 5000", "  schedule_per_sweep: 100000")


def _copy(tmp_path: Path) -> Path:
    target = tmp_path / "config"
    shutil.copytree(REPO_ROOT / "config", target)
    return target


def _edit(cfg: Path, page: str | None, per_sweep: str | None) -> list[str]:
    """escalation.yaml with the two lines replaced (None: the line left out); its lines."""
    path = cfg / "escalation.yaml"
    lines = path.read_text(encoding="utf-8").splitlines()
    out: list[str] = []
    for line in lines:
        for shipped, new in zip(SHIPPED, (page, per_sweep), strict=True):
            if line.startswith(shipped):
                line = "" if new is None else f"{shipped.split(':')[0]}: {new}"
        out.append(line)
    assert out != lines or (page, per_sweep) == ("5000", "100000")
    path.write_text("\n".join(out) + "\n", encoding="utf-8")
    return out


def test_the_shipped_file_sets_todays_values_in_the_policy() -> None:
    """The shipped file states 5,000 a page and 100,000 a sweep; the policy object carries them."""
    config = load_config(REPO_ROOT / "config")
    text = (REPO_ROOT / "config" / "escalation.yaml").read_text(encoding="utf-8")
    assert all(line in text for line in SHIPPED)
    policy = config.escalation.policy()
    assert (policy.schedule_page, policy.schedule_per_sweep) == (5000, 100_000)
    assert config.escalation.policy() is policy  # built once, at load


def test_left_out_they_default_to_the_same_values(tmp_path: Path) -> None:
    cfg = _copy(tmp_path)
    _edit(cfg, None, None)
    policy = load_config(cfg).escalation.policy()
    assert (policy.schedule_page, policy.schedule_per_sweep) == (5000, 100_000)


def test_set_values_reach_the_policy(tmp_path: Path) -> None:
    cfg = _copy(tmp_path)
    _edit(cfg, "250", "1000")
    policy = load_config(cfg).escalation.policy()
    assert (policy.schedule_page, policy.schedule_per_sweep) == (250, 1000)


@pytest.mark.parametrize(("page", "per_sweep", "field", "problem"), [
    ("99", "100000", "schedule_page", "Input should be greater than or equal to 100"),
    ("50001", "100000", "schedule_page", "Input should be less than or equal to 50000"),
    ("5000", "10000001", "schedule_per_sweep", "Input should be less than or equal to 10000000"),
    ("5000", "many", "schedule_per_sweep", "Input should be a valid integer"),
    ("5000", "4999", "schedule_per_sweep", r"must be at least sweep.schedule_page \(4999 < 5000\)"),
])
def test_a_bad_value_names_file_line_and_field(tmp_path: Path, page: str, per_sweep: str, field: str,
                                               problem: str) -> None:
    cfg = _copy(tmp_path)
    lines = _edit(cfg, page, per_sweep)
    line = next(i for i, text in enumerate(lines, 1) if text.startswith(f"  {field}:"))
    with pytest.raises(ConfigError, match=rf"escalation.yaml:{line}: sweep.{field}: {problem}"):
        load_config(cfg)
