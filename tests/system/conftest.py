"""A real Prefect server process, the application on the real PostgreSQL, and helpers to drive
the `complaints` command as separate processes (the way operators and workers run it)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine

from complaints.config import REPO_ROOT
from models.db import make_engine, migrate
from tests import pgtest


def wait_for(check: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll `check` every half second; AssertionError naming `what` when it stays false."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def fresh_pg(name: str) -> tuple[Engine, str]:
    """A new, migrated PostgreSQL database of its own and of this run (the other tests truncate
    theirs; another run at the same time has its own)."""
    url = pgtest.create_database(pgtest.db_name(name))
    _made.append(pgtest.db_name(name))
    engine = make_engine(url)
    migrate(engine)
    return engine, url


_made: list[str] = []


@pytest.fixture(scope="session", autouse=True)
def _drop_fresh_databases() -> Iterator[None]:
    """Drop the databases `fresh_pg` made once the session ends."""
    yield
    for name in _made:
        pgtest.drop_database(name)


def stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout: float = 20) -> None:
    """Signal the whole process group (a runner's flow-run children too) and wait."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    out = log.open("ab")
    return subprocess.Popen([sys.executable, "-m", "complaints.cli", *args], cwd=REPO_ROOT, env=env,
                            stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def run_cli(args: list[str], env: dict[str, str], *, input_text: str | None = None,
            timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "complaints.cli", *args], cwd=REPO_ROOT, env=env,
                          input=input_text, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="session")
def prefect_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`prefect server start` in its own process (scheduler included), once per session."""
    home = tmp_path_factory.mktemp("prefect-server-home")
    port = free_port()
    env = {**os.environ, "PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    env.pop("PREFECT_API_URL", None)
    log = home / "server.log"
    proc = subprocess.Popen([sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1",
                             "--port", str(port)], env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT,
                            start_new_session=True)
    api = f"http://127.0.0.1:{port}/api"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{api}/health", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.5)
    else:
        stop(proc)
        raise RuntimeError(f"Prefect server did not start: {log.read_text()[-2000:]}")
    from prefect.settings import PREFECT_API_URL, temporary_settings

    try:
        with temporary_settings(updates={PREFECT_API_URL: api}):  # this process's client too
            yield api
    finally:
        stop(proc)


def base_env(api_url: str | None, db_url: str, home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update({"COMPLAINTS_DATABASE_URL": db_url, "PREFECT_HOME": str(home),
                "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PYTHONPATH": str(REPO_ROOT),
                # the system's own anchor file and evidence store, never the repo's var/ (a fixture
                # wider than one test is built before the per-test environment is set)
                "COMPLAINTS_ANCHOR_FILE": str(home / "anchors" / "anchors.jsonl"),
                "COMPLAINTS_EVIDENCE_DIR": str(home / "evidence")})
    if api_url:
        env["PREFECT_API_URL"] = api_url
    return env
