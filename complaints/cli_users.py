"""Accounts for the web and the API (`complaints user add|disable|enable`, `complaints token
add|revoke`), and who the CLI records as the actor of what it does.

The CLI records the operating-system user who runs it (`os:NAME`, from getpass.getuser()). An
`--actor NAME` is accepted only with proof: `--token` (or COMPLAINTS_TOKEN) holding a valid API
token of that web user; the web user's role then applies (an auditor cannot `show --unmask`).
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from contextlib import ExitStack
from typing import Any

from api.access import allowed
from complaints.cli import UsageError, int_arg
from complaints.services import App, open_app, to_json
from domain.deadlines import local_text
from domain.field_names import refusal
from models.security_log import KINDS, recent
from models.security_log import record as record_security
from models.users import (
    ROLES,
    UserError,
    create_token,
    create_user,
    revoke_tokens,
    set_active,
    token_digest,
    user_for_token,
)

TOKEN_ENV = "COMPLAINTS_TOKEN"


def os_actor() -> str:
    """The operating-system user running the CLI, as recorded in the audit trail."""
    try:
        name = getpass.getuser()
    except (KeyError, OSError):  # no login name and no passwd entry (some containers)
        name = f"uid{os.getuid()}"
    return f"os:{name}"


def add_actor_options(p: argparse.ArgumentParser) -> None:
    """--actor/--token on a command that writes the audit trail."""
    p.add_argument("--actor", default=None,
                   help="record this web user instead of the OS user; needs --token of that user")
    p.add_argument("--token", default=None,
                   help=f"an API token of the --actor user, as proof (default: ${TOKEN_ENV})")


def actor_of(args: argparse.Namespace, *, permission: str | None = None, app: App | None = None) -> str:
    """Who the audit trail records for this command: the OS user, or a web user proven by token.

    A proven web user must hold `permission` (api/access.py) when one is named. Resolved once; the
    token is checked in `app` (the command's Runtime) when given, else in one opened for it.
    """
    resolved: str | None = getattr(args, "_actor_resolved", None)
    if resolved is not None:
        return resolved
    name = getattr(args, "actor", None)
    if not name:
        resolved = os_actor()
    else:
        token = getattr(args, "token", None) or os.environ.get(TOKEN_ENV)
        if not token:
            raise UsageError(f"actor（操作人）：--actor {name} 须同时以 --token（或环境变量 {TOKEN_ENV}）"
                                              f"提供该用户的 API 令牌作为证明；不写 --actor 时记录操作系统用户 {os_actor()}")
        with ExitStack() as stack:
            rt = app if app is not None else stack.enter_context(open_app())
            with rt.session() as session:
                user = user_for_token(session, token, now=rt.now())
                refusal_text = (f"token（令牌）：不是用户 {name!r} 的有效 API 令牌（不存在、已撤销、已过期或用户已停用）"
                                if user is None or user.username != name else
                                f"actor（操作人）：用户 {name!r}（角色 {user.role}）无权执行此操作"
                                if permission is not None and not allowed(user, permission) else None)
                if refusal_text is not None:  # in the security log before the command is refused
                    record_security(session, kind="token_failed" if refusal_text.startswith("token") else
                                    "access_denied", at=rt.now(), via="cli", username=name,
                                    detail=f"{os_actor()}：令牌摘要 {token_digest(token)[:8]}；{refusal_text}")
        if refusal_text is not None:
            raise UsageError(refusal_text)
        assert user is not None
        resolved = user.username
    args._actor_resolved = resolved
    return resolved


def _password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise UsageError(refusal("password", "两次输入不一致"))
    return first


def _log(session: Any, app: App, kind: str, username: str, detail: str) -> None:
    """An account change made at the CLI, in the security log: the account, and the OS user who did it."""
    record_security(session, kind=kind, at=app.now(), via="cli", username=username,
                    detail=f"{os_actor()}：{detail}" if detail else os_actor())


def cmd_security_log(args: argparse.Namespace) -> int:
    """The security log, newest first (JSON lines, or a table with --table)."""
    from datetime import timedelta

    kinds = tuple(args.kind or ())
    with open_app() as app, app.session() as session:
        rows = recent(session, since=app.now() - timedelta(days=args.days), username=args.user, kinds=kinds,
                      limit=args.limit)
    for r in rows:
        if args.table:
            print("\t".join([local_text(r.at), r.label, r.username or "-", r.via, r.address or "-", r.detail]))
        else:
            print(json.dumps({"id": r.id, "at": local_text(r.at), "kind": r.kind, "label": r.label, "via": r.via,
                              "username": r.username, "address": r.address, "detail": r.detail},
                             ensure_ascii=False))
    return 0


def cmd_user_add(args: argparse.Namespace) -> int:
    password = _password(args)
    with open_app() as app:
        try:
            with app.session() as session:
                user = create_user(session, username=args.name, role=args.role, password=password,
                                   config=app.config, now=app.now(), person_id=args.person, branch=args.branch,
                                   display_name=args.display_name)
                _log(session, app, "user_created", args.name, f"角色 {user.role}")
        except UserError as exc:
            raise UsageError(str(exc)) from None
    print(to_json({"username": user.username, "display_name": user.display_name, "role": user.role,
                   "person_id": user.person_id, "branch": user.branch}))
    return 0


def _set_active(args: argparse.Namespace, active: bool) -> int:
    with open_app() as app:
        try:
            with app.session() as session:
                user = set_active(session, username=args.name, active=active, now=app.now())
                _log(session, app, "user_enabled" if active else "user_disabled", args.name,
                     "" if active else "全部令牌作废、全部会话结束")
        except UserError as exc:
            raise UsageError(str(exc)) from None
    note = ("已启用；原有令牌仍作废，请用 token add 新建" if active
            else "已停用：全部 API 令牌已作废，全部浏览器登录已结束（下一次请求即生效）")
    print(to_json({"username": user.username, "active": active, "note": note}))
    return 0


def cmd_user_disable(args: argparse.Namespace) -> int:
    return _set_active(args, False)


def cmd_user_enable(args: argparse.Namespace) -> int:
    return _set_active(args, True)


def cmd_token_add(args: argparse.Namespace) -> int:
    with open_app() as app:
        try:
            with app.session() as session:
                now = app.now()
                days = args.days if args.days is not None else app.config.policy.auth.token_days
                token = create_token(session, username=args.user, now=now, label=args.label, days=days)
                _log(session, app, "token_created", args.user,
                     f"令牌摘要 {token_digest(token)[:8]}，{days} 天有效" + (f"，名称 {args.label}" if args.label else ""))
        except UserError as exc:
            raise UsageError(str(exc)) from None
    from datetime import timedelta

    print(to_json({"user": args.user, "token": token, "expires_at": local_text(now + timedelta(days=days)),
                   "note": "只显示这一次；数据库只存其 sha256。请求时发送 Authorization: Bearer <令牌>"}))
    return 0


def cmd_token_revoke(args: argparse.Namespace) -> int:
    with open_app() as app, app.session() as session:
        tokens, sessions = revoke_tokens(session, username=args.user, now=app.now())
        _log(session, app, "tokens_revoked", args.user, f"作废令牌 {tokens} 个，结束会话 {sessions} 个")
    print(to_json({"user": args.user, "revoked": tokens, "sessions_ended": sessions}))
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
    a.add_argument("--password-stdin", action="store_true",
                   help="read the password from the first line of stdin (at least 12 characters, not a common one)")
    a.set_defaults(handler=cmd_user_add)
    d = usub.add_parser("disable", help="disable an account: every token revoked, every browser session ended")
    d.add_argument("name")
    d.set_defaults(handler=cmd_user_disable)
    e = usub.add_parser("enable", help="enable a disabled account again (its old tokens stay revoked)")
    e.add_argument("name")
    e.set_defaults(handler=cmd_user_enable)

    p = sub.add_parser("token", help="API tokens (bearer)")
    tsub = p.add_subparsers(dest="token_command", required=True)
    t = tsub.add_parser("add", help="create an API token for a user; printed once")
    t.add_argument("user")
    t.add_argument("--label", default="")
    t.add_argument("--days", type=int_arg("有效天数（--days）", minimum=1, maximum=3650), default=None,
                   help="days until the token expires (default: config/policy.yaml auth.token_days, 90)")
    t.set_defaults(handler=cmd_token_add)
    r = tsub.add_parser("revoke", help="revoke every token of a user and end their browser sessions")
    r.add_argument("user")
    r.set_defaults(handler=cmd_token_revoke)

    p = sub.add_parser("security", help="the security log (sign-ins, tokens, sessions, refused access)")
    ssub = p.add_subparsers(dest="security_command", required=True)
    g = ssub.add_parser("log", help="security events, newest first (JSON lines; --table for columns)")
    g.add_argument("--user", default=None, help="only events of this username (as typed for failed sign-ins)")
    g.add_argument("--kind", action="append", choices=sorted(KINDS), help="only this kind (repeatable)")
    g.add_argument("--days", type=int_arg("天数（--days）", minimum=1, maximum=3660), default=7,
                   help="how far back (default 7 days)")
    g.add_argument("--limit", type=int_arg("条数（--limit）", minimum=1, maximum=1000), default=100)
    g.add_argument("--table", action="store_true", help="tab-separated columns instead of JSON lines")
    g.set_defaults(handler=cmd_security_log)
