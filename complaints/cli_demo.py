"""`complaints demo`: the whole story of a complaint on embedded defaults, every role's part.

It runs the real system — `complaints up` (a local Prefect server, every deployment with its
triggers, the web pages and HTTP API) on a fresh SQLite file under var/demo/ — with a loopback
SMTP server and robot receivers of its own (complaints/sinks.py), so every notification is really
delivered and can be read. Then, as the people would:

1. the desk (受理岗) files the example complaints through the HTTP API; intake routes them because
   of the `complaint.submitted` event (the safety-net schedule is set to an hour, so only the event
   can route them within the minute), and the routed messages are delivered by the dispatch
   deployment that the `complaint.routed` events start;
2. a handler acknowledges and answers one case at once (Art. 19 content; the decision letter);
3. the clock moves forward day by day: each escalation level fires once up the 一把手 chain and
   is delivered; a department head acknowledges the escalation;
4. the week ends: the weekly report is frozen and its link is sent to the auditors; the link is
   opened as an auditor to show that it works.

It prints who received what (personal data masked as in the messages) and, at the end, the
accounts and pages to try. With a terminal it keeps the system running until Ctrl-C
(`--exit` stops at once; `--stay` keeps it running without a terminal too).
"""

from __future__ import annotations

import argparse
import html
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from complaints.cli import UsageError
from complaints.sinks import Delivered, Sinks
from domain.deadlines import SHANGHAI, local_text
from settings.config import REPO_ROOT, Config, load_config

if TYPE_CHECKING:  # the demo imports the models inside its functions
    from models.case_views import CaseDetail

DEMO_DIR = REPO_ROOT / "var" / "demo"
PASSWORD = "Demo-Complaints-2026"
FOCUS = "DEMO-001"  # the card-fee complaint whose handler answers at once


def _port(preferred: int) -> int:
    """`preferred` when it is free on loopback, else any free port."""
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", preferred))
            return preferred
        except OSError:
            pass
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(what: str, check: Callable[[], bool], timeout: float, child: subprocess.Popen[bytes] | None = None,
          log: Path | None = None) -> float:
    """Poll `check` until it is true; seconds it took. UsageError naming `what` on time-out."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if child is not None and child.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:] if log else ""
            raise UsageError(f"`complaints up` exited (code {child.returncode}) while waiting for {what}:\n{tail}")
        try:
            if check():
                return time.monotonic() - start
        except (httpx.HTTPError, OSError):
            pass
        time.sleep(0.5)
    raise UsageError(f"timed out after {timeout:.0f} s waiting for {what}")


def _shifted(items: list[dict[str, Any]], now: datetime) -> list[dict[str, Any]]:
    """The examples with their receipt times moved so that the last one was received an hour ago
    (the story starts today, whatever today is); their spacing is kept."""
    times = [datetime.fromisoformat(i["received_at"]) for i in items if i.get("received_at")]
    if not times:
        return items
    shift = (now - timedelta(hours=1)) - max(times)
    out = []
    for item in items:
        item = dict(item)
        if item.get("received_at"):
            at = datetime.fromisoformat(item["received_at"]) + shift
            item["received_at"] = at.astimezone(SHANGHAI).replace(microsecond=0).isoformat()
        out.append(item)
    return out


def _who(config: Config, d: Delivered) -> str:
    """A recipient as people know them: the person's name and the address (robot keys shortened)."""
    for person in config.org.people.values():
        for contact in person.contacts:
            if contact.channel == d.channel and contact.address == d.to:
                address = d.to if d.channel == "email" else f"{d.to[:4]}…"
                return f"{person.name} <{address}>"
    for group in config.groups:
        if getattr(group, "address", None) == d.to:
            return f"{group.key} <{d.to[:4]}…>"
    return d.to if d.channel == "email" else f"{d.to[:4]}…"


CHANNEL_NAMES = {"email": "邮件", "wecom": "企业微信", "dingtalk": "钉钉", "feishu": "飞书", "webhook": "Webhook"}


def _print_deliveries(config: Config, items: list[Delivered]) -> None:
    if not items:
        print("    （没有新消息）")
    for d in items:
        first = d.subject or (d.text.splitlines()[0] if d.text else "")
        print(f"    {CHANNEL_NAMES.get(d.channel, d.channel):<5} → {_who(config, d)}：{first}")


@dataclass
class Story:
    config: Config
    engine: Any
    sinks: Sinks
    web: str
    seen: int = 0

    def new_messages(self) -> list[Delivered]:
        items = self.sinks.snapshot()
        fresh, self.seen = items[self.seen:], len(items)
        return fresh

    def dispatch(self, at: datetime) -> dict[str, int]:
        """Deliver everything due at `at` (the moved clock) to the sinks, as the dispatch flow does."""
        from notifications.dispatch import dispatch_all
        from notifications.settings import build_channels, load_channels

        settings = load_channels()
        with build_channels(settings) as channels:
            total = dispatch_all(self.engine, channels=channels, batch_size=settings.batch_size,
                                 owner=f"demo:{os.getpid()}", clock=lambda: at)
        return total.as_dict()

    def wait_delivered(self, timeout: float = 60) -> None:
        """Until the outbox has nothing due now (the `up` dispatcher delivers routed messages)."""
        from models.db import session_scope
        from notifications.outbox import status_counts

        def done() -> bool:
            with session_scope(self.engine) as s:
                counts = status_counts(s, now=datetime.now(UTC))
            return counts["due_now"] == 0

        _wait("the routed messages to be delivered", done, timeout)


def _api(web: str, token: str) -> httpx.Client:
    return httpx.Client(base_url=f"{web}/api", headers={"Authorization": f"Bearer {token}"}, timeout=30)


def _make_users(engine: Any, config: Config, now: datetime, handler: str,
                chain: list[tuple[str, str]]) -> dict[str, str]:
    """Accounts for every role in the story; returns username → role (all with the demo password).
    `chain` is the case's (level, person) list: the 消保办 seat signs in as cpo, the others as supervisors."""
    from models.db import session_scope
    from models.users import create_user

    wanted: list[tuple[str, str, str | None]] = [(handler, "handler", handler)]
    wanted += [(p, "cpo" if level == "cp_office" else "supervisor", p) for level, p in chain if p != handler]
    wanted += [("aud.lin", "auditor", "lin.shen"), ("admin", "admin", None)]
    made: dict[str, str] = {"desk1": "desk"}
    with session_scope(engine) as s:
        for username, role, person in wanted:
            if username in made:
                continue
            create_user(s, username=username, role=role, password=PASSWORD, config=config, now=now, person_id=person)
            made[username] = role
    return made


def _token(engine: Any, username: str, now: datetime) -> str:
    from models.db import session_scope
    from models.users import create_token

    with session_scope(engine) as s:
        return create_token(s, username=username, now=now, label="demo")


def _open_as(web: str, username: str, url: str) -> httpx.Response:
    """Open `url` as a person would: sent to the login form, sign in, land on the page."""
    with httpx.Client(timeout=30, follow_redirects=True) as client:
        form = client.get(url)
        csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
        nxt = re.search(r'name="next" value="([^"]*)"', form.text)
        if csrf is None:  # not the login form: the page itself (or an error) answered
            return form
        return client.post(f"{web}/login", data={"username": username, "password": PASSWORD, "csrf": csrf.group(1),
                                                 "next": html.unescape(nxt.group(1)) if nxt else "/"})


def _start_up(env: dict[str, str], prefect_port: int, web_port: int, log: Path) -> subprocess.Popen[bytes]:
    args = [sys.executable, "-m", "complaints.cli", "up", "--port", str(prefect_port), "--web-port", str(web_port),
            "--interval", "intake=3600", "--poll-seconds", "1"]
    return subprocess.Popen(args, cwd=REPO_ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT,
                            start_new_session=True)


def _stop(child: subprocess.Popen[bytes]) -> None:
    if child.poll() is not None:
        return
    os.killpg(child.pid, signal.SIGINT)
    try:
        child.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, signal.SIGKILL)
        child.wait(timeout=10)


def cmd_demo(args: argparse.Namespace) -> int:
    now = datetime.now(UTC).replace(microsecond=0)
    shutil.rmtree(DEMO_DIR, ignore_errors=True)
    DEMO_DIR.mkdir(parents=True)
    db_url = args.database_url or f"sqlite:///{DEMO_DIR / 'complaints.db'}"
    web_port, prefect_port = _port(8000), _port(4200)
    web = f"http://127.0.0.1:{web_port}"
    sinks = Sinks(log_path=DEMO_DIR / "messages.jsonl").start()
    env_over = {**sinks.environment(), "COMPLAINTS_DATABASE_URL": db_url, "COMPLAINTS_PUBLIC_URL": web,
                "PREFECT_HOME": str(DEMO_DIR / "prefect")}
    os.environ.update(env_over)
    os.environ.pop("PREFECT_API_URL", None)  # `up` starts its own Prefect server
    child_env = {**os.environ, **env_over}
    log = DEMO_DIR / "up.log"

    from models.db import make_engine, migrate

    config = load_config()
    engine = make_engine(db_url)
    migrate(engine)
    print(f"演示数据库：{db_url}\n通知接收（本机回环）：SMTP 127.0.0.1:{sinks.smtp_port}，机器人 {sinks.url}"
          f"（收到的消息记在 {DEMO_DIR / 'messages.jsonl'}）", file=sys.stderr)
    print("启动 `complaints up`（Prefect 服务器、全部部署、网页）…", file=sys.stderr)
    child = _start_up(child_env, prefect_port, web_port, log)
    try:
        return _story(args, config, engine, sinks, child, log, web, prefect_port, now)
    finally:
        if child.poll() is None:
            _stop(child)
        sinks.stop()
        engine.dispose()


def _prefect_ready(api: str) -> bool:
    autos = httpx.post(f"{api}/automations/filter", json={}, timeout=5)
    return autos.status_code == 200 and len(autos.json()) >= 2  # intake's and dispatch's triggers


def _story(args: argparse.Namespace, config: Config, engine: Any, sinks: Sinks, child: subprocess.Popen[bytes],
           log: Path, web: str, prefect_port: int, now: datetime) -> int:
    from models.db import session_scope

    api = f"http://127.0.0.1:{prefect_port}/api"
    took = _wait("the Prefect server and the deployments' triggers", lambda: _prefect_ready(api), 180, child, log)
    _wait("the web pages", lambda: httpx.get(f"{web}/login", timeout=3).status_code == 200, 60, child, log)
    print(f"系统已就绪（{took:.0f} 秒）：网页 {web}/  Prefect 界面 http://127.0.0.1:{prefect_port}", file=sys.stderr)
    story = Story(config, engine, sinks, web)

    # 1. the desk files the example complaints
    items = _shifted(json.loads((REPO_ROOT / "examples" / "complaints.json").read_text(encoding="utf-8")), now)
    from models.users import create_user

    with session_scope(engine) as s:
        create_user(s, username="desk1", role="desk", password=PASSWORD, config=config, now=now)
    case_of: dict[str, str] = {}
    with _api(web, _token(engine, "desk1", now)) as desk:
        for item in items:
            r = desk.post("/complaints", json=item, headers={"Idempotency-Key": item["external_ref"]})
            if r.status_code not in (200, 201):
                raise UsageError(f"the desk's submission of {item['external_ref']} was refused: {r.text[:500]}")
            case_of[item["external_ref"]] = r.json()["case_no"]
    print(f"\n一、受理岗 desk1 经 HTTP 接口登记 {len(items)} 件投诉（受理编号 {min(case_of.values())} … "
          f"{max(case_of.values())}），每件当即得到受理编号和期限。")

    def all_routed() -> bool:
        with session_scope(engine) as s:
            from sqlalchemy import text

            return bool(s.execute(text("SELECT count(*) FROM complaint WHERE status = 'received'")).scalar_one() == 0)

    took = _wait("intake to route the complaints (from the complaint.submitted event)", all_routed, 120, child, log)
    print(f"   分派流程由 complaint.submitted 事件触发，{took:.0f} 秒内全部分派（兜底定时为每小时一次）：")
    from models.case_views import case_detail

    with session_scope(engine) as s:
        cases = {ref: case_detail(s, no) for ref, no in case_of.items()}
    print("\n".join("   " + line for line in render_case_table_for(config, engine, [c for c in cases.values() if c])))
    story.wait_delivered()
    print("   分派通知已由 dispatch 部署（complaint.routed 事件触发）投递：")
    _print_deliveries(config, story.new_messages())

    # 2. the handler of the focus case acknowledges and answers it
    focus = cases[FOCUS]
    assert focus is not None
    handler = str(focus["handler"])
    chain = [(str(m["level"]), str(m["person"])) for m in focus["chain"]]
    made = _make_users(engine, config, now, handler, chain)
    with _api(web, _token(engine, handler, now)) as h:
        ok = h.post(f"/complaints/{focus['case_no']}/acknowledge")
        answer = {"verified": "经核实，该卡年费系按收费标准扣收，但开卡时未充分提示年费减免条件。",
                  "basis": "依据《商业银行服务价格管理办法》及本行信用卡章程第十二条，对未充分提示部分予以纠正。",
                  "remedies": "如对处理结果有异议，可在收到本决定之日起30日内向上级机构书面申请核查，或申请调解、仲裁、诉讼。",
                  "told_via": "phone", "outcome": "部分成立", "not_upheld_reason": "年费系按收费标准扣收，未充分提示部分予以纠正",
                  "redress_type": "退还费用", "redress_amount": "200.00"}
        resp = h.post(f"/complaints/{focus['case_no']}/respond", json=answer)
    if ok.status_code != 200 or resp.status_code != 200:
        raise UsageError(f"the handler's actions were refused: {ok.text[:300]} {resp.text[:300]}")
    name = config.org.people[handler].name
    print(f"\n二、经办人 {name}（{handler}）确认受理并答复 {focus['case_no']}（核实情况、依据和理由、救济途径，电话告知；投诉部分成立，退还年费 200.00 元）。"
          f"\n   处理决定书：{web}/cases/{focus['case_no']}/letter")

    # 3. the clock moves: escalation up the chain, once per level
    from flows.escalation import run_escalation

    base = min(c["received_at"] for c in cases.values() if c)
    day0 = now.astimezone(SHANGHAI).replace(hour=10, minute=0, second=0, microsecond=0)
    print("\n三、时钟前移：未按时处理的案件沿一把手责任链逐级督办，每级只发一次。")
    for days in (2, 7, 10, 13, 17):
        at = (day0 + timedelta(days=days)).astimezone(UTC)
        result = run_escalation(engine, config, now=at)
        sent = story.dispatch(at)
        levels = "，".join(f"{k} {v} 件" for k, v in sorted(result.per_level.items())) or "无"
        print(f"  · {local_text(at)}：督办 {levels}；投递 {sent.get('messages', sent.get('sent', 0))} 条")
        _print_deliveries(config, story.new_messages())
        if days == 7:
            _acknowledge_one(engine, at)
    top = [d for d in story.sinks.snapshot() if d.channel == "email" and "行长（一把手）" in d.subject]
    if top:
        print(f"\n  行长（一把手）收到的督办邮件（{top[0].to}），全文如下（个人信息已脱敏）：")
        print("\n".join("    │ " + line for line in top[0].text.splitlines()))
    again = run_escalation(engine, config, now=(day0 + timedelta(days=17)).astimezone(UTC))
    print(f"  · 同一时刻再跑一次督办：新督办 {again.fired} 件（每级只发一次）")

    # 4. the week's report for the auditors
    from domain.report import Week
    from flows.weekly_report import build_weekly_report

    iso = base.astimezone(SHANGHAI).isocalendar()
    label = Week(iso.year, iso.week).label
    report_at = (day0 + timedelta(days=21)).astimezone(UTC)
    result_r = build_weekly_report(engine, config, label, report_at, output_dir=DEMO_DIR / "reports")
    story.dispatch(report_at)
    print(f"\n四、{label} 周报冻结（sha256 {result_r.sha256[:12]}…），链接发给审计：")
    _print_deliveries(config, story.new_messages())
    page = _open_as(web, "aud.lin", result_r.link)
    print(f"   审计 aud.lin 登录后打开 {result_r.link}：HTTP {page.status_code}"
          f"{'，周报可读' if page.status_code == 200 and label in page.text else '，打不开！'}")

    print(f"\n账号（密码均为 {PASSWORD}）：" + "，".join(f"{u}（{r}）" for u, r in made.items()))
    print(f"网页：{web}/   Prefect：http://127.0.0.1:{prefect_port}   通知：{DEMO_DIR / 'messages.jsonl'}")
    stay = args.stay or (not args.exit and sys.stdin.isatty())
    if stay:
        print("系统继续运行，按 Ctrl-C 停止。", file=sys.stderr)
        try:
            while child.poll() is None:
                time.sleep(1)
        except KeyboardInterrupt:
            pass
    return 0 if page.status_code == 200 else 1


def _acknowledge_one(engine: Any, at: datetime) -> None:
    """A department head acknowledges the first escalation sent to them (督办已阅)."""
    from sqlalchemy import text

    from models.db import session_scope
    from models.escalation_store import acknowledge_escalation

    with session_scope(engine) as s:
        row = s.execute(text("SELECT case_no, level, recipients FROM escalation WHERE level = 1 "
                             "AND acknowledged_at IS NULL ORDER BY case_no LIMIT 1")).first()
        if row is None:
            return
        recipients = row.recipients if isinstance(row.recipients, list) else json.loads(row.recipients)
        person = recipients[0]["person"]
        acknowledge_escalation(s, case_no=row.case_no, level=int(row.level), by=person, now=at)
    print(f"    部门负责人 {person} 确认督办 {row.case_no} L1")


def render_case_table_for(config: Config, engine: Any, cases: list[CaseDetail]) -> list[str]:
    from complaints.cli_cases import render_case_table
    from complaints.services import App

    return render_case_table(App(config, engine), cases).splitlines()


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("demo", help="the whole story on embedded defaults: desk → intake by event → handler → "
                                    "escalation up the chain → delivered messages → weekly report")
    p.add_argument("--database-url", help="another database for the story (default: a fresh var/demo/complaints.db)")
    how = p.add_mutually_exclusive_group()
    how.add_argument("--stay", action="store_true", help="keep the system running at the end until Ctrl-C")
    how.add_argument("--exit", action="store_true", help="stop at the end even in a terminal")
    p.set_defaults(handler=cmd_demo)
