"""What the API routes and the pages do, once: each call checks access, then calls the data
functions the CLI calls (submission, case views, case actions, escalation store, weekly report,
audit chain) in one transaction. Refusals are `Refused` with the HTTP status they map to.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Text, cast, func, select
from sqlalchemy.orm import Session

from api import access
from api.deps import Context, Principal, utcnow
from api.schemas import (
    AssignIn,
    AtIn,
    ExtendIn,
    NewFactsIn,
    NoBody,
    PauseIn,
    ReopenIn,
    RespondIn,
    ReviewIn,
)
from complaints.announce import announce_change, announce_submitted
from domain.field_names import refusal
from domain.lifecycle import IllegalTransition, Status
from models import case_actions
from models.anchors import AnchorError, key_from_env, verify_with_anchors
from models.audit_chain import VerifyResult
from models.case_views import case_detail, record_personal_data_view, select_cases, status_choices
from models.complaint import Complaint
from models.escalation import Escalation
from models.escalation_store import acknowledge_escalation
from models.report import ReportSnapshot
from models.schemas import SubmitResult
from models.sqlutil import table_of
from models.submission import KeyReused, validate_items
from models.users import ROLE_NAMES

COMPLAINT = table_of(Complaint)
ESC = table_of(Escalation)
SNAP = table_of(ReportSnapshot)
DUE_SOON = timedelta(days=3)


@dataclass
class Refused(Exception):
    status: int
    detail: str
    errors: list[str] = field(default_factory=list)
    current: str | None = None
    target: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"detail": self.detail, "errors": self.errors, "current": self.current, "target": self.target}


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


PERMISSION_NAMES = {"submit": "登记投诉", "read_cases": "查看案件", "unmask": "查看完整个人信息", "act": "办理案件",
                    "assign": "指派承办人", "escalations": "处理督办", "reports": "查看周报", "audit": "查看审计记录"}
NUL_REFUSED = "不能含有 NUL 字符（\\x00）"


def forbidden(role: str, permission: str) -> str:
    """The 403 detail: `role（角色）：“受理岗”无权办理案件`."""
    return refusal("role", f"“{ROLE_NAMES.get(role, role)}”无权{PERMISSION_NAMES.get(permission, permission)}")


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
    parsed, problems = validate_items(raw, config=ctx.config, now=utcnow(), window=True,
                                      may_approve=who.user.role in BACKDATE_APPROVERS)
    if problems[0] or parsed[0] is None:
        raise Refused(422, "投诉内容有误，未保存", problems[0])
    try:
        # The batcher stores per user: the user is the client whose idempotency keys these are.
        result = ctx.batcher.submit(parsed[0], who.user.username)
    except KeyReused as exc:
        raise Refused(422, "幂等键已用于另一件投诉，未保存", exc.problems) from None
    if not result.duplicate:
        announce_submitted([result.case_no], limit=ctx.config.policy.intake.event_batch_limit)
    return result


# ---------------------------------------------------------------- reading cases


def _row(session: Session, case_no: str) -> Any:
    row = session.execute(select(COMPLAINT).where(COMPLAINT.c.case_no == case_no)).first()
    if row is None:
        raise Refused(404, f"没有案件 {case_no!r}")
    return row


def visible_row(session: Session, ctx: Context, who: Principal, case_no: str) -> Any:
    """The case, if the caller may see it; a case outside its scope is answered exactly as an
    unknown one (404, same body), so case numbers cannot be probed."""
    row = _row(session, case_no)
    if not access.can_see(who.user, row, ctx.config):
        raise Refused(404, f"没有案件 {case_no!r}")
    return row


def view_case(ctx: Context, who: Principal, case_no: str, *, unmask: bool = False, via: str = "api") -> dict[str, Any]:
    """The case with its timeline; unmasked only for roles that need it, and that view is audited."""
    _need(who, "read_cases")
    with ctx.session() as s:
        row = visible_row(s, ctx, who, case_no)
        if unmask and not access.may_unmask(who.user, row, ctx.config):
            raise Refused(403, refusal("unmask", f"“{ROLE_NAMES.get(who.user.role, who.user.role)}”只能查看脱敏后的个人信息"))
        detail = case_detail(s, case_no, unmask=unmask, now=utcnow())
        if detail is None:  # pragma: no cover - the row was just read
            raise Refused(404, f"没有案件 {case_no!r}")
        if unmask:
            record_personal_data_view(s, case_no=case_no, actor=who.user.username, detail=f"{via}: case view unmasked")
    return detail


def list_visible(ctx: Context, who: Principal, *, status: str | None = None, department: str | None = None,
                 overdue: bool = False, due_within: timedelta | None = None, limit: int = 200,
                 now: datetime | None = None) -> list[dict[str, Any]]:
    """The cases the caller may see, as `complaints list` selects them (open pauses counted for overdue)."""
    _need(who, "read_cases")
    now = now or utcnow()
    stmt = select(COMPLAINT).where(access.scope(who.user, ctx.config))
    if status:
        if status not in {s.value for s in Status}:
            raise Refused(422, "筛选条件无效", [f"status（状态）: {status!r} 不是可选值之一：{status_choices()}"])
        stmt = stmt.where(COMPLAINT.c.status == status)
    if department:
        stmt = stmt.where(COMPLAINT.c.department == department)
    with ctx.session() as s:
        return select_cases(s, stmt, now=now, overdue=overdue,
                            due_before=now + due_within if due_within is not None else None, limit=limit,
                            keep=lambda r: access.can_see(who.user, r, ctx.config))


# ---------------------------------------------------------------- actions


def _announce(event: str) -> Callable[[dict[str, Any]], None]:
    return lambda out: announce_change(event, out)


@dataclass(frozen=True)
class Action:
    body: type[BaseModel]
    event: str
    title: str  # Chinese button text
    run: Callable[[Session, Context, str, Any, datetime, str], dict[str, Any]]


def _assign(s: Session, ctx: Context, case_no: str, b: AssignIn, now: datetime, actor: str) -> dict[str, Any]:
    fn = getattr(case_actions, "assign", None)
    if fn is None:
        raise Refused(409, "本版本不支持指派承办人")
    out: dict[str, Any] = fn(s, case_no=case_no, handler=b.handler, config=ctx.config, calendar=ctx.calendar,
                             now=now, actor=actor)
    return out


def _reopen(s: Session, ctx: Context, case_no: str, b: ReopenIn, now: datetime, actor: str) -> dict[str, Any]:
    fn = getattr(case_actions, "reopen", None)
    if fn is None:
        raise Refused(409, "本版本不支持重新处理")
    out: dict[str, Any] = fn(s, case_no=case_no, reason=b.reason, config=ctx.config, calendar=ctx.calendar,
                             now=now, actor=actor)
    return out


ACTIONS: dict[str, Action] = {
    "acknowledge": Action(NoBody, "complaint.acknowledged", "确认受理", lambda s, c, n, b, now, a: case_actions.acknowledge(
        s, case_no=n, config=c.config, calendar=c.calendar, now=now, actor=a)),
    "assign": Action(AssignIn, "complaint.assigned", "指派承办人", _assign),
    "pause": Action(PauseIn, "complaint.paused", "中止计时", lambda s, c, n, b, now, a: case_actions.pause(
        s, case_no=n, reason=b.reason, evidence=b.evidence, at=b.at or now, config=c.config, calendar=c.calendar,
        now=now, actor=a)),
    "resume": Action(AtIn, "complaint.resumed", "恢复计时", lambda s, c, n, b, now, a: case_actions.resume(
        s, case_no=n, at=b.at or now, config=c.config, calendar=c.calendar, now=now, actor=a)),
    "new-facts": Action(NewFactsIn, "complaint.restarted", "新事实重新计时", lambda s, c, n, b, now, a: case_actions.new_facts(
        s, case_no=n, at=b.at, config=c.config, calendar=c.calendar, now=now, actor=a)),
    "extend": Action(ExtendIn, "complaint.extended", "延期", lambda s, c, n, b, now, a: case_actions.extend(
        s, case_no=n, to=b.to, approver=b.approver, approver_org=b.approver_org, approval_ref=b.approval_ref,
        reason=b.reason, customer_told_at=b.customer_told_at, customer_told_via=b.customer_told_via,
        config=c.config, calendar=c.calendar, now=now, actor=a)),
    "respond": Action(RespondIn, "complaint.responded", "答复", lambda s, c, n, b, now, a: case_actions.respond(
        s, case_no=n, verified=b.verified, basis=b.basis, remedies=b.remedies, told_via=b.told_via,
        told_at=b.told_at or now, config=c.config, calendar=c.calendar, now=now, actor=a)),
    "close": Action(NoBody, "complaint.closed", "办结", lambda s, c, n, b, now, a: case_actions.close(
        s, case_no=n, config=c.config, calendar=c.calendar, now=now, actor=a)),
    "withdraw": Action(AtIn, "complaint.withdrawn", "撤诉", lambda s, c, n, b, now, a: case_actions.withdraw(
        s, case_no=n, at=b.at or now, config=c.config, calendar=c.calendar, now=now, actor=a)),
    "reopen": Action(ReopenIn, "complaint.reopened", "重新处理", _reopen),
    "review": Action(ReviewIn, "complaint.review_opened", "申请核查", lambda s, c, n, b, now, a: case_actions.review(
        s, case_no=n, requested_at=b.requested_at, config=c.config, calendar=c.calendar, now=now, actor=a)),
}


def act(ctx: Context, who: Principal, case_no: str, action: str, body: BaseModel) -> dict[str, Any]:
    """One action on one case in one transaction; 409 naming both states when the lifecycle refuses."""
    spec = ACTIONS[action]
    _need(who, "assign" if action == "assign" else "act")
    refuse_nul(body.model_dump(mode="json"))
    now = utcnow()
    try:
        with ctx.session() as s:
            row = visible_row(s, ctx, who, case_no)
            try:
                out = spec.run(s, ctx, case_no, body, now, who.user.username)
            except IllegalTransition as exc:
                raise Refused(409, str(exc), [str(exc)], exc.current.value, exc.target.value) from None
            except case_actions.ActionError as exc:
                state_problem = all(p.startswith("case（") for p in exc.problems)
                raise Refused(409 if state_problem else 422, str(exc), exc.problems,
                              row.status if state_problem else None) from None
    except Refused:
        raise
    _announce(spec.event)(out)
    return out


# ---------------------------------------------------------------- escalations


def escalations_for(ctx: Context, who: Principal, *, open_only: bool = True) -> list[dict[str, Any]]:
    _need(who, "escalations")
    person = who.user.person_id
    if not person:
        return []
    escaped = person.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    stmt = select(ESC).where(cast(ESC.c.recipients, Text).like(f'%"{escaped}"%', escape="\\"))
    if open_only:
        stmt = stmt.where(ESC.c.acknowledged_at.is_(None))
    with ctx.session() as s:
        rows = s.execute(stmt.order_by(ESC.c.fired_at.desc()).limit(500)).all()
    return [{"case_no": r.case_no, "level": r.level, "name": r.name, "reason": r.reason, "due_at": r.due_at,
             "fired_at": r.fired_at, "acknowledged_at": r.acknowledged_at, "acknowledged_by": r.acknowledged_by}
            for r in rows if any(x.get("person") == person for x in r.recipients)]


def ack_escalation(ctx: Context, who: Principal, case_no: str, level: int) -> dict[str, Any]:
    _need(who, "escalations")
    if not who.user.person_id:
        raise Refused(422, "本账号未关联组织架构中的人员，不能确认督办", [refusal("by", "本账号未关联组织架构中的人员")])
    with ctx.session() as s:
        visible_row(s, ctx, who, case_no)
        try:
            out = acknowledge_escalation(s, case_no=case_no, level=level, by=who.user.person_id, now=utcnow())
        except ValueError as exc:
            raise Refused(422, str(exc), [str(exc)]) from None
    announce_change("complaint.escalation_acknowledged", out)
    return out


# ---------------------------------------------------------------- reports and audit


def reports(ctx: Context, who: Principal) -> list[dict[str, Any]]:
    _need(who, "reports")
    latest = select(SNAP.c.week, func.max(SNAP.c.version).label("v")).group_by(SNAP.c.week).subquery()
    stmt = (select(SNAP.c.week, SNAP.c.version, SNAP.c.generated_at, SNAP.c.sha256, SNAP.c.input_rows)
            .join(latest, (latest.c.week == SNAP.c.week) & (latest.c.v == SNAP.c.version))
            .order_by(SNAP.c.week.desc()))
    with ctx.session() as s:
        return [dict(r._mapping) for r in s.execute(stmt)]


def report(ctx: Context, who: Principal, week: str) -> dict[str, Any]:
    _need(who, "reports")
    from models.report import latest_snapshot

    with ctx.session() as s:
        snap = latest_snapshot(s, week)
    if snap is None:
        raise Refused(404, refusal("week", f"{week!r} 没有已冻结的周报"))
    return {"week": snap.week, "version": snap.version, "generated_at": snap.generated_at, "sha256": snap.sha256,
            "input_rows": snap.input_rows, "content": json.loads(snap.content)}


def report_html(ctx: Context, who: Principal, week: str) -> str:
    from domain.deadlines import SHANGHAI
    from flows.report_render import render_html

    from models.report_html import latest_html  # the page rendered at the freeze (issue 15)

    r = report(ctx, who, week)
    with ctx.session() as s:
        page = latest_html(s, week)
    if page is not None:
        return page
    return render_html(r["content"], version=r["version"], generated_at=r["generated_at"].astimezone(SHANGHAI).isoformat(),
                       sha256=r["sha256"], institution=ctx.config.institution)


def report_csv(ctx: Context, who: Principal, week: str, table: str) -> str:
    from flows.report_render import table_csv

    tables = report(ctx, who, week)["content"]["tables"]
    if table not in tables:
        raise Refused(404, refusal("table", f"周报 {week} 没有表 {table!r}"),
                      [refusal("table", f"须为以下之一：{'、'.join(sorted(tables))}")])
    return str(table_csv(tables[table]))


def report_verify(ctx: Context, who: Principal, week: str) -> dict[str, Any]:
    _need(who, "reports")
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
