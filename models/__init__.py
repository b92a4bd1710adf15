"""SQLModel tables; importing this package registers every table on SQLModel.metadata."""

from models import (
    analytics as analytics,  # daily counts, early-warning alerts, statistics snapshots (0012)
)
from models import security_log as security_log  # security_event (0015)
from models import users as users  # app_user, api_token, web_session (the web and API)
from models.audit import AuditAnchor, AuditEvent, AuditHead
from models.complaint import CaseSequence, ClockEventRow, Complaint
from models.escalation import (
    CaseResponse,
    CaseReview,
    Escalation,
    EscalationSchedule,
    EscalationState,
    Extension,
)
from models.governance import Callback, CaseOutcome, Remediation  # noqa: F401 - outcomes, call-backs, 整改 (0010)
from models.outbox import OutboxMessage, OutboxStatus
from models.participants import CaseParticipant as CaseParticipant
from models.participants import CasePaused as CasePaused
from models.queries_workbench import SavedView as SavedView
from models.report import ReportSnapshot as ReportSnapshot
from models.report_html import ReportHtml as ReportHtml  # the frozen report's page (0011)
from models.workbench import CaseContact, CaseNote, EvidenceFile  # noqa: F401 - evidence, notes, contacts (0009)

__all__ = [
    "AuditEvent",
    "AuditAnchor",
    "AuditHead",
    "CaseResponse",
    "CaseReview",
    "CaseSequence",
    "ClockEventRow",
    "Complaint",
    "Escalation",
    "EscalationSchedule",
    "EscalationState",
    "Extension",
    "OutboxMessage",
    "OutboxStatus",
]
