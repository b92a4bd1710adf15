"""`complaints search TEXT [--phone P] [--id-number N] [--card C]`: matching cases as JSON, masked.

The operator's search sees every case, masked (as `complaints list` does); with `--actor USER
--token T` it searches as that web user, within that user's scope. Text terms are separated by
spaces, each at least two characters (Chinese included); phones, ID and card numbers are found
through their keyed hashes (COMPLAINTS_SEARCH_KEY), never by reading personal data.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from complaints.cli import UsageError, int_arg
from complaints.services import open_app, to_json, utcnow
from models.case_views import CaseSummary
from models.users import User
from services import workbench_queue as wq
from services.unit_of_work import Runtime


def _user(args: argparse.Namespace, runtime: Runtime) -> User:
    if not args.actor:  # the operator: every case, masked (an auditor's view)
        return User(id=0, username=os.environ.get("USER", "cli"), display_name="命令行", role="auditor",
                    person_id=None, branch=None)
    from complaints.cli_users import TOKEN_ENV
    from models.db import session_scope
    from models.users import user_for_token

    token = args.token or os.environ.get(TOKEN_ENV)
    if not token:
        raise UsageError(f"actor（操作人）：--actor {args.actor} 须同时以 --token（或环境变量 {TOKEN_ENV}）提供该用户的 API 令牌")
    with session_scope(runtime.engine) as s:
        user = user_for_token(s, token, now=utcnow())
    if user is None or user.username != args.actor:
        raise UsageError(f"token（令牌）：不是用户 {args.actor!r} 的有效 API 令牌（不存在、已撤销、已过期或用户已停用）")
    return user


def cmd_search(args: argparse.Namespace) -> int:
    params: dict[str, Any] = {"q": " ".join(args.text) if args.text else None, "phone": args.phone,
                              "id_number": args.id_number, "card": args.card, "sort": args.sort}
    params = {k: v for k, v in params.items() if v}
    try:
        f = wq.parse_filter(params)
    except wq.FilterError as exc:
        raise UsageError("；".join(exc.problems).replace("q（搜索词）", "TEXT（搜索词）")) from None
    with open_app() as app:
        user = _user(args, app)
        out: list[CaseSummary] = []
        cursor: str | None = None
        try:
            with app.unit() as uow:
                while len(out) < args.limit:
                    page = wq.search(uow, user, f, cursor=cursor, limit=min(200, args.limit - len(out)))
                    out += page.items
                    cursor = page.next_cursor
                    if cursor is None:
                        break
        except wq.FilterError as exc:
            raise UsageError("；".join(exc.problems)) from None
    print(to_json(out))
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("search", help="cases matching words (Chinese too), a phone, ID or card number, as JSON (masked)")
    p.add_argument("text", nargs="*", help="words to find (each at least 2 characters; all must match)")
    p.add_argument("--phone", help="the complainant's or agent's phone")
    p.add_argument("--id-number", dest="id_number", help="the complainant's or agent's ID number")
    p.add_argument("--card", help="a bank card number written in the complaint")
    p.add_argument("--sort", choices=("newest", "due"), default=None, help="newest first (default) or due soonest")
    p.add_argument("--limit", type=int_arg("返回条数（--limit）", minimum=1, maximum=10_000), default=200)
    p.add_argument("--actor", default=None, help="search as this web user (their scope); needs --token")
    p.add_argument("--token", default=None, help="an API token of the --actor user")
    p.set_defaults(handler=cmd_search)
