"""The JSON API of 投诉治理 (docs/governance.md): call-backs, 整改 items, 回访率 / 满意度 per institution.
The outcome and the root cause go with `respond` and `close` (api/routes_api.py)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from api.deps import ApiUser, Ctx, no_nul_in_url
from api.governance_access import MANAGE, branches_of, callback_scope, need, plain, run
from api.routes_api import ERRORS
from api.serialize import local
from api.service import Refused, refuse_nul
from domain.governance import check_period
from models.governance import callback_rates
from services import governance

router = APIRouter(prefix="/api", tags=["governance"], responses=ERRORS, dependencies=[Depends(no_nul_in_url)])
CaseNo = Annotated[str, Path(max_length=32)]
Ref = Annotated[str, Path(max_length=32)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class CallbackIn(_Body):
    result: Annotated[str, Field(max_length=16, description="reached（联系上） | unreachable（未接通）")]
    satisfaction: Annotated[str | None, Field(max_length=16, description="满意 / 基本满意 / 不满意 (when reached)")] = None
    then: Annotated[str | None, Field(max_length=16, description="不满意: reopen（重新处理） | review（核查）")] = None
    reason: Annotated[str | None, Field(max_length=2000, description="what the customer said (required with reopen)")] = None


class RemediationIn(_Body):
    title: Annotated[str, Field(min_length=1, max_length=500)]
    due: Annotated[str, Field(max_length=10, description="the due date, e.g. 2026-12-31")]
    from_case: Annotated[str | None, Field(max_length=32)] = None
    root_cause: Annotated[str | None, Field(max_length=32)] = None
    category: Annotated[str | None, Field(max_length=32)] = None
    branch: Annotated[str | None, Field(max_length=32)] = None
    owner_department: Annotated[str | None, Field(max_length=32)] = None
    owner_branch: Annotated[str | None, Field(max_length=32)] = None


class EvidenceIn(_Body):
    evidence: Annotated[str | None, Field(max_length=4000)] = None


@router.post("/complaints/{case_no}/callback", summary="one call-back attempt (回访); 不满意 may reopen or open a review")
def callback(case_no: CaseNo, body: CallbackIn, ctx: Ctx, who: ApiUser) -> Any:
    need(who, "act")
    refuse_nul(body.model_dump())
    out = run(ctx, lambda uow: governance.record_callback(uow, case_no=case_no, actor=who.user.username,
                                                          **body.model_dump()), case_no=case_no, who=who)
    return local(out)


@router.get("/callbacks", summary="待回访: open call-back rounds, the earliest due first")
def callbacks(ctx: Ctx, who: ApiUser) -> Any:
    need(who, "read_cases")
    return local(run(ctx, lambda uow: governance.pending_callbacks(uow, **callback_scope(ctx, who))))


@router.get("/governance/callback-rates", summary="回访率 and 满意度 per institution over rounds due in [start, end)")
def rates(ctx: Ctx, who: ApiUser, start: Annotated[AwareDatetime, Query()],
          end: Annotated[AwareDatetime, Query()]) -> Any:
    need(who, "reports")
    if problems := check_period(start, end):
        raise Refused(422, "输入有误", problems)
    with ctx.session() as s:
        return [r.as_dict() for r in callback_rates(s, start=start, end=end, branches=branches_of(ctx, who))]


@router.get("/remediation", summary="整改 items")
def remediation_list(ctx: Ctx, who: ApiUser, status: Annotated[str | None, Query(max_length=16)] = None) -> Any:
    need(who, "read_cases")
    return local(run(ctx, lambda uow: governance.list_remediation(uow, status=status, branches=branches_of(ctx, who))))


@router.post("/remediation", status_code=201, summary="open a 整改 item from a case or a pattern")
def remediation_add(body: RemediationIn, ctx: Ctx, who: ApiUser) -> Any:
    need(who, MANAGE)
    refuse_nul(body.model_dump())
    return plain(local(run(ctx, lambda uow: governance.add_remediation(uow, actor=who.user.username,
                                                                       **body.model_dump()))))


@router.get("/remediation/{ref}", summary="one 整改 item with its pattern's complaints 90 days before and after")
def remediation_item(ref: Ref, ctx: Ctx, who: ApiUser) -> Any:
    need(who, "read_cases")
    return local(run(ctx, lambda uow: governance.report(uow, ref)))


@router.post("/remediation/{ref}/close", summary="close a 整改 item (only with evidence)")
def remediation_close(ref: Ref, body: EvidenceIn, ctx: Ctx, who: ApiUser) -> Any:
    need(who, MANAGE)
    refuse_nul(body.model_dump())
    return local(run(ctx, lambda uow: governance.close_remediation(uow, ref=ref, evidence=body.evidence,
                                                                   actor=who.user.username)))
