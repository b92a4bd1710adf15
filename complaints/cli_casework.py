"""Commands of the handler's workbench: attach, note, contact, transfer, return, export.

Each change is one transaction (record, audit event, outbox rows, escalation schedule) through
services/workbench.py; a refusal exits 2 naming the field and stores nothing.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from complaints.cli import UsageError, int_arg
from complaints.cli_cases import now_arg
from complaints.cli_users import actor_of, add_actor_options
from complaints.services import open_app, to_json
from domain.field_names import refusal
from domain.lifecycle import IllegalTransition, Status
from models.case_actions import ActionError
from models.case_views import list_cases
from models.evidence_store import evidence_store
from models.workbench import CONTACT_CHANNELS, CONTACT_OUTCOMES
from services import workbench
from services.unit_of_work import UnitOfWork


def _run(fn: Callable[[UnitOfWork], dict[str, Any]], now: Any = None) -> int:
    with open_app() as app:
        try:
            with app.unit(now=now) as uow:
                out = fn(uow)
        except (ActionError, IllegalTransition) as exc:
            raise UsageError(str(exc)) from None
    print(to_json(out))
    return 0


def cmd_attach(args: argparse.Namespace) -> int:
    path = Path(args.file)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UsageError(refusal("file", f"无法读取 {args.file}（{exc.strerror or exc}）")) from None
    actor = actor_of(args, permission="act")
    return _run(lambda uow: workbench.attach(uow, evidence_store(), case_no=args.case_no, filename=path.name,
                                             data=data, description=args.description or "", actor=actor),
                now_arg(args.now) if args.now else None)


def cmd_note(args: argparse.Namespace) -> int:
    actor = actor_of(args, permission="act")
    return _run(lambda uow: workbench.add_note(uow, case_no=args.case_no, text=args.text, actor=actor),
                now_arg(args.now) if args.now else None)


def cmd_contact(args: argparse.Namespace) -> int:
    actor = actor_of(args, permission="act")
    at = now_arg(args.at, "--at") if args.at else None
    return _run(lambda uow: workbench.log_contact(
        uow, case_no=args.case_no, at=at, channel=args.channel, summary=args.summary, outcome=args.outcome,
        person=args.person, evidence_file_id=args.evidence_file, actor=actor), now_arg(args.now) if args.now else None)


def cmd_transfer(args: argparse.Namespace) -> int:
    actor = actor_of(args, permission="assign")
    return _run(lambda uow: workbench.transfer(uow, case_no=args.case_no, department=args.to, reason=args.reason,
                                               branch=args.branch, handler=args.to_handler, actor=actor),
                now_arg(args.now) if args.now else None)


def cmd_return(args: argparse.Namespace) -> int:
    actor = actor_of(args, permission="act")
    return _run(lambda uow: workbench.return_to_triage(uow, case_no=args.case_no, reason=args.reason, actor=actor),
                now_arg(args.now) if args.now else None)


def cmd_export(args: argparse.Namespace) -> int:
    """A list of cases (the filters of `complaints list`), masked, as CSV or XLSX; audited."""
    now = now_arg(args.now)
    actor = actor_of(args)
    if args.status and args.status not in {s.value for s in Status}:
        raise UsageError(refusal("status", f"{args.status!r} 不是可选值之一"))
    with open_app() as app:
        with app.unit(now=now) as uow:
            cases = list_cases(uow.session, now=now, status=args.status, department=args.department,
                               overdue=args.overdue, limit=args.limit)
            rows = workbench.export_rows(cases, people=app.config.org.people, now=now,
                                         department_name=workbench.department_namer(app.config.org))
            workbench.record_export(uow, actor=actor, fmt=args.format, count=len(cases), unmasked=False,
                                    filters={"status": args.status, "department": args.department,
                                             "overdue": args.overdue, "via": "cli"})
    data = workbench.to_csv(rows) if args.format == "csv" else workbench.to_xlsx(rows)
    if args.output and args.output != "-":
        Path(args.output).write_bytes(data)
        print(to_json({"format": args.format, "count": len(cases), "output": args.output}))
    else:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    return 0


def _case(p: argparse.ArgumentParser) -> None:
    p.add_argument("case_no")
    p.add_argument("--now", help="ISO 8601 instant with offset (default: now; for replaying and tests)")
    add_actor_options(p)


def register(sub: Any) -> None:
    p = sub.add_parser("attach", help="attach an evidence file to a case (its SHA-256 goes into the audit chain)")
    _case(p)
    p.add_argument("file", help="path of the file (type and size limits: config/policy.yaml evidence)")
    p.add_argument("--description", help="what the file is (e.g. 通话录音, 授权委托书)")
    p.set_defaults(handler=cmd_attach)

    p = sub.add_parser("note", help="add an internal note to a case")
    _case(p)
    p.add_argument("text")
    p.set_defaults(handler=cmd_note)

    p = sub.add_parser("contact", help="log a contact with the complainant (Art. 21 proof of notice)")
    _case(p)
    p.add_argument("--channel", required=True, choices=list(CONTACT_CHANNELS))
    p.add_argument("--outcome", required=True, choices=list(CONTACT_OUTCOMES))
    p.add_argument("--summary", required=True, help="what was said")
    p.add_argument("--at", help="when (ISO 8601 with offset; default: now)")
    p.add_argument("--person", help="who made the contact (default: the actor)")
    p.add_argument("--evidence-file", type=int_arg("证据文件编号（--evidence-file）", minimum=1),
                   help="id of an attached file (a recording, a receipt)")
    p.set_defaults(handler=cmd_contact)

    p = sub.add_parser("transfer", help="消保办: transfer a case to another department (deadlines stay)")
    _case(p)
    p.add_argument("--to", required=True, help="department code, e.g. retail")
    p.add_argument("--reason", required=True)
    p.add_argument("--branch", help="the department's branch (default: the case's branch or its nearest parent)")
    p.add_argument("--handler", dest="to_handler", help="a handler of that department (default: its head assigns)")
    p.set_defaults(handler=cmd_transfer)

    p = sub.add_parser("return", help="return a misrouted case to 消保办 triage (deadlines stay)")
    _case(p)
    p.add_argument("--reason", required=True)
    p.set_defaults(handler=cmd_return)

    p = sub.add_parser("export", help="export a list of cases as CSV or XLSX (masked, formula-safe, audited)")
    p.add_argument("--format", required=True, choices=["csv", "xlsx"])
    p.add_argument("--status")
    p.add_argument("--department")
    p.add_argument("--overdue", action="store_true")
    p.add_argument("--limit", type=int_arg("条数（--limit）", minimum=1, maximum=100_000), default=10_000)
    p.add_argument("--output", "-o", help="file to write (default: stdout)")
    p.add_argument("--now", help="ISO 8601 instant with offset (default: now)")
    add_actor_options(p)
    p.set_defaults(handler=cmd_export)


__all__ = ["register"]
