"""The API's and the pages' adapter over the application layer (services/): each call checks access,
runs the command or query in one unit of work, and maps refusals to `Refused` with the HTTP status
they answer with. What the commands do is services/cases.py's; the SQL is models/queries.py's.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel
from sqlalchemy.orm import Session

from api import access
from api.deps import Context, Principal
from api.errors import NUL_REFUSED, PERMISSION_NAMES, Refused, forbidden
from api.schemas import (
    AssignIn,
    AtIn,
    CloseIn,
    ExtendIn,
    NewFactsIn,
    NoBody,
    PauseIn,
    ReopenIn,
    RespondIn,
    ReviewIn,
)
from domain.deadlines import SHANGHAI
from domain.field_names import refusal
from domain.lifecycle import IllegalTransition, Status
from domain.report import ReportContent
from models.anchors import AnchorError, key_from_env, verify_with_anchors
from models.audit_chain import VerifyResult
from models.case_views import CaseDetail, CaseSummary, status_choices
from models.queries import (
    ReportListing,
    case_row,
    cases_in_scope,
    escalations_of,
)
from models.queries_workbench import EscalationItem
from models.schemas import SubmitResult
from models.submission import KeyReused
from models.users import ROLE_NAMES
from notifications.report_render import render_html, table_csv
from services import cases
from services.cases import (
    CASE_ACTIONS,
    AcknowledgeEscalationResult,
    ActionError,
    ActionResult,
    CaseAction,
)

DUE_SOON = timedelta(days=3)
__all__ = ["ACTIONS", "DUE_SOON", "NUL_REFUSED", "PERMISSION_NAMES", "Refused", "forbidden"]


def nul_fields(value: Any, path: str = "") -> list[str]:
    """Fields holding a NUL character: PostgreSQL cannot store one, so it is refused everywhere."""
    if isinstance(value, str):
        return [path or "(value)"] if "\x00" in value else []
    if isinstance(value, dict):
        return [f for k, v in value.items() for f in nul_fields(v, f"{path}.{k}".lstrip("."))] + (
            [f"{path}.{k}".lstrip(".") for k in value if isinstance(k, str) and "\x00" in k])
    if isinstance(value, list):
        return [f for i, v in enumerate(value) for f in nul_fields(v, f"{path}[{i}]")]
    return []


def refuse_nul(value: Any) -> None:
    if bad := nul_fields(value):
        raise Refused(422, "输入有误，未保存", [refusal(f, NUL_REFUSED) for f in bad])


def _need(who: Principal, permission: str) -> None:
    if not access.allowed(who.user, permission):
        raise Refused(403, forbidden(who.user.role, permission))


# ---------------------------------------------------------------- submit

BACKDATE_APPROVERS = frozenset({"cpo", "admin"})  # may register a receipt older than the backdating window


def submit_complaint(ctx: Context, who: Principal, raw: Any, *, idempotency_key: str | None) -> SubmitResult:
    """Validate and store one complaint as `complaints submit` does; the key stands in for external_ref."""
    _need(who, "submit")
    if not isinstance(raw, dict):
        raise Refused(422, "请求正文须为一件投诉（JSON 对象）", [refusal("(body)", "须为 JSON 对象")])
    refuse_nul(raw)
    if idempotency_key is not None:
        refuse_nul({"Idempotency-Key": idempotency_key})
        key = idempotency_key.strip()
        if not 1 <= len(key) <= 128:
            raise Refused(422, "幂等键无效", [refusal("Idempotency-Key", "须为 1 至 128 个字符")])
        if raw.get("external_ref") is None:
            raw = {**raw, "external_ref": key}
    parsed, problems = cases.validate(ctx, raw, now=ctx.now(), window=True,
                                      may_approve=who.user.role in BACKDATE_APPROVERS)
    if problems[0] or parsed[0] is None:
        raise Refused(422, "投诉内容有误，未保存", problems[0])
    try:
        # The batcher stores per user: the user is the client whose idempotency keys these are.
        result = ctx.batcher.submit(parsed[0], who.user.username)
    except KeyReused as exc:
        raise Refused(422, "幂等键已用于另一件投诉，未保存", exc.problems) from None
    cases.announce_submitted(ctx, [result])
    return result


# ---------------------------------------------------------------- reading cases


def visible_row(session: Session, ctx: Context, who: Principal, case_no: str) -> Any:
    """The case, if the caller may see it; a case outside its scope is answered exactly as an
    unknown one (404, same body), so case numbers cannot be probed."""
    row = case_row(session, case_no)
    if row is None:
        raise Refused(404, f"没有案件 {case_no!r}")
    if not access.can_see(who.user, row, ctx.config):
        raise Refused(404, f"没有案件 {case_no!r}", denied=True)
    return row


def view_case(ctx: Context, who: Principal, case_no: str, *, unmask: bool = False, via: str = "api") -> CaseDetail:
    """The case with its timeline; unmasked only for roles that need it, and that view is audited."""
    _need(who, "read_cases")
    with ctx.unit() as uow:
        row = visible_row(uow.session, ctx, who, case_no)
        if unmask and not access.may_unmask(who.user, row, ctx.config):
            raise Refused(403, refusal("unmask", f"“{ROLE_NAMES.get(who.user.role, who.user.role)}”只能查看脱敏后的个人信息"))
        detail = cases.view(uow, case_no, unmask=unmask, actor=who.user.username, why=f"{via}: case view unmasked")
        if detail is None:  # pragma: no cover - the row was just read
            raise Refused(404, f"没有案件 {case_no!r}")
    return detail


def list_visible(ctx: Context, who: Principal, *, status: str | None = None, department: str | None = None,
                 overdue: bool = False, due_within: timedelta | None = None, limit: int = 200,
                 now: datetime | None = None) -> list[CaseSummary]:
    """The cases the caller may see, as `complaints list` selects them (open pauses counted for overdue)."""
    _need(who, "read_cases")
    now = now or ctx.now()
    if status and status not in {s.value for s in Status}:
        raise Refused(422, "筛选条件无效", [f"status（状态）: {status!r} 不是可选值之一：{status_choices()}"])
    with ctx.session() as s:
        return cases_in_scope(s, access.scope(who.user, ctx.config), now=now, status=status, department=department,
                              overdue=overdue, due_before=now + due_within if due_within is not None else None,
                              limit=limit, keep=lambda r: access.can_see(who.user, r, ctx.config))


# ---------------------------------------------------------------- actions


class Action:
    """A case action as the web offers it: its request body beside the application's command."""

    def __init__(self, body: type[BaseModel], spec: CaseAction) -> None:
        self.body, self.spec = body, spec

    @property
    def title(self) -> str:
        return self.spec.title

    @property
    def event(self) -> str:
        return self.spec.event


_BODIES: dict[str, type[BaseModel]] = {
    "acknowledge": NoBody, "assign": AssignIn, "pause": PauseIn, "resume": AtIn, "new-facts": NewFactsIn,
    "extend": ExtendIn, "respond": RespondIn, "close": CloseIn, "withdraw": AtIn, "reopen": ReopenIn,
    "review": ReviewIn,
}
ACTIONS: dict[str, Action] = {name: Action(_BODIES[name], spec) for name, spec in CASE_ACTIONS.items()}


def act(ctx: Context, who: Principal, case_no: str, action: str, body: BaseModel) -> ActionResult:
    """One action on one case in one transaction; 409 naming both states when the lifecycle refuses."""
    spec = ACTIONS[action].spec
    _need(who, spec.permission)
    refuse_nul(body.model_dump(mode="json"))
    command = spec.command(**body.model_dump())
    with ctx.unit() as uow:
        row = visible_row(uow.session, ctx, who, case_no)
        try:
            return cases.act(uow, case_no, action, command, actor=who.user.username)
        except IllegalTransition as exc:
            raise Refused(409, str(exc), [str(exc)], exc.current.value, exc.target.value) from None
        except ActionError as exc:
            state_problem = all(p.startswith("case（") for p in exc.problems)
            raise Refused(409 if state_problem else 422, str(exc), exc.problems,
                          row.status if state_problem else None) from None


# ---------------------------------------------------------------- escalations


def escalations_for(ctx: Context, who: Principal, *, open_only: bool = True) -> list[EscalationItem]:
    _need(who, "escalations")
    person = who.user.person_id
    if not person:
        return []
    with ctx.session() as s:
        return escalations_of(s, person, open_only=open_only)


def ack_escalation(ctx: Context, who: Principal, case_no: str, level: int) -> AcknowledgeEscalationResult:
    _need(who, "escalations")
    if not who.user.person_id:
        raise Refused(422, "本账号未关联组织架构中的人员，不能确认督办", [refusal("by", "本账号未关联组织架构中的人员")])
    with ctx.unit() as uow:
        visible_row(uow.session, ctx, who, case_no)
        try:
            return cases.acknowledge_escalation(uow, case_no=case_no, level=level, by=who.user.person_id)
        except ActionError as exc:
            raise Refused(422, str(exc), exc.problems) from None


# ---------------------------------------------------------------- reports and audit


def reports(ctx: Context, who: Principal) -> list[ReportListing]:
    _need(who, "reports")
    with ctx.unit() as uow:
        return cases.reports(uow)


def report(ctx: Context, who: Principal, week: str) -> dict[str, Any]:
    _need(who, "reports")
    with ctx.unit() as uow:
        snap = cases.report(uow, week)
    if snap is None:
        raise Refused(404, refusal("week", f"{week!r} 没有已冻结的周报"))
    return {"week": snap.week, "version": snap.version, "generated_at": snap.generated_at, "sha256": snap.sha256,
            "input_rows": snap.input_rows, "content": json.loads(snap.content)}


def report_html(ctx: Context, who: Principal, week: str) -> str:
    from models.report_html import latest_html  # the page rendered at the freeze (issue 15)

    r = report(ctx, who, week)
    with ctx.unit() as uow:
        page = latest_html(uow.session, week)
    if page is not None:
        return page
    return render_html(ReportContent.from_dict(r["content"]), version=r["version"],
                       generated_at=r["generated_at"].astimezone(SHANGHAI).isoformat(),
                       sha256=r["sha256"], institution=ctx.config.institution)


def report_csv(ctx: Context, who: Principal, week: str, table: str) -> str:
    tables = ReportContent.from_dict(report(ctx, who, week)["content"]).tables
    found = tables.get(table)
    if found is None:
        raise Refused(404, refusal("table", f"周报 {week} 没有表 {table!r}"),
                      [refusal("table", f"须为以下之一：{'、'.join(sorted(t.key for t in tables))}")])
    return table_csv(found)


def report_verify(ctx: Context, who: Principal, week: str) -> dict[str, Any]:
    _need(who, "reports")
    # imports Prefect: only when a report is verified
    from flows.weekly_report import verify_weekly_report

    try:
        with ctx.serial():
            outcome = verify_weekly_report(ctx.engine, ctx.config, week)
    except ValueError as exc:
        raise Refused(422, str(exc), [refusal("week", str(exc).removeprefix("报告周（--week）："))]) from None
    return outcome.as_dict()


def audit_verify(ctx: Context, who: Principal, *, full: bool = False) -> VerifyResult:
    """The chain from the last verified anchor (at once), or from genesis with `full`, against every anchor."""
    _need(who, "audit")
    try:
        key = key_from_env()
    except AnchorError:
        key = None  # a key set but unusable: verify without signatures (every anchor still compared)
    with ctx.serial():
        return verify_with_anchors(ctx.engine, key=key, full=full)
