"""The handler's workbench: my queue, the case lists with their filters and keyset pages, search,
and saved views. Every list is the caller's scope (services/access.scope: participants, branch) and its
personal data is masked (a role that may unmask opens the case).

Filters come in as query parameters (the pages' form, the API, a saved view): `parse_filter`
checks each and names the field in Chinese when one is wrong; nothing is read then.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Generic, TypedDict
from urllib.parse import parse_qsl, urlencode

from sqlalchemy import ColumnElement, select

from domain.deadlines import SHANGHAI
from domain.lifecycle import STATUS_NAMES
from domain.taxonomy import SEVERITY_NAMES, SOURCE_NAMES, TAG_NAMES, UNTRIAGED
from models.case_views import CaseSummary, CurrentDue
from models.queries_workbench import (
    COUNT_CAP,
    DUE,
    NEWEST,
    PAGE_SIZE,
    SAVED,
    BadCursor,
    CaseFilter,
    EscalationItem,
    ItemT,
    Page,
    conditions,
    count,
    escalations_page,
    page,
    person_queue,
    window_counts,
)
from models.search import MIN_TERM, short_terms, terms_of
from models.users import User
from services import access
from services.unit_of_work import UnitOfWork

DUE_SOON = timedelta(days=3)
MAX_PAGE = 1000  # the API's old limit
LABELS = {
    "status": "状态", "department": "承办部门", "handler": "承办人", "branch": "受理机构", "outlet": "网点",
    "category": "业务类别", "severity": "严重程度", "tags": "敏感标签", "source": "投诉来源",
    "received_from": "收到时间起", "received_to": "收到时间止", "due_from": "答复期限起", "due_to": "答复期限止",
    "overdue": "已逾期", "due_within_days": "几日内到期", "paused": "中止计时", "triage": UNTRIAGED,
    "escalated_level": "督办级别", "mine": "我参与的", "q": "搜索词", "phone": "电话号码", "id_number": "证件号码",
    "card": "银行卡号", "sort": "排序", "open": "未办结", "cursor": "翻页位置", "limit": "每页条数",
    "view": "已存视图", "name": "视图名称",
}
TEXT_FIELDS = ("department", "handler", "branch", "outlet", "category")
BOOL_FIELDS = ("overdue", "paused", "triage", "mine", "open")
KNOWN = frozenset(LABELS) | {"csrf"}


class FilterError(ValueError):
    """Bad filter input: each problem names its field in Chinese."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def problem(name: str, text: str) -> str:
    return f"{name}（{LABELS.get(name, name)}）：{text}"


def _values(params: Mapping[str, Any], name: str) -> list[str]:
    raw = params.get(name)
    items = raw if isinstance(raw, list | tuple) else [raw] if raw is not None else []
    return [v.strip() for item in items for v in str(item).split(",") if v.strip()]


def _when(name: str, value: str, problems: list[str], *, end: bool = False) -> datetime | None:
    """An ISO date (a Beijing day: its start, or with `end` the next day's start) or an instant with offset."""
    try:
        if len(value) == 10:
            d = date.fromisoformat(value) + timedelta(days=1 if end else 0)
            return datetime.combine(d, time(), tzinfo=SHANGHAI).astimezone(UTC)
        at = datetime.fromisoformat(value)
    except ValueError:
        problems.append(problem(name, f"{value!r} 不是有效的日期或时间（如 2026-11-26 或 2026-11-26T09:00+08:00）"))
        return None
    return (at.replace(tzinfo=SHANGHAI) if at.utcoffset() is None else at).astimezone(UTC)


def _bool(name: str, value: str, problems: list[str]) -> bool | None:
    if value.lower() in ("1", "true", "yes", "on", "是"):
        return True
    if value.lower() in ("0", "false", "no", "off", "否"):
        return False
    problems.append(problem(name, f"{value!r} 须为 true 或 false"))
    return None


def _choice(name: str, value: str, choices: Mapping[Any, str], problems: list[str]) -> str | None:
    codes = {str(getattr(k, "value", k)): v for k, v in choices.items()}
    if value in codes:
        return value
    by_name = {v: k for k, v in codes.items()}
    if value in by_name:
        return by_name[value]
    problems.append(problem(name, f"{value!r} 不是可选值之一：{'、'.join(f'{k}（{v}）' for k, v in codes.items())}"))
    return None


def parse_filter(params: Mapping[str, Any], *, strict: bool = True) -> CaseFilter:
    """The filter named by query parameters (repeated or comma-separated for status and tags)."""
    problems: list[str] = []
    values: dict[str, Any] = {}
    if strict:
        problems += [problem(k, "不是可用的筛选条件") for k in params if k not in KNOWN and not k.endswith("_cursor")]
    statuses = [_choice("status", v, STATUS_NAMES, problems) for v in _values(params, "status")]
    values["status"] = tuple(s for s in statuses if s)
    tags = [_choice("tags", v, TAG_NAMES, problems) for v in _values(params, "tags")]
    values["tags"] = tuple(t for t in tags if t)
    for name in TEXT_FIELDS:
        got = _values(params, name)
        if got:
            if len(got[0]) > 64:
                problems.append(problem(name, "过长（最多 64 字）"))
            values[name] = got[0][:64]
    if got := _values(params, "severity"):
        values["severity"] = _choice("severity", got[0], SEVERITY_NAMES, problems)
    if got := _values(params, "source"):
        values["source"] = _choice("source", got[0], SOURCE_NAMES, problems)
    for name, end in (("received_from", False), ("received_to", True), ("due_from", False), ("due_to", True)):
        if got := _values(params, name):
            values[name] = _when(name, got[0], problems, end=end)
    for name in BOOL_FIELDS:
        if got := _values(params, name):
            flag = _bool(name, got[0], problems)
            if name == "open":
                values["open_only"] = bool(flag)
            elif name in ("paused", "triage"):
                values[name] = flag
            else:
                values[name] = bool(flag)
    for name, lo, hi in (("due_within_days", 0, 365), ("escalated_level", 0, 9)):
        if got := _values(params, name):
            try:
                n = int(got[0])
                if not lo <= n <= hi:
                    raise ValueError(n)
            except ValueError:
                problems.append(problem(name, f"{got[0]!r} 须为 {lo} 至 {hi} 的整数"))
                continue
            if name == "due_within_days":
                values["due_within"] = timedelta(days=n)
            else:
                values["escalated_level"] = n
    raw_q = params.get("q")
    q = " ".join(str(x) for x in (raw_q if isinstance(raw_q, list | tuple) else [raw_q])) if raw_q else ""
    if q.strip():
        if len(q) > 200:
            problems.append(problem("q", "过长（最多 200 字）"))
        elif short_terms(q):
            problems.append(problem("q", f"每个搜索词至少 {MIN_TERM} 个字：{'、'.join(short_terms(q))}"))
        values["q"] = " ".join(terms_of(q))
    for name in ("phone", "id_number", "card"):
        if got := _values(params, name):
            if len(got[0]) > 32:
                problems.append(problem(name, "过长（最多 32 字）"))
            values[name] = got[0][:32]
    if got := _values(params, "sort"):
        if got[0] not in (DUE, NEWEST):
            problems.append(problem("sort", f"{got[0]!r} 不是可选值之一：due（期限最近在前）、newest（最新收到在前）"))
        else:
            values["sort"] = got[0]
    if problems:
        raise FilterError(problems)
    return CaseFilter(**values)


def _limit(limit: int) -> int:
    if not 1 <= limit <= MAX_PAGE:
        raise FilterError([problem("limit", f"须为 1 至 {MAX_PAGE} 的整数")])
    return limit


def _where(uow: UnitOfWork, user: User, f: CaseFilter) -> tuple[ColumnElement[bool], list[ColumnElement[bool]]]:
    """The caller's scope, and the filter's conditions."""
    return (access.scope(user, uow.config, open_only=f.is_open_work()),
            conditions(uow.session, f, now=uow.now, person=user.person_id))


def list_cases(uow: UnitOfWork, user: User, f: CaseFilter, *, cursor: str | None = None, limit: int = PAGE_SIZE,
               with_count: bool = True, memo: dict[int, CurrentDue | None] | None = None,
               count_cap: int | None = None) -> Page[CaseSummary]:
    """One page of the caller's cases matching `f`, after `cursor`, with how many match in all (up to
    `count_cap`; past it the page says so: `count_capped`).
    `memo`: the paused cases' current deadlines found by other lists of the same read (`queue`)."""
    scope, filters = _where(uow, user, f)
    where = [scope, *filters]
    # A handler's scope is exactly the cases she takes part in: her page is read along her own
    # participant rows (models/queries_workbench.page), the filter's conditions as they are.
    person = user.person_id if user.role == "handler" and user.person_id else None
    page_where = filters if person else where
    try:
        out = page(uow.session, page_where, f, now=uow.now, cursor=cursor, limit=_limit(limit), person=person,
                   memo=memo)
    except BadCursor:
        raise FilterError([problem("cursor", "无效或已不适用于当前排序，请从第一页重新查看")]) from None
    if with_count:
        out.count, out.count_capped = count(uow.session, where, f, now=uow.now, memo=memo, cap=COUNT_CAP if count_cap is None else count_cap)
    return out


def search(uow: UnitOfWork, user: User, f: CaseFilter, *, cursor: str | None = None,
           limit: int = PAGE_SIZE) -> Page[CaseSummary]:
    """Cases matching the text and identifiers of `f`, newest first (unless asked), in the caller's scope."""
    if not (f.q or f.phone or f.id_number or f.card):
        raise FilterError([problem("q", "请输入搜索词，或电话号码、证件号码、银行卡号")])
    # No total: a frequent term matches a large share of ten years of cases; pages follow the cursor.
    return list_cases(uow, user, f, cursor=cursor, limit=limit, with_count=False)


@dataclass(frozen=True)
class Section:
    key: str
    title: str
    filter: CaseFilter


def queue_sections(user: User) -> list[Section]:
    return [
        Section("overdue", "已逾期", CaseFilter(overdue=True)),
        Section("soon", "3 日内到期", CaseFilter(due_within=DUE_SOON)),
        Section("open", "办理中的案件", CaseFilter(open_only=True)),
    ]


def queue(uow: UnitOfWork, user: User, cursors: Mapping[str, str | None], *,
          limit: int = PAGE_SIZE) -> dict[str, Page[CaseSummary] | Page[EscalationItem]]:
    """My queue: unacknowledged escalations to me, overdue, due within 3 days, and every open case
    of mine (soonest deadline first), each with its count and its own cursor."""
    out: dict[str, Page[CaseSummary] | Page[EscalationItem]] = {}
    if access.allowed(user, "escalations") and user.person_id:
        try:
            out["escalated"] = escalations_page(uow.session, user.person_id, cursor=cursors.get("escalated"),
                                                limit=limit)
        except BadCursor:
            raise FilterError([problem("cursor", "无效，请从第一页重新查看")]) from None
    if user.role == "handler" and user.person_id:  # the whole scope is the cases she takes part in
        try:
            out.update(person_queue(uow.session, user.person_id, now=uow.now, soon=DUE_SOON, cursors=cursors,
                                    limit=limit))
        except BadCursor:
            raise FilterError([problem("cursor", "无效，请从第一页重新查看")]) from None
        return out
    sections = queue_sections(user)
    memo: dict[int, CurrentDue | None] = {}  # one read: the paused cases' current deadlines once
    for s in sections:
        out[s.key] = list_cases(uow, user, s.filter, cursor=cursors.get(s.key), limit=limit, with_count=False,
                                memo=memo)
    # The three sections are windows of my open cases: counted together in one query.
    scope, filters = _where(uow, user, CaseFilter(open_only=True))
    base = [scope, *filters]
    soon = (uow.now, uow.now + DUE_SOON)
    overdue, due_soon, open_ = window_counts(uow.session, base, now=uow.now, windows=[(None, uow.now), soon, None],
                                             memo=memo)
    out["overdue"].count, out["soon"].count, out["open"].count = overdue, due_soon, open_
    return out


# ---------------------------------------------------------------- saved views


def _this_week(now: datetime) -> str:
    today = now.astimezone(SHANGHAI).date()
    return (today - timedelta(days=today.weekday())).isoformat()


def builtin_views(now: datetime) -> dict[str, dict[str, str]]:
    """The views everyone has: my overdue cases, received this week, waiting for triage."""
    return {
        "我的逾期": {"mine": "true", "overdue": "true"},
        "本周新收": {"received_from": _this_week(now), "sort": NEWEST},
        UNTRIAGED: {"triage": "true", "open": "true"},
    }


def views(uow: UnitOfWork, user: User) -> list[dict[str, Any]]:
    """The built-in views, then the user's own, each with its query string."""
    rows = uow.session.execute(select(SAVED).where(SAVED.c.username == user.username).order_by(SAVED.c.name)).all()
    out = [{"name": n, "query": urlencode(p), "builtin": True} for n, p in builtin_views(uow.now).items()]
    out += [{"name": r.name, "query": r.filters, "builtin": False} for r in rows]
    return out


def save_view(uow: UnitOfWork, user: User, name: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """Save (or replace) the user's named view of the current filter (checked first)."""
    name = name.strip()
    problems: list[str] = []
    if not name or len(name) > 64:
        problems.append(problem("name", "须为 1 至 64 个字"))
    elif name in builtin_views(uow.now):
        problems.append(problem("name", f"“{name}”是内置视图的名称，请换一个"))
    clean = {k: v for k, v in params.items() if k not in ("cursor", "view", "name", "limit", "csrf") and v}
    try:
        parse_filter(clean)
    except FilterError as exc:
        problems += exc.problems
    if problems:
        raise FilterError(problems)
    query = urlencode(sorted((k, v if isinstance(v, str) else ",".join(v)) for k, v in clean.items()))
    uow.session.execute(SAVED.delete().where(SAVED.c.username == user.username, SAVED.c.name == name))
    uow.session.execute(SAVED.insert().values(username=user.username, name=name, filters=query, created_at=uow.now))
    return {"name": name, "query": query}


def delete_view(uow: UnitOfWork, user: User, name: str) -> bool:
    done = uow.session.execute(SAVED.delete().where(SAVED.c.username == user.username, SAVED.c.name == name))
    return bool(getattr(done, "rowcount", 0))


def view_params(uow: UnitOfWork, user: User, name: str) -> dict[str, str]:
    for v in views(uow, user):
        if v["name"] == name:
            return dict(parse_qsl(v["query"]))
    raise FilterError([problem("view", f"没有名为“{name}”的视图")])


class PageJSON(TypedDict, Generic[ItemT]):
    """A page as the API answers it (`GET /api/cases`, `/api/search`, each section of `/api/queue`)."""

    items: list[ItemT]
    next_cursor: str | None
    count: int | None
    count_capped: bool  # more than `count` match (lists count up to COUNT_CAP)
    sort: str


def page_json(p: Page[ItemT]) -> PageJSON[ItemT]:
    return {"items": p.items, "next_cursor": p.next_cursor, "count": p.count, "count_capped": p.count_capped,
            "sort": p.sort}


__all__ = ["FilterError", "builtin_views", "delete_view", "list_cases", "page_json", "parse_filter", "queue",
           "save_view", "search", "views"]

