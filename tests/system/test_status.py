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
