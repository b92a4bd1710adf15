"""`complaints status` (and `up`'s status line): each deployment's last run, and a probe event
sent the application's way and read back through the events API of a real Prefect server."""

from __future__ import annotations

import json
from pathlib import Path

from complaints.cli_status import LastRun, last_runs, status_line
from tests.system.conftest import base_env, fresh_pg, run_cli


def test_status_reads_last_runs_and_the_probe_comes_back(prefect_api: str, tmp_path: Path) -> None:
    """On a live server: a flow's deployment with a failed run reads as 失败, and the probe arrives."""
    from prefect import flow
    from prefect.deployments import run_deployment

    @flow(name="status-probe-flow")
    def boom() -> None:
        raise RuntimeError("boom")

    from prefect.deployments.runner import RunnerDeployment

    deployment = boom.to_deployment(name="status-probe")
    assert isinstance(deployment, RunnerDeployment)  # a sync flow: a deployment, not a coroutine
    deployment_id = deployment.apply()
    run = run_deployment("status-probe-flow/status-probe", timeout=0)
    from prefect import get_client
    from prefect.states import Failed

    with get_client(sync_client=True) as client:
        client.set_flow_run_state(run.id, Failed(message="boom"), force=True)  # type: ignore[union-attr]
    runs = {r.deployment: r for r in last_runs(prefect_api)}
    assert runs["status-probe"].state_type == "FAILED" and runs["status-probe"].bad
    assert "status-probe 失败" in status_line(list(runs.values()))
    assert deployment_id

    _, url = fresh_pg("complaints_status")
    env = base_env(prefect_api, url, tmp_path)
    out = run_cli(["status", "--json", "--probe-seconds", "30"], env)
    data = json.loads(out.stdout)
    assert data["events_reach_server"] is True, out.stderr
    assert out.returncode == 1  # a last run failed
    assert {"name": "status-probe", "state_type": "FAILED"}.items() <= next(
        d for d in data["deployments"] if d["name"] == "status-probe").items()


def test_status_without_a_server_warns_in_chinese(tmp_path: Path) -> None:
    """No server at PREFECT_API_URL: exit 1 and a Chinese warning naming the URL; no traceback."""
    _, url = fresh_pg("complaints_status_dead")
    env = base_env("http://127.0.0.1:9/api", url, tmp_path)
    out = run_cli(["status", "--probe-seconds", "2"], env)
    assert out.returncode == 1 and "无法读取部署状态" in out.stderr and "127.0.0.1:9" in out.stderr
    assert "Traceback" not in out.stderr


def test_late_and_missing_runs_in_words() -> None:
    """A Late run reads 延迟, a deployment never run 尚无运行."""
    from datetime import UTC, datetime

    late = LastRun("intake", "SCHEDULED", "Late", datetime(2026, 12, 1, 4, 0, tzinfo=UTC))
    assert late.late and late.words() == "intake 延迟（12:00:00）"
    assert LastRun("dispatch", None, None, None).words() == "dispatch 尚无运行"


def test_complaints_whose_process_sent_no_event_are_named(prefect_api: str, tmp_path: Path) -> None:
    """The probe only shows that `status` itself reaches the server. Complaints registered by a
    process that cannot (here the CLI with a dead PREFECT_API_URL: the complaints are stored, their
    events lost) are found from the other end and named with who registered them; one registered
    with the live server, and one announced in a batch event (emit_submitted above its limit), are not."""
    import time
    from datetime import UTC, datetime, timedelta

    from prefect.settings import PREFECT_API_URL, temporary_settings
    from sqlalchemy import select

    from complaints.cli_status import unannounced, unannounced_warning
    from flows.events import emit_submitted
    from models.complaint import Complaint
    from models.sqlutil import table_of
    from tests.system.test_system import submit_file

    engine, url = fresh_pg("complaints_status_events")
    live = base_env(prefect_api, url, tmp_path)
    dead = {**live, "PREFECT_API_URL": "http://127.0.0.1:9/api"}
    assert run_cli(["submit", submit_file(tmp_path, 2, "LOST")], dead).returncode == 0
    assert run_cli(["submit", submit_file(tmp_path, 1, "SENT")], live).returncode == 0
    assert run_cli(["submit", submit_file(tmp_path, 2, "BATCH")], dead).returncode == 0
    c = table_of(Complaint)
    with engine.connect() as conn:
        refs = {r.external_ref: r.case_no for r in conn.execute(select(c.c.external_ref, c.c.case_no))}
    with temporary_settings(updates={PREFECT_API_URL: prefect_api}):
        assert emit_submitted([refs["BATCH-00000"], refs["BATCH-00001"]], limit=1) == 1
    later = datetime.now(UTC) + timedelta(seconds=45)  # past the 30 s grace for events in flight
    deadline = time.monotonic() + 30
    found = unannounced(prefect_api, url, now=later)
    while len(found.missing) > 2 and time.monotonic() < deadline:  # the live events being stored
        time.sleep(0.5)
        found = unannounced(prefect_api, url, now=later)
    assert found.checked == 5
    assert sorted(found.missing) == sorted((refs[f"LOST-{i:05d}"], found.missing[0][1]) for i in range(2))
    assert found.missing[0][1]  # who registered them (the CLI's client name)
    warning = unannounced_warning(found)
    assert warning is not None and "5 件投诉中有 2 件" in warning and refs["LOST-00000"] in warning
    assert unannounced(prefect_api, url, now=later + timedelta(hours=1)).checked == 0  # nothing recent
    engine.dispose()
