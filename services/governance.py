"""投诉治理 commands (issue 16, the case level; docs/governance.md): call-backs, remediation (整改) and
its overdue sweep, and the governance view of a case. Each takes a UnitOfWork (one transaction): a
refusal raises `ActionError` naming its field before anything is written.

The outcome at response and the root cause at close are recorded by the case actions themselves
(models/case_actions.respond / close call models/governance.py).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from domain.deadlines import end_of_local_day, local_date, local_text
from domain.escalation import case_chain, resolve_recipients
from domain.governance import (
    REMEDIATION_LEVELS,
    Followup,
    check_callback,
    check_close_remediation,
    check_remediation,
    refuse,
    remediation_level,
)
from domain.masking import mask_free_text
from domain.messages import ChainEntry, RemediationOverdue
from domain.org import ChainLevel
from domain.taxonomy import Dimension, name_of, resolve
from models import case_actions
from models import governance as store
from models.case_actions import ActionError, load_case
from models.outbox_writer import OutboxItem, enqueue
from services.unit_of_work import UnitOfWork
from settings.config import Config

TOP_LEVEL = REMEDIATION_LEVELS[-1][0]


# ---------------------------------------------------------------- call-back


def record_callback(uow: UnitOfWork, *, case_no: str, result: str, satisfaction: str | None = None,
                    then: str | None = None, reason: str | None = None, actor: str) -> dict[str, Any]:
    """One call-back attempt on the case's open round; 不满意 may reopen it or open a review (核查) at once."""
    s = uow.session
    row = load_case(s, case_no)
    cb = store.pending_callback(s, row.id)
    if cb is None:
        raise ActionError([refuse("case", f"案件 {case_no} 没有待回访的记录（答复后才安排回访）")])
    step, problems = check_callback(attempts=cb.attempts, result=result, satisfaction=satisfaction, then=then,
                                    reason=reason)
    if problems or step is None:
        raise ActionError(problems)
    note = mask_free_text((reason or "").strip(), names=(row.complainant_name, row.agent_name))[:200]
    out: dict[str, Any] = {"case_no": row.case_no,
                           "callback": store.record_attempt(s, row=cb, step=step, now=uow.now, actor=actor, note=note)}
    if step.followup is Followup.REOPEN:
        follow = case_actions.reopen(s, case_no=case_no, reason=f"回访不满意：{(reason or '').strip()}",
                                     config=uow.config, calendar=uow.calendar, now=uow.now, actor=actor).as_dict()
        out["followup"] = follow
        uow.announce("complaint.reopened", follow)
    elif step.followup is Followup.REVIEW:
        follow = case_actions.review(s, case_no=case_no, requested_at=uow.now, config=uow.config,
                                     calendar=uow.calendar, now=uow.now, actor=actor).as_dict()
        out["followup"] = follow
        uow.announce("complaint.review_opened", follow)
    return out


def pending_callbacks(uow: UnitOfWork, *, branches: set[str] | None = None,
                      handler: str | None = None) -> list[dict[str, Any]]:
    """待回访 (the institutions `branches`, or one handler's cases; None: all)."""
    return store.pending_callbacks(uow.session, now=uow.now, branches=branches, handler=handler)


# ---------------------------------------------------------------- remediation


def _parse_due(value: date | str | None) -> date | None:
    if value is None or isinstance(value, date):
        return value
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise ActionError([refuse("due", f"{value!r} 不是日期（如 2026-12-31）")]) from None


def branch_and_below(config: Config, branch: str) -> set[str]:
    """The institution and every branch under it (a sub-branch's outlets count for the branch)."""
    org = config.org
    return {code for code in org.branches if any(b.code == branch for b in org.ancestry(code))}


def add_remediation(uow: UnitOfWork, *, title: str, due: date | str | None, actor: str,
                    from_case: str | None = None, root_cause: str | None = None, category: str | None = None,
                    branch: str | None = None, owner_department: str | None = None,
                    owner_branch: str | None = None) -> dict[str, Any]:
    """Open an item from one case (its root cause, category, branch and department by default) or from a
    pattern (root cause × category × institution, with the owning department)."""
    s, config, org = uow.session, uow.config, uow.config.org
    problems = check_remediation(title=title, due=_parse_due(due), today=local_date(uow.now))
    case_row = None
    if from_case:
        case_row = load_case(s, from_case)
        if root_cause is None:
            existing = store.outcome_of(s, case_row.id)
            root_cause = existing.root_cause if existing is not None else None
        category = category or case_row.category
        branch = branch or case_row.branch
        owner_department = owner_department or case_row.department
        owner_branch = owner_branch or case_row.department_branch or case_row.branch
    cause = store.root_causes(config).resolve(root_cause) if root_cause else None
    if cause is None:
        what = f"{root_cause!r} 不是可选值之一" if root_cause else "必填（案件尚未溯源时须写明）"
        problems.append(refuse("root-cause", f"{what}：{store.root_causes(config).choices()}"))
    cat_code: str | None = None
    if category:
        term = resolve(Dimension.CATEGORY, category)
        if term is None:
            problems.append(refuse("category", f"{category!r} 不是 JR/T 0169 业务类别（名称或 B01…B14）"))
        else:
            cat_code = term.code
    if not branch:
        problems.append(refuse("branch", "必填（模式所在机构，如 dl）"))
    elif branch not in org.branches:
        problems.append(refuse("branch", f"组织架构中没有机构 {branch!r}"))
    owner_branch = owner_branch or branch
    if not owner_department:
        problems.append(refuse("owner-department", "必填（org.yaml 的部门代码，如 card）"))
    elif not owner_branch or owner_branch not in org.branches \
            or org.find_department(owner_branch, owner_department) is None:
        problems.append(refuse("owner-department", f"机构 {owner_branch!r} 没有部门 {owner_department!r}"))
    if problems:
        raise ActionError(problems)
    assert cause is not None and branch is not None and owner_branch is not None and owner_department is not None
    due_date = _parse_due(due)
    assert due_date is not None
    values = {"title": title.strip(), "source": "case" if case_row is not None else "pattern",
              "complaint_id": case_row.id if case_row is not None else None,
              "case_no": case_row.case_no if case_row is not None else None, "root_cause": cause.code,
              "category": cat_code, "branch": branch, "owner_branch": owner_branch,
              "owner_department": owner_department, "due_at": end_of_local_day(due_date), "status": "open",
              "escalated_level": 0, "opened_at": uow.now, "opened_by": actor, "updated_at": uow.now}
    row = store.insert_remediation(s, values=values, now=uow.now, actor=actor)
    return report(uow, row.ref)


def close_remediation(uow: UnitOfWork, *, ref: str, evidence: str | None, actor: str) -> dict[str, Any]:
    """Close an item; only with evidence (制度修订、系统变更单号、培训记录 …)."""
    row = store.remediation_row(uow.session, ref, lock=True)
    if row is None:
        raise ActionError([refuse("remediation", f"没有整改事项 {ref!r}")])
    if row.status != "open":
        raise ActionError([refuse("remediation", f"整改事项 {ref} 已于 {local_text(row.closed_at)} 销号")])
    if problems := check_close_remediation(evidence):
        raise ActionError(problems)
    assert evidence is not None
    store.close_remediation_row(uow.session, row=row, evidence=evidence.strip(), now=uow.now, actor=actor)
    return report(uow, ref)


def list_remediation(uow: UnitOfWork, *, status: str | None = None,
                     branches: set[str] | None = None) -> list[dict[str, Any]]:
    if status not in (None, "open", "closed"):
        raise ActionError([refuse("status", f"{status!r} 不是可选值之一：open（整改中）、closed（已销号）")])
    items = store.list_remediations(uow.session, status=status, branches=branches)
    return [{**i, "title": mask_free_text(i["title"]), "overdue": i["status"] == "open" and i["due_at"] < uow.now}
            for i in items]


def pattern_text(config: Config, *, root_cause: str, category: str | None, branch: str) -> str:
    cause = store.root_causes(config).by_code(root_cause)
    cat = name_of(Dimension.CATEGORY, category) if category else "全部业务类别"
    where = config.org.branches[branch].name if branch in config.org.branches else branch
    return f"{cause.name if cause else root_cause} × {cat} × {where}"


def report(uow: UnitOfWork, ref: str) -> dict[str, Any]:
    """The item, its pattern in words, and the complaints of that pattern received in the 90 days before it
    was opened and in the 90 days from its close (from its opening while it is still open)."""
    row = store.remediation_row(uow.session, ref)
    if row is None:
        raise ActionError([refuse("remediation", f"没有整改事项 {ref!r}")])
    item = {**store.remediation_dict(row), "title": mask_free_text(row.title)}  # personal data masked
    branches = branch_and_below(uow.config, row.branch)
    before, _ = store.pattern_counts(uow.session, root_cause=row.root_cause, category=row.category,
                                     branches=branches, at=row.opened_at)
    after_from = row.closed_at or row.opened_at
    _, after = store.pattern_counts(uow.session, root_cause=row.root_cause, category=row.category,
                                    branches=branches, at=after_from)
    return {**item, "overdue": row.status == "open" and row.due_at < uow.now,
            "pattern": pattern_text(uow.config, root_cause=row.root_cause, category=row.category, branch=row.branch),
            "before_90_days": before, "after_90_days": after, "after_from": after_from}


def remediation_link(config: Config, ref: str) -> str:
    base = config.policy.case_link_base
    return f"{base.removesuffix('/').removesuffix('cases')}remediation/{ref}"


def _level_spec(config: Config, level: int) -> tuple[str, tuple[ChainLevel, ...]]:
    for lv in config.escalation.policy().levels:
        if lv.level == level:
            return lv.name, lv.notify
    return f"第 {level} 级整改督办", (ChainLevel.PRESIDENT,)


def sweep_remediation(uow: UnitOfWork) -> dict[str, Any]:
    """Every open item past its due date goes up the 一把手 chain: each level it has reached and not yet
    been escalated to is queued once (outbox dedupe key `<ref>:remediation_overdue:<level>`)."""
    s, config, now = uow.session, uow.config, uow.now
    fired: list[dict[str, Any]] = []
    for row in store.overdue_open_rows(s, now=now, max_level=TOP_LEVEL):
        target = remediation_level(row.due_at, now)
        late = (local_date(now) - local_date(row.due_at)).days
        chain = case_chain(config.org, branch=row.owner_branch, department_branch=row.owner_branch,
                           department=row.owner_department, handler=None)
        found = config.org.find_department(row.owner_branch, row.owner_department)
        owner = f"{config.org.branches[row.owner_branch].name} {found[1].name}" if found else row.owner_department
        entries = tuple(ChainEntry(m.title, config.org.people[m.person_id].name, m.acting) for m in chain
                        if m.person_id in config.org.people)
        current = row.escalated_level
        for level in range(current + 1, target + 1):
            name, seats = _level_spec(config, level)
            recipients = [r.person_id for r in resolve_recipients(chain, seats)]
            ctx = RemediationOverdue(
                ref=row.ref, title=mask_free_text(row.title)[:200], level=level, level_title=name,
                late_by=f"已逾期 {late} 天", due_at=local_text(row.due_at), owner=owner,
                pattern=pattern_text(config, root_cause=row.root_cause, category=row.category, branch=row.branch),
                case_no=row.case_no or "", chain=entries, link=remediation_link(config, row.ref))
            enqueue(s, [OutboxItem("remediation_overdue", p, f"{row.ref}:remediation_overdue:{level}", ctx,
                                   row.complaint_id, row.case_no) for p in recipients], org=config.org, now=now)
            store.mark_escalated(s, row=row, before_level=current, level=level, recipients=recipients, now=now,
                                 late_days=late)
            current = level
            fired.append({"ref": row.ref, "level": level, "name": name, "recipients": recipients,
                          "late_days": late})
    return {"fired": len(fired), "escalations": fired}


# ---------------------------------------------------------------- the case page


def case_governance(session: Session, config: Config, complaint_id: int) -> dict[str, Any]:
    """The outcome, root cause, call-back rounds and remediation items of one case (case page, letter)."""
    names = {c.code: c.name for c in store.root_causes(config).causes}
    return {"outcome": store.outcome_view(session, complaint_id, names=names),
            "callbacks": store.callbacks_of(session, complaint_id),
            "remediations": [{**i, "title": mask_free_text(i["title"])}
                             for i in store.list_remediations(session, complaint_id=complaint_id)]}


def root_cause_choices(config: Config) -> list[dict[str, str]]:
    return [{"code": c.code, "name": c.name, "jrt": c.jrt, "jrt_name": name_of(Dimension.CAUSE, c.jrt)}
            for c in store.root_causes(config).causes]
