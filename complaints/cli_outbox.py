"""Commands for notifications: `outbox` (counts, dead letters, requeue) and `dispatch`."""

from __future__ import annotations

import argparse
import os
import socket
import sys

from complaints.cli import UsageError, int_arg
from complaints.cli_cases import now_arg
from complaints.services import open_app, to_json, utcnow
from domain.field_names import refusal
from notifications.outbox import dead_letters, requeue, status_counts


def cmd_outbox(args: argparse.Namespace) -> int:
    with open_app() as app, app.session() as session:
        if args.dead:
            print(to_json(dead_letters(session, limit=args.limit)))
        else:
            print(to_json(status_counts(session, now=app.now())))
    return 0


def cmd_requeue(args: argparse.Namespace) -> int:
    if not args.ids and not args.all_dead:
        raise UsageError(refusal("ids", "请给出要重新投递的死信编号，或使用 --all-dead"))
    if args.ids and args.all_dead:
        raise UsageError(refusal("ids", "死信编号与 --all-dead 只能二选一"))
    with open_app() as app, app.session() as session:
        n = requeue(session, ids=args.ids, all_dead=args.all_dead, now=app.now())
    print(to_json({"requeued": n}))
    if args.ids and n < len(args.ids):
        print(f"complaints: 所给编号中有 {len(args.ids) - n} 条不是死信，未改动", file=sys.stderr)
    return 0


def cmd_dispatch(args: argparse.Namespace) -> int:
    if args.direct or args.now:
        from notifications.dispatch import dispatch_all
        from notifications.settings import build_channels, load_channels

        # --now: what is due by then (next_attempt_at <= now) is delivered, e.g. after `escalate --now`.
        now = now_arg(args.now) if args.now else None
        settings = load_channels()
        with open_app() as app, build_channels(settings) as channels:
            result = dispatch_all(app.engine, channels=channels, batch_size=args.batch_size or settings.batch_size,
                                  owner=f"cli:{socket.gethostname()}:{os.getpid()}",
                                  clock=(lambda: now) if now is not None else utcnow)
        print(to_json(result.as_dict()))
    else:
        from flows.dispatch import dispatch

        with open_app():
            pass  # migrate before the flow starts
        state = dispatch(batch_size=args.batch_size, return_state=True)
        print(to_json(state.result(raise_on_failure=False)))
        if not state.is_completed():  # dead letters: the run is Failed, and so is this command
            print(f"complaints: {state.message}", file=sys.stderr)
            return 1
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("outbox", help="notification queue: counts by status, --dead to list dead letters")
    p.add_argument("--dead", action="store_true", help="list dead letters with their last error")
    p.add_argument("--limit", type=int_arg("返回条数（--limit）", minimum=1, maximum=10_000), default=200)
    p.set_defaults(handler=cmd_outbox)
    outbox_sub = p.add_subparsers(dest="outbox_command")
    r = outbox_sub.add_parser("requeue", help="put dead letters back in the queue (IDs or --all-dead)")
    r.add_argument("ids", nargs="*", type=int_arg("通知编号（ID）", minimum=1), metavar="ID")
    r.add_argument("--all-dead", action="store_true")
    r.set_defaults(handler=cmd_requeue)

    p = sub.add_parser("dispatch", help="deliver every due notification now (one Prefect flow run)")
    p.add_argument("--batch-size", type=int_arg("每批条数（--batch-size）", minimum=1, maximum=100_000), default=None)
    p.add_argument("--direct", action="store_true", help="run without the Prefect engine (no flow run)")
    p.add_argument("--now", help="ISO 8601 instant with offset: deliver what is due by then; implies --direct "
                                 "(for rehearsals after `escalate --now`)")
    p.set_defaults(handler=cmd_dispatch)
