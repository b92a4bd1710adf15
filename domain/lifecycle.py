"""The life of a complaint: its statuses and the moves allowed between them.

| from           | to                                                                   |
|----------------|----------------------------------------------------------------------|
| received       | routed, withdrawn, merged                                            |
| routed         | routed (reassign), acknowledged, in_progress, responded, withdrawn, merged |
| acknowledged   | in_progress, responded, withdrawn                                    |
| in_progress    | responded, withdrawn                                                 |
| responded      | closed, reopened, under_review                                       |
| closed         | under_review, reopened                                               |
| reopened       | routed, acknowledged, in_progress, responded, withdrawn              |
| under_review   | responded, closed                                                    |
| withdrawn      | — (terminal)                                                         |
| merged         | — (terminal)                                                         |

Withdrawal ends handling on the day it is received (NFRA Art. 15), so it is possible while
the bank still owes a decision; after the decision (responded) there is nothing left to
withdraw. A responded case moves on to closed, to review (核查, Art. 20) or is reopened.

OPEN_STATUSES are the statuses in which the bank still owes the complainant a decision and the
regulatory deadline runs: received, routed, acknowledged, in_progress, reopened, under_review.
`responded` is not open (the decision was given), nor are the end states closed, withdrawn
and merged.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum


class Status(StrEnum):
    RECEIVED = "received"
    ROUTED = "routed"
    ACKNOWLEDGED = "acknowledged"
    IN_PROGRESS = "in_progress"
    RESPONDED = "responded"
    CLOSED = "closed"
    WITHDRAWN = "withdrawn"
    REOPENED = "reopened"
    UNDER_REVIEW = "under_review"
    MERGED = "merged"


STATUS_NAMES: Mapping[Status, str] = {
    Status.RECEIVED: "已受理",
    Status.ROUTED: "已分派",
    Status.ACKNOWLEDGED: "已确认",
    Status.IN_PROGRESS: "处理中",
    Status.RESPONDED: "已答复",
    Status.CLOSED: "已办结",
    Status.WITHDRAWN: "已撤诉",
    Status.REOPENED: "已重开",
    Status.UNDER_REVIEW: "核查中",
    Status.MERGED: "已合并",
}

OPEN_STATUSES: frozenset[Status] = frozenset(
    {
        Status.RECEIVED,
        Status.ROUTED,
        Status.ACKNOWLEDGED,
        Status.IN_PROGRESS,
        Status.REOPENED,
        Status.UNDER_REVIEW,
    }
)

ALLOWED: Mapping[Status, frozenset[Status]] = {
    Status.RECEIVED: frozenset({Status.ROUTED, Status.WITHDRAWN, Status.MERGED}),
    Status.ROUTED: frozenset(
        {
            Status.ROUTED,
            Status.ACKNOWLEDGED,
            Status.IN_PROGRESS,
            Status.RESPONDED,
            Status.WITHDRAWN,
            Status.MERGED,
        }
    ),
    Status.ACKNOWLEDGED: frozenset({Status.IN_PROGRESS, Status.RESPONDED, Status.WITHDRAWN}),
    Status.IN_PROGRESS: frozenset({Status.RESPONDED, Status.WITHDRAWN}),
    Status.RESPONDED: frozenset({Status.CLOSED, Status.REOPENED, Status.UNDER_REVIEW}),
    Status.CLOSED: frozenset({Status.UNDER_REVIEW, Status.REOPENED}),
    Status.REOPENED: frozenset(
        {
            Status.ROUTED,
            Status.ACKNOWLEDGED,
            Status.IN_PROGRESS,
            Status.RESPONDED,
            Status.WITHDRAWN,
        }
    ),
    Status.UNDER_REVIEW: frozenset({Status.RESPONDED, Status.CLOSED}),
    Status.WITHDRAWN: frozenset(),
    Status.MERGED: frozenset(),
}


class IllegalTransition(ValueError):
    """A move the lifecycle does not allow; the message names the `status` field and both
    statuses by their Chinese names: `status（状态）：“已办结”的案件不能转为“已撤诉”（已办结 → 已撤诉）`."""

    def __init__(self, current: Status, target: Status) -> None:
        self.current = current
        self.target = target
        a, b = STATUS_NAMES[current], STATUS_NAMES[target]
        super().__init__(f"status（状态）：“{a}”的案件不能转为“{b}”（{a} → {b}）")


def ensure_transition(current: Status, target: Status) -> Status:
    """Return `target` when the move is allowed, else raise IllegalTransition."""
    if target not in ALLOWED[current]:
        raise IllegalTransition(current, target)
    return target
