"""SQLModel tables; importing this package registers every table on SQLModel.metadata."""

from models.audit import AuditEvent, AuditHead
from models.complaint import CaseSequence, ClockEventRow, Complaint
from models.outbox import OutboxMessage, OutboxStatus

__all__ = [
    "AuditEvent",
    "AuditHead",
    "CaseSequence",
    "ClockEventRow",
    "Complaint",
    "OutboxMessage",
    "OutboxStatus",
]
