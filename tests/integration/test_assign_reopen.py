"""Reassigning a case and reopening a responded one (the web's assign and reopen actions)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, select

from complaints.config import Config
from domain.calendar import WorkingCalendar
from domain.lifecycle import IllegalTransition
from flows.intake import run_intake
from models import case_actions
from models.case_results import ActionResult, AssignResult, TransitionResult
from models.case_views import case_detail
from models.db import session_scope
from models.outbox import OutboxMessage
from models.sqlutil import table_of
from models.submission import submit
from tests.factories import complaint

NOW = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)
CAL = WorkingCalendar()


def _routed(engine: Engine, config: Config, **kw: object) -> str:
    (r,) = submit(engine, [complaint(category="银行卡", **kw)], config=config, calendar=CAL, now=NOW)
    run_intake(engine, config, now=NOW)
    return r.case_no


def _act(engine: Engine, config: Config, fn: str, **kw: object) -> ActionResult:
    with session_scope(engine) as s:
        out: ActionResult = getattr(case_actions, fn)(s, config=config, calendar=CAL, now=NOW + timedelta(hours=1),
                                                      actor="feng.yu", **kw)
    return out


def test_assign_moves_the_case_redraws_the_chain_and_tells_the_new_handler(db_engine: Engine, config: Config) -> None:
    """Reassigning keeps the status, records before/after in the audit, and queues a message to the new handler."""
    case_no = _routed(db_engine, config)
    with session_scope(db_engine) as s:
        before = case_detail(s, case_no)
    assert before is not None
    other = "chu.wei" if before["handler"] == "chen.jing" else "chen.jing"
    out = _act(db_engine, config, "assign", case_no=case_no, handler=other)
    assert isinstance(out, AssignResult) and (out.handler, out.status) == (other, "routed")
    with session_scope(db_engine) as s:
        after = case_detail(s, case_no)
        recipients = [r for (r,) in s.execute(select(table_of(OutboxMessage).c.recipient)
                                              .where(table_of(OutboxMessage).c.dedupe_key.like(f"{case_no}:assigned:%")))]
    assert after is not None
    assert after["handler"] == other and after["chain"][0]["person"] == other
    assert after["audit"][-1]["action"] == "assigned"
    recorded = after["audit"][-1]["before"]
    assert recorded is not None and recorded["handler"] == before["handler"]
    assert recipients == [other]


@pytest.mark.parametrize(("handler", "message"), [
    ("nobody", "组织架构中没有此人 'nobody'"),
    ("wu.fang", "'wu.fang' 不是部门 'card' 的承办人"),
])
def test_assign_refuses_people_outside_the_department(db_engine: Engine, config: Config, handler: str,
                                                      message: str) -> None:
    """Only a handler of the case's own department can take it; the refusal names the field."""
    case_no = _routed(db_engine, config)
    with pytest.raises(case_actions.ActionError, match=f"^handler（承办人）：{message}$"):
        _act(db_engine, config, "assign", case_no=case_no, handler=handler)


def test_assign_refuses_the_person_complained_about(db_engine: Engine, config: Config) -> None:
    """A handler named in the complaint is refused (recusal, Art. 17)."""
    case_no = _routed(db_engine, config, respondent="柜员褚伟、陈静")
    with pytest.raises(case_actions.ActionError, match="^handler（承办人）：褚伟 是本投诉的被投诉对象，应当回避，不能承办（第十七条）$"):
        _act(db_engine, config, "assign", case_no=case_no, handler="chu.wei")


def test_reopen_a_responded_case_and_only_then(db_engine: Engine, config: Config) -> None:
    """A routed case cannot be reopened (409 in the API); a responded one can, and keeps its response time."""
    case_no = _routed(db_engine, config)
    with pytest.raises(IllegalTransition, match="status（状态）：“已分派”的案件不能转为“已重开”"):
        _act(db_engine, config, "reopen", case_no=case_no, reason="补充材料")
    _act(db_engine, config, "respond", case_no=case_no, verified="已核实", basis="合同第5条",
         remedies="可申请核查、调解、仲裁、诉讼", told_via="phone", told_at=NOW + timedelta(minutes=30), outcome="成立")
    out = _act(db_engine, config, "reopen", case_no=case_no, reason="客户不认可答复，补充了账单")
    assert isinstance(out, TransitionResult) and out.status == "reopened"
    with session_scope(db_engine) as s:
        d = case_detail(s, case_no)
    assert d is not None and d["responded_at"] is not None
    assert d["audit"][-1]["action"] == "reopened" and "补充了账单" in d["audit"][-1]["detail"]
