"""What a case action returns (models/case_actions.py), and what acknowledging an escalation
returns: frozen dataclasses, one per shape.

Every result names its case (`ActionResult.case_no`); a change of status adds the status before
and after (`TransitionResult`), a change of the clock the deadlines in force after it. The
adapters (the JSON API, the CLI) and the announcer take `as_dict()`: the fields in their declared
order, datetimes left as datetimes for the adapter to format. The fields are declared in the order
the JSON has always had (tests/api/test_action_results.py), which is why the pause and resume
results repeat the deadline fields after their own instead of extending `DeadlineResult`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class ActionResult:
    """What every action returns: the case it was done to."""

    case_no: str

    def as_dict(self) -> dict[str, Any]:
        """The fields by name, in their declared order (plain values: str, int, bool, datetime, None)."""
        return asdict(self)


@dataclass(frozen=True)
class TransitionResult(ActionResult):
    """A change of status (reopen returns only this)."""

    status: str
    previous_status: str


@dataclass(frozen=True)
class AcknowledgeResult(TransitionResult):
    acknowledged_at: datetime


@dataclass(frozen=True)
class RespondResult(TransitionResult):
    """The response, and its outcome and call-back round (models/governance.py record_outcome)."""

    responded_at: datetime  # when the complainant was told
    outcome: str
    redress_type: str | None
    redress_amount: str | None  # CNY, two decimals
    timely: bool  # fixed by the first response
    callback_due_at: datetime


@dataclass(frozen=True)
class CloseResult(TransitionResult):
    """A closed case and its root cause (models/governance.py record_root_cause)."""

    closed_at: datetime
    root_cause: str  # config/root_causes.yaml code
    root_cause_name: str
    root_cause_jrt: str  # JR/T 0169 cause code


@dataclass(frozen=True)
class WithdrawResult(TransitionResult):
    closed_at: datetime  # the day the withdrawal was received


@dataclass(frozen=True)
class ReviewResult(TransitionResult):
    """A review (核查) opened, its due date and who owns it (config/escalation.yaml review)."""

    review_due_at: datetime
    owner_name: str
    owner_org: str


@dataclass(frozen=True)
class AssignResult(ActionResult):
    """A (re)assignment: the status it leaves the case in (a reopened case goes back to routed)."""

    status: str
    handler: str
    previous_handler: str | None


@dataclass(frozen=True)
class DeadlineResult(ActionResult):
    """The deadlines in force after a change of the clock (new facts return only this)."""

    tier: str
    clock_started_at: datetime
    paused_days: int
    regulatory_due_at: datetime


@dataclass(frozen=True)
class ExtendResult(DeadlineResult):
    previous_due_at: datetime


@dataclass(frozen=True)
class PauseResult(ActionResult):
    """A pause, then the deadlines as `DeadlineResult` has them."""

    paused_at: datetime
    reason: str
    tier: str
    clock_started_at: datetime
    paused_days: int
    regulatory_due_at: datetime


@dataclass(frozen=True)
class ResumeResult(ActionResult):
    """A resume, then the deadlines as `DeadlineResult` has them."""

    resumed_at: datetime
    tier: str
    clock_started_at: datetime
    paused_days: int
    regulatory_due_at: datetime


@dataclass(frozen=True)
class AcknowledgeEscalationResult(ActionResult):
    """A supervisor's acknowledgement of a fired level; `already` when it had been acknowledged
    before (by `acknowledged_by`, at `acknowledged_at`) and nothing was written."""

    level: int
    acknowledged_at: datetime
    acknowledged_by: str
    already: bool


__all__ = ["AcknowledgeEscalationResult", "AcknowledgeResult", "ActionResult", "AssignResult", "CloseResult",
           "DeadlineResult", "ExtendResult", "PauseResult", "RespondResult", "ResumeResult", "ReviewResult",
           "TransitionResult", "WithdrawResult"]
