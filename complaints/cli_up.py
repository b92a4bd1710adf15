"""`complaints up`: the whole system on one machine, one command.

Starts a local Prefect server when PREFECT_API_URL is not set (SQLite under PREFECT_HOME), the web
pages and HTTP API (api/), then serves every deployment of prefect.yaml with the same schedules and
triggers (flows/deployments.py), and prints the URLs. Ctrl-C stops the runner and the server it started.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from contextlib import ExitStack

import httpx

from complaints.cli import UsageError
from complaints.services import open_app


def _wait_healthy(api_url: str, proc: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the Prefect server exited with code {proc.returncode}")
        try:
            if httpx.get(f"{api_url}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"the Prefect server did not answer on {api_url} within {timeout:.0f} s")


def start_server(host: str, port: int) -> tuple[subprocess.Popen[bytes], str]:
    """`prefect server start` in a child process; returns it and its API URL once healthy."""
    api_url = f"http://{host}:{port}/api"
    env = {**os.environ, "PREFECT_SERVER_ANALYTICS_ENABLED": os.environ.get("PREFECT_SERVER_ANALYTICS_ENABLED", "false")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "prefect", "server", "start", "--host", host, "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _wait_healthy(api_url, proc, timeout=90)
    return proc, api_url


def _intervals(values: list[str]) -> dict[str, float]:
    out: dict[str, float] = {}
    for value in values:
        name, _, seconds = value.partition("=")
        try:
            out[name] = float(seconds)
        except ValueError:
            raise UsageError(f"--interval {value!r}: write NAME=SECONDS, e.g. intake=30") from None
    return out


def cmd_up(args: argparse.Namespace) -> int:
    with open_app():
        pass  # create or upgrade the schema first
    server: subprocess.Popen[bytes] | None = None
    api_url = os.environ.get("PREFECT_API_URL")
    if not api_url:
        print(f"starting a local Prefect server on http://{args.host}:{args.port} …", file=sys.stderr)
        server, api_url = start_server(args.host, args.port)
    try:
        from prefect import serve
        from prefect.settings import (
            PREFECT_API_URL,
            PREFECT_RUNNER_POLL_FREQUENCY,
            temporary_settings,
        )

        from flows.deployments import runner_deployments

        with temporary_settings(updates={PREFECT_API_URL: api_url,
                                         PREFECT_RUNNER_POLL_FREQUENCY: args.poll_seconds}), ExitStack() as stack:
            os.environ["PREFECT_API_URL"] = api_url  # flow-run subprocesses and the web app inherit it
            deployments = runner_deployments(intervals=_intervals(args.interval))
            ui = api_url.removesuffix("/api")
            if not args.no_web:
                from api.app import create_app, serving

                web = stack.enter_context(serving(create_app(), args.host, args.web_port))
                print(f"Web (desk, cases, reports): {web}/    OpenAPI schema: {web}/openapi.json", file=sys.stderr)
            print(f"Prefect UI:  {ui}", file=sys.stderr)
            print(f"Prefect API: {api_url}", file=sys.stderr)
            print("serving: " + ", ".join(d.name for d in deployments), file=sys.stderr)
            print("submit in the browser, or with `complaints submit FILE.json` in another shell (export "
                  f"PREFECT_API_URL={api_url} so intake runs at once); Ctrl-C stops.", file=sys.stderr)
            serve(*deployments, pause_on_shutdown=False, print_starting_message=False)
    finally:
        if server is not None:
            server.terminate()
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("up", help="run everything on this machine: Prefect server, all deployments")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=4200)
    p.add_argument("--poll-seconds", type=float, default=2.0,
                   help="how often the runner looks for scheduled runs (Prefect's default is 10 s)")
    p.add_argument("--web-port", type=int, default=8000, help="port of the web pages and HTTP API")
    p.add_argument("--no-web", action="store_true", help="do not start the web pages and HTTP API")
    p.add_argument("--interval", action="append", default=[], metavar="NAME=SECONDS",
                   help="replace a deployment's interval schedule, e.g. --interval intake=30")
    p.set_defaults(handler=cmd_up)
