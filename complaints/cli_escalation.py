"""Commands for escalation and what supervisors and handlers do to a case.

escalate, ack-escalation, forecast, list-paused; extend, pause, resume, new-facts, review;
acknowledge, respond, close, withdraw. Each change is one transaction (state, audit event,
outbox rows, next escalation time); a refused change exits 2, names the field, stores nothing.
"""

from __future__ import annotations

import argparse
from datetime import timedelta
from typing import Any

from complaints.cli import UsageError, float_arg, int_arg
from complaints.cli_cases import now_arg
from complaints.cli_users import actor_of, add_actor_options
from complaints.services import open_app, to_json
from domain.case_actions import NOTICE_WAYS, PAUSE_REASONS
from domain.field_names import refusal
from domain.lifecycle import IllegalTransition
from models.escalation_store import forecast, list_paused
from services import cases


def _when(value: str | None, field: str) -> Any:
    return now_arg(value, field)


def _act(args: argparse.Namespace, action: str, command: cases.Command) -> int:
    """Run one case action (services/cases.py) in one transaction; a refusal is a usage error and
    rolls everything back.

    After the commit, the change is announced as a Prefect event on the case (when a Prefect API
    is configured), so supervisors can follow it in the event feed and automations can react.
    """
    now = _when(args.now, "--now")
    with open_app() as app:
        actor = actor_of(args, app=app)  # the actor is proven before the transaction
        try:
            with app.unit(now=now) as uow:
                out = cases.act(uow, args.case_no, action, command, actor=actor)
        except (cases.ActionError, IllegalTransition) as exc:
            raise UsageError(str(exc)) from None
    print(to_json(out.as_dict()))
    return 0


def cmd_escalate(args: argparse.Namespace) -> int:
    now = _when(args.now, "--now")
    if args.direct or args.now:
        from flows.escalation import run_until_scheduled

        with open_app() as app:
            result = run_until_scheduled(app.engine, app.config, now=now, calendar=app.calendar).as_dict()
    else:
        from flows.escalation import escalation

        with open_app():
            pass  # migrate before the flow starts
        result = escalation()
    print(to_json(result))
    return 0


def cmd_ack_escalation(args: argparse.Namespace) -> int:
    now = _when(args.now, "--now")
    with open_app() as app:
        try:
            if args.by not in app.config.org.people:
                raise cases.ActionError([refusal("by", f"组织架构中没有此人 {args.by!r}")])
            with app.unit(now=now) as uow:
                out = cases.acknowledge_escalation(uow, case_no=args.case_no, level=args.level, by=args.by)
        except cases.ActionError as exc:
            raise UsageError(str(exc)) from None
    print(to_json(out.as_dict()))
    return 0


def cmd_forecast(args: argparse.Namespace) -> int:
    now = _when(args.now, "--now")
    with open_app() as app, app.session() as session:
        out = forecast(session, config=app.config, calendar=app.calendar, now=now,
                       horizon=now + timedelta(days=args.days))
    print(to_json(out))
    return 0


def cmd_list_paused(args: argparse.Namespace) -> int:
    now = _when(args.now, "--now")
    with open_app() as app, app.session() as session:
        out = list_paused(session, now=now)
    print(to_json(out))
    return 0


def cmd_extend(args: argparse.Namespace) -> int:
    told = _when(args.customer_told_at, "--customer-told-at")
    return _act(args, "extend", cases.Extend(
        to=args.to, approver=args.approver, approver_org=args.approver_org, approval_ref=args.approval_ref,
        reason=args.reason, customer_told_at=told, customer_told_via=args.customer_told_via))


def _at(args: argparse.Namespace, attr: str = "at") -> Any:
    """An optional time option (--at, --told-at): None means the command's now."""
    value = getattr(args, attr)
    return _when(value, f"--{attr.replace('_', '-')}") if value else None


def cmd_pause(args: argparse.Namespace) -> int:
    return _act(args, "pause", cases.Pause(reason=args.reason, evidence=args.evidence, at=_at(args)))


def cmd_resume(args: argparse.Namespace) -> int:
    return _act(args, "resume", cases.Resume(at=_at(args)))


def cmd_new_facts(args: argparse.Namespace) -> int:
    return _act(args, "new-facts", cases.NewFacts(at=_when(args.at, "--at")))


def cmd_review(args: argparse.Namespace) -> int:
    return _act(args, "review", cases.Review(requested_at=_when(args.requested_at, "--requested-at")))


def cmd_acknowledge(args: argparse.Namespace) -> int:
    return _act(args, "acknowledge", cases.Acknowledge())


def cmd_respond(args: argparse.Namespace) -> int:
    return _act(args, "respond", cases.Respond(verified=args.verified, basis=args.basis, remedies=args.remedies,
                                               told_via=args.told_via, told_at=_at(args, "told_at"),
                                               outcome=args.outcome, not_upheld_reason=args.not_upheld_reason,
                                               redress_type=args.redress_type, redress_amount=args.redress_amount))


def cmd_close(args: argparse.Namespace) -> int:
    return _act(args, "close", cases.Close(root_cause=args.root_cause))


def cmd_withdraw(args: argparse.Namespace) -> int:
    return _act(args, "withdraw", cases.Withdraw(at=_at(args)))


def cmd_assign(args: argparse.Namespace) -> int:
    return _act(args, "assign", cases.Assign(handler=args.to))


def cmd_reopen(args: argparse.Namespace) -> int:
    return _act(args, "reopen", cases.Reopen(reason=args.reason))


def _common(p: argparse.ArgumentParser, *, case: bool = True) -> None:
    if case:
        p.add_argument("case_no")
    p.add_argument("--now", help="ISO 8601 instant with offset (default: now; for replaying and tests)")
    add_actor_options(p)  # the audit trail records the OS user unless a web user proves who they are


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("escalate", help="escalate every case whose next level is due (one sweep)")
    p.add_argument("--now", help="ISO 8601 instant with offset; implies --direct")
    p.add_argument("--direct", action="store_true", help="run without the Prefect engine (no flow run)")
    p.set_defaults(handler=cmd_escalate)

    p = sub.add_parser("ack-escalation", help="a supervisor acknowledges an escalation of a case")
    _common(p)
    p.add_argument("--level", type=int_arg("督办级别（--level）", minimum=0, maximum=9), required=True)
    p.add_argument("--by", required=True, help="person id of the supervisor")
    p.set_defaults(handler=cmd_ack_escalation)

    p = sub.add_parser("forecast", help="what will escalate (per level) or breach its deadline by then")
    _common(p, case=False)
    p.add_argument("--days", type=float_arg("预测天数（--days）", above=0, maximum=366), default=1.0,
                   help="how many days ahead (more than 0, at most 366)")
    p.set_defaults(handler=cmd_forecast)

    p = sub.add_parser("list-paused", help="open cases whose clock is paused with no resume yet")
    _common(p, case=False)
    p.set_defaults(handler=cmd_list_paused)

    p = sub.add_parser("extend", help="record an approved extension to 30 (complex) or 60 (special) days")
    _common(p)
    p.add_argument("--to", required=True, choices=["complex", "special"])
    p.add_argument("--approver", required=True, help="person id (30 days) or the approver's name (60 days)")
    p.add_argument("--approver-org", help="60 days: the approving 上级机构 or head office")
    p.add_argument("--approval-ref", help="60 days: the approval's reference")
    p.add_argument("--reason", required=True)
    p.add_argument("--customer-told-at", required=True, help="when the complainant was told (ISO 8601)")
    p.add_argument("--customer-told-via", required=True, help=f"one of {', '.join(NOTICE_WAYS)}")
    p.set_defaults(handler=cmd_extend)

    p = sub.add_parser("pause", help="stop the regulatory clock (鉴定/检测/评估/调解)")
    _common(p)
    p.add_argument("--reason", required=True, help=f"one of {', '.join(PAUSE_REASONS)}")
    p.add_argument("--evidence", required=True, help="reference to the appraisal/mediation record")
    p.add_argument("--at", help="when the pause began (default: now)")
    p.set_defaults(handler=cmd_pause)

    p = sub.add_parser("resume", help="start the paused clock again (paused days are added back)")
    _common(p)
    p.add_argument("--at", help="when it resumed (default: now)")
    p.set_defaults(handler=cmd_resume)

    p = sub.add_parser("new-facts", help="new facts or reasons received: restart the clock (Art. 18)")
    _common(p)
    p.add_argument("--at", required=True, help="when the new material was received")
    p.set_defaults(handler=cmd_new_facts)

    p = sub.add_parser("review", help="open a review (核查) by the 上级机构 (Art. 20)")
    _common(p)
    p.add_argument("--requested-at", required=True)
    p.set_defaults(handler=cmd_review)

    p = sub.add_parser("acknowledge", help="the handler acknowledges the case")
    _common(p)
    p.set_defaults(handler=cmd_acknowledge)

    p = sub.add_parser("respond", help="record the decision told to the complainant (Art. 19)")
    _common(p)
    p.add_argument("--verified", required=True, help="核实情况")
    p.add_argument("--basis", required=True, help="依据和理由")
    p.add_argument("--remedies", required=True, help="救济途径 (申请核查、调解、仲裁、诉讼)")
    p.add_argument("--told-via", required=True, help=f"one of {', '.join(NOTICE_WAYS)}")
    p.add_argument("--told-at", help="when the complainant was told (default: now)")
    p.add_argument("--outcome", help="投诉是否成立 (required): 成立 | 部分成立 | 不成立 (or upheld | partly_upheld | not_upheld)")
    p.add_argument("--not-upheld-reason", help="why not upheld (required with 不成立)")
    p.add_argument("--redress-type", help="补偿方式: 退还费用 | 赔偿 | 减免 | 更正 | 致歉 | 其他 (refund, compensation, …)")
    p.add_argument("--redress-amount", help="补偿金额 in CNY, at most two decimals, e.g. 200.00")
    p.set_defaults(handler=cmd_respond)

    p = sub.add_parser("assign", help="(re)assign a routed case to another handler of its department")
    _common(p)
    p.add_argument("--to", required=True, metavar="PERSON", help="person id of the new handler (org.yaml)")
    p.set_defaults(handler=cmd_assign)

    p = sub.add_parser("reopen", help="take a responded or closed case up again")
    _common(p)
    p.add_argument("--reason", required=True, help="why it is reopened (recorded in the audit trail)")
    p.set_defaults(handler=cmd_reopen)

    p = sub.add_parser("close", help="close a responded case")
    _common(p)
    p.add_argument("--root-cause", help="投诉根因 (required): a code or name of config/root_causes.yaml, e.g. R02 or 收费定价")
    p.set_defaults(handler=cmd_close)

    p = sub.add_parser("withdraw", help="the complainant withdrew: handling ends that day (Art. 15)")
    _common(p)
    p.add_argument("--at", help="when the withdrawal was received (default: now)")
    p.set_defaults(handler=cmd_withdraw)
