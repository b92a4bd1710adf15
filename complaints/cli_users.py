"""Accounts for the web and the API: `complaints user add`, `complaints token add`."""

from __future__ import annotations

import argparse
import getpass
import sys

from complaints.cli import UsageError
from complaints.services import open_app, to_json, utcnow
from domain.field_names import refusal
from models.db import session_scope
from models.users import ROLES, UserError, create_token, create_user, revoke_tokens


def _password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise UsageError(refusal("password", "两次输入不一致"))
    return first


def cmd_user_add(args: argparse.Namespace) -> int:
    password = _password(args)
    with open_app() as app:
        try:
            with session_scope(app.engine) as session:
                user = create_user(session, username=args.name, role=args.role, password=password,
                                   config=app.config, now=utcnow(), person_id=args.person, branch=args.branch,
                                   display_name=args.display_name)
        except UserError as exc:
            raise UsageError(str(exc)) from None
    print(to_json({"username": user.username, "display_name": user.display_name, "role": user.role,
                   "person_id": user.person_id, "branch": user.branch}))
    return 0


def cmd_token_add(args: argparse.Namespace) -> int:
    with open_app() as app:
        try:
            with session_scope(app.engine) as session:
                token = create_token(session, username=args.user, now=utcnow(), label=args.label)
        except UserError as exc:
            raise UsageError(str(exc)) from None
    print(to_json({"user": args.user, "token": token,
                   "note": "shown once; only its sha256 is stored. Send it as Authorization: Bearer <token>"}))
    return 0


def cmd_token_revoke(args: argparse.Namespace) -> int:
    with open_app() as app, session_scope(app.engine) as session:
        count = revoke_tokens(session, username=args.user, now=utcnow())
    print(to_json({"user": args.user, "revoked": count}))
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("user", help="web and API accounts")
    usub = p.add_subparsers(dest="user_command", required=True)
    a = usub.add_parser("add", help="create an account (password prompted, or --password-stdin)")
    a.add_argument("name", help="login name")
    a.add_argument("--role", required=True, choices=ROLES)
    a.add_argument("--person", help="org-chart person id (config/org.yaml) the account acts as")
    a.add_argument("--branch", help="branch code (desk: where it registers; supervisor: what it sees)")
    a.add_argument("--display-name")
    a.add_argument("--password-stdin", action="store_true", help="read the password from the first line of stdin")
    a.set_defaults(handler=cmd_user_add)

    p = sub.add_parser("token", help="API tokens (bearer)")
    tsub = p.add_subparsers(dest="token_command", required=True)
    t = tsub.add_parser("add", help="create an API token for a user; printed once")
    t.add_argument("user")
    t.add_argument("--label", default="")
    t.set_defaults(handler=cmd_token_add)
    r = tsub.add_parser("revoke", help="revoke every token of a user")
    r.add_argument("user")
    r.set_defaults(handler=cmd_token_revoke)
