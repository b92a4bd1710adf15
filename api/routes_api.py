"""The JSON API under /api (bearer tokens; a browser session works too, with its CSRF header)."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Header, Path, Query, Request, Response
from fastapi.responses import HTMLResponse, PlainTextResponse

from api import service
from api.deps import ApiUser, Ctx, no_nul_in_url
from api.schemas import (
    ActionOut,
    AssignIn,
    AtIn,
    AuditVerifyOut,
    CaseDetail,
    CloseIn,
    EscalationOut,
    ExtendIn,
    Me,
    NewFactsIn,
    NoBody,
    PauseIn,
    Problem,
    ReopenIn,
    ReportListItem,
    ReportOut,
    ReportVerifyOut,
    RespondIn,
    ReviewIn,
    SubmitOut,
)
from api.serialize import local
from domain.field_names import refusal

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "no or unknown credentials"},
    403: {"model": Problem, "description": "the role may not do this"},
    404: {"model": Problem, "description": "no such case or report; a case outside the caller's scope gets the same answer"},
    409: {"model": Problem, "description": "the lifecycle does not allow it (both states named)"},
    413: {"model": Problem, "description": "the body is larger than the limit (1 MiB by default), which is named"},
    422: {"model": Problem, "description": "invalid input (each bad field named; JSON deeper than 32 levels or an integer "
                                           "over 20 digits named as such); nothing stored"},
    503: {"model": Problem, "description": "the database is busy; retry after the Retry-After header's seconds"},
}

router = APIRouter(prefix="/api", responses=ERRORS, dependencies=[Depends(no_nul_in_url)])
CaseNo = Annotated[str, Path(min_length=1, max_length=32, description="受理编号, e.g. DL-2026-000123")]
Week = Annotated[str, Path(pattern=r"^\d{4}-W\d{2}$", description="ISO week, e.g. 2026-W47")]

COMPLAINT_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ComplaintIn"}}},
    }
}


@router.get("/me", response_model=Me, summary="who am I")
def me(who: ApiUser) -> dict[str, Any]:
    u = who.user
    return {"username": u.username, "display_name": u.display_name, "role": u.role, "person_id": u.person_id,
            "branch": u.branch}


@router.post("/complaints", status_code=201, response_model=SubmitOut, openapi_extra=COMPLAINT_BODY,
             summary="register a complaint (idempotent with Idempotency-Key)",
             responses={200: {"model": SubmitOut,
                              "description": "the same key (or external_ref) and body again from the same client: "
                                             "the first case; the same key with another body is 422"}})
async def post_complaint(request: Request, response: Response, ctx: Ctx, who: ApiUser,
                         idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None) -> Any:
    try:
        raw = json.loads(await request.body())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise service.Refused(422, "请求正文不是有效的 JSON", [refusal("(body)", f"不是有效的 JSON（{exc}）")]) from None
    from starlette.concurrency import run_in_threadpool

    result = await run_in_threadpool(service.submit_complaint, ctx, who, raw, idempotency_key=idempotency_key)
    if result.duplicate:
        response.status_code = 200
    return local(result.model_dump())


# GET /complaints (filters, cursor): api/routes_workbench.py


@router.get("/complaints/{case_no}", response_model=CaseDetail, summary="one case with its timeline")
def get_complaint(case_no: CaseNo, ctx: Ctx, who: ApiUser, unmask: bool = False) -> Any:
    return local(service.view_case(ctx, who, case_no, unmask=unmask, via="api"))


def _action(name: str) -> Any:
    def run(case_no: str, ctx: Any, who: Any, body: Any) -> Any:
        return local(service.act(ctx, who, case_no, name, body).as_dict())
    return run


@router.post("/complaints/{case_no}/acknowledge", response_model=ActionOut, summary="the handler acknowledges")
def acknowledge(case_no: CaseNo, ctx: Ctx, who: ApiUser) -> Any:
    return _action("acknowledge")(case_no, ctx, who, NoBody())


@router.post("/complaints/{case_no}/assign", response_model=ActionOut, summary="assign (or reassign) a handler")
def assign(case_no: CaseNo, body: AssignIn, ctx: Ctx, who: ApiUser) -> Any:
    return _action("assign")(case_no, ctx, who, body)


@router.post("/complaints/{case_no}/pause", response_model=ActionOut, summary="stop the clock (鉴定/检测/评估/调解)")
def pause(case_no: CaseNo, body: PauseIn, ctx: Ctx, who: ApiUser) -> Any:
    return _action("pause")(case_no, ctx, who, body)


@router.post("/complaints/{case_no}/resume", response_model=ActionOut, summary="start the clock again")
def resume(case_no: CaseNo, ctx: Ctx, who: ApiUser, body: Annotated[AtIn | None, Body()] = None) -> Any:
    return _action("resume")(case_no, ctx, who, body or AtIn())


@router.post("/complaints/{case_no}/new-facts", response_model=ActionOut, summary="new facts restart the clock")
def new_facts(case_no: CaseNo, body: NewFactsIn, ctx: Ctx, who: ApiUser) -> Any:
    return _action("new-facts")(case_no, ctx, who, body)


@router.post("/complaints/{case_no}/extend", response_model=ActionOut, summary="record an approved extension")
def extend(case_no: CaseNo, body: ExtendIn, ctx: Ctx, who: ApiUser) -> Any:
    return _action("extend")(case_no, ctx, who, body)


@router.post("/complaints/{case_no}/respond", response_model=ActionOut,
             summary="the decision (Art. 19) and how it was told (Art. 21)")
def respond(case_no: CaseNo, body: RespondIn, ctx: Ctx, who: ApiUser) -> Any:
    return _action("respond")(case_no, ctx, who, body)


@router.post("/complaints/{case_no}/close", response_model=ActionOut, summary="close a responded case")
def close(case_no: CaseNo, ctx: Ctx, who: ApiUser, body: Annotated[CloseIn | None, Body()] = None) -> Any:
    return _action("close")(case_no, ctx, who, body or CloseIn())


@router.post("/complaints/{case_no}/withdraw", response_model=ActionOut, summary="the complainant withdrew")
def withdraw(case_no: CaseNo, ctx: Ctx, who: ApiUser, body: Annotated[AtIn | None, Body()] = None) -> Any:
    return _action("withdraw")(case_no, ctx, who, body or AtIn())


@router.post("/complaints/{case_no}/reopen", response_model=ActionOut, summary="reopen a responded or closed case")
def reopen(case_no: CaseNo, body: ReopenIn, ctx: Ctx, who: ApiUser) -> Any:
    return _action("reopen")(case_no, ctx, who, body)


@router.post("/complaints/{case_no}/review", response_model=ActionOut, summary="request a review (核查, Art. 20)")
def review(case_no: CaseNo, body: ReviewIn, ctx: Ctx, who: ApiUser) -> Any:
    return _action("review")(case_no, ctx, who, body)


@router.get("/escalations/mine", response_model=list[EscalationOut], summary="escalations sent to me")
def my_escalations(ctx: Ctx, who: ApiUser, include_acknowledged: bool = False) -> Any:
    return local(service.escalations_for(ctx, who, open_only=not include_acknowledged))


@router.post("/complaints/{case_no}/escalations/{level}/acknowledge", response_model=ActionOut,
             summary="acknowledge an escalation sent to me")
def ack_escalation(case_no: CaseNo, level: Annotated[int, Path(ge=0, le=9)], ctx: Ctx, who: ApiUser) -> Any:
    return local(service.ack_escalation(ctx, who, case_no, level).as_dict())


@router.get("/reports", response_model=list[ReportListItem], summary="frozen weekly reports (latest version each)")
def list_reports(ctx: Ctx, who: ApiUser) -> Any:
    return local(service.reports(ctx, who))


@router.get("/reports/{week}", response_model=ReportOut, summary="one week's frozen figures")
def get_report(week: Week, ctx: Ctx, who: ApiUser) -> Any:
    return local(service.report(ctx, who, week))


@router.get("/reports/{week}/html", response_class=HTMLResponse, summary="the report as HTML",
            responses={200: {"content": {"text/html": {}}}})
def get_report_html(week: Week, ctx: Ctx, who: ApiUser) -> HTMLResponse:
    return HTMLResponse(service.report_html(ctx, who, week))


@router.get("/reports/{week}/csv/{table}", response_class=PlainTextResponse, summary="one table as CSV",
            responses={200: {"content": {"text/csv": {}}}})
def get_report_csv(week: Week, table: Annotated[str, Path(max_length=64)], ctx: Ctx, who: ApiUser) -> Response:
    body = "\ufeff" + service.report_csv(ctx, who, week, table)  # BOM: spreadsheet tools read the Chinese
    return Response(body, media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{week}-{table}.csv"'})


@router.get("/reports/{week}/verify", response_model=ReportVerifyOut, summary="recompute a frozen week")
def verify_report(week: Week, ctx: Ctx, who: ApiUser) -> Any:
    return service.report_verify(ctx, who, week)


@router.get("/audit/verify", response_model=AuditVerifyOut,
            summary="check the audit hash chain against its anchors (from the last verified anchor; full=true: all)")
def verify_audit(ctx: Ctx, who: ApiUser, full: Annotated[bool, Query()] = False) -> Any:
    return service.audit_verify(ctx, who, full=full).as_dict()
