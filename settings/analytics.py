"""config/analytics.yaml (settings layer, below models/): customers, limits (限值), regions and the early-warning parameters.

Errors name the file, the line and the field in Chinese, e.g.
``config/analytics.yaml:9: customers.dl-x（客户数）：组织架构中没有机构 'dl-x'``.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, ValidationError

from domain.early_warning import Params
from settings.config import Config, ConfigError, _Strict, public_url, read_yaml

FILE = "analytics.yaml"
_LABELS = {"customers": "客户数", "limits": "投诉限值", "monthly": "月度限值", "yearly": "年度限值",
           "regions": "地区", "early_warning": "投诉预警", "baseline_days": "基线天数", "alpha": "显著性水平",
           "threshold": "似然比阈值", "min_excess": "最少超出件数", "cooldown_days": "同一预警间隔天数",
           "link_base": "看板链接"}
_PYDANTIC_CN = {"greater_than": "须大于 {gt}", "greater_than_equal": "须不小于 {ge}", "less_than": "须小于 {lt}",
                "less_than_equal": "须不大于 {le}", "int_parsing": "须为整数", "float_parsing": "须为数字",
                "int_type": "须为整数", "extra_forbidden": "不是可用的字段", "missing": "必填",
                "string_type": "须为文字", "dict_type": "须为映射（键: 值）"}


class LimitSpec(_Strict):
    monthly: int | None = Field(default=None, ge=0)
    yearly: int | None = Field(default=None, ge=0)


class EarlyWarningSpec(_Strict):
    baseline_days: int = Field(default=364, ge=14, le=366)
    threshold: float = Field(default=3.4, gt=0, lt=50)
    alpha: float = Field(default=0.01, gt=0, lt=0.5)
    min_excess: float = Field(default=3.0, ge=0)
    cooldown_days: int = Field(default=14, ge=1, le=90)
    link_base: str = "http://127.0.0.1:8000/dashboard"

    def params(self) -> Params:
        return Params(baseline_days=self.baseline_days, threshold=self.threshold, alpha=self.alpha,
                      min_excess=self.min_excess, cooldown_days=self.cooldown_days)


class AnalyticsFile(_Strict):
    customers: dict[str, int] = {}
    limits: dict[str, LimitSpec] = {}
    regions: dict[str, str] = {}
    early_warning: EarlyWarningSpec = EarlyWarningSpec()

    def customers_of(self, config: Config, branch: str) -> int | None:
        """The institution's customers: its own figure, else the sum of its children's (None without any)."""
        if branch in self.customers:
            return self.customers[branch]
        children = [b.code for b in config.org.branches.values() if b.parent == branch]
        found = [n for n in (self.customers_of(config, c) for c in children) if n]
        return sum(found) if found else None

    def region_of(self, config: Config, branch: str) -> str:
        root = config.org.ancestry(branch)[-1]
        return self.regions.get(root.code, root.name)

    def link(self) -> str:
        base = public_url()
        return f"{base}/dashboard" if base else self.early_warning.link_base.rstrip("/")


def _label(loc: tuple[object, ...]) -> str:
    for part in reversed(loc):
        if isinstance(part, str) and part in _LABELS:
            return _LABELS[part]
    return "字段"


def load_analytics(config: Config) -> AnalyticsFile:
    """Read config/analytics.yaml (defaults when absent); ConfigError in Chinese naming file, line and field."""
    path = Path(config.directory) / FILE
    if not path.exists():
        return AnalyticsFile()
    src = read_yaml(path)
    try:
        spec = AnalyticsFile.model_validate(src.data)
    except ValidationError as exc:
        problems = []
        for e in exc.errors():
            loc = tuple(e["loc"])
            msg = _PYDANTIC_CN.get(e["type"], e["msg"]).format(**(e.get("ctx") or {}))
            problems.append(f"{src.where(loc)}（{_label(loc)}）：{msg}")
        raise ConfigError(problems) from None
    problems = []
    for section in ("customers", "limits", "regions"):
        for code in getattr(spec, section):
            if code not in config.org.branches:
                problems.append(f"{src.where((section, code))}（{_LABELS[section]}）：组织架构中没有机构 {code!r}")
    for code, n in spec.customers.items():
        if n <= 0:
            problems.append(f"{src.where(('customers', code))}（客户数）：须为正整数，收到 {n}")
    if problems:
        raise ConfigError(problems)
    return spec
