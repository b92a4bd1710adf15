"""Pure rules of the case actions, without a database: Art. 17 recusal on assignment, and who is
asked and told about an extension (domain/case_actions.py)."""

from __future__ import annotations

from domain.case_actions import ExtensionNotice, check_assignment, extension_recipients, must_recuse
from domain.deadlines import Tier
from domain.org import Person

PEOPLE = {"h1": Person("h1", "王芳"), "h2": Person("h2", "李强"), "h3": Person("h3", "张伟")}
DEPT = ("h1", "h2")


def _check(handler: str, *, respondent: str | None = None, current: str | None = "h1",
           handlers: tuple[str, ...] | None = DEPT) -> list[str]:
    return check_assignment(handler=handler, people=PEOPLE, department="retail", department_handlers=handlers,
                            respondent=respondent, current_handler=current)


def test_the_person_complained_about_is_recused_by_name_or_id() -> None:
    assert must_recuse("客户经理李强态度恶劣", PEOPLE["h2"])
    assert must_recuse("工号 h2", PEOPLE["h2"])
    assert not must_recuse("客户经理王芳", PEOPLE["h2"])
    assert not must_recuse(None, PEOPLE["h2"]) and not must_recuse("", PEOPLE["h2"])


def test_assignment_to_the_respondent_is_refused_under_article_17() -> None:
    assert _check("h2", respondent="李强") == ["handler（承办人）：李强 是本投诉的被投诉对象，应当回避，不能承办（第十七条）"]
    assert _check("h2", respondent="王芳") == []


def test_assignment_names_the_first_problem_with_the_handler() -> None:
    assert _check("nobody") == ["handler（承办人）：组织架构中没有此人 'nobody'"]
    assert _check("h3") == ["handler（承办人）：'h3' 不是部门 'retail' 的承办人"]
    assert _check("h2", handlers=None) == ["handler（承办人）：'h2' 不是部门 'retail' 的承办人"]
    assert _check("h1") == ["handler（承办人）：案件已由 'h1' 承办"]
    # recusal is decided before "already the handler": the respondent is refused for the right reason
    assert "第十七条" in _check("h1", respondent="王芳")[0]


def test_a_30_day_extension_asks_the_approver_and_tells_handler_and_department_head() -> None:
    notice = extension_recipients(Tier.COMPLEX, approver="lead", known={"lead", "h1", "dh"}, president="pres",
                                  handler="h1", department_head="dh")
    assert notice == ExtensionNotice(asked=("lead",), told=("dh", "h1"))


def test_a_60_day_extension_also_goes_past_the_president_and_an_outside_approver_is_not_messaged() -> None:
    notice = extension_recipients(Tier.SPECIAL, approver="省分行 赵主任", known={"h1", "dh", "pres"},
                                  president="pres", handler="h1", department_head="dh")
    assert notice.asked == ("pres",)
    assert notice.told == ("dh", "h1")


def test_missing_seats_are_left_out_and_nobody_is_told_twice() -> None:
    notice = extension_recipients(Tier.SPECIAL, approver="lead", known={"lead"}, president=None, handler="dh",
                                  department_head="dh")
    assert notice == ExtensionNotice(asked=("lead",), told=("dh",))
    assert extension_recipients(Tier.COMPLEX, approver="x", known=set(), president="p", handler=None,
                                department_head=None) == ExtensionNotice(asked=(), told=())
