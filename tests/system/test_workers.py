"""The deployment of docs/deploy.md, distributed: a Prefect server on PostgreSQL with Redis
messaging, `prefect deploy --all` onto a process work pool, two `prefect worker` processes, the
application on PostgreSQL and its HTTP API. Bursts go through the API while a worker is SIGKILLed
(with its flow runs) or the Prefect server restarts: every complaint is routed once, every
message sent (once; a message a killed dispatch run had sent but not recorded goes again with
its 消息编号), the audit chain verifies, and the surviving worker finishes the work.

Safety nets are slowed (intake every 10 min), so what routes is the triggers and the holding runs.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from complaints.config import REPO_ROOT
from complaints.sinks import Sinks
from tests.system.cluster import Cluster, outcome, submit_paced
from tests.system.conftest import run_cli, wait_for

N = 300  # complaints per burst: a few seconds of routing, so a kill lands mid-run
TAIL = 30  # complaints sent once a worker is killed: work only the survivor can do
BATCH = 200  # config/channels.yaml batch_size: the most a killed dispatch run can have in flight


@pytest.fixture(scope="module")
def sinks() -> Iterator[Sinks]:
    with Sinks() as s:
        yield s


def _cluster(tmp_path: Path, name: str, sinks: Sinks) -> Cluster:
    """Messages to the loopback sinks, no robot rate limit, a 10 s lease (a killed dispatch's rows
    come back soon), digests as shipped. The crash detector is as shipped too (90 s of silence,
    beats every 30 s): Prefect refuses a heartbeat under 30 s, so it cannot be scaled down here."""
    import yaml

    channels = yaml.safe_load((REPO_ROOT / "config" / "channels.yaml").read_text(encoding="utf-8"))
    channels["lease_seconds"] = 10
    for spec in channels["channels"].values():
        if isinstance(spec, dict) and "rate_per_minute" in spec:
            spec["rate_per_minute"] = 100_000
    path = tmp_path / "channels.yaml"
    path.write_text(yaml.safe_dump(channels, allow_unicode=True), encoding="utf-8")
    c = Cluster(tmp_path, name, workers=2, intake_interval=600)
    c.env.update({**sinks.environment(), "COMPLAINTS_CHANNELS": str(path)})
    return c


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, sinks: Sinks) -> Iterator[Cluster]:
    """One cluster for the module (its start is ~30 s): the tests use their own complaint refs."""
    c = _cluster(tmp_path_factory.mktemp("cluster"), "workers", sinks)
    try:
        yield c.start()
    finally:
        c.stop()
        c.drop()


def _burst_in_background(c: Cluster, token: str, prefix: str, n: int, seconds: float) -> tuple[threading.Thread, dict[str, float]]:
    began: dict[str, float] = {}

    def go() -> None:
        began.update(submit_paced(c.web, token, [f"{prefix}{i:05d}" for i in range(n)], seconds, threads=8))

    t = threading.Thread(target=go, daemon=True)
    t.start()
    return t, began


def _all_routed(c: Cluster, prefix: str, n: int) -> bool:
    return len(outcome(c.app_url, prefix)["routed_at"]) >= n


def _check_once_each(c: Cluster, prefix: str, n: int, sinks: Sinks, *, since: int = 0) -> None:
    """Every complaint routed once, the chain verifies, every queued message sent, and what the
    loopback servers received since delivery `since` holds each message once — except, when a
    dispatch run was among the killed, the messages it had sent but not yet recorded: those are
    sent again, the same text with the same 消息编号 (at least once; docs/notifications.md), at
    most one claimed batch of them."""
    out = outcome(c.app_url, prefix)
    assert len(out["status"]) == n and set(out["status"].values()) == {"routed"}
    assert set(out["routed_events"].values()) == {1}, Counter(out["routed_events"].values())
    verify = run_cli(["audit", "verify"], c.env)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    # every queued message delivered, none twice (what the loopback SMTP server and robots got)
    from sqlalchemy import create_engine, func, select

    from models.outbox import OutboxMessage
    from models.sqlutil import table_of

    outbox = table_of(OutboxMessage)
    engine = create_engine(c.app_url)
    try:
        def statuses() -> dict[str, int]:
            with engine.connect() as conn:
                return {str(k): int(v) for k, v in
                        conn.execute(select(outbox.c.status, func.count()).group_by(outbox.c.status)).all()}

        # A worker killed while it ran dispatch leaves that run "Running", holding dispatch's one
        # slot, until the crash detector (automations.yaml: 90 s without a heartbeat, beats every
        # 30 s) marks it Crashed; then the next trigger or the minute schedule sends the rest.
        try:
            wait_for(lambda: set(statuses()) == {"sent"}, 240, "dispatch to send every message")
        except AssertionError as exc:
            runs = Counter((r["state_type"], (r.get("state") or {}).get("message")) for r in c.flow_runs("dispatch"))
            raise AssertionError(f"{exc}; outbox {statuses()}; dispatch runs {dict(runs)}") from None
    finally:
        engine.dispose()
    delivered = Counter((d.channel, d.to, d.subject, d.text) for d in sinks.snapshot()[since:])
    assert delivered
    repeats = {k: v for k, v in delivered.items() if v > 1}
    killed_dispatch = set(c.killed_runs) & {r["id"] for r in c.flow_runs("dispatch")}
    if not killed_dispatch:
        assert not repeats, repeats
    else:
        assert max(delivered.values()) <= 2 and sum(v - 1 for v in repeats.values()) <= BATCH, repeats
        assert all("消息编号：" in text for _, _, _, text in repeats), repeats


def _no_run_cancelled(c: Cluster) -> None:
    runs = c.flow_runs("intake")
    cancelled = [(r["name"], r["created"], (r.get("state") or {}).get("message")) for r in runs
                 if r["state_type"] == "CANCELLED"]
    assert not cancelled, (cancelled, Counter(r["state_type"] for r in runs))


def test_a_worker_killed_mid_run_loses_and_doubles_nothing(cluster: Cluster, sinks: Sinks) -> None:
    """SIGKILL the worker running intake (and its flow run) mid-burst: the other worker takes over."""
    token = cluster.token()
    since = len(sinks.snapshot())
    t, _ = _burst_in_background(cluster, token, "KW-", N, 30)  # 10/s for 30 s: a run starts mid-burst
    wait_for(lambda: cluster.worker_running("intake") is not None
             and len(outcome(cluster.app_url, "KW-")["routed_at"]) >= 30, 90, "an intake run routing the burst")
    killed = cluster.kill_worker_running("intake")
    assert killed is not None
    t.join(timeout=120)
    # complaints keep arriving after the run died: on a loaded machine catching a run on a worker
    # can take longer than the burst (CI once killed it after all 300 were in and routed), so a
    # tail of TAIL more is sent once the kill has landed, and the survivor must route those too
    submit_paced(cluster.web, token, [f"KW-{i:05d}" for i in range(N, N + TAIL)], 3, threads=8)
    started = time.monotonic()
    wait_for(lambda: _all_routed(cluster, "KW-", N + TAIL), 120, f"all {N + TAIL} routed after the kill")
    assert time.monotonic() - started < 60
    survivor = next(w for w in cluster.workers if w is not killed)
    assert survivor.poll() is None
    _check_once_each(cluster, "KW-", N + TAIL, sinks, since=since)
    _no_run_cancelled(cluster)
    # the killed worker's run never finished; another run (the takeover) routed the rest (the
    # crash detector marking the dead runs Crashed is the dispatching test's, below)
    runs = cluster.flow_runs("intake")
    assert any(r["parameters"].get("hold_until") for r in runs), [r["parameters"] for r in runs]
    assert killed.poll() is not None
    assert cluster.killed_runs, "no flow run was found in the killed worker's processes"


def test_a_worker_killed_while_dispatching_holds_messages_back_only_until_its_run_is_crashed(
        cluster: Cluster, sinks: Sinks) -> None:
    """SIGKILL the worker while it runs dispatch (limit 1): its run would hold dispatch's only slot
    for Prefect's 300 s lease; the crash detector (automations.yaml) marks it Crashed within ~90 s
    of its last sign of life, and the next dispatch run sends what was left (what the killed run
    had sent but not recorded goes again, with its 消息编号)."""
    if sum(w.poll() is None for w in cluster.workers) < 2:
        cluster.workers.append(cluster.start_worker(len(cluster.workers) + 1))
    token = cluster.token("bench3")
    since = len(sinks.snapshot())
    t, _ = _burst_in_background(cluster, token, "KD-", N, 20)
    # a run the scheduler inserted under 5 minutes before its start is invisible to automations
    # for 15 minutes (a Prefect limitation, docs/deploy.md): the kill waits for a run they see
    killed = cluster.kill_worker_running("dispatch", timeout=120, seen_by_automations=True)
    assert killed is not None, "no dispatch run was caught running on a worker"
    killed_at = time.monotonic()
    cluster.workers.append(cluster.start_worker(len(cluster.workers) + 1))  # the fleet replaces it
    dispatch_runs = set(cluster.killed_runs) & {r["id"] for r in cluster.flow_runs("dispatch")}
    assert dispatch_runs, cluster.killed_runs
    t.join(timeout=120)
    wait_for(lambda: _all_routed(cluster, "KD-", N), 150, f"all {N} routed")
    try:
        wait_for(lambda: {cluster.flow_run_state(r) for r in cluster.killed_runs} == {"CRASHED"}, 180,
                 "the killed dispatch run marked Crashed")
    except AssertionError as exc:
        seen = {r: (cluster.flow_run_state(r), cluster.flow_run_events(r), cluster.server_log_lines(r))
                for r in cluster.killed_runs}
        raise AssertionError(f"{exc}: {seen}") from None
    crashed_after = time.monotonic() - killed_at
    assert crashed_after < 150, crashed_after  # not the 300 s lease
    _check_once_each(cluster, "KD-", N, sinks, since=since)


def test_the_prefect_server_restarting_mid_burst_loses_nothing(cluster: Cluster, sinks: Sinks) -> None:
    """The Prefect server stops and starts again mid-burst (same PostgreSQL and Redis): every
    complaint is routed once, by the holding run, the takeover or the next trigger."""
    if sum(w.poll() is None for w in cluster.workers) < 2:  # the fleet replaces the killed worker
        cluster.workers.append(cluster.start_worker(len(cluster.workers) + 1))
    token = cluster.token("bench2")
    cluster.killed_runs = []  # nothing is killed here
    since = len(sinks.snapshot())
    t, _ = _burst_in_background(cluster, token, "RS-", N, 10)
    wait_for(lambda: len(outcome(cluster.app_url, "RS-")["routed_at"]) >= 20, 90, "intake routing the burst")
    cluster.restart_server(down_seconds=3)
    t.join(timeout=120)
    # events sent while the server was down are lost: one more submission after the restart
    # fires the trigger again if no run is holding
    submit_paced(cluster.web, token, ["RS-99999"], 0)
    wait_for(lambda: _all_routed(cluster, "RS-", N + 1), 150, f"all {N + 1} routed after the restart")
    _check_once_each(cluster, "RS-", N + 1, sinks, since=since)
    _no_run_cancelled(cluster)
