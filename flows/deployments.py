"""The deployments in prefect.yaml, as RunnerDeployments for `complaints up` (one definition).

`prefect deploy --all` reads prefect.yaml for a work pool; `complaints up` reads the same file
here and serves the same flows with the same schedules, triggers and concurrency limits.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml
from prefect.client.schemas.objects import ConcurrencyLimitConfig
from prefect.deployments.runner import RunnerDeployment
from prefect.events import DeploymentTriggerTypes, TriggerTypes
from prefect.flows import Flow, load_flow_from_entrypoint
from prefect.schedules import Cron, Interval, Schedule
from pydantic import TypeAdapter

REPO_ROOT = Path(__file__).resolve().parent.parent
PREFECT_YAML = REPO_ROOT / "prefect.yaml"
_TRIGGERS: TypeAdapter[DeploymentTriggerTypes] = TypeAdapter(DeploymentTriggerTypes)


def load_specs(path: Path = PREFECT_YAML) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        data = yaml.safe_load(f)
    return list(data.get("deployments", []))


def schedule_of(spec: dict[str, Any]) -> Schedule:
    params = spec.get("parameters") or {}
    if "cron" in spec:
        return Cron(spec["cron"], timezone=spec.get("timezone", "UTC"), parameters=params)
    if "interval" in spec:
        return Interval(timedelta(seconds=float(spec["interval"])), timezone=spec.get("timezone", "UTC"),
                        parameters=params)
    raise ValueError(f"prefect.yaml: schedule {spec!r} has neither cron nor interval")


def triggers_of(name: str, specs: list[dict[str, Any]]) -> list[DeploymentTriggerTypes | TriggerTypes]:
    out: list[DeploymentTriggerTypes | TriggerTypes] = []
    for i, spec in enumerate(specs, start=1):
        out.append(_TRIGGERS.validate_python({"name": f"{name}__automation_{i}", **spec}))
    return out


def check_holds(specs: list[dict[str, Any]]) -> None:
    """A trigger that starts a holding run (`hold_seconds`, flows/intake.py) must hold longer than
    its `within` window, or events ignored in the window's last seconds would wait for the schedule."""
    for spec in specs:
        for trig in spec.get("triggers") or []:
            hold = (trig.get("parameters") or {}).get("hold_seconds")
            if hold is None:
                continue
            within = float(trig.get("within") or 0)
            if not float(hold) > within:
                raise ValueError(f"prefect.yaml: deployment {spec['name']!r}: hold_seconds ({hold}) must exceed "
                                 f"the trigger's within ({within:g} s)")
        for sched in spec.get("schedules") or []:
            hold_for = (sched.get("parameters") or {}).get("hold_for")
            if hold_for is not None and "interval" in sched and not float(hold_for) > float(sched["interval"]):
                raise ValueError(f"prefect.yaml: deployment {spec['name']!r}: hold_for ({hold_for}) must exceed "
                                 f"the schedule's interval ({sched['interval']} s)")


RESIDENT_MIN_INTERVAL = 60.0  # a shorter interval (a test's fast safety net) gets no resident runs


def _reinterval(schedule: dict[str, Any], seconds: float) -> dict[str, Any]:
    """The schedule at another interval; a resident run's hold (`hold_for`) keeps its margin over
    it. Below RESIDENT_MIN_INTERVAL the runs do not hold: a run process every few seconds, each
    holding, would keep two cores busy starting processes."""
    out = {**schedule, "interval": seconds}
    params = dict(schedule.get("parameters") or {})
    if "hold_for" in params:
        margin = float(params.pop("hold_for")) - float(schedule["interval"])
        if seconds >= RESIDENT_MIN_INTERVAL:
            params["hold_for"] = seconds + margin
        out["parameters"] = params
    return out


def runner_deployments(
    path: Path = PREFECT_YAML, *, intervals: dict[str, float] | None = None
) -> list[RunnerDeployment]:
    """Every deployment of prefect.yaml, ready for `prefect.serve` (work pool dropped).

    `intervals` replaces the interval schedules of the named deployments (seconds), e.g. a
    tighter safety net for intake on a busy desk; everything else comes from prefect.yaml.
    """
    deployments: list[RunnerDeployment] = []
    check_holds(load_specs(path))
    unknown = set(intervals or {}) - {s["name"] for s in load_specs(path)}
    if unknown:
        raise ValueError(f"no deployment named {', '.join(sorted(unknown))} in {path.name}")
    for spec in load_specs(path):
        if intervals and spec["name"] in intervals:
            spec = {**spec, "schedules": [s if "interval" not in s else _reinterval(s, intervals[spec["name"]])
                                          for s in spec.get("schedules") or []]}
        flow: Flow[..., Any] = load_flow_from_entrypoint(str(REPO_ROOT / spec["entrypoint"]))
        limit = spec.get("concurrency_limit")
        deployment = flow.to_deployment(
            name=spec["name"],
            description=spec.get("description"),
            schedules=[schedule_of(s) for s in spec.get("schedules") or []],
            triggers=triggers_of(spec["name"], spec.get("triggers") or []),
            concurrency_limit=ConcurrencyLimitConfig(**limit) if isinstance(limit, dict) else limit,
            parameters=spec.get("parameters") or {},
        )
        assert isinstance(deployment, RunnerDeployment)  # sync flows give a deployment, not a coroutine
        deployments.append(deployment)
    return deployments
