"""`complaints up`: the whole system on one machine, one command.

Starts a local Prefect server when PREFECT_API_URL is not set (SQLite under PREFECT_HOME), the web
pages and HTTP API (api/), then serves every deployment of prefect.yaml with the same schedules and
triggers (flows/deployments.py), and prints the URLs.

Ctrl-C or SIGTERM stops the runner, the web and the server it started within a few seconds, even
when the Prefect server has died; if the server it started dies, `up` says so and exits 1. A port
already in use is refused before anything starts (exit 2, naming --port or --web-port).

The Prefect API URL goes into os.environ before Prefect is imported, so that every thread (the
runner, uvicorn's workers that announce web submissions and case actions) and every flow-run
subprocess sees it: Prefect's `temporary_settings` is a context variable that other threads do
not inherit.
"""

from __future__ import annotations

import argparse
import contextvars
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from types import FrameType
from typing import Any

import httpx

from complaints.cli import UsageError, float_arg, int_arg
from complaints.services import open_app
from models.evidence_store import evidence_store

STOP_GRACE = 2.0  # seconds the runner and the server get to stop before they are left or killed


class ServerDied(RuntimeError):
    """The Prefect server child exited."""


def _wait_healthy(api_url: str, proc: subprocess.Popen[bytes], timeout: float, stop: threading.Event) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not stop.is_set():
        if proc.poll() is not None:
            raise ServerDied(f"Prefect 服务器启动失败，已退出（退出码 {proc.returncode}）")
        try:
            if httpx.get(f"{api_url}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        stop.wait(0.5)
    if not stop.is_set():
        raise ServerDied(f"Prefect 服务器在 {timeout:.0f} 秒内没有在 {api_url} 应答")


def server_env(host: str, port: int) -> dict[str, str]:
    """The environment of the `prefect server start` child: its UI talks to the port it serves on."""
    api_url = f"http://{host}:{port}/api"
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env.update({
        "PREFECT_SERVER_ANALYTICS_ENABLED": os.environ.get("PREFECT_SERVER_ANALYTICS_ENABLED", "false"),
        # The UI's API URL is derived from these settings, not from --port (it stayed at 4200).
        "PREFECT_SERVER_API_HOST": host,
        "PREFECT_SERVER_API_PORT": str(port),
        "PREFECT_UI_API_URL": api_url,
        "PREFECT_UI_URL": f"http://{host}:{port}",
        # a run that finds its deployment's slots taken (intake's ENQUEUE) retries in 2 s, not 30 s
        "PREFECT_SERVER_DEPLOYMENTS_CONCURRENCY_SLOT_WAIT_SECONDS":
            os.environ.get("PREFECT_SERVER_DEPLOYMENTS_CONCURRENCY_SLOT_WAIT_SECONDS", "2"),
    })
    return env


def start_server(host: str, port: int, stop: threading.Event | None = None) -> tuple[subprocess.Popen[bytes], str]:
    """`prefect server start` in a child process; returns it and its API URL once healthy."""
    api_url = f"http://{host}:{port}/api"
    proc = subprocess.Popen(
        [sys.executable, "-m", "prefect", "server", "start", "--host", host, "--port", str(port)],
        env=server_env(host, port),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_healthy(api_url, proc, timeout=90, stop=stop or threading.Event())
    except BaseException:
        _stop_server(proc)
        raise
    return proc, api_url


def _stop_server(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=STOP_GRACE)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)


def port_free(host: str, port: int) -> bool:
    """Can a server listen on host:port now? (SO_REUSEADDR as uvicorn sets it, so TIME_WAIT is no clash.)"""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def _port_taken(option: str, what: str, host: str, port: int) -> UsageError:
    return UsageError(f"{option}（{what}端口）：{host}:{port} 已被占用；请用 {option} 换一个端口"
                      "（或先停止占用它的程序）")


def _intervals(values: list[str]) -> dict[str, float]:
    out: dict[str, float] = {}
    for value in values:
        name, _, seconds = value.partition("=")
        try:
            out[name] = float(seconds)
        except ValueError:
            raise UsageError(f"--interval（定时间隔）：{value!r} 应写成 名称=秒数，如 intake=30") from None
        if not out[name] > 0:
            raise UsageError(f"--interval（定时间隔）：{value!r} 的秒数须大于 0")
    return out


class _Web:
    """uvicorn in a thread, stopped within a second or two (open keep-alive connections are not awaited)."""

    def __init__(self, host: str, port: int) -> None:
        import uvicorn

        from api.app import create_app

        self.server = uvicorn.Server(uvicorn.Config(create_app(), host=host, port=port, log_level="warning",
                                                    access_log=False, timeout_graceful_shutdown=1))
        self.thread = threading.Thread(target=self.server.run, name="complaints-web", daemon=True)
        self.url = f"http://{host}:{port}"

    def start(self, stop: threading.Event) -> None:
        self.thread.start()
        while not self.server.started:
            if not self.thread.is_alive():
                raise OSError("the web server did not start")
            if stop.wait(0.05):
                return

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=STOP_GRACE)


def cmd_up(args: argparse.Namespace) -> int:
    intervals = _intervals(args.interval)
    api_url = os.environ.get("PREFECT_API_URL")
    if not api_url and not port_free(args.host, args.port):
        raise _port_taken("--port", "Prefect 服务器", args.host, args.port)
    if not args.no_web and not port_free(args.host, args.web_port):
        raise _port_taken("--web-port", "网页和 API ", args.host, args.web_port)
    if not args.no_web and not os.environ.get("COMPLAINTS_PUBLIC_URL"):
        # links in messages open this web server (flow-run subprocesses inherit it)
        os.environ["COMPLAINTS_PUBLIC_URL"] = f"http://{args.host}:{args.web_port}"
    with open_app():
        pass  # create or upgrade the schema first
    evidence_store()  # a bad evidence-store setting stops the start here (exit 2), before any server starts

    stop = threading.Event()
    received: list[str] = []

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        received.append(signal.Signals(signum).name)
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    server: subprocess.Popen[bytes] | None = None
    web: _Web | None = None
    runner: Any = None
    runner_thread: threading.Thread | None = None
    code = 0
    try:
        if not api_url:
            print(f"正在启动本机 Prefect 服务器 http://{args.host}:{args.port} …", file=sys.stderr)
            try:
                server, api_url = start_server(args.host, args.port, stop)
            except ServerDied as exc:
                if not port_free(args.host, args.port):
                    raise _port_taken("--port", "Prefect 服务器", args.host, args.port) from None
                print(f"complaints: {exc}", file=sys.stderr)
                return 1
            if stop.is_set():
                return 0
        # Before Prefect is imported: every thread and flow-run subprocess reads these.
        os.environ["PREFECT_API_URL"] = api_url
        os.environ["PREFECT_RUNNER_POLL_FREQUENCY"] = str(args.poll_seconds)
        from prefect.runner import Runner
        from prefect.settings import (
            PREFECT_API_URL,
            PREFECT_RUNNER_POLL_FREQUENCY,
            temporary_settings,
        )

        from flows.automations import flow_run_env
        from flows.deployments import runner_deployments

        for key, value in flow_run_env().items():  # what prefect.yaml gives a worker's flow runs (heartbeat)
            os.environ.setdefault(key, value)

        with temporary_settings(updates={PREFECT_API_URL: api_url, PREFECT_RUNNER_POLL_FREQUENCY: args.poll_seconds}):
            try:
                deployments = runner_deployments(intervals=intervals)
            except ValueError as exc:
                raise UsageError(f"--interval（定时间隔）：{exc}") from None
            ui = api_url.removesuffix("/api")
            if not args.no_web:
                web = _Web(args.host, args.web_port)
                try:
                    web.start(stop)
                except OSError:
                    web = None
                    raise _port_taken("--web-port", "网页和 API ", args.host, args.web_port) from None
                print(f"网页（受理、案件、报告）：{web.url}/    OpenAPI：{web.url}/openapi.json", file=sys.stderr)
            print(f"Prefect 界面：{ui}", file=sys.stderr)
            print(f"Prefect API：{api_url}", file=sys.stderr)
            print("运行中的部署：" + "、".join(d.name for d in deployments), file=sys.stderr)
            print("可在浏览器中受理投诉，或在另一个终端运行 `complaints submit FILE.json`（先 export "
                  f"PREFECT_API_URL={api_url}，分派即刻开始）；Ctrl-C 停止。", file=sys.stderr)
            runner = Runner(pause_on_shutdown=False)
            runner_thread = _start_runner(runner, deployments, stop)
            _start_status(api_url, args.status_seconds, stop)
            code = _watch(stop, server, runner_thread)
    finally:
        _shutdown(runner, runner_thread, web, server)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if received:
        print(f"complaints: 收到 {received[0]}，已停止。", file=sys.stderr)
    # Everything we started is stopped. Prefect's exit hooks (the events worker's drain, API
    # clients) would retry against a dead server for many seconds; the process ends here.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _start_runner(runner: Any, deployments: list[Any], stop: threading.Event) -> threading.Thread:
    """The Prefect runner in a thread of its own (registering the deployments too, which talks to
    the API with retries), so the main thread stays free for signals and for watching the server."""
    import asyncio

    context = contextvars.copy_context()  # the temporary settings above

    def start() -> None:
        for deployment in deployments:
            deployment.work_pool_name = None
            runner.add_deployment(deployment)
            if stop.is_set():
                return
        asyncio.run(runner.start())

    def run() -> None:
        try:
            context.run(start)
        except BaseException as exc:  # noqa: BLE001 - reported, then everything stops
            if not stop.is_set():
                print(f"complaints: Prefect 运行器异常退出：{type(exc).__name__}: {exc}", file=sys.stderr)
        finally:
            stop.set()

    thread = threading.Thread(target=run, name="prefect-runner", daemon=True)
    thread.start()
    return thread


def _start_status(api_url: str, every: float, stop: threading.Event) -> None:
    """Every `every` seconds (0: never) a line with each deployment's last run, and a warning when
    a probe event does not reach the server (complaints/cli_status.py); the first after 20 s."""
    if every <= 0:
        return
    from complaints.cli_status import report_once

    context = contextvars.copy_context()

    def loop() -> None:
        wait = min(20.0, every)
        while not stop.wait(wait):
            try:
                context.run(report_once, api_url, probe_wait=min(15.0, every))
            except Exception as exc:  # noqa: BLE001 - a status line is never worth stopping for
                print(f"complaints: 警告：状态检查失败：{type(exc).__name__}: {exc}", file=sys.stderr)
            wait = every

    threading.Thread(target=loop, name="complaints-status", daemon=True).start()


def _watch(stop: threading.Event, server: subprocess.Popen[bytes] | None, runner_thread: threading.Thread) -> int:
    """Wait for a signal; 1 when the Prefect server we started died or the runner ended by itself."""
    while not stop.wait(0.5):
        if server is not None and server.poll() is not None:
            print(f"complaints: 本机 Prefect 服务器已意外退出（退出码 {server.returncode}），"
                  "complaints up 随之停止。", file=sys.stderr)
            return 1
    if not runner_thread.is_alive() and server is not None and server.poll() is not None:
        return 1
    return 0


def _shutdown(runner: Any, runner_thread: threading.Thread | None, web: _Web | None,
              server: subprocess.Popen[bytes] | None) -> None:
    """Stop everything within a few seconds: the runner is asked to stop, then left if it hangs."""
    if runner is not None and runner_thread is not None and runner_thread.is_alive():
        try:
            loop = getattr(runner, "_loop", None)
            if runner.started and loop is not None and not runner.stopping:
                runner.stopping = True
                runner.execute_in_background(runner.astop)
        except Exception:  # noqa: BLE001, S110 - stopping anyway
            pass
    if server is not None:
        server.terminate()
    if web is not None:
        web.stop()
    if runner_thread is not None:
        runner_thread.join(timeout=STOP_GRACE)
    if server is not None:
        _stop_server(server)
    _stop_flow_run_children()


def _stop_flow_run_children() -> None:
    """SIGTERM the flow-run processes the runner left (a holding intake run lives up to ~2 min;
    the runner's cancel may not finish within the grace), so nothing runs on after `up` exits."""
    me = os.getpid()
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else []:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="utf-8", errors="replace") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            if ppid == me:
                os.kill(int(entry), signal.SIGTERM)
        except (OSError, ValueError, IndexError):
            continue


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("up", help="run everything on this machine: Prefect server, all deployments")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int_arg("Prefect 服务器端口（--port）", minimum=1, maximum=65535), default=4200,
                   help="port of the local Prefect server and its UI (when PREFECT_API_URL is not set)")
    p.add_argument("--poll-seconds", type=float_arg("轮询间隔秒数（--poll-seconds）", above=0, maximum=3600),
                   default=2.0, help="how often the runner looks for scheduled runs (Prefect's default is 10 s)")
    p.add_argument("--web-port", type=int_arg("网页端口（--web-port）", minimum=1, maximum=65535), default=8000,
                   help="port of the web pages and HTTP API")
    p.add_argument("--no-web", action="store_true", help="do not start the web pages and HTTP API")
    p.add_argument("--status-seconds", type=float_arg("状态间隔秒数（--status-seconds）", above=-1, maximum=86400),
                   default=60.0, help="print each deployment's last run and probe the events every N s (0: off)")
    p.add_argument("--interval", action="append", default=[], metavar="NAME=SECONDS",
                   help="replace a deployment's interval schedule, e.g. --interval intake=30")
    p.set_defaults(handler=cmd_up)
