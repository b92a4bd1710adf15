"""The workbench's pages (issue 14): on the case page, upload an evidence file (multipart, with the
session's CSRF token), download it (roles that may unmask; audited), add a note, log a contact,
transfer (消保办) or return to triage; on the lists, export CSV / XLSX and bulk actions.

A refusal re-renders the case page with the problems in Chinese (nothing stored); a success
redirects back with what was done.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from api import routes_casework as rc
from api.deps import Ctx, PageUser, Principal, check_csrf, no_nul_in_url
from api.service import Refused

router = APIRouter(include_in_schema=False, dependencies=[Depends(no_nul_in_url)])


def _lines(exc: Refused) -> list[str]:
    from api.pages import _has_cjk, zh_problem

    return [z for z in (e if _has_cjk(e) and not re.match(r"^[a-z_\-.]+:", e) else zh_problem(e)
                        for e in exc.errors) if z] or [exc.detail]


async def _attempt(request: Request, ctx: Any, who: Principal, case_no: str, done: str, fn: Any, *args: Any,
                   **kw: Any) -> Response:
    from api.pages import _case_page

    try:
        await run_in_threadpool(fn, *args, **kw)
    except Refused as exc:
        if exc.status not in (409, 422):
            raise
        problem = "当前状态不允许此操作，未保存" if exc.status == 409 else "输入有误，未保存"
        status, errors = exc.status, _lines(exc)
        return await run_in_threadpool(lambda: _case_page(request, ctx, who, case_no, status=status,
                                                          errors=errors, problem=problem))
    if not await run_in_threadpool(_still_visible, ctx, who, case_no):  # returned or transferred away from me
        return RedirectResponse(f"/queue?done={quote(done + '：' + case_no)}", status_code=303)
    return RedirectResponse(f"/cases/{quote(case_no)}?done={quote(done)}", status_code=303)


def _still_visible(ctx: Any, who: Principal, case_no: str) -> bool:
    from api import access, service

    with ctx.session() as s:
        try:
            row = service.visible_row(s, ctx, who, case_no)
        except Refused:
            return False
    return access.can_see(who.user, row, ctx.config)


def _get(form: Any, name: str) -> str:
    value = form.get(name, "")
    return value.strip() if isinstance(value, str) else ""


@router.post("/cases/{case_no}/files", response_class=HTMLResponse)
async def upload(request: Request, case_no: str, ctx: Ctx, who: PageUser) -> Response:
    form = await request.form()
    check_csrf(who, _get(form, "csrf"))
    upload = form.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        from api.pages import _case_page

        return _case_page(request, ctx, who, case_no, status=422, errors=["文件：请选择要上传的文件"],
                          problem="输入有误，未保存")
    data = await upload.read(ctx.config.policy.evidence.max_bytes + 1)
    return await _attempt(request, ctx, who, case_no, "上传证据文件", rc.do_attach, ctx, who, case_no,
                          filename=upload.filename, data=data, content_type=upload.content_type,
                          description=_get(form, "description"))


@router.get("/cases/{case_no}/files/{file_id}")
def download(case_no: str, file_id: int, ctx: Ctx, who: PageUser) -> Response:
    d = rc.do_download(ctx, who, case_no, file_id, via="web")
    return rc.attachment(d.data, d.content_type, d.filename)


@router.post("/cases/{case_no}/notes", response_class=HTMLResponse)
async def note(request: Request, case_no: str, ctx: Ctx, who: PageUser) -> Response:
    form = await request.form()
    check_csrf(who, _get(form, "csrf"))
    return await _attempt(request, ctx, who, case_no, "添加备注", rc.do_note, ctx, who, case_no, _get(form, "text"))


@router.post("/cases/{case_no}/contacts", response_class=HTMLResponse)
async def contact(request: Request, case_no: str, ctx: Ctx, who: PageUser) -> Response:
    from api.pages import _case_page, _parse_local

    form = await request.form()
    check_csrf(who, _get(form, "csrf"))
    try:
        at = _parse_local(_get(form, "at"))
        file_text = _get(form, "evidence_file_id")
        file_id = int(file_text) if file_text else None
    except ValueError:
        return _case_page(request, ctx, who, case_no, status=422, problem="输入有误，未保存",
                          errors=["联系时间或证据文件编号：格式不正确（时间如 2026-11-26T09:30）"])
    return await _attempt(request, ctx, who, case_no, "登记联系记录", rc.do_contact, ctx, who, case_no, at=at,
                          channel=_get(form, "channel"), summary=_get(form, "summary"), outcome=_get(form, "outcome"),
                          person=_get(form, "person") or None, evidence_file_id=file_id)


@router.post("/cases/{case_no}/transfer", response_class=HTMLResponse)
async def transfer(request: Request, case_no: str, ctx: Ctx, who: PageUser) -> Response:
    form = await request.form()
    check_csrf(who, _get(form, "csrf"))
    return await _attempt(request, ctx, who, case_no, "转办", rc.do_transfer, ctx, who, case_no,
                          department=_get(form, "to"), reason=_get(form, "reason"),
                          handler=_get(form, "handler") or None)


@router.post("/cases/{case_no}/return", response_class=HTMLResponse)
async def return_case(request: Request, case_no: str, ctx: Ctx, who: PageUser) -> Response:
    form = await request.form()
    check_csrf(who, _get(form, "csrf"))
    return await _attempt(request, ctx, who, case_no, "退回消保办分拣", rc.do_return, ctx, who, case_no,
                          reason=_get(form, "reason"))


@router.get("/export")
def export(request: Request, ctx: Ctx, who: PageUser, format: str = "csv") -> Response:
    """The list as a file: the same filters as the list pages (/cases, /search, /overdue)."""
    data, media, name = rc.do_export(ctx, who, fmt=format, params=rc.query_lists(request), via="web")
    return rc.attachment(data, media, name)


@router.post("/bulk", response_class=HTMLResponse)
async def bulk(request: Request, ctx: Ctx, who: PageUser) -> Response:
    """Bulk actions on the cases ticked on a list page; each case in its own transaction."""
    from api.pages import render

    form = await request.form()
    check_csrf(who, _get(form, "csrf"))
    action = _get(form, "action")
    case_nos = [str(v) for v in form.getlist("case_no") if isinstance(v, str)]
    results = await run_in_threadpool(rc.do_bulk, ctx, who, action, case_nos, handler=_get(form, "handler") or None,
                                      department=_get(form, "department") or None,
                                      reason=_get(form, "reason") or None)
    return render(request, "bulk_result.html.j2", who=who, title=rc.BULK_ACTIONS.get(action, action),
                  results=results, back=_safe_back(_get(form, "back")))


def _safe_back(target: str) -> str:
    return target if target.startswith("/") and not target.startswith("//") and "\\" not in target else "/queue"


__all__ = ["router"]
