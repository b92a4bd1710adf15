"""The workbench over HTTP (issue 14): evidence files, notes, contacts, transfer and return, export
and bulk actions. The `do_*` functions check access (api/access.py) and run one services/workbench.py
command in one unit of work; the JSON routes below and the pages (api/pages_casework.py) call them.

Access: any role that sees the case sees the list of its files; the bytes of a file are personal
data, downloaded only by a role that may unmask the case (auditors and the desk never), and each
download is an audit event. Notes and contacts are shown masked unless the caller unmasks.
Transfer is the 消保办's (roles cpo, admin); return to triage is any role that acts on the case.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Depends, File, Form, Path, Query, Request, UploadFile
from fastapi.responses import Response
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from api import access, service
from api.deps import ApiUser, Context, Ctx, Principal, no_nul_in_url
from api.routes_api import ERRORS
from api.serialize import local
from api.service import Refused
from domain.field_names import refusal
from domain.lifecycle import IllegalTransition, Status
from models.case_actions import ActionError
from models.case_views import CaseSummary, case_names
from models.evidence_store import EvidenceStore, evidence_store
from models.users import ROLE_NAMES
from models.workbench import contacts_of, files_of, notes_of
from services import workbench
from services.unit_of_work import UnitOfWork

TRANSFER_ROLES = frozenset({"cpo", "admin"})  # 消保办 transfers; handlers return to triage
EXPORT_LIMIT = 10_000
router = APIRouter(prefix="/api", dependencies=[Depends(no_nul_in_url)], tags=["workbench"], responses=ERRORS)
CaseNo = Annotated[str, Path(min_length=1, max_length=32, description="受理编号, e.g. DL-2026-000123")]


def store_of(ctx: Context) -> EvidenceStore:
    """The app's evidence store (COMPLAINTS_EVIDENCE_DIR; a test may set `app.state.ctx.evidence`)."""
    found: EvidenceStore | None = getattr(ctx, "evidence", None)
    return found or evidence_store()


def _refused(exc: ActionError | IllegalTransition, row: Any | None = None) -> Refused:
    if isinstance(exc, IllegalTransition):
        return Refused(409, str(exc), [str(exc)], exc.current.value, exc.target.value)
    state = all(p.startswith("case（") for p in exc.problems)
    return Refused(409 if state else 422, str(exc), exc.problems, row.status if state and row is not None else None)


def _run(ctx: Context, who: Principal, case_no: str, permission: str,
         fn: Callable[[UnitOfWork, Any], Any], *, check: Callable[[Any], None] | None = None) -> Any:
    """Access, then the command in one unit of work; its refusals as `Refused` (nothing stored)."""
    service._need(who, permission)
    row = None
    try:
        with ctx.unit() as uow:
            row = service.visible_row(uow.session, ctx, who, case_no)
            if not access.may_act(who.user, row, ctx.config, "assign" if permission == "assign" else "act"):
                raise Refused(403, service.forbidden(who.user.role, permission))
            if check is not None:
                check(row)
            return fn(uow, row)
    except (ActionError, IllegalTransition) as exc:
        raise _refused(exc, row) from None


def do_attach(ctx: Context, who: Principal, case_no: str, *, filename: str, data: bytes, content_type: str | None,
              description: str = "") -> dict[str, Any]:
    out: dict[str, Any] = _run(ctx, who, case_no, "act", lambda u, r: workbench.attach(
        u, store_of(ctx), case_no=case_no, filename=filename, data=data, content_type=content_type,
        description=description, actor=who.user.username))
    return out


def do_download(ctx: Context, who: Principal, case_no: str, file_id: int, *, via: str) -> workbench.Download:
    service._need(who, "read_cases")
    with ctx.unit() as uow:
        row = service.visible_row(uow.session, ctx, who, case_no)
        if not access.may_unmask(who.user, row, ctx.config):
            raise Refused(403, refusal("file", f"“{ROLE_NAMES.get(who.user.role, who.user.role)}”只能查看脱敏后的信息，"
                                               f"证据文件含个人信息，不能下载"))
        try:
            return workbench.read_file(uow, store_of(ctx), case_no=case_no, file_id=file_id,
                                       actor=who.user.username, via=via)
        except ActionError as exc:
            raise Refused(404 if "没有编号为" in str(exc) else 409, str(exc), exc.problems) from None


def do_note(ctx: Context, who: Principal, case_no: str, text: str) -> dict[str, Any]:
    out: dict[str, Any] = _run(ctx, who, case_no, "act", lambda u, r: workbench.add_note(
        u, case_no=case_no, text=text, actor=who.user.username))
    return out


def do_contact(ctx: Context, who: Principal, case_no: str, **kw: Any) -> dict[str, Any]:
    out: dict[str, Any] = _run(ctx, who, case_no, "act", lambda u, r: workbench.log_contact(
        u, case_no=case_no, actor=who.user.username, **kw))
    return out


def _may_transfer(who: Principal) -> None:
    if who.user.role not in TRANSFER_ROLES:
        raise Refused(403, refusal("role", f"“{ROLE_NAMES.get(who.user.role, who.user.role)}”无权转办案件"
                                           f"（由消保办转办；承办人可退回消保办分拣）"))


def do_transfer(ctx: Context, who: Principal, case_no: str, *, department: str, reason: str,
                branch: str | None = None, handler: str | None = None) -> dict[str, Any]:
    _may_transfer(who)
    out: dict[str, Any] = _run(ctx, who, case_no, "assign", lambda u, r: workbench.transfer(
        u, case_no=case_no, department=department, reason=reason, branch=branch, handler=handler,
        actor=who.user.username))
    return out


def do_return(ctx: Context, who: Principal, case_no: str, *, reason: str) -> dict[str, Any]:
    out: dict[str, Any] = _run(ctx, who, case_no, "act", lambda u, r: workbench.return_to_triage(
        u, case_no=case_no, reason=reason, actor=who.user.username))
    return out


def case_panel(ctx: Context, who: Principal, row: Any, *, unmask: bool) -> dict[str, Any]:
    """What the case page shows of the workbench: files, notes, contacts (masked unless `unmask`)."""
    with ctx.session() as s:
        names = case_names(row)
        files = files_of(s, row.id)
        notes = notes_of(s, row.id, names=names, unmask=unmask)
        contacts = contacts_of(s, row.id, names=names, unmask=unmask)
    writable = Status(row.status) not in workbench.READ_ONLY and access.may_act(who.user, row, ctx.config, "act")
    is_open = row.department is not None and Status(row.status) in _open_statuses()
    org = ctx.config.org
    cp = org.cp_department(row.branch)
    in_triage = cp is not None and (cp[0].code, cp[1].code) == (row.department_branch, row.department)
    departments = sorted({(code, d.name) for b in org.ancestry(row.branch) for code, d in b.departments.items()})
    return {"files": files, "notes": notes, "contacts": contacts, "writable": writable,
            "may_download": access.may_unmask(who.user, row, ctx.config),
            "may_transfer": is_open and who.user.role in TRANSFER_ROLES
            and access.may_act(who.user, row, ctx.config, "assign"),
            "may_return": is_open and not in_triage and access.may_act(who.user, row, ctx.config, "act"),
            "departments": departments, "channels": list(workbench_channels().items()),
            "outcomes": list(workbench_outcomes().items()), "limits": ctx.config.policy.evidence}


def _open_statuses() -> frozenset[Status]:
    from domain.lifecycle import OPEN_STATUSES

    return OPEN_STATUSES


def workbench_channels() -> dict[str, str]:
    from models.workbench import CONTACT_CHANNELS

    return CONTACT_CHANNELS


def workbench_outcomes() -> dict[str, str]:
    from models.workbench import CONTACT_OUTCOMES

    return CONTACT_OUTCOMES


# ---------------------------------------------------------------- export and bulk


def do_export(ctx: Context, who: Principal, *, fmt: str, params: Mapping[str, Sequence[str]],
              via: str) -> tuple[bytes, str, str]:
    """The list the caller sees with the list pages' filters (services/workbench_queue.parse_filter, the
    same query parameters as /cases and /search), masked, as a file of at most EXPORT_LIMIT cases; audited."""
    from services import workbench_queue as wq

    service._need(who, "read_cases")
    if fmt not in ("csv", "xlsx"):
        raise Refused(422, "导出格式无效", [refusal("format", f"{fmt!r} 不是可选值之一：csv、xlsx")])
    wanted = {k: list(v) for k, v in params.items() if k not in ("format", "cursor", "view") and any(x.strip() for x in v)}
    org = ctx.config.org
    with ctx.unit() as uow:
        try:
            f = wq.parse_filter(wanted)
            cases: list[CaseSummary] = []
            cursor: str | None = None
            while len(cases) < EXPORT_LIMIT:
                page = wq.list_cases(uow, who.user, f, cursor=cursor, limit=min(wq.MAX_PAGE, EXPORT_LIMIT - len(cases)),
                                     with_count=False)
                cases += page.items
                cursor = page.next_cursor
                if not cursor:
                    break
        except wq.FilterError as exc:
            raise Refused(422, "筛选条件无效，未导出", exc.problems) from None
        rows = workbench.export_rows(cases, people=org.people, now=uow.now,
                                     department_name=workbench.department_namer(org))
        workbench.record_export(uow, actor=who.user.username, fmt=fmt, count=len(cases), unmasked=False,
                                filters={**{k: v[0] if len(v) == 1 else v for k, v in wanted.items()}, "via": via})
        stamp = uow.now.strftime("%Y%m%d-%H%M%S")
    if fmt == "csv":
        return workbench.to_csv(rows), "text/csv; charset=utf-8", f"cases-{stamp}.csv"
    return (workbench.to_xlsx(rows), "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            f"cases-{stamp}.xlsx")


def attachment(data: bytes, media_type: str, filename: str) -> Response:
    ascii_name = "".join(c if c.isascii() and c.isprintable() and c not in '"\\;' else "_" for c in filename)
    return Response(data, media_type=media_type, headers={
        "Content-Disposition": f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}",
        "X-Content-Type-Options": "nosniff"})


BULK_ACTIONS = {"assign": "指派承办人", "transfer": "转办", "acknowledge-escalations": "确认督办"}


def do_bulk(ctx: Context, who: Principal, action: str, case_nos: Sequence[str], *, handler: str | None = None,
            department: str | None = None, reason: str | None = None) -> list[workbench.BulkResult]:
    """One action on each selected case, each in its own transaction; a per-case result."""
    if action not in BULK_ACTIONS:
        raise Refused(404, refusal("action", f"没有批量操作 {action!r}"))
    if not case_nos:
        raise Refused(422, "未选择案件", [refusal("case_nos", "请至少选择一件案件")])
    if len(case_nos) > 500:
        raise Refused(422, "一次选择的案件过多", [refusal("case_nos", f"一次最多 500 件，收到 {len(case_nos)} 件")])
    if action == "transfer":
        _may_transfer(who)
    service._need(who, {"assign": "assign", "transfer": "assign", "acknowledge-escalations": "escalations"}[action])
    person = who.user.person_id

    def run(uow: UnitOfWork, case_no: str) -> Any:
        row = service.visible_row(uow.session, ctx, who, case_no)
        if action == "assign":
            if not access.may_act(who.user, row, ctx.config, "assign"):
                raise ActionError([service.forbidden(who.user.role, "assign")])
            if not handler:
                raise ActionError([refusal("handler", "须选择承办人")])
            from models import case_actions

            return case_actions.assign(uow.session, case_no=case_no, handler=handler, config=uow.config,
                                       calendar=uow.calendar, now=uow.now, actor=who.user.username)
        if action == "transfer":
            if not access.may_act(who.user, row, ctx.config, "assign"):
                raise ActionError([service.forbidden(who.user.role, "assign")])
            return workbench.transfer(uow, case_no=case_no, department=department or "", reason=reason or "",
                                      actor=who.user.username)
        return _ack_all(uow, row, person)

    def unit() -> Any:
        return ctx.unit()

    results = []
    for r in workbench.bulk(unit, case_nos, _guard(run), done=f"已{BULK_ACTIONS[action]}"):
        results.append(r)
    return results


def _guard(run: Callable[[UnitOfWork, str], Any]) -> Callable[[UnitOfWork, str], Any]:
    def guarded(uow: UnitOfWork, case_no: str) -> Any:
        try:
            return run(uow, case_no)
        except Refused as exc:  # a case outside the caller's scope reads as unknown
            raise ActionError([exc.detail]) from None
    return guarded


def _ack_all(uow: UnitOfWork, row: Any, person: str | None) -> list[dict[str, Any]]:
    """Acknowledge every open escalation of the case addressed to the caller."""
    from models.escalation_store import escalations_of
    from services.cases import acknowledge_escalation

    if not person:
        raise ActionError([refusal("by", "本账号未关联组织架构中的人员，不能确认督办")])
    mine = [e for e in escalations_of(uow.session, row.id) if e["acknowledged_at"] is None
            and any(r.get("person") == person for r in e["recipients"])]
    if not mine:
        raise ActionError([refusal("case", "没有发给您的未确认督办")])
    # the command announces each acknowledgement after the commit, as a single one does
    return [acknowledge_escalation(uow, case_no=row.case_no, level=e["level"], by=person).as_dict() for e in mine]


# ---------------------------------------------------------------- JSON routes


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class NoteIn(_Body):
    text: str = Field(min_length=1, max_length=workbench.MAX_NOTE)


class ContactIn(_Body):
    channel: Literal["phone", "sms", "email", "written", "visit", "wecom"]
    outcome: Literal["reached", "notified", "left_message", "unreachable", "refused"]
    summary: str = Field(min_length=1, max_length=workbench.MAX_NOTE)
    at: AwareDatetime | None = None
    person: str | None = Field(default=None, max_length=64)
    evidence_file_id: int | None = Field(default=None, ge=1)


class TransferIn(_Body):
    to: str = Field(min_length=1, max_length=32, description="department code")
    reason: str = Field(min_length=1, max_length=workbench.MAX_REASON)
    branch: str | None = Field(default=None, max_length=32)
    handler: str | None = Field(default=None, max_length=64)


class ReturnIn(_Body):
    reason: str = Field(min_length=1, max_length=workbench.MAX_REASON)


class BulkIn(_Body):
    case_nos: list[str] = Field(min_length=1, max_length=500)
    handler: str | None = Field(default=None, max_length=64)
    department: str | None = Field(default=None, max_length=32)
    reason: str | None = Field(default=None, max_length=workbench.MAX_REASON)


def _visible(ctx: Context, who: Principal, case_no: str) -> Any:
    service._need(who, "read_cases")
    with ctx.session() as s:
        return service.visible_row(s, ctx, who, case_no)


def _unmask(ctx: Context, who: Principal, row: Any, unmask: bool) -> bool:
    if unmask and not access.may_unmask(who.user, row, ctx.config):
        raise Refused(403, refusal("unmask", f"“{ROLE_NAMES.get(who.user.role, who.user.role)}”只能查看脱敏后的个人信息"))
    return unmask


@router.post("/complaints/{case_no}/files", status_code=201, summary="attach an evidence file (multipart)")
async def post_file(case_no: CaseNo, ctx: Ctx, who: ApiUser, file: Annotated[UploadFile, File()],
                    description: Annotated[str, Form(max_length=256)] = "") -> Any:
    from starlette.concurrency import run_in_threadpool

    data = await file.read(ctx.config.policy.evidence.max_bytes + 1)
    out = await run_in_threadpool(do_attach, ctx, who, case_no, filename=file.filename or "", data=data,
                                  content_type=file.content_type, description=description)
    return local(out)


@router.get("/complaints/{case_no}/files", summary="the case's evidence files (metadata)")
def get_files(case_no: CaseNo, ctx: Ctx, who: ApiUser) -> Any:
    row = _visible(ctx, who, case_no)
    with ctx.session() as s:
        return local(files_of(s, row.id))


@router.get("/complaints/{case_no}/files/{file_id}", summary="download a file (roles that may unmask; audited)",
            response_class=Response)
def get_file(case_no: CaseNo, file_id: int, ctx: Ctx, who: ApiUser) -> Response:
    d = do_download(ctx, who, case_no, file_id, via="api")
    return attachment(d.data, d.content_type, d.filename)


@router.post("/complaints/{case_no}/notes", status_code=201, summary="add an internal note")
def post_note(case_no: CaseNo, body: NoteIn, ctx: Ctx, who: ApiUser) -> Any:
    service.refuse_nul(body.model_dump(mode="json"))
    return local(do_note(ctx, who, case_no, body.text))


@router.get("/complaints/{case_no}/notes", summary="the case's notes (masked unless unmask)")
def get_notes(case_no: CaseNo, ctx: Ctx, who: ApiUser, unmask: bool = False) -> Any:
    row = _visible(ctx, who, case_no)
    with ctx.session() as s:
        return local(notes_of(s, row.id, names=case_names(row), unmask=_unmask(ctx, who, row, unmask)))


@router.post("/complaints/{case_no}/contacts", status_code=201, summary="log a contact with the complainant")
def post_contact(case_no: CaseNo, body: ContactIn, ctx: Ctx, who: ApiUser) -> Any:
    service.refuse_nul(body.model_dump(mode="json"))
    return local(do_contact(ctx, who, case_no, at=body.at, channel=body.channel, summary=body.summary,
                            outcome=body.outcome, person=body.person, evidence_file_id=body.evidence_file_id))


@router.get("/complaints/{case_no}/contacts", summary="the contact log (masked unless unmask)")
def get_contacts(case_no: CaseNo, ctx: Ctx, who: ApiUser, unmask: bool = False) -> Any:
    row = _visible(ctx, who, case_no)
    with ctx.session() as s:
        return local(contacts_of(s, row.id, names=case_names(row), unmask=_unmask(ctx, who, row, unmask)))


@router.post("/complaints/{case_no}/transfer", summary="消保办 transfers the case to another department")
def post_transfer(case_no: CaseNo, body: TransferIn, ctx: Ctx, who: ApiUser) -> Any:
    service.refuse_nul(body.model_dump(mode="json"))
    return local(do_transfer(ctx, who, case_no, department=body.to, reason=body.reason, branch=body.branch,
                             handler=body.handler))


@router.post("/complaints/{case_no}/return", summary="return a misrouted case to 消保办 triage")
def post_return(case_no: CaseNo, body: ReturnIn, ctx: Ctx, who: ApiUser) -> Any:
    service.refuse_nul(body.model_dump(mode="json"))
    return local(do_return(ctx, who, case_no, reason=body.reason))


@router.get("/export/complaints", response_class=Response,
            summary="the caller's list as CSV or XLSX (the filters of GET /api/cases; masked, formula-safe, audited)")
def export(request: Request, ctx: Ctx, who: ApiUser,
           format: Annotated[Literal["csv", "xlsx"], Query()] = "csv") -> Response:
    data, media, name = do_export(ctx, who, fmt=format, params=query_lists(request), via="api")
    return attachment(data, media, name)


def query_lists(request: Request) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for key, value in request.query_params.multi_items():
        out.setdefault(key, []).append(value)
    return out


@router.post("/bulk/{action}", summary="assign, transfer or acknowledge escalations on a selection")
def bulk(action: Annotated[Literal["assign", "transfer", "acknowledge-escalations"], Path()], body: BulkIn,
         ctx: Ctx, who: ApiUser) -> Any:
    service.refuse_nul(body.model_dump(mode="json"))
    return [r.as_dict() for r in do_bulk(ctx, who, action, body.case_nos, handler=body.handler,
                                         department=body.department, reason=body.reason)]
