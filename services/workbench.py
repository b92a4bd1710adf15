"""The handler's workbench commands (issue 14): attach an evidence file, add a note, log a contact
with the complainant, transfer a case to another department or return it to 消保办 triage, read a
file back (audited), export a list (CSV / XLSX, masked, formula-safe, audited).

Each command runs in the caller's `UnitOfWork` (one transaction): the record, its audit event and
any outbox rows commit together, and the change is announced after the commit (`uow.announce`).
Who may do it is the adapter's check (api/access.py for the web and the API; the CLI is the
operator's); what may be done to the case in its state is checked here. A refusal is
`ActionError` naming the field, raised before anything is written.
"""

from __future__ import annotations

import csv
import hashlib
import io
import mimetypes
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import PurePath
from typing import Any

from sqlalchemy import select

from domain.deadlines import SHANGHAI
from domain.escalation import case_chain
from domain.field_names import refusal
from domain.lifecycle import OPEN_STATUSES, STATUS_NAMES, Status
from domain.org import ChainLevel, chain_snapshot
from domain.statistics import safe_cell
from models.audit_chain import AuditDraft, append
from models.case_actions import ActionError, load_case
from models.case_views import CaseSummary
from models.complaint import Complaint
from models.escalation_store import reschedule
from models.evidence_store import EvidenceStore
from models.routing_store import routed_context
from models.sqlutil import table_of
from models.workbench import CONTACT, CONTACT_CHANNELS, CONTACT_OUTCOMES, FILE, NOTE, file_row
from notifications.outbox import OutboxItem, enqueue
from services.unit_of_work import UnitOfWork

COMPLAINT = table_of(Complaint)
READ_ONLY = frozenset({Status.CLOSED, Status.WITHDRAWN, Status.MERGED})
MAX_NOTE = 4000
MAX_REASON = 500
_FUTURE = timedelta(minutes=5)
_OPEN = frozenset(s.value for s in OPEN_STATUSES)


_LABELS = {"channel": "联系方式", "outcome": "联系结果", "summary": "联系内容摘要", "text": "备注内容",
           "person": "联系人", "to": "转至部门", "reason": "理由", "description": "说明",
           "evidence-file": "证据文件", "file": "文件", "at": "联系时间", "branch": "机构", "handler": "承办人"}


def _no(field: str, message: str) -> str:
    """A refusal naming the field as the CLI and the API spell it, with the workbench's label for it
    (`channel（联系方式）：…`; the shared table's `channel` is the complaint's 办理渠道)."""
    label = _LABELS.get(field)
    return f"{field}（{label}）：{message}" if label else refusal(field, message)


def _status_name(value: str) -> str:
    try:
        return STATUS_NAMES[Status(value)]
    except ValueError:
        return value


def _writable(row: Any, what: str) -> None:
    """Evidence, notes and contacts are read-only once the case is closed (办结、撤诉、合并)."""
    if Status(row.status) in READ_ONLY:
        raise ActionError([refusal("case", f"案件当前状态为“{_status_name(row.status)}”，已结案只读，不能{what}")])


def _audit(uow: UnitOfWork, row: Any, action: str, actor: str, before: dict[str, Any] | None,
           after: dict[str, Any], detail: str = "") -> None:
    append(uow.session, [AuditDraft(at=uow.now, actor=actor, action=action, complaint_id=row.id, case_no=row.case_no,
                                    before=before, after=after, detail=detail[:500])])


def _text(field: str, value: str, *, limit: int, label: str) -> str:
    text = (value or "").strip()
    if not text:
        raise ActionError([_no(field, f"须填写{label}")])
    if len(text) > limit:
        raise ActionError([_no(field, f"{label}过长：最多 {limit} 字，收到 {len(text)} 字")])
    if "\x00" in text:
        raise ActionError([_no(field, "不能含有 NUL 字符（\\x00）")])
    return text


# ---------------------------------------------------------------- evidence files


def content_type_of(filename: str, declared: str | None) -> str:
    """The file's type by its extension (what the reader will open it as), else what the sender declared."""
    guessed = mimetypes.guess_type(filename)[0]
    return (guessed or (declared or "").split(";")[0].strip() or "application/octet-stream").lower()


def _file_name(filename: str) -> str:
    name = PurePath((filename or "").replace("\\", "/")).name.strip()
    if not name:
        raise ActionError([_no("file", "须给出文件名")])
    if "\x00" in name or any(ord(c) < 32 for c in name):
        raise ActionError([_no("file", "文件名不能含有控制字符")])
    return name[:255]


def attach(uow: UnitOfWork, store: EvidenceStore, *, case_no: str, filename: str, data: bytes,
           content_type: str | None = None, description: str = "", actor: str) -> dict[str, Any]:
    """Store the bytes (content-addressed) and record the file on the case; the audit event's
    `after` carries its SHA-256, which `audit verify` re-hashes the stored bytes against."""
    limits = uow.config.policy.evidence
    row = load_case(uow.session, case_no)
    _writable(row, "上传证据文件")
    name = _file_name(filename)
    if not data:
        raise ActionError([_no("file", f"文件 {name} 是空的")])
    if len(data) > limits.max_bytes:
        raise ActionError([_no("file", f"文件 {name} 有 {len(data)} 字节，超过上限 {limits.max_bytes} 字节")])
    ctype = content_type_of(name, content_type)
    if ctype not in limits.types:
        raise ActionError([_no("file", f"文件 {name} 的类型 {ctype} 不在允许的类型之中（{'、'.join(limits.types)}）")])
    note = (description or "").strip()
    if len(note) > 256 or "\x00" in note:
        raise ActionError([_no("description", "说明最多 256 字，且不能含有 NUL 字符")])
    digest = hashlib.sha256(data).hexdigest()
    result = uow.session.execute(FILE.insert().values(
        complaint_id=row.id, sha256=digest, size=len(data), content_type=ctype, filename=name, description=note,
        uploaded_at=uow.now, actor=actor).returning(FILE.c.id))
    file_id = int(result.scalar_one())
    _audit(uow, row, "evidence_attached", actor, None,
           {"file_id": file_id, "sha256": digest, "size": len(data), "content_type": ctype, "filename": name},
           note)
    stored = store.put(data)  # last: a refusal above stores no bytes; bytes without a row are harmless
    if stored != digest:  # pragma: no cover - the store names content by its digest
        raise ActionError([_no("file", "存储返回的摘要与文件内容不符")])
    out = {"case_no": row.case_no, "file_id": file_id, "sha256": digest, "size": len(data), "content_type": ctype,
           "filename": name}
    uow.announce("complaint.evidence_attached", out)
    return out


@dataclass(frozen=True)
class Download:
    filename: str
    content_type: str
    data: bytes
    sha256: str


def read_file(uow: UnitOfWork, store: EvidenceStore, *, case_no: str, file_id: int, actor: str,
              via: str = "web") -> Download:
    """A file's bytes for someone who may see the case's personal data; the download is audited
    (`viewed_personal_data`). Bytes that no longer hash to their recorded digest are not served."""
    row = load_case(uow.session, case_no)
    found = file_row(uow.session, file_id)
    if found is None or found.complaint_id != row.id:
        raise ActionError([_no("file", f"案件 {case_no} 没有编号为 {file_id} 的证据文件")])
    try:
        data = store.read(found.sha256)
    except FileNotFoundError:
        raise ActionError([_no("file", f"证据文件 {file_id} 在存储中已不存在，请联系系统管理员")]) from None
    if hashlib.sha256(data).hexdigest() != found.sha256:
        raise ActionError([_no("file", f"证据文件 {file_id} 的内容与登记的 SHA-256 不符（已被改动），不予下载")])
    append(uow.session, [AuditDraft(at=uow.now, actor=actor, action="viewed_personal_data", complaint_id=row.id,
                                    case_no=row.case_no, after={"file_id": file_id, "sha256": found.sha256},
                                    detail=f"{via}: evidence file {file_id} downloaded")])
    return Download(found.filename, found.content_type, data, found.sha256)


# ---------------------------------------------------------------- notes and contacts


def add_note(uow: UnitOfWork, *, case_no: str, text: str, actor: str) -> dict[str, Any]:
    """An internal note (not told to the complainant); audited with the note's text."""
    row = load_case(uow.session, case_no)
    _writable(row, "添加备注")
    body = _text("text", text, limit=MAX_NOTE, label="备注内容")
    result = uow.session.execute(NOTE.insert().values(complaint_id=row.id, text=body, at=uow.now, actor=actor)
                                 .returning(NOTE.c.id))
    note_id = int(result.scalar_one())
    _audit(uow, row, "note_added", actor, None, {"note_id": note_id}, body)
    out = {"case_no": row.case_no, "note_id": note_id, "at": uow.now}
    uow.announce("complaint.note_added", {"case_no": row.case_no, "note_id": note_id})
    return out


def log_contact(uow: UnitOfWork, *, case_no: str, at: datetime | None, channel: str, summary: str, outcome: str,
                person: str | None = None, evidence_file_id: int | None = None, actor: str) -> dict[str, Any]:
    """One contact with the complainant (time, channel, who, summary, outcome): Art. 21's proof of notice."""
    row = load_case(uow.session, case_no)
    _writable(row, "登记联系记录")
    problems: list[str] = []
    if channel not in CONTACT_CHANNELS:
        problems.append(_no("channel", f"{channel!r} 不是可选值之一：" +
                                "、".join(f"{k}（{v}）" for k, v in CONTACT_CHANNELS.items())))
    if outcome not in CONTACT_OUTCOMES:
        problems.append(_no("outcome", f"{outcome!r} 不是可选值之一：" +
                                "、".join(f"{k}（{v}）" for k, v in CONTACT_OUTCOMES.items())))
    when = at or uow.now
    if when.utcoffset() is None:
        problems.append(_no("at", "须带时区（如 +08:00）"))
    elif when > uow.now + _FUTURE:
        problems.append(_no("at", "联系时间晚于当前时间，不能是将来的时间"))
    elif when < row.received_at:
        problems.append(_no("at", "联系时间早于收到投诉的时间"))
    who = (person or actor).strip()
    if not who or len(who) > 64:
        problems.append(_no("person", "须写明联系人（最多 64 字）"))
    try:
        body = _text("summary", summary, limit=MAX_NOTE, label="联系内容摘要")
    except ActionError as exc:
        problems += exc.problems
        body = ""
    if evidence_file_id is not None:
        found = file_row(uow.session, evidence_file_id)
        if found is None or found.complaint_id != row.id:
            problems.append(_no("evidence-file", f"案件 {case_no} 没有编号为 {evidence_file_id} 的证据文件"))
    if problems:
        raise ActionError(problems)
    result = uow.session.execute(CONTACT.insert().values(
        complaint_id=row.id, at=when, channel=channel, person=who, summary=body, outcome=outcome,
        evidence_file_id=evidence_file_id, recorded_at=uow.now, actor=actor).returning(CONTACT.c.id))
    contact_id = int(result.scalar_one())
    _audit(uow, row, "contact_logged", actor, None,
           {"contact_id": contact_id, "at": when.isoformat(), "channel": channel, "person": who, "outcome": outcome,
            **({"evidence_file_id": evidence_file_id} if evidence_file_id is not None else {})}, body)
    out = {"case_no": row.case_no, "contact_id": contact_id, "at": when, "channel": channel, "outcome": outcome}
    uow.announce("complaint.contact_logged", {"case_no": row.case_no, "contact_id": contact_id})
    return out


# ---------------------------------------------------------------- transfer and return


def _redraw_participants(uow: UnitOfWork, complaint_id: int, handler: str | None, chain: list[dict[str, Any]],
                         watchers: list[str]) -> None:
    """Who works on the case changed: the participants table (models/participants.py, the queue's and
    the scope's index) is redrawn as routing and reassignment redraw it."""
    try:
        from models.participants import replace_work
    except ImportError:  # pragma: no cover - the participants table is the queue work's (issue 14, first half)
        return
    replace_work(uow.session, [(complaint_id, handler, chain, watchers)])


def _move(uow: UnitOfWork, row: Any, *, branch_code: str, department: str, handler: str | None, triage: bool,
          action: str, reason: str, actor: str) -> dict[str, Any]:
    """Give the case to another department (and handler): the deadlines stay, the chain is redrawn, the
    escalation schedule follows it, and the new owner gets the `routed` message."""
    config = uow.config
    org = config.org
    chain = chain_snapshot(case_chain(org, branch=row.branch, department_branch=branch_code, department=department,
                                      handler=handler), org.people)
    target = Status.ROUTED if Status(row.status) is Status.REOPENED else Status(row.status)
    values = {"department": department, "department_branch": branch_code, "handler": handler, "chain": chain,
              "triage": triage, "status": target.value, "updated_at": uow.now}
    uow.session.execute(COMPLAINT.update().where(COMPLAINT.c.id == row.id).values(**values))
    _redraw_participants(uow, row.id, handler, chain, list(row.watchers or []))
    before = {"department": row.department, "department_branch": row.department_branch, "handler": row.handler,
              "triage": row.triage, "status": row.status}
    after = {"department": department, "department_branch": branch_code, "handler": handler, "triage": triage,
             "status": target.value}
    _audit(uow, row, action, actor, before, after, reason)
    owner: str | None = handler or next((str(m["person"]) for m in chain
                                         if m["level"] == ChainLevel.DEPARTMENT_HEAD.value), None)
    if owner is not None:
        ctx = routed_context(
            case_no=row.case_no, role="handler" if handler else "department_head", category=row.category,
            severity=row.severity, tags=list(row.tags or []), triage=triage, reasons=[reason],
            department_branch=branch_code, department=department, handler=handler,
            complainant_name=row.complainant_name, request=row.request, received_at=row.received_at,
            regulatory_due_at=row.regulatory_due_at, ack_due_at=row.ack_due_at, config=config,
            other_names=(row.agent_name, row.complainant_legal_rep))
        enqueue(uow.session, [OutboxItem("routed", owner, f"{row.case_no}:{action}:{uow.now.isoformat()}", ctx,
                                         row.id, row.case_no)], org=org, now=uow.now)
    reschedule(uow.session, [row.id], config=config, calendar=uow.calendar)
    out = {"case_no": row.case_no, "status": target.value, "department": department, "department_branch": branch_code,
           "handler": handler, "previous_department": row.department, "previous_handler": row.handler,
           "notified": owner, "regulatory_due_at": row.regulatory_due_at}
    uow.announce(f"complaint.{action}", out)
    return out


def _open_for_move(row: Any, what: str) -> None:
    if Status(row.status) not in OPEN_STATUSES:
        raise ActionError([refusal("case", f"案件当前状态为“{_status_name(row.status)}”，不能{what}")])
    if row.department is None or Status(row.status) is Status.RECEIVED:
        raise ActionError([refusal("case", "案件尚未分派部门，请等待系统分派")])


def transfer(uow: UnitOfWork, *, case_no: str, department: str, reason: str, actor: str, branch: str | None = None,
             handler: str | None = None) -> dict[str, Any]:
    """消保办 hands the case to another department (of the case's branch or the nearest parent
    that has it, or of `branch`), optionally to one of its handlers."""
    row = load_case(uow.session, case_no)
    _open_for_move(row, "转办")
    why = _text("reason", reason, limit=MAX_REASON, label="转办理由")
    org = uow.config.org
    if branch is not None and branch not in org.branches:
        raise ActionError([_no("branch", f"组织架构中没有机构 {branch!r}")])
    found = org.find_department(branch or row.branch, department)
    if found is None:
        raise ActionError([_no("to", f"{branch or row.branch} 及其上级机构没有部门 {department!r}")])
    owning, dept = found
    if handler is not None:
        person = org.people.get(handler)
        if person is None or handler not in dept.handlers:
            raise ActionError([_no("handler", f"{handler!r} 不是部门 {dept.name}（{department}）的承办人")])
        if row.respondent and (handler in row.respondent or person.name in row.respondent):
            raise ActionError([_no("handler", f"{person.name} 是本投诉的被投诉对象，应当回避，不能承办（第十七条）")])
    if (owning.code, dept.code) == (row.department_branch, row.department) and handler in (None, row.handler):
        raise ActionError([_no("to", f"案件已在 {dept.name}（{department}）办理")])
    cp = org.cp_department(row.branch)
    triage = cp is not None and (cp[0].code, cp[1].code) == (owning.code, dept.code)
    return _move(uow, row, branch_code=owning.code, department=dept.code, handler=handler, triage=triage,
                 action="transferred", reason=why, actor=actor)


def return_to_triage(uow: UnitOfWork, *, case_no: str, reason: str, actor: str) -> dict[str, Any]:
    """A handler returns a misrouted case to the 消保办's triage queue (its head is told, and assigns)."""
    row = load_case(uow.session, case_no)
    _open_for_move(row, "退回分拣")
    why = _text("reason", reason, limit=MAX_REASON, label="退回理由")
    cp = uow.config.org.cp_department(row.branch)
    if cp is None:  # pragma: no cover - routing refuses a branch without one
        raise ActionError([refusal("case", f"{row.branch} 没有消保办分拣队列")])
    owning, dept = cp
    if (owning.code, dept.code) == (row.department_branch, row.department):
        raise ActionError([refusal("case", "案件已在消保办分拣队列，无需退回")])
    return _move(uow, row, branch_code=owning.code, department=dept.code, handler=None, triage=True,
                 action="returned_to_triage", reason=why, actor=actor)


# ---------------------------------------------------------------- export

EXPORT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("case_no", "受理编号"), ("status", "状态"), ("severity", "等级"), ("category", "业务类别"),
    ("branch", "受理机构"), ("department", "承办部门"), ("handler", "承办人"), ("complainant", "投诉人"),
    ("received_at", "收到时间"), ("due_at", "答复期限"), ("overdue", "是否逾期"),
)


def _local(at: Any) -> str:
    return at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M") if isinstance(at, datetime) else ""


def department_namer(org: Any) -> Callable[[str, str | None], str]:
    """The department's Chinese name as the case's branch sees it (the branch's own, else its parent's)."""
    def name(branch: str, department: str | None) -> str:
        if not department:
            return ""
        found = org.find_department(branch, department) if branch in org.branches else None
        return str(found[1].name) if found else department
    return name


def export_rows(cases: Sequence[CaseSummary], *, people: Mapping[str, Any], now: datetime,
                department_name: Callable[[str, str | None], str] | None = None) -> list[list[Any]]:
    """The rows of an export (header first), from the list's case summaries (already masked by role)."""
    dept = department_name or (lambda branch, code: code or "")
    out: list[list[Any]] = [[label for _, label in EXPORT_COLUMNS]]
    for c in cases:
        handler = c["handler"] or ""
        out.append([safe_cell(v) for v in (
            c["case_no"], c["status_name"] or c["status"], c["severity_name"] or c["severity"],
            c["category_name"] or c["category"] or "", c["branch"],
            dept(c["branch"], c["department"]),  # found from the case's branch (department_namer: or its parents)
            people[handler].name if handler in people else handler, c["complainant"],
            _local(c["received_at"]), _local(c["due_at"]),
            "是" if c["status"] in _OPEN and c["due_at"] < now else "否",
        )])
    return out


def to_csv(rows: Sequence[Sequence[Any]]) -> bytes:
    """UTF-8 with a BOM (so a spreadsheet reads the Chinese), cells already formula-safe."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerows(rows)
    return ("\ufeff" + buf.getvalue()).encode()


def to_xlsx(rows: Sequence[Sequence[Any]], *, title: str = "案件") -> bytes:
    """An XLSX workbook of the rows; every cell written as text (a string starting with = would
    otherwise be stored as a formula), after the same leading-' neutralisation as the CSV."""
    from openpyxl import Workbook  # type: ignore[import-untyped]

    wb = Workbook(write_only=True)
    ws = wb.create_sheet(title=title[:31])
    for r in rows:
        ws.append(["" if v is None else str(v) for v in r])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def record_export(uow: UnitOfWork, *, actor: str, fmt: str, count: int, filters: Mapping[str, Any],
                  unmasked: bool) -> None:
    """The `exported` audit event: who exported which list, how many cases, in which format. A search
    by phone, ID or card number (or free text) is recorded masked: the trail keeps no personal data."""
    from domain.masking import mask_free_text

    def plain(key: str, value: Any) -> Any:
        if key in _PERSONAL_FILTERS:
            return [mask_free_text(str(v)) for v in value] if isinstance(value, list) else mask_free_text(str(value))
        return value

    kept = {k: plain(k, v) for k, v in filters.items() if v not in (None, "", False)}
    append(uow.session, [AuditDraft(at=uow.now, actor=actor, action="exported",
                                    after={"format": fmt, "count": count, "unmasked": unmasked, "filters": kept},
                                    detail=f"exported {count} cases as {fmt}")])


_PERSONAL_FILTERS = frozenset({"phone", "id_number", "card", "q"})


def unmasked_names(uow: UnitOfWork, case_nos: Sequence[str]) -> dict[str, str]:
    """The complainants' names for an unmasked export (one query per 500 cases)."""
    out: dict[str, str] = {}
    for i in range(0, len(case_nos), 500):
        chunk = list(case_nos[i:i + 500])
        for no, name in uow.session.execute(select(COMPLAINT.c.case_no, COMPLAINT.c.complainant_name)
                                            .where(COMPLAINT.c.case_no.in_(chunk))):
            out[no] = name
    return out


# ---------------------------------------------------------------- bulk actions


@dataclass(frozen=True)
class BulkResult:
    case_no: str
    ok: bool
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"case_no": self.case_no, "ok": self.ok, "message": self.message}


def bulk(unit: Callable[[], AbstractContextManager[UnitOfWork]], case_nos: Sequence[str],
         run: Callable[[UnitOfWork, str], Any], *, done: str = "已完成") -> list[BulkResult]:
    """`run` on each case in its own transaction: a refusal of one case rolls back that case only."""
    results: list[BulkResult] = []
    for case_no in dict.fromkeys(c.strip() for c in case_nos if c.strip()):
        try:
            with unit() as uow:
                run(uow, case_no)
        except ActionError as exc:
            results.append(BulkResult(case_no, False, "；".join(exc.problems)))
        except ValueError as exc:  # IllegalTransition, an escalation not found
            results.append(BulkResult(case_no, False, str(exc)))
        else:
            results.append(BulkResult(case_no, True, done))
    return results
