"""prefect.yaml: the deployments `prefect deploy --all` registers and `complaints up` serves."""

from __future__ import annotations

from typing import Any

from prefect.events import DeploymentEventTrigger, ResourceSpecification

from flows.deployments import load_specs, runner_deployments, schedule_of, triggers_of


def _by_name() -> dict[str, dict[str, Any]]:
    return {s["name"]: s for s in load_specs()}


def test_every_deployment_loads_as_a_runner_deployment() -> None:
    """Each entrypoint imports and becomes a deployment with its schedules and triggers."""
    deployments = {d.name: d for d in runner_deployments()}
    assert set(deployments) == {"intake", "dispatch", "escalation", "weekly-report", "audit-anchor"}
    assert deployments["intake"].triggers and deployments["dispatch"].triggers
    assert all(d.schedules for d in deployments.values())


def test_weekly_report_runs_monday_0830_shanghai() -> None:
    """The weekly report's cron is Monday 08:30 in Asia/Shanghai, not UTC."""
    (spec,) = _by_name()["weekly-report"]["schedules"]
    schedule = schedule_of(spec)
    assert (schedule.cron, schedule.timezone) == ("30 8 * * 1", "Asia/Shanghai")


def test_triggers_match_complaint_resources_only() -> None:
    """Every trigger names the events it expects and matches complaint resources (never every event)."""
    specs = _by_name()
    intake = triggers_of("intake", specs["intake"]["triggers"])
    assert all(isinstance(t, DeploymentEventTrigger) for t in intake)
    assert [t.expect for t in intake if isinstance(t, DeploymentEventTrigger)] == [{"complaint.submitted"}]
    for spec in specs.values():
        for trig in triggers_of(spec["name"], spec.get("triggers") or []):
            assert isinstance(trig, DeploymentEventTrigger)
            assert isinstance(trig.match, ResourceSpecification)
            assert trig.match.root == {"prefect.resource.id": "complaint.*"}


def test_event_driven_deployments_collapse_bursts() -> None:
    """Intake and dispatch run one at a time and drop runs that collide, with an interval safety net."""
    specs = _by_name()
    for name in ("intake", "dispatch"):
        assert specs[name]["concurrency_limit"] == {"limit": 1, "collision_strategy": "CANCEL_NEW"}
        assert any("interval" in s for s in specs[name]["schedules"])
