"""Where each deployment's last run stands, and whether events reach the Prefect server.

`complaints status` prints it once (exit 1 when a last run failed or crashed, or events do not
arrive); `complaints up` prints the same every `--status-seconds` (docs/deploy.md). Read through
the server's REST API (PREFECT_API_URL); the probe is a real event sent the way the application
sends its events (prefect.events.emit_event), then looked for through the events API.

The probe shows that *this* process reaches the server. Whether the processes that register
complaints do (a web server started without PREFECT_API_URL, or whose events client cannot
connect, sends nothing and says nothing) is checked from the other end: the newest complaints
registered in the last minutes (the application database) are looked for among the server's
`complaint.submitted` events; those without one are named with who registered them.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from complaints.cli import UsageError, float_arg

# Prefect's state types (and the Late state's name) in the words the operators use
STATE_WORDS = {"RUNNING": "运行中", "PENDING": "启动中", "SCHEDULED": "待运行", "COMPLETED": "已完成",
               "FAILED": "失败", "CRASHED": "崩溃", "CANCELLED": "已取消", "CANCELLING": "取消中",
               "PAUSED": "已暂停"}
BAD = frozenset({"FAILED", "CRASHED"})
PROBE_EVENT = "complaints.probe"


@dataclass(frozen=True)
class LastRun:
    deployment: str
    state_type: str | None  # None: no run yet
    state_name: str | None
    at: datetime | None  # when it started, or was due

    @property
    def late(self) -> bool:
        return self.state_name == "Late"

    @property
    def bad(self) -> bool:
        return self.state_type in BAD

    def words(self) -> str:
        if self.state_type is None:
            return f"{self.deployment} 尚无运行"
        word = "延迟" if self.late else STATE_WORDS.get(self.state_type, self.state_name or self.state_type)
        when = f"（{self.at.astimezone(_SHANGHAI).strftime('%H:%M:%S')}）" if self.at else ""
        return f"{self.deployment} {word}{when}"


def _shanghai() -> Any:
    from zoneinfo import ZoneInfo

    return ZoneInfo("Asia/Shanghai")


_SHANGHAI = _shanghai()


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def last_runs(api_url: str, *, now: datetime | None = None, timeout: float = 10) -> list[LastRun]:
    """Each deployment's last run that is due (a run scheduled for later does not count)."""
    now = now or datetime.now(UTC)
    with httpx.Client(base_url=api_url, timeout=timeout) as client:
        deployments = client.post("/deployments/filter", json={"limit": 200}).raise_for_status().json()
        out = []
        for d in sorted(deployments, key=lambda d: str(d["name"])):
            body = {"deployments": {"id": {"any_": [d["id"]]}},
                    "flow_runs": {"expected_start_time": {"before_": now.isoformat()}},
                    "sort": "EXPECTED_START_TIME_DESC", "limit": 1}
            runs = client.post("/flow_runs/filter", json=body).raise_for_status().json()
            if not runs:
                out.append(LastRun(str(d["name"]), None, None, None))
                continue
            r = runs[0]
            out.append(LastRun(str(d["name"]), r.get("state_type"), r.get("state_name"),
                               _time(r.get("start_time") or r.get("expected_start_time"))))
    return out


def status_line(runs: list[LastRun]) -> str:
    return "部署状态：" + "；".join(r.words() for r in runs)


def probe_events(api_url: str, *, wait: float = 15.0, poll: float = 0.5) -> float | None:
    """Send one probe event as the application sends its events and read it back through the
    events API; seconds until it was stored, or None when it did not arrive within `wait`."""
    from prefect.events import emit_event
    from prefect.settings import PREFECT_API_URL, temporary_settings

    rid = f"complaints.probe.{uuid.uuid4().hex}"
    started = time.monotonic()
    since = datetime.now(UTC) - timedelta(minutes=1)
    with temporary_settings(updates={PREFECT_API_URL: api_url}):
        emit_event(event=PROBE_EVENT, resource={"prefect.resource.id": rid})  # queued; sent in the background
    body = {"filter": {"event": {"name": [PROBE_EVENT]}, "resource": {"id": [rid]},
                       "occurred": {"since": since.isoformat()}}, "limit": 1}
    while time.monotonic() - started < wait:
        try:
            r = httpx.post(f"{api_url}/events/filter", json=body, timeout=5)
            if r.status_code == 200 and r.json().get("events"):
                return time.monotonic() - started
        except httpx.HTTPError:
            pass
        time.sleep(poll)
    return None


SKEW = timedelta(seconds=30)  # how far another host's clock may lag when matching events to cases


@dataclass(frozen=True)
class Unannounced:
    """Recent complaints with no `complaint.submitted` event on the server."""

    checked: int
    missing: list[tuple[str, str]]  # (case_no, submitted_by)


def unannounced(api_url: str, database_url: str | None = None, *, now: datetime | None = None,
                window: timedelta = timedelta(minutes=10), grace: timedelta = timedelta(seconds=30),
                newest: int = 50, timeout: float = 10) -> Unannounced:
    """The newest `newest` complaints registered between `window` and `grace` ago, and those of them
    the server has no `complaint.submitted` event for (one per case, or a batch event whose range
    covers it). Empty when nothing was registered in that time."""
    from sqlalchemy import select

    from models.complaint import Complaint
    from models.db import make_engine, read_scope
    from models.sqlutil import table_of

    now = now or datetime.now(UTC)
    c = table_of(Complaint)
    engine = make_engine(database_url)
    try:
        with read_scope(engine) as session:
            rows = session.execute(select(c.c.case_no, c.c.created_at, c.c.submitted_by)
                                   .order_by(c.c.id.desc()).limit(newest)).all()
    finally:
        engine.dispose()
    recent = [r for r in rows if now - window <= r.created_at <= now - grace]
    if not recent:
        return Unannounced(0, [])
    # An event can only announce a case registered before it (less a clock skew between hosts): an
    # older event with the same case number is another database's (a test server, a reset system).
    since = min(r.created_at for r in recent) - SKEW
    created = {r.case_no: r.created_at for r in recent}
    seen: set[str] = set()
    ranges: list[tuple[str, str, datetime]] = []
    with httpx.Client(base_url=api_url, timeout=timeout) as client:
        def events(ids: list[str]) -> list[dict[str, Any]]:
            body = {"filter": {"event": {"name": ["complaint.submitted"]}, "occurred": {"since": since.isoformat()},
                               "resource": {"id": ids}, "order": "DESC"}, "limit": 50}
            return list(client.post("/events/filter", json=body).raise_for_status().json().get("events") or [])

        for i in range(0, len(recent), 10):  # a few events per case at most: each page stays under 50
            for e in events([f"complaint.{r.case_no}" for r in recent[i:i + 10]]):
                case_no = str(e["resource"]["prefect.resource.id"]).removeprefix("complaint.")
                if case_no in created and (_time(e["occurred"]) or since) >= created[case_no] - SKEW:
                    seen.add(case_no)
        for e in events(["complaint.submit-batch"]):
            payload = e.get("payload") or {}
            if payload.get("first") and payload.get("last"):
                ranges.append((str(payload["first"]), str(payload["last"]), _time(e["occurred"]) or since))
    missing = [(r.case_no, r.submitted_by or "") for r in recent
               if r.case_no not in seen
               and not any(lo <= r.case_no <= hi and at >= r.created_at - SKEW for lo, hi, at in ranges)]
    return Unannounced(len(recent), missing)


UNANNOUNCED_WARNING = ("complaints: 警告：最近登记的 {checked} 件投诉中有 {n} 件没有 complaint.submitted 事件到达 "
                       "Prefect 服务器（{examples}）：登记它们的进程（网页服务或命令行）没有发出事件，分派将等待定时"
                       "任务（最长 2 分钟）。请检查该进程的 PREFECT_API_URL 及其日志。")


def unannounced_warning(found: Unannounced) -> str | None:
    if not found.missing:
        return None
    examples = "、".join(f"{case_no}（{by or '未知'} 登记）" for case_no, by in found.missing[:3])
    return UNANNOUNCED_WARNING.format(checked=found.checked, n=len(found.missing), examples=examples)


PROBE_WARNING = ("complaints: 警告：探测事件 {wait:.0f} 秒内未到达 Prefect 服务器（{api}）：受理后的分派将等待"
                 "定时任务（最长 2 分钟）。请检查 PREFECT_API_URL、服务器日志及其消息组件（Redis）。")


def report_once(api_url: str, *, probe_wait: float = 15.0, out: Any = None) -> int:
    """Print the status line (to `out`) and any warning (stderr); 1 when a run failed or crashed, or
    events do not arrive."""
    out = out or sys.stderr
    try:
        runs = last_runs(api_url)
    except httpx.HTTPError as exc:
        print(f"complaints: 警告：无法读取部署状态（{api_url}）：{exc}", file=sys.stderr)
        return 1
    print(status_line(runs), file=out)
    took = probe_events(api_url, wait=probe_wait)
    if took is None:
        print(PROBE_WARNING.format(wait=probe_wait, api=api_url), file=sys.stderr)
        return 1
    warning = _unannounced_warning(api_url)
    if warning is not None:
        print(warning, file=sys.stderr)
        return 1
    return 1 if any(r.bad for r in runs) else 0


def _unannounced_warning(api_url: str) -> str | None:
    try:
        return unannounced_warning(unannounced(api_url))
    except (httpx.HTTPError, OSError) as exc:
        return f"complaints: 警告：无法核对最近登记的投诉是否发出了事件（{api_url}）：{exc}"


def cmd_status(args: argparse.Namespace) -> int:
    api_url = os.environ.get("PREFECT_API_URL")
    if not api_url:
        raise UsageError("PREFECT_API_URL（Prefect API 地址）：未设置；请先 export PREFECT_API_URL=http://HOST:4200/api")
    if args.json:
        runs = last_runs(api_url)
        took = probe_events(api_url, wait=args.probe_seconds)
        found = unannounced(api_url)
        print(json.dumps({"deployments": [{"name": r.deployment, "state_type": r.state_type, "state_name": r.state_name,
                                           "late": r.late, "at": r.at.isoformat() if r.at else None} for r in runs],
                          "events_reach_server": took is not None,
                          "probe_seconds": None if took is None else round(took, 2),
                          "recent_complaints_checked": found.checked,
                          "recent_complaints_without_event": [{"case_no": c, "submitted_by": by}
                                                              for c, by in found.missing]}, ensure_ascii=False))
        return 1 if took is None or found.missing or any(r.bad for r in runs) else 0
    return report_once(api_url, probe_wait=args.probe_seconds, out=sys.stdout)


def cmd_automations(args: argparse.Namespace) -> int:
    """Create or update, by name, the automations of automations.yaml on the Prefect server."""
    from flows.automations import AUTOMATIONS_YAML, checked_automations, sync_from_files
    from flows.deployments import PREFECT_YAML

    files = (args.file or AUTOMATIONS_YAML, args.prefect_file or PREFECT_YAML)

    if args.check:
        try:
            wanted = checked_automations(*files)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        print(json.dumps({"automations": [a.name for a in wanted], "ok": True}, ensure_ascii=False))
        return 0
    if not os.environ.get("PREFECT_API_URL"):
        raise UsageError("PREFECT_API_URL（Prefect API 地址）：未设置；请先 export PREFECT_API_URL=http://HOST:4200/api")
    try:
        synced = sync_from_files(*files)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    print(json.dumps({"automations": [{"name": s.name, "outcome": s.outcome, "id": s.id} for s in synced]},
                     ensure_ascii=False))
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    a = sub.add_parser("automations", help="create or update automations.yaml's automations on the Prefect server "
                                           "(after `prefect deploy --all`; see docs/deploy.md)")
    a.add_argument("--check", action="store_true", help="only validate automations.yaml against prefect.yaml")
    a.add_argument("--file", type=Path, default=None, metavar="PATH",
                   help="the automations file (default: automations.yaml of the repository)")
    a.add_argument("--prefect-file", type=Path, default=None, metavar="PATH",
                   help="the prefect.yaml whose flow-run heartbeat the crash detector is checked against "
                        "(as `prefect deploy --prefect-file`; default: the repository's)")
    a.set_defaults(handler=cmd_automations)
    p = sub.add_parser("status", help="each deployment's last run (running, late, failed) and whether events arrive")
    p.add_argument("--probe-seconds", type=float_arg("探测等待秒数（--probe-seconds）", above=0, maximum=300),
                   default=15.0, help="how long to wait for the probe event to be stored")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(handler=cmd_status)
