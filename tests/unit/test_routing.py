"""Routing and the responsibility chain over the example org chart (pure)."""

from __future__ import annotations

import dataclasses

import pytest

from complaints.config import Config
from domain.org import ChainLevel, Person
from domain.routing import RouteInput, RoutingError, route_complaint


def _route(config: Config, **kw: object) -> object:
    values: dict[str, object] = {"branch": "dl", "category": "B03", "triage": False, "escalate_at_once": False}
    values.update(kw)
    return route_complaint(RouteInput(**values), org=config.org, table=config.routing, load={})  # type: ignore[arg-type]


def test_branch_specific_rule_wins_for_sub_branch(config: Config) -> None:
    """Savings at 中山支行 go to its own 营业部, with the sub-branch president at the top."""
    d = _route(config, branch="dl-zs", category="B01")
    assert d.department == "outlet" and d.department_branch == "dl-zs"  # type: ignore[attr-defined]
    top = d.chain[-1]  # type: ignore[attr-defined]
    assert top.level is ChainLevel.PRESIDENT and top.person_id == "ma.lei"


def test_sub_branch_case_of_city_department_goes_up(config: Config) -> None:
    """A card complaint filed at a sub-branch is owned by the city branch's 信用卡部."""
    d = _route(config, branch="dl-zs", category="B03")
    assert (d.department, d.department_branch) == ("card", "dl")  # type: ignore[attr-defined]


def test_vacant_head_with_acting_holder(config: Config) -> None:
    """个人信贷部's vacant head position is answered by its acting head."""
    d = _route(config, category="B02")
    head = next(m for m in d.chain if m.level is ChainLevel.DEPARTMENT_HEAD)  # type: ignore[attr-defined]
    assert head.person_id == "wei.lan" and head.acting


def test_vacant_head_without_acting_is_skipped(config: Config) -> None:
    """西岗支行营业部 has no head at all: the chain goes straight to the next level up."""
    d = _route(config, branch="dl-xg", category="B01")
    levels = [m.level for m in d.chain]  # type: ignore[attr-defined]
    assert ChainLevel.DEPARTMENT_HEAD not in levels
    assert levels[:2] == [ChainLevel.HANDLER, ChainLevel.CP_OFFICE]


def test_handler_named_in_complaint_is_recused(config: Config) -> None:
    """A handler the complaint is about is never assigned it (Art. 17)."""
    for _ in range(5):
        d = _route(config, category="B09", respondent="客户经理秦怡")
        assert d.handler != "qin.yi"  # type: ignore[attr-defined]


def test_handler_on_leave_gets_no_new_cases(config: Config) -> None:
    """许明 is on leave, so 财富管理部 work goes to 秦怡 only."""
    load: dict[str, int] = {}
    handlers = {route_complaint(RouteInput("dl", "B10", False, False), org=config.org, table=config.routing,
                                load=load).handler for _ in range(4)}
    assert handlers == {"qin.yi"}


def test_person_on_leave_delegates_their_seat(config: Config) -> None:
    """A department head on leave with a delegate is replaced by the delegate in the chain."""
    people = dict(config.org.people)
    people["feng.yu"] = dataclasses.replace(people["feng.yu"], on_leave=True, delegate="chu.wei")
    org = dataclasses.replace(config.org, people=people)
    d = route_complaint(RouteInput("dl", "B03", False, False), org=org, table=config.routing, load={})
    head = next(m for m in d.chain if m.level is ChainLevel.DEPARTMENT_HEAD)
    assert head.person_id == "chu.wei" and head.acting


def test_escalate_at_once_adds_watchers(config: Config) -> None:
    """Major, sensitive or regulator-forwarded cases have the 消保办 head and 分管行长 watching."""
    d = _route(config, escalate_at_once=True)
    assert d.watchers == ("zhao.li", "li.ming")  # type: ignore[attr-defined]


def test_triage_goes_to_cp_office(config: Config) -> None:
    """A case already flagged for triage lands with the consumer-protection office's handlers."""
    d = _route(config, branch="dl-jz", category=None, triage=True)
    assert d.department == "cpo" and d.triage and d.handler in ("qian.hui", "sun.na")  # type: ignore[attr-defined]


def test_no_triage_queue_is_a_clear_error(config: Config) -> None:
    """An org chart with no consumer-protection office cannot take unroutable cases, and says so."""
    branches = {k: dataclasses.replace(b, cp_department=None) for k, b in config.org.branches.items()}
    org = dataclasses.replace(config.org, branches=branches)
    with pytest.raises(RoutingError, match="consumer-protection office"):
        route_complaint(RouteInput("dl", None, True, False), org=org, table=config.routing, load={})


def test_people_type_is_plain_data() -> None:
    """People are immutable plain data (safe to share between batches)."""
    p = Person("x", "某人")
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.name = "y"  # type: ignore[misc]
