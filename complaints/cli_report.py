"""`complaints report`: the weekly auditor report for any ISO week, and `report verify`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from complaints.cli import UsageError
from complaints.cli_cases import now_arg
from complaints.cli_users import os_actor
from complaints.services import open_app, to_json


def _week_arg(value: str) -> str:
    """`--week`: refused at parse time when it is not an ISO week (e.g. 2026-W99, abc)."""
    from flows.weekly_report import WeekError, check_week

    try:
        return check_week(value).label
    except WeekError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def cmd_report(args: argparse.Namespace) -> int:
    from flows.weekly_report import ReportChanged, WeekError, freeze_report, resolve_week

    now = now_arg(args.now)
    try:
        resolve_week(args.week, now)  # refused here, before any flow run starts
    except WeekError as exc:
        raise UsageError(str(exc)) from None
    if not args.direct:
        from flows.weekly_report import weekly_report

        if args.now or args.out:
            raise UsageError("--now（时间）和 --out（输出目录）须与 --direct 同用（流程按真实时钟出具报告）")
        with open_app():
            pass  # migrate before the flow starts; the flow run has its own Runtime, as a worker's run does
        try:
            print(to_json(weekly_report(week=args.week, force=args.force)))
        except ReportChanged as exc:
            print(f"complaints: {exc}", file=sys.stderr)
            return 1
        return 0
    with open_app() as app:
        try:
            result = freeze_report(app, args.week, now, force=args.force,
                                   output_dir=Path(args.out) if args.out else None, actor=os_actor())
        except ReportChanged as exc:
            print(f"complaints: {exc}", file=sys.stderr)
            return 1
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    print(to_json(result.as_dict()))
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from flows.weekly_report import verify_report

    with open_app() as app:
        try:
            outcome = verify_report(app, args.week, output_dir=Path(args.out) if args.out else None)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    print(to_json(outcome.as_dict()))
    if not outcome.ok:
        print(f"complaints: report {outcome.week} does not match:\n  " + "\n  ".join(outcome.problems), file=sys.stderr)
        return 1
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("report", help="weekly auditor report (HTML, CSV, Prefect artifacts), frozen per week")
    p.add_argument("--week", type=_week_arg,
                   help="ISO week, e.g. 2026-W47 (default: the last complete week, Asia/Shanghai)")
    p.add_argument("--force", action="store_true",
                   help="store a new version when the figures differ from the frozen one (the old one is kept)")
    p.add_argument("--direct", action="store_true", help="run without the Prefect engine (no artifacts)")
    p.add_argument("--now", help="ISO instant with offset (with --direct): the clock for the default week")
    p.add_argument("--out", help="output folder (default report.yaml output_dir, var/reports)")
    p.set_defaults(handler=cmd_report)
    rsub = p.add_subparsers(dest="report_command", metavar="verify")
    v = rsub.add_parser("verify", help="recompute a frozen week; exit 1 naming what differs")
    v.add_argument("--week", required=True, type=_week_arg, help="ISO week, e.g. 2026-W47")
    v.add_argument("--out", help="output folder the report was written to")
    v.set_defaults(handler=cmd_verify)
