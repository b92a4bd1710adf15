"""prefect.yaml: the deployments `prefect deploy --all` registers and `complaints up` serves."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from prefect.events import DeploymentEventTrigger, ResourceSpecification

from flows.deployments import check_holds, load_specs, runner_deployments, schedule_of, triggers_of


def _by_name() -> dict[str, dict[str, Any]]:
    return {s["name"]: s for s in load_specs()}


def test_every_deployment_loads_as_a_runner_deployment() -> None:
    """Each entrypoint imports and becomes a deployment with its schedules and triggers."""
    deployments = {d.name: d for d in runner_deployments()}
    assert set(deployments) == {"intake", "dispatch", "escalation", "weekly-report", "audit-anchor",
                                "remediation-sweep", "early-warning"}
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
    assert [t.expect for t in intake if isinstance(t, DeploymentEventTrigger)][0] == {"complaint.submitted"}
    for spec in specs.values():
        for trig in triggers_of(spec["name"], spec.get("triggers") or []):
            assert isinstance(trig, DeploymentEventTrigger)
            assert isinstance(trig.match, ResourceSpecification)
            assert trig.match.root["prefect.resource.id"] in ("complaint.*", "complaint.intake-run.*")


def test_event_driven_deployments_collapse_bursts() -> None:
    """Dispatch runs one at a time and intake lets three overlap; neither cancels a run that
    collides (ENQUEUE); both keep an interval safety net. Dispatch's trigger, like intake's, fires
    once per window and its run holds past the window."""
    specs = _by_name()
    assert specs["dispatch"]["concurrency_limit"] == {"limit": 1, "collision_strategy": "ENQUEUE"}
    [trig] = specs["dispatch"]["triggers"]
    assert trig["within"] == 10 and trig["parameters"]["hold_seconds"] > trig["within"]
    assert trig["parameters"]["event_occurred"] == "{{ event.occurred.isoformat() }}"
    assert specs["intake"]["concurrency_limit"] == {"limit": 3, "collision_strategy": "ENQUEUE"}
    for name in ("intake", "dispatch"):
        assert any("interval" in s for s in specs[name]["schedules"])


def test_intake_trigger_coalesces_and_its_run_holds_past_the_window() -> None:
    """The intake trigger fires once per `within` window and passes the event's time and a hold
    longer than the window to the run; a hold not longer than the window is refused."""
    trig, takeover = triggers_of("intake", _by_name()["intake"]["triggers"])
    assert isinstance(trig, DeploymentEventTrigger) and isinstance(takeover, DeploymentEventTrigger)
    assert takeover.posture == "Proactive" and takeover.after == {"complaint.intake.holding"}
    assert takeover.expect == {"complaint.intake.holding", "complaint.intake.released"}
    assert takeover.for_each == {"prefect.resource.id"} and takeover.within == timedelta(seconds=10)
    assert trig.within == timedelta(seconds=60) and trig.threshold == 1
    assert trig.parameters == {"event_occurred": "{{ event.occurred.isoformat() }}", "hold_seconds": 80}
    check_holds(load_specs())
    bad = [{"name": "intake", "triggers": [{"within": 60, "parameters": {"hold_seconds": 60}}]}]
    with pytest.raises(ValueError, match="hold_seconds"):
        check_holds(bad)


def test_intake_schedule_runs_are_resident_and_keep_their_margin_under_another_interval() -> None:
    """The safety net's runs hold 125 s every 120 s (one always up); --interval keeps the 5 s margin
    (none below a minute: no resident runs); a hold not longer than the interval is refused."""
    (sched,) = _by_name()["intake"]["schedules"]
    assert sched == {"interval": 120, "parameters": {"hold_for": 125}}
    assert schedule_of(sched).parameters == {"hold_for": 125}
    deployment = next(d for d in runner_deployments(intervals={"intake": 90}) if d.name == "intake")
    (s,) = deployment.schedules or []
    assert s.parameters == {"hold_for": 95.0}
    fast = next(d for d in runner_deployments(intervals={"intake": 4}) if d.name == "intake")
    assert [f.parameters for f in fast.schedules or []] == [{}]  # a test's 4 s safety net: no resident runs
    with pytest.raises(ValueError, match="hold_for"):
        check_holds([{"name": "intake", "schedules": [{"interval": 120, "parameters": {"hold_for": 100}}]}])
