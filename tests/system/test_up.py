"""`complaints up` as an operator runs it, with no PREFECT_API_URL: it starts its own Prefect server.

The web's submissions and case actions reach that server as events (uvicorn's threads see the
API URL), the UI is told the port it serves on, a taken port is refused in Chinese with exit 2,
and the command stops within seconds on SIGTERM, or by itself (exit 1) when its server dies.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.factories import complaint_data
from tests.system.conftest import base_env, free_port, fresh_pg, run_cli, spawn, stop, wait_for


def _children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(entry.name))
    return out


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


class Up:
    def __init__(self, tmp: Path, name: str) -> None:
        _, url = fresh_pg(name)
        self.env = base_env(None, url, tmp / "home")
        self.port, self.web_port = free_port(), free_port()
        self.log = tmp / "up.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> subprocess.Popen[bytes]:
        self.proc = spawn(["up", "--port", str(self.port), "--web-port", str(self.web_port), "--poll-seconds", "1"],
                          self.env, self.log)
        wait_for(lambda: self.proc is not None and (self.proc.poll() is not None or self._web_ok()), 120,
                 "complaints up to serve the web")
        assert self.proc.poll() is None, self.log.read_text()[-3000:]
        return self.proc

    def _web_ok(self) -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{self.web_port}/login", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"


@pytest.fixture
def up(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Up]:
    u = Up(tmp_path, f"up_{request.node.name[:20]}")
    try:
        yield u
    finally:
        if u.proc is not None:
            stop(u.proc, timeout=10)


def _events(api: str, name: str, resource: str) -> list[dict[str, object]]:
    body = {"filter": {"event": {"name": [name]}, "resource": {"id": [resource]},
                       "occurred": {"since": "2000-01-01T00:00:00Z"}}, "limit": 10}
    r = httpx.post(f"{api}/events/filter", json=body, timeout=10)
    r.raise_for_status()
    return list(r.json()["events"])


def test_web_events_reach_the_server_up_started_and_sigterm_stops_it_promptly(up: Up) -> None:
    """A web submission emits complaint.submitted, a web case action its event; the UI uses --port."""
    proc = up.start()
    ui = httpx.get(f"http://127.0.0.1:{up.port}/ui-settings", timeout=10).json()
    assert ui["api_url"] == up.api
    added = run_cli(["user", "add", "cpo1", "--role", "cpo", "--password-stdin"], up.env, input_text="pass word 12\n")
    assert added.returncode == 0, added.stderr
    token = json.loads(run_cli(["token", "add", "cpo1"], up.env).stdout)["token"]
    auth = {"Authorization": f"Bearer {token}"}
    web = f"http://127.0.0.1:{up.web_port}"
    r = httpx.post(f"{web}/api/complaints", json=complaint_data(external_ref="UP-WEB-1"), headers=auth, timeout=30)
    assert r.status_code == 201, r.text
    case_no = r.json()["case_no"]
    wait_for(lambda: bool(_events(up.api, "complaint.submitted", f"complaint.{case_no}")), 30,
             "complaint.submitted from the web")

    def routed() -> bool:
        return bool(httpx.get(f"{web}/api/complaints/{case_no}", headers=auth, timeout=10).json()["status"] == "routed")

    wait_for(routed, 90, "intake to route the web's complaint")
    r = httpx.post(f"{web}/api/complaints/{case_no}/withdraw", headers=auth, json={}, timeout=30)
    assert r.status_code == 200, r.text
    wait_for(lambda: bool(_events(up.api, "complaint.withdrawn", f"complaint.{case_no}")), 30,
             "complaint.withdrawn from the web")

    started = time.monotonic()
    os.kill(proc.pid, signal.SIGTERM)
    proc.wait(timeout=15)
    assert time.monotonic() - started < 5, up.log.read_text()[-2000:]
    assert proc.returncode == 0
    assert not _listening(up.port) and not _listening(up.web_port)


def test_up_exits_1_saying_so_when_its_server_dies(up: Up) -> None:
    """The Prefect server child killed: `up` notices, says so in Chinese and exits 1 within seconds."""
    proc = up.start()
    def registered() -> bool:
        return len(httpx.post(f"{up.api}/deployments/filter", json={}, timeout=5).json()) >= 4

    wait_for(registered, 60, "the runner to register its deployments")
    (server,) = [c for c in _children(proc.pid) if b"server" in Path(f"/proc/{c}/cmdline").read_bytes()]
    started = time.monotonic()
    os.kill(server, signal.SIGKILL)
    proc.wait(timeout=15)
    assert time.monotonic() - started < 5
    assert proc.returncode == 1
    assert "Prefect 服务器已意外退出" in up.log.read_text()
    assert not _listening(up.web_port)


def test_a_taken_web_port_is_refused_and_no_server_is_left(up: Up) -> None:
    """Port clash on --web-port: exit 2, a Chinese message naming --web-port; the Prefect port stays free."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", up.web_port))
        taken.listen()
        result = run_cli(["up", "--port", str(up.port), "--web-port", str(up.web_port)], up.env, timeout=60)
    assert result.returncode == 2, result.stderr
    assert "--web-port" in result.stderr and "已被占用" in result.stderr and "Traceback" not in result.stderr
    assert not _listening(up.port)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", up.port))
        taken.listen()
        result = run_cli(["up", "--port", str(up.port), "--web-port", str(up.web_port)], up.env, timeout=60)
    assert result.returncode == 2 and "--port（Prefect 服务器端口）" in result.stderr, result.stderr
