"""The distributed deployment of docs/deploy.md, on one machine, for the system tests and the
latency benchmark: a `prefect server start` on its own PostgreSQL database with Redis messaging
(prefect-redis: broker, cache, causal ordering, concurrency leases, docket), `prefect deploy --all`
onto a process work pool, `prefect worker` processes, the application on its own PostgreSQL
database and `complaints web` for the HTTP API.

Every process runs in a session of its own, so a worker can be SIGKILLed with its flow-run
children (`kill_worker_running`) and the server restarted (`restart_server`) while the rest runs.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from complaints.config import REPO_ROOT
from tests import pgtest
from tests.system.conftest import base_env, free_port, run_cli, spawn, stop, wait_for

# Redis on 127.0.0.1:6379 (./run test starts it); each cluster uses a database number of its own.
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379


def server_settings(db_url: str, redis_db: int) -> dict[str, str]:
    """The Prefect server's environment for several API processes and workers (docs/deploy.md)."""
    return {
        "PREFECT_API_DATABASE_CONNECTION_URL": db_url,
        "PREFECT_MESSAGING_BROKER": "prefect_redis.messaging",
        "PREFECT_MESSAGING_CACHE": "prefect_redis.messaging",
        "PREFECT_SERVER_EVENTS_CAUSAL_ORDERING": "prefect_redis.ordering",
        "PREFECT_SERVER_CONCURRENCY_LEASE_STORAGE": "prefect_redis.lease_storage",
        "PREFECT_REDIS_MESSAGING_HOST": REDIS_HOST,
        "PREFECT_REDIS_MESSAGING_PORT": str(REDIS_PORT),
        "PREFECT_REDIS_MESSAGING_DB": str(redis_db),
        "PREFECT_SERVER_DOCKET_URL": f"redis://{REDIS_HOST}:{REDIS_PORT}/{redis_db}",
        # a run that finds its deployment's slots taken retries in 2 s, not 30 s
        "PREFECT_SERVER_DEPLOYMENTS_CONCURRENCY_SLOT_WAIT_SECONDS": "2",
        # the triggers service logs each event it evaluates at INFO: server.log then shows what
        # the crash detector saw of a run (the dispatch test's failure message quotes it)
        "PREFECT_SERVER_LOGGING_LEVEL": "INFO",
    }


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (children, grandchildren, …), from /proc."""
    parent: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
    out: list[int] = []
    frontier = [pid]
    while frontier:
        p = frontier.pop()
        kids = [c for c, pp in parent.items() if pp == p]
        out.extend(kids)
        frontier.extend(kids)
    return out


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def signal_tree(tree: list[int], sig: signal.Signals) -> list[int]:
    for p in reversed(tree):
        try:
            os.kill(p, sig)
        except ProcessLookupError:
            pass
    return tree


def stop_tree(pid: int) -> list[int]:
    """SIGSTOP `pid` and everything below it (a worker and its flow-run processes), walking until no
    new child appears, so that none starts a child or is reparented meanwhile; the tree."""
    tree = [pid]
    while True:
        for p in tree:
            try:
                os.kill(p, signal.SIGSTOP)
            except ProcessLookupError:
                pass
        more = [p for p in descendants(pid) if p not in tree]
        if not more:
            break
        tree.extend(more)
    return tree


class Cluster:
    """Prefect server (PostgreSQL + Redis), deployments on a process pool, workers, the web API."""

    def __init__(self, tmp: Path, name: str, *, workers: int = 2, yaml_overrides: dict[str, Any] | None = None,
                 intake_interval: float | None = None) -> None:
        self.tmp = tmp
        self.app_db = pgtest.db_name(f"{name}_app")
        self.prefect_db = pgtest.db_name(f"{name}_prefect")
        self.app_url = pgtest.create_database(self.app_db)
        pg = pgtest.create_database(self.prefect_db)
        self.prefect_url = pg.replace("postgresql+psycopg://", "postgresql+asyncpg://")
        self.redis_db = 1 + os.getpid() % 15
        subprocess.run(["redis-cli", "-h", REDIS_HOST, "-p", str(REDIS_PORT), "-n", str(self.redis_db), "flushdb"],
                       check=True, capture_output=True)
        self.port, self.web_port = free_port(), free_port()
        self.api = f"http://127.0.0.1:{self.port}/api"
        self.web = f"http://127.0.0.1:{self.web_port}"
        home = tmp / "prefect-home"
        home.mkdir(exist_ok=True)
        self.env = base_env(self.api, self.app_url, home)
        self.env.update({"PREFECT_WORKER_QUERY_SECONDS": "1", "PREFECT_WORKER_PREFETCH_SECONDS": "5",
                         "COMPLAINTS_PUBLIC_URL": self.web})
        self.server_env = {**base_env(None, self.app_url, home), **server_settings(self.prefect_url, self.redis_db),
                           "PREFECT_SERVER_API_HOST": "127.0.0.1", "PREFECT_SERVER_API_PORT": str(self.port)}
        self.n_workers = workers
        self.yaml = self._prefect_yaml(yaml_overrides or {}, intake_interval)
        self.server: subprocess.Popen[bytes] | None = None
        self.workers: list[subprocess.Popen[bytes]] = []
        self.webproc: subprocess.Popen[bytes] | None = None
        self.killed: list[int] = []  # the processes kill_worker_running killed
        self.killed_runs: list[str] = []  # the flow runs those processes were running

    def _prefect_yaml(self, overrides: dict[str, Any], intake_interval: float | None) -> Path:
        import yaml

        data = yaml.safe_load((REPO_ROOT / "prefect.yaml").read_text(encoding="utf-8"))
        for spec in data["deployments"]:
            if spec["name"] == "intake" and intake_interval is not None:
                spec["schedules"] = [{"interval": intake_interval}]
            spec.update(overrides.get(spec["name"], {}))
        path = self.tmp / "prefect.yaml"
        path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
        return path

    # ------------------------------------------------------------------ processes

    def start_server(self) -> None:
        log = (self.tmp / "server.log").open("ab")
        self.server = subprocess.Popen([sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1",
                                        "--port", str(self.port)], env=self.server_env, stdout=log,
                                       stderr=subprocess.STDOUT, start_new_session=True)
        wait_for(lambda: self._healthy() or self.server is None or self.server.poll() is not None, 120,
                 "the Prefect server on PostgreSQL to answer")
        assert self.server.poll() is None, (self.tmp / "server.log").read_text()[-3000:]

    def _healthy(self) -> bool:
        try:
            return httpx.get(f"{self.api}/health", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def restart_server(self, down_seconds: float = 2.0) -> None:
        """SIGTERM the server, wait `down_seconds`, start it again on the same database and Redis."""
        assert self.server is not None
        stop(self.server, timeout=30)
        time.sleep(down_seconds)
        self.start_server()

    def deploy(self) -> None:
        pool = run_cli_prefect(["work-pool", "create", "complaints", "--type", "process"], self.env)
        assert pool.returncode == 0, pool.stdout + pool.stderr
        out = run_cli_prefect(["--no-prompt", "deploy", "--all", "--prefect-file", str(self.yaml)], self.env)
        assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
        # the crash detector for runs whose worker died (automations.yaml, docs/deploy.md)
        autos = run_cli(["automations"], self.env)
        assert autos.returncode == 0, autos.stdout + autos.stderr

    def start_worker(self, i: int) -> subprocess.Popen[bytes]:
        log = (self.tmp / f"worker{i}.log").open("ab")
        proc = subprocess.Popen([sys.executable, "-m", "prefect", "worker", "start", "--pool", "complaints",
                                 "--name", f"worker-{i}"], cwd=REPO_ROOT, env=self.env, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
        return proc

    def start(self) -> Cluster:
        migrated = run_cli(["migrate"], self.env)
        assert migrated.returncode == 0, migrated.stderr
        self.start_server()
        self.deploy()
        self.workers = [self.start_worker(i) for i in range(1, self.n_workers + 1)]
        self.webproc = spawn(["web", "--port", str(self.web_port)], self.env, self.tmp / "web.log")
        wait_for(self._web_ok, 90, "complaints web to answer")
        wait_for(lambda: len(self.online_workers()) >= self.n_workers, 90, "the workers to come online")
        return self

    def _web_ok(self) -> bool:
        try:
            return httpx.get(f"{self.web}/login", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def online_workers(self) -> list[str]:
        try:
            r = httpx.post(f"{self.api}/work_pools/complaints/workers/filter", json={}, timeout=5)
        except httpx.HTTPError:
            return []
        return [w["name"] for w in r.json() if w.get("status") == "ONLINE"] if r.status_code == 200 else []

    def token(self, username: str = "bench1", role: str = "cpo") -> str:
        added = run_cli(["user", "add", username, "--role", role, "--password-stdin"], self.env,
                        input_text="pass word 12\n")
        assert added.returncode == 0, added.stderr
        return str(json.loads(run_cli(["token", "add", username], self.env).stdout)["token"])

    def worker_running(self, flow_name: str = "intake") -> subprocess.Popen[bytes] | None:
        """The worker whose flow-run process is running a `flow_name` run (from the processes' lines)."""
        running = {r["id"] for r in self.flow_runs(flow_name) if r["state_type"] == "RUNNING"}
        for w in self.workers:
            if w.poll() is None and any(any(rid in _cmdline(p) or rid in _environ(p) for rid in running)
                                        for p in descendants(w.pid)):
                return w
        return None

    def kill_worker_running(self, flow_name: str = "intake", timeout: float = 60, *,
                            seen_by_automations: bool = False) -> subprocess.Popen[bytes] | None:
        """SIGKILL the worker running a `flow_name` run, with all its flow-run processes; the ids
        of every run those processes ran (any flow) go in `killed_runs`.

        Frozen first (SIGSTOP), then checked: when its `flow_name` run ended in between, the
        worker is let go on (SIGCONT) and another try is made, for up to `timeout` seconds.
        `seen_by_automations`: let go on as well while any of its runs is one the automations
        cannot see yet (`blind_to_automations`), for the crash detector's test."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            w = self.worker_running(flow_name)
            if w is None:
                time.sleep(0.2)
                continue
            tree = stop_tree(w.pid)
            # a Pending run (its process starting) holds its deployment's slot as a Running one does
            running = {name: {r["id"] for r in self.flow_runs(name) if r["state_type"] in ("RUNNING", "PENDING")}
                       for name in ("intake", "dispatch", "escalation")}
            text = " ".join(_cmdline(p) + " " + _environ(p) for p in tree[1:])
            in_tree = sorted(rid for ids in running.values() for rid in ids if rid in text)
            if (not any(rid in text for rid in running[flow_name])
                    or (seen_by_automations and any(self.blind_to_automations(rid) for rid in in_tree))):
                signal_tree(tree, signal.SIGCONT)
                time.sleep(0.2)
                continue
            self.killed_runs = in_tree
            self.killed = signal_tree(tree, signal.SIGKILL)
            w.wait(timeout=10)
            return w
        return None

    def blind_to_automations(self, run_id: str) -> bool:
        """A run Prefect's scheduler service inserted less than 5 minutes before it starts: the
        service writes its Scheduled state without an event, yet the run's next state event
        `follows` that state (Prefect links state events less than 5 minutes apart), so the
        triggers service holds every event of the run for its 15-minute causal-ordering lookback
        and no automation, the crash detector included, sees the run before then (docs/deploy.md).
        Such runs are the first safety-net runs after a deploy or a scheduler catch-up."""
        r = httpx.get(f"{self.api}/flow_runs/{run_id}", timeout=10)
        r.raise_for_status()
        run = r.json()
        if not (run.get("auto_scheduled") or (run.get("created_by") or {}).get("type") == "SCHEDULE"):
            return False
        created = datetime.fromisoformat(str(run["created"]))
        start = datetime.fromisoformat(str(run["expected_start_time"]))
        return start - created < timedelta(minutes=5, seconds=30)

    def flow_run_events(self, run_id: str) -> list[tuple[str, str]]:
        """(occurred, event) of every event about a flow run, oldest first (for failure messages)."""
        # Prefect's events API pages at most 50 events (INTERACTIVE_PAGE_SIZE; more is a 422)
        body = {"filter": {"any_resource": {"id": [f"prefect.flow-run.{run_id}"]}}, "limit": 50}
        r = httpx.post(f"{self.api}/events/filter", json=body, timeout=10)
        r.raise_for_status()
        return sorted((str(e["occurred"]), str(e["event"])) for e in r.json().get("events", []))

    def server_log_lines(self, needle: str, limit: int = 40) -> list[str]:
        """The server log's last `limit` lines that name `needle` (for failure messages)."""
        path = self.tmp / "server.log"
        if not path.exists():
            return []
        lines = path.read_text(errors="replace").splitlines()
        return [ln[:400] for ln in lines if needle in ln][-limit:]

    def flow_run_state(self, run_id: str) -> str:
        r = httpx.get(f"{self.api}/flow_runs/{run_id}", timeout=10)
        r.raise_for_status()
        return str(r.json()["state_type"])

    def flow_runs(self, flow_name: str) -> list[dict[str, Any]]:
        body = {"flows": {"name": {"any_": [flow_name]}}, "limit": 200, "sort": "EXPECTED_START_TIME_DESC"}
        r = httpx.post(f"{self.api}/flow_runs/filter", json=body, timeout=10)
        r.raise_for_status()
        return list(r.json())

    def stop(self) -> None:
        for proc in [self.webproc, *self.workers]:
            if proc is not None:
                for p in descendants(proc.pid):
                    try:
                        os.kill(p, signal.SIGTERM)
                    except ProcessLookupError:
                        pass
                stop(proc, timeout=10)
        if self.server is not None:
            stop(self.server, timeout=20)

    def drop(self) -> None:
        pgtest.drop_database(self.app_db)
        pgtest.drop_database(self.prefect_db)


def _environ(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/environ").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def run_cli_prefect(args: list[str], env: dict[str, str], timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "prefect", *args], cwd=REPO_ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)


# ---------------------------------------------------------------------- load and outcome


def submit_paced(web: str, token: str, refs: list[str], seconds: float, *, threads: int = 16,
                 body: Any = None) -> dict[str, float]:
    """POST one complaint per ref to the HTTP API, the i-th at start + i·seconds/len(refs) (or as
    soon after as a thread is free); returns ref → wall-clock time (epoch s) its request began.
    A request that fails is retried (the complaint's external_ref makes a retry idempotent)."""
    import threading
    from concurrent.futures import ThreadPoolExecutor
    from datetime import UTC, datetime

    from tests.factories import complaint_data

    start = time.monotonic() + 0.2
    began: dict[str, float] = {}
    lock = threading.Lock()
    local = threading.local()
    received = datetime.now(UTC).isoformat()

    def one(i: int) -> None:
        ref = refs[i]
        delay = start + i * seconds / max(len(refs), 1) - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        client = getattr(local, "client", None)
        if client is None:
            client = local.client = httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=60)
        data = body(ref) if body else complaint_data(external_ref=ref, received_at=received)
        t = time.time()
        for attempt in range(20):
            try:
                r = client.post(f"{web}/api/complaints", json=data)
                if r.status_code in (200, 201):
                    break
            except httpx.HTTPError:
                pass
            time.sleep(min(0.5 * (attempt + 1), 3))
        else:
            raise AssertionError(f"{ref}: the API refused or failed 20 times")
        with lock:
            began[ref] = t

    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(one, range(len(refs))))
    return began


def outcome(app_url: str, prefix: str) -> dict[str, Any]:
    """Complaints whose external_ref starts with `prefix`: routed time per ref, routed events per ref."""
    from sqlalchemy import create_engine, func, select

    from models.audit import AuditEvent
    from models.complaint import Complaint
    from models.sqlutil import table_of

    c, a = table_of(Complaint), table_of(AuditEvent)
    engine = create_engine(app_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(c.c.external_ref, c.c.status, c.c.routed_at, c.c.id)
                                .where(c.c.external_ref.like(f"{prefix}%"))).all()
            ids = [r.id for r in rows]
            events: dict[int, int] = dict(conn.execute(select(a.c.complaint_id, func.count()).where(
                a.c.action == "routed", a.c.complaint_id.in_(ids)).group_by(a.c.complaint_id)).all()) if ids else {}
    finally:
        engine.dispose()
    return {"routed_at": {r.external_ref: r.routed_at.timestamp() for r in rows if r.routed_at is not None},
            "status": {r.external_ref: r.status for r in rows},
            "routed_events": {r.external_ref: int(events.get(r.id, 0)) for r in rows}}
