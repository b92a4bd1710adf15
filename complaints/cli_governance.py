"""Commands of 投诉治理 (docs/governance.md): callback, callbacks, remediation add|list|show|close|sweep,
callback-rates. Each prints JSON; a refusal exits 2 naming the field and stores nothing."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

from complaints.cli import UsageError
from complaints.cli_cases import now_arg
from complaints.cli_users import actor_of, add_actor_options
from complaints.services import open_app, to_json
from domain.governance import check_period
from domain.lifecycle import IllegalTransition
from models.case_actions import ActionError
from models.governance import callback_rates
from services import governance
from services.unit_of_work import UnitOfWork


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _run(args: argparse.Namespace, fn: Callable[[UnitOfWork, str], Any], *, actor: bool = True) -> int:
    now: datetime = now_arg(args.now)
    with open_app() as app:
        who = actor_of(args, app=app) if actor else ""
        try:
            with app.unit(now=now) as uow:
                out = fn(uow, who)
        except (ActionError, IllegalTransition) as exc:
            raise UsageError(str(exc)) from None
    print(to_json(_plain(out)))
    return 0


def cmd_callback(args: argparse.Namespace) -> int:
    return _run(args, lambda uow, who: governance.record_callback(
        uow, case_no=args.case_no, result=args.result, satisfaction=args.satisfaction, then=args.then,
        reason=args.reason, actor=who))


def cmd_callbacks(args: argparse.Namespace) -> int:
    return _run(args, lambda uow, who: governance.pending_callbacks(uow), actor=False)


def cmd_callback_rates(args: argparse.Namespace) -> int:
    start, end = now_arg(args.start, "--start"), now_arg(args.end, "--end")
    if problems := check_period(start, end):
        raise UsageError("; ".join(problems))
    return _run(args, lambda uow, who: [r.as_dict() for r in callback_rates(uow.session, start=start, end=end)],
                actor=False)


def cmd_remediation_add(args: argparse.Namespace) -> int:
    return _run(args, lambda uow, who: governance.add_remediation(
        uow, title=args.title, due=args.due, actor=who, from_case=args.from_case, root_cause=args.root_cause,
        category=args.category, branch=args.branch, owner_department=args.owner_department,
        owner_branch=args.owner_branch))


def cmd_remediation_list(args: argparse.Namespace) -> int:
    return _run(args, lambda uow, who: governance.list_remediation(uow, status=args.status), actor=False)


def cmd_remediation_show(args: argparse.Namespace) -> int:
    return _run(args, lambda uow, who: governance.report(uow, args.ref), actor=False)


def cmd_remediation_close(args: argparse.Namespace) -> int:
    return _run(args, lambda uow, who: governance.close_remediation(uow, ref=args.ref, evidence=args.evidence,
                                                                   actor=who))


def cmd_remediation_sweep(args: argparse.Namespace) -> int:
    return _run(args, lambda uow, who: governance.sweep_remediation(uow), actor=False)


def _now(p: argparse.ArgumentParser) -> None:
    p.add_argument("--now", help="ISO 8601 instant with offset (default: now; for replaying and tests)")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("callback", help="record a call-back attempt (回访) on a responded case")
    p.add_argument("case_no")
    p.add_argument("--result", required=True, help="reached (联系上) | unreachable (未接通; the 3rd is 未联系上)")
    p.add_argument("--satisfaction", help="满意 | 基本满意 | 不满意 (satisfied | basic | dissatisfied); when reached")
    p.add_argument("--then", help="with 不满意: reopen (重新处理) | review (核查), in the same step")
    p.add_argument("--reason", help="what the customer said (required with --then reopen)")
    _now(p)
    add_actor_options(p)
    p.set_defaults(handler=cmd_callback)

    p = sub.add_parser("callbacks", help="待回访: open call-back rounds, the earliest due first")
    _now(p)
    p.set_defaults(handler=cmd_callbacks)

    p = sub.add_parser("callback-rates", help="回访率 and 满意度 per institution over rounds due in [--start, --end)")
    p.add_argument("--start", required=True, help="ISO 8601 instant with offset")
    p.add_argument("--end", required=True, help="ISO 8601 instant with offset")
    _now(p)
    p.set_defaults(handler=cmd_callback_rates)

    p = sub.add_parser("remediation", help="整改 items: add, list, show, close, sweep")
    rsub = p.add_subparsers(dest="remediation_command", required=True)
    a = rsub.add_parser("add", help="open an item from a case (--from-case) or a pattern (cause × category × branch)")
    a.add_argument("--title", required=True)
    a.add_argument("--due", required=True, help="due date, e.g. 2026-12-31")
    a.add_argument("--from-case", help="the case it comes from (its root cause, category, branch, department by default)")
    a.add_argument("--root-cause", help="code or name from config/root_causes.yaml")
    a.add_argument("--category", help="JR/T 0169 business category (name or B code)")
    a.add_argument("--branch", help="the institution of the pattern (org.yaml code)")
    a.add_argument("--owner-department", help="the owning department's code (org.yaml)")
    a.add_argument("--owner-branch", help="the owning department's branch (default: --branch)")
    _now(a)
    add_actor_options(a)
    a.set_defaults(handler=cmd_remediation_add)
    ls = rsub.add_parser("list", help="items, the earliest due first")
    ls.add_argument("--status", choices=["open", "closed"])
    _now(ls)
    ls.set_defaults(handler=cmd_remediation_list)
    sh = rsub.add_parser("show", help="one item with its pattern's complaints 90 days before and after")
    sh.add_argument("ref")
    _now(sh)
    sh.set_defaults(handler=cmd_remediation_show)
    c = rsub.add_parser("close", help="close an item (only with evidence)")
    c.add_argument("ref")
    c.add_argument("--evidence", help="what proves it is done (制度修订、系统变更单号、培训记录 …); required")
    _now(c)
    add_actor_options(c)
    c.set_defaults(handler=cmd_remediation_close)
    sw = rsub.add_parser("sweep", help="escalate overdue items up the 一把手 chain (once per level)")
    _now(sw)
    sw.set_defaults(handler=cmd_remediation_sweep)
