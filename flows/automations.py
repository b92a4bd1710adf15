"""The server's automations besides the deployments' triggers (automations.yaml), kept by name.

`prefect deploy --all` creates each deployment's triggers; automations.yaml holds the rest (the
crash detector for runs whose worker died, docs/deploy.md). `sync_automations` creates what the
server lacks, updates what differs and leaves everything else on the server alone, so running
it again changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.events.schemas.automations import AutomationCore
from pydantic import ValidationError

from flows.deployments import PREFECT_YAML, REPO_ROOT, load_specs

AUTOMATIONS_YAML = REPO_ROOT / "automations.yaml"
HEARTBEAT_ENV = "PREFECT_FLOWS_HEARTBEAT_FREQUENCY"

Outcome = Literal["created", "updated", "unchanged"]


@dataclass(frozen=True)
class Synced:
    name: str
    outcome: Outcome
    id: str


def load_automations(path: Path = AUTOMATIONS_YAML) -> list[AutomationCore]:
    """The automations of the file, validated by Prefect's own schema; errors name the entry."""
    try:
        with path.open(encoding="utf-8") as f:
            data = yaml.safe_load(f) or {}
    except OSError as exc:
        raise ValueError(f"{path}: cannot be read ({exc.strerror})") from None
    entries = data.get("automations") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise ValueError(f"{path.name}: expected a top-level `automations:` list")
    out: list[AutomationCore] = []
    for i, entry in enumerate(entries, start=1):
        try:
            out.append(AutomationCore.model_validate(entry))
        except ValidationError as exc:
            name = entry.get("name", f"#{i}") if isinstance(entry, dict) else f"#{i}"
            raise ValueError(f"{path.name}: automation {name}: {exc}") from None
    names = [a.name for a in out]
    if len(set(names)) != len(names):
        raise ValueError(f"{path.name}: automation names must be unique: {names}")
    return out


def flow_run_env(path: Path = PREFECT_YAML) -> dict[str, str]:
    """The environment prefect.yaml gives every flow run (its work pool's `job_variables.env`),
    which `complaints up` applies to the runs it serves."""
    env: dict[str, str] = {}
    for spec in load_specs(path):
        pool = spec.get("work_pool") or {}
        for key, value in ((pool.get("job_variables") or {}).get("env") or {}).items():
            env[str(key)] = str(value)
    return env


def heartbeat_seconds(path: Path = PREFECT_YAML) -> float | None:
    value = flow_run_env(path).get(HEARTBEAT_ENV)
    return float(value) if value is not None else None


def check_crash_window(automations: list[AutomationCore], heartbeat: float | None) -> None:
    """A crash detector must wait at least three heartbeats, or a live run that misses one beat
    on a busy machine would be marked Crashed."""
    for a in automations:
        trigger: Any = a.trigger
        if getattr(trigger, "after", None) and "prefect.flow-run.heartbeat" in trigger.after:
            if heartbeat is None:
                raise ValueError(f"automation {a.name}: watches heartbeats, but prefect.yaml sets no "
                                 f"{HEARTBEAT_ENV} for the flow runs (Prefect's default beat is 180 s)")
            within = trigger.within.total_seconds()
            if within < 3 * heartbeat:
                raise ValueError(f"automation {a.name}: within ({within:g} s) must be at least three "
                                 f"heartbeats ({HEARTBEAT_ENV}={heartbeat:g} s)")


def _comparable(a: AutomationCore) -> dict[str, Any]:
    """The automation as Python values: `after` and `expect` stay sets (their JSON lists come in
    no fixed order), so a copy that differs only in order is unchanged."""
    return dict(AutomationCore.model_validate(a.model_dump(mode="json")).model_dump())


def sync_automations(client: SyncPrefectClient, wanted: list[AutomationCore]) -> list[Synced]:
    out: list[Synced] = []
    for a in wanted:
        found = client.read_automations_by_name(a.name)
        if not found:
            out.append(Synced(a.name, "created", str(client.create_automation(a))))
            continue
        current = found[0]
        if _comparable(AutomationCore.model_validate(current.model_dump(mode="json"))) == _comparable(a):
            out.append(Synced(a.name, "unchanged", str(current.id)))
        else:
            client.update_automation(current.id, a)
            out.append(Synced(a.name, "updated", str(current.id)))
    return out


def checked_automations(automations: Path = AUTOMATIONS_YAML,
                        prefect_yaml: Path = PREFECT_YAML) -> list[AutomationCore]:
    """automations.yaml, validated and checked against prefect.yaml's heartbeat; ValueError otherwise."""
    wanted = load_automations(automations)
    try:
        heartbeat = heartbeat_seconds(prefect_yaml)
    except OSError as exc:
        raise ValueError(f"{prefect_yaml}: cannot be read ({exc.strerror})") from None
    check_crash_window(wanted, heartbeat)
    return wanted


def sync_from_files(automations: Path = AUTOMATIONS_YAML, prefect_yaml: Path = PREFECT_YAML) -> list[Synced]:
    """Check and apply automations.yaml on the server PREFECT_API_URL names."""
    wanted = checked_automations(automations, prefect_yaml)
    with get_client(sync_client=True) as client:
        return sync_automations(client, wanted)
