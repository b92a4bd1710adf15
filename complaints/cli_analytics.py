"""`complaints stats`, `dashboard`, `early-warning`: the regulator statistics, the head's dashboard and the
early-warning scan (services/analytics.py), each printing JSON."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from complaints.cli import UsageError
from complaints.cli_cases import now_arg
from complaints.cli_users import os_actor
from complaints.services import open_app, to_json
from domain.statistics import PeriodError, parse_period
from services import analytics


def _period(args: argparse.Namespace) -> tuple[str, str]:
    for kind in ("month", "quarter", "year"):
        value = getattr(args, kind)
        if value is not None:
            return kind, value
    raise UsageError("stats：须给出 --month、--quarter 或 --year 之一")


def cmd_stats(args: argparse.Namespace) -> int:
    now = now_arg(args.now)
    try:
        period = parse_period(*_period(args))
    except PeriodError as exc:
        raise UsageError(str(exc)) from None
    with open_app() as app:
        try:
            with app.unit(now=now) as uow:
                if args.verify:
                    check = analytics.verify(uow, period, args.version)
                    print(to_json(check.as_dict()))
                    if not check.ok:
                        print(f"complaints: stats {check.period} v{check.version} does not match:\n  "
                              + "\n  ".join(check.problems()), file=sys.stderr)
                        return 1
                    return 0
                result = analytics.statistics(uow, period, actor=os_actor(), correct=args.correct)
                if args.csv:
                    Path(args.csv).write_text(analytics.csv_text(result.content, app.config), encoding="utf-8-sig")
                if args.xlsx:
                    Path(args.xlsx).write_bytes(analytics.xlsx_bytes(result.content, app.config))
        except analytics.AnalyticsError as exc:
            raise UsageError(str(exc)) from None
    print(to_json(result.summary()))
    return 0


def cmd_dashboard(args: argparse.Namespace) -> int:
    now = now_arg(args.now)
    with open_app() as app:
        try:
            with app.unit(now=now) as uow:
                board = analytics.dashboard(uow, institution=args.institution,
                                            person=analytics.head_of(app.config, args.institution)
                                            if args.institution in app.config.org.branches else None)
        except analytics.AnalyticsError as exc:
            raise UsageError(str(exc)) from None
    print(to_json(board.as_dict()))
    return 0


def cmd_early_warning(args: argparse.Namespace) -> int:
    now = now_arg(args.now)
    with open_app() as app:
        with app.unit(now=now) as uow:
            alerts = analytics.early_warning(uow, actor=os_actor())
    print(to_json({"alerts": [a.__dict__ for a in alerts], "new": sum(1 for a in alerts if a.new)}))
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("stats", help="监管报送统计：月度、季度、年度（冻结、可核验、更正留版本）")
    group = p.add_mutually_exclusive_group(required=True)
    group.add_argument("--month", help="统计月份，如 2026-03")
    group.add_argument("--quarter", help="统计季度，如 2026-Q1")
    group.add_argument("--year", help="统计年度（信息披露年度汇总），如 2026")
    p.add_argument("--correct", metavar="REASON", help="更正：按当前数据另存新版本，并记录原因与差异")
    p.add_argument("--verify", action="store_true", help="核验冻结版本的 sha256 及与当前数据是否一致；不一致时退出码 1 并列出差异")
    p.add_argument("--version", type=int, help="与 --verify 同用：核验的版本（默认最新）")
    p.add_argument("--csv", metavar="FILE", help="另存明细 CSV")
    p.add_argument("--xlsx", metavar="FILE", help="另存 XLSX 工作簿")
    p.add_argument("--now", help="当前时间（ISO 8601，带时区；演练用）")
    p.set_defaults(handler=cmd_stats)
    p = sub.add_parser("dashboard", help="一把手看板的各项数字（JSON）")
    p.add_argument("--institution", required=True, help="机构代码（org.yaml），如 dl")
    p.add_argument("--now", help="当前时间（ISO 8601，带时区）")
    p.set_defaults(handler=cmd_dashboard)
    p = sub.add_parser("early-warning", help="投诉预警：按机构 × 业务类别对照基线，异常波动提醒一把手和消保办")
    p.add_argument("--now", help="当前时间（ISO 8601，带时区）；评估其前一个自然日")
    p.set_defaults(handler=cmd_early_warning)
