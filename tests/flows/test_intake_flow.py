"""The intake flow on a real Prefect server: one flow run routes the batch and emits events."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from prefect import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
from prefect.events.filters import EventFilter, EventNameFilter, EventOccurredFilter
from sqlalchemy import Engine

from complaints.config import Config
from domain.calendar import WorkingCalendar
from flows.intake import intake
from models.submission import submit
from tests.factories import complaint


@pytest.fixture
def app_env(db_engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Engine:
    monkeypatch.setenv("COMPLAINTS_DATABASE_URL", db_engine.url.render_as_string(hide_password=False))
    return db_engine


def _routed_events(since: datetime, expected: int) -> set[str]:
    """Poll the server until `expected` complaint.routed events since `since` are stored (or 30 s)."""
    flt = EventFilter(event=EventNameFilter(name=["complaint.routed"]),
                      occurred=EventOccurredFilter(since=since, until=datetime.now(UTC) + timedelta(minutes=5)))
    found: set[str] = set()
    deadline = time.monotonic() + 30
    with get_client(sync_client=True) as client:
        while time.monotonic() < deadline:
            page = client.read_events(filter=flt, limit=50)
            found = {e.resource.id for e in page.events}
            while page.next_page is not None:
                page = client.read_events_page(str(page.next_page))
                found |= {e.resource.id for e in page.events}
            if len(found) >= expected:
                break
            time.sleep(0.5)
    return found


def test_intake_flow_routes_batch_and_emits_one_event_per_case(
    prefect_server: None, app_env: Engine, config: Config
) -> None:
    """One flow run routes 25 complaints and the server stores a complaint.routed event for each."""
    since = datetime.now(UTC) - timedelta(seconds=1)
    results = submit(app_env, [complaint() for _ in range(25)], config=config, calendar=WorkingCalendar(),
                     now=datetime.now(UTC))
    state = intake(batch_size=10, return_state=True)
    assert state.result() == {"routed": 25, "triage": 0, "batches": 3, "events": 25}
    ids = _routed_events(since, 25)
    assert {f"complaint.{r.case_no}" for r in results} <= ids
    # Each batch is a task run of this flow run, also when batches run in worker threads
    # (PostgreSQL): the threads carry the flow run's context.
    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[state.state_details.flow_run_id])))
    batches = [r for r in runs if r.name.startswith("route-batch")]
    assert len(batches) >= 3 and all(r.state is not None and r.state.is_completed() for r in batches)


def test_large_batch_emits_one_summary_event(prefect_server: None, app_env: Engine, config: Config) -> None:
    """Above the configured event limit, the run emits one summary event instead of one per case."""
    submit(app_env, [complaint() for _ in range(12)], config=config, calendar=WorkingCalendar(), now=datetime.now(UTC))
    outcome = intake(event_batch_limit=10)
    assert outcome["routed"] == 12 and outcome["events"] == 1
