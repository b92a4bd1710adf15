"""config/analytics.yaml: the shipped file loads; a bad value is refused in Chinese naming file, line and field."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest

from complaints.config import Config, ConfigError
from domain.statistics import PeriodError, parse_period, per_10k
from settings.analytics import load_analytics


def _with(config: Config, tmp_path: Path, text: str) -> Config:
    shutil.copytree(config.directory, tmp_path / "config")
    (tmp_path / "config" / "analytics.yaml").write_text(text, encoding="utf-8")
    return dataclasses.replace(config, directory=tmp_path / "config")


def test_the_shipped_file_loads_and_rolls_customers_up(config: Config) -> None:
    """dl has its own figure; an institution without one gets the sum of its children."""
    spec = load_analytics(config)
    assert spec.customers_of(config, "dl") == 1850000
    assert spec.region_of(config, "dl-zs") == "辽宁省大连市"
    without = spec.model_copy(update={"customers": {"dl-zs": 10, "dl-xg": 20}})
    assert without.customers_of(config, "dl") == 30


@pytest.mark.parametrize(("text", "message"), [
    ("customers:\n  dl-x: 5\n", "analytics.yaml:2: customers.dl-x（客户数）：组织架构中没有机构 'dl-x'"),
    ("customers:\n  dl: 0\n", "analytics.yaml:2: customers.dl（客户数）：须为正整数，收到 0"),
    ("limits:\n  dl: {monthly: -1}\n", "analytics.yaml:2: limits.dl.monthly（月度限值）：须不小于 0"),
    ("early_warning:\n  alpha: 0.9\n", "analytics.yaml:2: early_warning.alpha（显著性水平）：须小于 0.5"),
])
def test_a_bad_value_names_file_line_and_field_in_chinese(config: Config, tmp_path: Path, text: str,
                                                          message: str) -> None:
    """Each refusal is one Chinese line with the file, the line number and the field's name."""
    with pytest.raises(ConfigError) as err:
        load_analytics(_with(config, tmp_path, text))
    assert any(p.endswith(message) for p in err.value.problems), err.value.problems


def test_periods_and_rates() -> None:
    """Months, quarters and years are local; a bad one names its option; per 10,000 customers rounds to 3 places."""
    q = parse_period("quarter", "2026-Q1")
    assert (q.first.isoformat(), q.last.isoformat()) == ("2026-01-01", "2026-03-31")
    assert q.start.isoformat() == "2025-12-31T16:00:00+00:00"
    assert parse_period("month", "2024-02").last.day == 29
    with pytest.raises(PeriodError, match=r"^--year（统计年度）：'26' 格式不正确"):
        parse_period("year", "26")
    with pytest.raises(PeriodError, match="年份须在 1990 到 2100 之间"):
        parse_period("year", "0000")
    assert per_10k(3, 7) == round(30000 / 7, 3) and per_10k(3, None) is None
