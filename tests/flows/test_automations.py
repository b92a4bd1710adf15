"""automations.yaml on a real Prefect server: `sync_automations` creates the crash detector once,
finds it unchanged the second time, puts back a changed copy, and leaves other automations alone."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from prefect.client.orchestration import get_client
from prefect.events.actions import ChangeFlowRunState
from prefect.events.schemas.automations import AutomationCore, EventTrigger, Posture

from flows.automations import (
    AUTOMATIONS_YAML,
    check_crash_window,
    flow_run_env,
    heartbeat_seconds,
    load_automations,
    sync_automations,
)


def test_the_shipped_files_agree() -> None:
    wanted = load_automations()
    assert [a.name for a in wanted] == ["complaints-crash-silent-flow-runs"]
    assert flow_run_env()["PREFECT_FLOWS_HEARTBEAT_FREQUENCY"] == "30"
    check_crash_window(wanted, heartbeat_seconds())
    trigger = wanted[0].trigger
    assert isinstance(trigger, EventTrigger) and trigger.posture == Posture.Proactive
    assert trigger.within == timedelta(seconds=90)
    action = wanted[0].actions[0]
    assert isinstance(action, ChangeFlowRunState) and action.state.value == "CRASHED" and not action.force


def test_a_window_shorter_than_three_beats_is_refused() -> None:
    wanted = load_automations()
    with pytest.raises(ValueError, match="three heartbeats"):
        check_crash_window(wanted, 31.0)
    with pytest.raises(ValueError, match="sets no PREFECT_FLOWS_HEARTBEAT_FREQUENCY"):
        check_crash_window(wanted, None)


def test_a_bad_file_names_the_automation(tmp_path: Path) -> None:
    bad = tmp_path / "automations.yaml"
    bad.write_text("automations:\n  - name: broken\n    trigger: {type: event, posture: Sideways}\n    actions: []\n",
                   encoding="utf-8")
    with pytest.raises(ValueError, match="automation broken"):
        load_automations(bad)
    bad.write_text("nothing: here\n", encoding="utf-8")
    with pytest.raises(ValueError, match="automations:"):
        load_automations(bad)


@pytest.mark.prefect
def test_sync_creates_once_and_repairs_a_changed_copy(prefect_server: None) -> None:
    wanted = load_automations(AUTOMATIONS_YAML)
    other = AutomationCore(name="someone-elses", trigger=EventTrigger(expect={"x.y"}, match={"prefect.resource.id": "x.*"}),
                           actions=[ChangeFlowRunState(state="CANCELLED")])
    with get_client(sync_client=True) as client:
        other_id = client.create_automation(other)
        first = sync_automations(client, wanted)
        assert [s.outcome for s in first] == ["created"]
        again = sync_automations(client, wanted)
        assert [(s.outcome, s.id) for s in again] == [("unchanged", first[0].id)]
        # someone disables it and widens the window: the next sync puts the file's copy back
        changed = wanted[0].model_copy(update={"enabled": False})
        client.update_automation(client.read_automations_by_name(wanted[0].name)[0].id, changed)
        repaired = sync_automations(client, wanted)
        assert [(s.outcome, s.id) for s in repaired] == [("updated", first[0].id)]
        stored = client.read_automations_by_name(wanted[0].name)
        assert len(stored) == 1 and stored[0].enabled
        assert client.read_automation(other_id) is not None  # not ours: left alone


def test_check_takes_other_files_and_names_a_missing_one(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`complaints automations --check --file F --prefect-file P`: a site's own copies, checked
    against that prefect.yaml's heartbeat; a missing file is exit 2 naming it."""
    import yaml

    from flows.deployments import PREFECT_YAML
    from tests.clirun import run_json

    data = yaml.safe_load(PREFECT_YAML.read_text(encoding="utf-8"))
    for spec in data["deployments"]:
        spec["work_pool"]["job_variables"]["env"]["PREFECT_FLOWS_HEARTBEAT_FREQUENCY"] = "40"
    prefect_file = tmp_path / "prefect.yaml"
    prefect_file.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    autos = yaml.safe_load(AUTOMATIONS_YAML.read_text(encoding="utf-8"))
    autos["automations"][0]["trigger"]["within"] = 120
    auto_file = tmp_path / "automations.yaml"
    auto_file.write_text(yaml.safe_dump(autos, allow_unicode=True), encoding="utf-8")
    code, out, _ = run_json(capsys, "automations", "--check", "--file", str(auto_file),
                            "--prefect-file", str(prefect_file))
    assert (code, out) == (0, {"automations": ["complaints-crash-silent-flow-runs"], "ok": True})
    # the shipped 90 s window against a 40 s beat: fewer than three beats
    code, _, err = run_json(capsys, "automations", "--check", "--prefect-file", str(prefect_file))
    assert code == 2 and "three heartbeats" in err
    code, _, err = run_json(capsys, "automations", "--check", "--prefect-file", str(tmp_path / "nope.yaml"))
    assert code == 2 and "nope.yaml: cannot be read" in err
