"""Submitting complaints: case numbers, deadlines, idempotency, nothing half-stored."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, func, select

from complaints.config import Config
from domain.calendar import WorkingCalendar
from domain.deadlines import SHANGHAI
from models.audit_chain import verify
from models.complaint import Complaint
from models.sqlutil import table_of
from models.submission import KeyReused, submit, validate_items
from tests.factories import complaint, complaint_data

NOW = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)
CAL = WorkingCalendar()


def _count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table_of(Complaint))).scalar_one())


def test_submit_issues_case_numbers_and_deadlines(db_engine: Engine, config: Config) -> None:
    """Each new complaint gets the next DL-YYYY-NNNNNN number and its 15-day and ack deadlines."""
    results = submit(db_engine, [complaint(), complaint()], config=config, calendar=CAL, now=NOW)
    assert [r.case_no for r in results] == ["DL-2026-000001", "DL-2026-000002"]
    r = results[0]
    assert r.status == "received"
    assert r.due_at.astimezone(SHANGHAI).isoformat() == "2026-12-11T23:59:59+08:00"
    assert r.ack_due_at.astimezone(SHANGHAI).isoformat() == "2026-11-27T23:59:59+08:00"
    assert r.due_at.tzinfo is not None


def test_same_external_ref_returns_first_case_unchanged(db_engine: Engine, config: Config) -> None:
    """A resubmission of the same complaint under the same external reference returns the first
    case and stores nothing new; the same reference with a different complaint is refused."""
    first = submit(db_engine, [complaint(external_ref="EXT-1")], config=config, calendar=CAL, now=NOW)[0]
    again = submit(db_engine, [complaint(external_ref="EXT-1")], config=config, calendar=CAL,
                   now=NOW + timedelta(minutes=3))[0]
    assert again.case_no == first.case_no and again.duplicate and not first.duplicate
    with pytest.raises(KeyReused) as refused:
        submit(db_engine, [complaint(external_ref="EXT-1", request="不同的诉求")], config=config, calendar=CAL, now=NOW)
    assert refused.value.refs == ["EXT-1"] and "external_ref（外部编号）" in refused.value.problems[0]
    assert _count(db_engine) == 1


def test_duplicate_ref_inside_one_call_stores_once(db_engine: Engine, config: Config) -> None:
    """Two items with one reference in the same file make one case; the second points at it."""
    results = submit(db_engine, [complaint(external_ref="X"), complaint(external_ref="X")], config=config,
                     calendar=CAL, now=NOW)
    assert results[0].case_no == results[1].case_no and results[1].duplicate
    assert _count(db_engine) == 1


def test_receipt_after_local_midnight_counts_local_date(db_engine: Engine, config: Config) -> None:
    """A complaint received 00:30 Beijing time (previous day in UTC) is due 15 local days later."""
    c = complaint(received_at="2026-12-01T00:30:00+08:00")
    r = submit(db_engine, [c], config=config, calendar=CAL, now=datetime(2026, 12, 1, tzinfo=UTC))[0]
    assert r.due_at.astimezone(SHANGHAI).isoformat() == "2026-12-16T23:59:59+08:00"


def test_submission_writes_a_verified_audit_event(db_engine: Engine, config: Config) -> None:
    """Every stored complaint has a 'received' audit event and the chain verifies."""
    submit(db_engine, [complaint() for _ in range(3)], config=config, calendar=CAL, now=NOW)
    result = verify(db_engine)
    assert result.ok and result.checked == 3


def test_concurrent_submitters_with_one_ref_store_one_case(db_engine: Engine, config: Config) -> None:
    """Two threads submitting the same reference at once end with one case and the same number."""
    barrier = threading.Barrier(4)
    out: list[str] = []
    errors: list[BaseException] = []

    def go() -> None:
        try:
            barrier.wait()
            out.append(submit(db_engine, [complaint(external_ref="RACE")], config=config, calendar=CAL,
                              now=NOW)[0].case_no)
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=go) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(set(out)) == 1 and len(out) == 4
    assert _count(db_engine) == 1


@pytest.mark.parametrize("year_receipt", ["2025-12-31T23:30:00+08:00"])
def test_case_number_year_is_the_local_receipt_year(db_engine: Engine, config: Config, year_receipt: str) -> None:
    """A complaint received on New Year's Eve local time is numbered in that year."""
    r = submit(db_engine, [complaint(received_at=year_receipt)], config=config, calendar=CAL, now=NOW)[0]
    assert r.case_no == "DL-2025-000001"


def test_every_problem_is_chinese_and_names_its_field(config: Config) -> None:
    """Each kind of schema error comes back in Chinese with the machine path and the field's Chinese name."""
    bad = complaint_data(
        received_at="2026-11-26T09:30:00", source="xx", severity="急", tags=["舆情", "x"], group_size="十",
        vulnerable="也许", surprise=1, facts="x" * 10_001,
        complainant={"type": "机构", "name": "", "phone": "abc", "email": "x", "id_number": "21020219800101123"},
        agent={"name": "李律师", "id_type": "驾驶证", "id_number": "E12345678"})
    del bad["request"]
    parsed, problems = validate_items([complaint_data(), bad], config=config, now=NOW)
    assert parsed[1] is None and problems[0] == []
    got = problems[1]
    expected = [
        "[1].received_at（接收时间）：须带时区（UTC 偏移），如 2026-11-26T09:30:00+08:00",
        "[1].source（投诉来源）：取值无效，应为以下之一：网点现场、客服电话、线上渠道、信件/邮箱、信用卡中心、"
        "金融监管总局转办、人行转办、信访转办、媒体",
        "[1].severity（严重程度）：取值无效，应为以下之一：普通、复杂、重大",
        "[1].group_size（涉及人数）：应为整数",
        "[1].tags[1]（敏感标签第 2 项）：取值无效，应为以下之一：舆情、司法、监管、情绪激动",
        "[1].vulnerable（特殊群体）：应为是或否（true / false）",
        "[1].complainant.name（投诉人姓名）：不能为空",
        "[1].complainant.phone（投诉人联系电话）：格式不正确，应为 11 位手机号或带区号的固定电话（境外号码以 + 和国家代码开头）",
        "[1].complainant.id_number（投诉人证件号码）：应为 18 位（现为 17 位）",
        "[1].complainant.type（投诉人类型）：取值无效，应为以下之一：个人、单位",
        "[1].complainant.email（投诉人电子邮箱）：格式不正确，应为电子邮箱地址，如 name@example.com",
        "[1].agent.id_type（代理人证件类型）：取值无效，应为以下之一：居民身份证、护照、港澳居民来往内地通行证、"
        "台湾居民来往大陆通行证、外国人永久居留身份证、其他",
        "[1].agent.authorization（代理人授权委托书）：必填",
        "[1].request（投诉请求）：必填",
        "[1].facts（事实和理由）：不能超过 10000 个字",
        "[1].surprise：不允许的字段",
    ]
    assert sorted(got) == sorted(expected)
    for line in got:
        assert not any(word in line for word in ("Input should", "Field required", "String should", "Value error"))


def test_own_rules_are_chinese_too(config: Config) -> None:
    """The contact rule (Art. 13), unknown branch, a future receipt, a malformed date and a non-object item."""
    _, [contact] = validate_items(complaint_data(complainant={"name": "李四"}), config=config, now=NOW)
    assert contact == ["complainant（投诉人）：须至少填写一种联系方式：联系电话、电子邮箱或联系地址（消费投诉处理管理办法第十三条）"]
    _, [config_problems] = validate_items(
        complaint_data(branch="mars", received_at="2026-11-27T09:30:00+08:00"), config=config, now=NOW)
    assert config_problems[0].startswith("branch（受理机构）：未知的机构代码 'mars'（已配置：")
    assert config_problems[1] == "received_at（接收时间）：2026-11-27 09:30（北京时间）晚于当前时间，不能是将来的时间"
    _, [when] = validate_items(complaint_data(received_at="昨天"), config=config, now=NOW)
    assert when == ["received_at（接收时间）：不是有效的时间，应为 ISO 8601 格式，如 2026-11-26T09:30:00+08:00"]
    _, problems = validate_items([complaint_data(), "x"], config=config, now=NOW)
    assert problems[1] == ["[1]（投诉）：应为 JSON 对象"]


@pytest.mark.parametrize(("person", "expected"), [
    ({"id_number": "210202198001011234"}, "校验码不符（GB 11643）"),
    ({"id_number": "210202800101123"}, "15 位的第一代居民身份证号码"),
    ({"id_type": "居民身份证", "id_number": "21020219800230123X"}, "不是有效的出生日期"),
    ({"id_number": "110105202701010024"}, "出生日期晚于今天"),
    ({"id_type": "hk_macao_permit", "id_number": "12345"}, "港澳居民来往内地通行证号码格式不正确"),
])
def test_id_numbers_are_checked_for_their_type(config: Config, person: dict[str, str], expected: str) -> None:
    """居民身份证 by GB 11643 (incl. birth date, judged against the injected clock); others by shape."""
    data = complaint_data(complainant={"name": "张三", "phone": "13812345678", **person})
    _, [problems] = validate_items(data, config=config, now=NOW)
    assert len(problems) == 1 and problems[0].startswith("complainant.id_number（投诉人证件号码）：")
    assert expected in problems[0] and person["id_number"] not in problems[0]


def test_id_type_is_stored_and_defaults_to_resident_id(db_engine: Engine, config: Config) -> None:
    """A number without a type is a 居民身份证; a type by Chinese name is stored as its code; no number, no type."""
    items = [
        complaint(),
        complaint(complainant={"name": "Tom", "phone": "+85291234567", "id_type": "护照", "id_number": "k1234567"},
                  agent={"name": "王律师", "id_type": "hk_macao_permit", "id_number": "H12345678",
                         "authorization": "授权委托书"}),
        complaint(complainant={"name": "李四", "phone": "0411-88886666", "id_type": "护照"}),
    ]
    submit(db_engine, items, config=config, calendar=CAL, now=NOW)
    c = table_of(Complaint).c
    with db_engine.connect() as conn:
        rows = conn.execute(select(c.complainant_id_type, c.complainant_id_number, c.agent_id_type,
                                   c.agent_id_number).order_by(c.id)).all()
    assert [tuple(r) for r in rows] == [
        ("resident_id", "210202198001011238", None, None),
        ("passport", "K1234567", "hk_macao_permit", "H12345678"),
        (None, None, None, None),
    ]
