"""Commands for cases: submit, intake, show, list, audit verify, demo, migrate."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from complaints.cli import UsageError, int_arg
from complaints.cli_users import actor_of, add_actor_options, os_actor
from complaints.services import App, open_app, parse_when, to_json, utcnow
from domain.deadlines import local_text
from domain.field_names import refusal
from domain.lifecycle import STATUS_NAMES, Status
from domain.taxonomy import SEVERITY_NAMES, UNTRIAGED, Dimension, Severity, name_of, parse_enum
from models.case_views import CaseDetail, list_cases, status_choices
from models.submission import KeyReused
from services import cases

if TYPE_CHECKING:
    from models.anchors import AnchorKey


def _read_json(path: str) -> Any:
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(refusal("file", f"无法读取 {path}（{exc.strerror}）")) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(refusal("file", f"{path} 第 {exc.lineno} 行第 {exc.colno} 列不是有效的 JSON（{exc.msg}）")) from None


def cmd_submit(args: argparse.Namespace) -> int:
    raw = _read_json(args.file)
    if not isinstance(raw, list | dict):
        raise UsageError(refusal("file", "须为一件投诉（JSON 对象）或多件投诉的列表"))
    with open_app() as app:
        parsed, problems = cases.validate(app, raw, now=utcnow())
        bad = [(i, p) for i, p in enumerate(problems) if p]
        if bad and not args.partial:
            lines = [line for _, p in bad for line in p]
            print(f"complaints: {len(bad)} invalid complaint(s); nothing stored:\n  " + "\n  ".join(lines),
                  file=sys.stderr)
            return 2
        good = [p for p in parsed if p is not None]
        try:  # the import tool's keys are its own client's (`cli`); it may backdate (recorded)
            results = cases.submit(app, good, now=utcnow(), actor=actor_of(args, permission="submit", app=app)) if good else []
        except KeyReused as exc:
            print("complaints: 外部编号已用于内容不同的投诉，未保存任何投诉：\n  " + "\n  ".join(exc.problems),
                  file=sys.stderr)
            return 2
    it = iter(results)
    out: list[dict[str, Any]] = []
    for i, p in enumerate(parsed):
        if p is None:
            out.append({"index": i, "errors": problems[i]})
        else:
            r = next(it).model_dump()
            out.append({k: r[k] for k in ("case_no", "status", "received_at", "due_at", "ack_due_at", "duplicate")})
    print(to_json(out if isinstance(raw, list) else out[0]))
    return 1 if bad else 0


def cmd_intake(args: argparse.Namespace) -> int:
    if args.direct:
        from flows.intake import run_intake

        with open_app() as app:
            result = run_intake(app.engine, app.config, batch_size=args.batch_size).as_dict()
    else:
        from flows.intake import intake

        with open_app():
            pass  # migrate before the flow starts
        result = intake(batch_size=args.batch_size)
    print(to_json(result))
    return 0


def status_arg(value: str) -> str:
    """`--status`: a status code or its Chinese name; the refusal lists every valid one."""
    status = parse_enum(Status, STATUS_NAMES, value)
    if status is None:
        raise argparse.ArgumentTypeError(f"状态 {value!r} 无效，可选：{status_choices()}")
    return status.value


def now_arg(value: str | None, option: str = "--now") -> Any:
    """An ISO 8601 instant with offset, or a UsageError naming the option."""
    try:
        return parse_when(value)
    except ValueError as exc:
        why = "缺少时区（UTC 偏移）" if "offset" in str(exc) else "不是 ISO 8601 时间"
        raise UsageError(f"{option}（时间）：{value!r} {why}；请写成如 2026-11-26T09:00:00+08:00") from None


def cmd_show(args: argparse.Namespace) -> int:
    now = now_arg(args.now)
    actor = actor_of(args, permission="unmask") if args.unmask else None  # before the transaction
    with open_app() as app, app.unit(now=now) as uow:
        detail = cases.view(uow, args.case_no, unmask=args.unmask, actor=actor or os_actor(),
                            why=f"complaints show --unmask（{os_actor()}）")
        if detail is None:
            raise UsageError(f"受理编号（case_no）：没有案件 {args.case_no!r}")
    print(to_json(detail))
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    now_arg(args.now)  # refused before the database is opened
    with open_app() as app, app.session() as session:
        rows = list_cases(session, now=now_arg(args.now), status=args.status, department=args.department,
                          overdue=args.overdue, limit=args.limit)
    print(to_json(rows))
    return 0


def _anchor_key(*, public_key: str | None = None, signing: bool = False) -> AnchorKey | None:
    from models.anchors import KEY_ENV, AnchorError, key_from_env, load_public_key, require_signing

    try:
        key = load_public_key(public_key, name="--public-key") if public_key else key_from_env()
        if signing:
            require_signing(key)
    except AnchorError as exc:
        raise UsageError(str(exc)) from None
    if key is None:
        print(f"complaints: 未配置 {KEY_ENV}（锚点签名密钥）：锚点不签名、签名不校验，每次从头全量校验",
              file=sys.stderr)
    return key


def cmd_audit_verify(args: argparse.Namespace) -> int:
    from models.anchors import verify_with_anchors

    key = _anchor_key(public_key=args.public_key)
    files = [Path(f) for f in args.anchors] if args.anchors else None
    with open_app() as app:
        result = verify_with_anchors(app.engine, files=files, key=key, full=args.full, rows=not args.no_rows)
    print(to_json(result.as_dict()))
    if not result.ok:
        where = f"第 {result.broken_seq} 条" if result.broken_seq is not None else "案件表"
        print(f"complaints: 审计链校验失败（{where}）：{result.problem}", file=sys.stderr)
        return 1
    return 0


def cmd_audit_anchor(args: argparse.Namespace) -> int:
    """Verify as the hourly flow does (the chain from the last verified anchor, every complaint row and
    response), then sign the head: an anchor over a tampered database would vouch for the tampering."""
    from models.anchors import anchor_file, make_anchor, verify_with_anchors

    key = _anchor_key(signing=True)
    path = anchor_file(args.file)
    with open_app() as app:
        result = verify_with_anchors(app.engine, key=key, rows=True)
        if not result.ok:
            print(to_json(result.as_dict()))
            print(f"complaints: 审计链校验失败，未写锚点：{result.problem}", file=sys.stderr)
            return 1
        anchor = make_anchor(app.engine, key, args.source, utcnow(), path)
    print(to_json({**anchor.as_json(), "file": str(path)}))
    return 0


def cmd_audit_keygen(args: argparse.Namespace) -> int:
    """A new Ed25519 anchor key pair (models/anchors.generate_key_pair)."""
    from models.anchors import ED25519, KEY_ENV, PUBLIC_KEY_ENV, AnchorError, generate_key_pair

    try:
        private, public = generate_key_pair(Path(args.out))
    except (AnchorError, OSError) as exc:
        raise UsageError(str(exc)) from None
    print(to_json({"private_key": str(private), "public_key": str(public),
                   "sign_with": f"{KEY_ENV}={ED25519}{private}",
                   "verify_with": f"{PUBLIC_KEY_ENV}={public}  或  complaints audit verify --public-key {public}",
                   "note": "私钥只留在写锚点的主机上（权限 0600），勿放在数据库主机或与锚点文件同处；公钥交给审计"}))
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    with open_app() as app:
        print(f"schema up to date on {app.engine.url.render_as_string(hide_password=True)}")
    return 0


def cmd_grants(args: argparse.Namespace) -> int:
    """The application's PostgreSQL role that owns nothing (models/db_roles.py): print the grants,
    or with --apply run them as the owner."""
    from models.db_roles import RoleError, apply_grants, grant_sql

    try:
        if not args.apply:
            print(";\n".join(grant_sql(args.role)) + ";")
            return 0
        with open_app() as app:
            statements = apply_grants(app.engine, args.role)
    except RoleError as exc:
        raise UsageError(str(exc)) from None
    print(to_json({"role": args.role, "applied": statements,
                   "note": "应用（网页、流程、命令行）以此角色连接：它不能清空、改动或删除审计记录、锚点与安全日志，"
                           "也不能改表或删触发器；每次 complaints migrate 之后再执行一次"}))
    return 0


def render_case_table(app: App, cases: list[CaseDetail]) -> str:
    """A plain table of routed cases for people (names, local times)."""
    org = app.config.org
    lines = ["受理编号          状态    严重程度  业务类别          承办部门              经办人  答复期限 (北京时间)"]
    for c in cases:
        dept = (org.find_department(c["department_branch"], c["department"])
                if c["department"] and c["department_branch"] else None)
        lines.append("  ".join([
            f"{c['case_no']:<16}",
            _pad(STATUS_NAMES[Status(c['status'])], 6),
            _pad(SEVERITY_NAMES[Severity(c['severity'])], 8),
            _pad(name_of(Dimension.CATEGORY, c["category"]) if c["category"] else UNTRIAGED, 16),
            _pad(dept[1].name if dept else "-", 20),
            _pad(org.people[c["handler"]].name if c["handler"] else "-", 6),
            local_text(c["due_at"]),
        ]))
    return "\n".join(lines)


def _pad(text: str, width: int) -> str:
    """Pad for a terminal where each Chinese character takes two columns."""
    used = sum(2 if ord(ch) > 0x2E80 else 1 for ch in text)
    return text + " " * max(0, width - used)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("submit", help="validate and store complaints from a JSON file (- for stdin)")
    p.add_argument("file")
    p.add_argument("--partial", action="store_true", help="store the valid items even if others are invalid")
    add_actor_options(p)  # the audit trail records the OS user unless a web user proves who they are
    p.set_defaults(handler=cmd_submit)

    p = sub.add_parser("intake", help="route every pending complaint now (one Prefect flow run)")
    p.add_argument("--batch-size", type=int_arg("每批条数（--batch-size）", minimum=1, maximum=100_000), default=None)
    p.add_argument("--direct", action="store_true", help="run without the Prefect engine (no flow run)")
    p.set_defaults(handler=cmd_intake)

    p = sub.add_parser("show", help="one case as JSON, with its audit events")
    p.add_argument("case_no")
    p.add_argument("--unmask", action="store_true", help="show personal data (the view is audited)")
    add_actor_options(p)
    p.add_argument("--now", help="ISO 8601 instant with offset: deadlines as of then (default: now)")
    p.set_defaults(handler=cmd_show)

    p = sub.add_parser("list", help="cases as JSON, filtered")
    p.add_argument("--status", type=status_arg, help="status code or its Chinese name, e.g. routed or 已分派")
    p.add_argument("--department")
    p.add_argument("--overdue", action="store_true", help="open cases past their regulatory deadline")
    p.add_argument("--now", help="ISO 8601 instant with offset (default: now)")
    p.add_argument("--limit", type=int_arg("返回条数（--limit）", minimum=1, maximum=10_000), default=200)
    p.set_defaults(handler=cmd_list)

    p = sub.add_parser("audit", help="the audit trail")
    audit_sub = p.add_subparsers(dest="audit_command", required=True)
    v = audit_sub.add_parser("verify", help="check the hash chain against every anchor; name the first broken link")
    v.add_argument("--anchors", action="append", metavar="FILE",
                   help="an anchor file (JSON lines; repeatable; default COMPLAINTS_ANCHOR_FILE or var/anchors/anchors.jsonl)")
    v.add_argument("--full", action="store_true", help="recompute every link from genesis, not from the last verified anchor")
    v.add_argument("--no-rows", action="store_true", help="skip comparing each complaint row with its last event")
    v.add_argument("--public-key", metavar="PEM",
                   help="check the signatures with this Ed25519 public key (an auditor's copy; it cannot sign)")
    v.set_defaults(handler=cmd_audit_verify)
    a = audit_sub.add_parser("anchor", help="verify (chain, every complaint row and response), then sign the chain head and append it to the anchor file; exit 1 without anchoring on a problem")
    a.add_argument("--file", help="the anchor file (default COMPLAINTS_ANCHOR_FILE or var/anchors/anchors.jsonl)")
    a.add_argument("--source", default="cli", help="recorded with the anchor (default cli)")
    a.set_defaults(handler=cmd_audit_anchor)
    k = audit_sub.add_parser("keygen", help="make an Ed25519 key pair for signing anchors (the public key for auditors)")
    k.add_argument("--out", required=True, help="directory for anchor-ed25519.pem (0600) and anchor-ed25519.pub.pem")
    k.set_defaults(handler=cmd_audit_keygen)

    p = sub.add_parser("migrate", help="create or upgrade the database schema")
    p.set_defaults(handler=cmd_migrate)
    p = sub.add_parser("grants", help="PostgreSQL: grant an application role that owns no table what it needs "
                                      "(no TRUNCATE, no DDL; audit rows insert-only)")
    p.add_argument("role", help="the role the application connects as (created beforehand by the DBA)")
    p.add_argument("--apply", action="store_true",
                   help="run the grants on COMPLAINTS_DATABASE_URL, connected as the tables' owner (default: print them)")
    p.set_defaults(handler=cmd_grants)

