"""The complaint row digest of hash versions 2 and 3 (models/audit_chain.py, issue 12).

Version 2's digest and link must not change a byte (stored chains are recomputed by `audit verify`);
version 3 covers every other column that matters, and every column of the complaint table is either
in the digest or left out for a reason written next to NOT_IN_ROW_DIGEST.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from models.audit_chain import (
    NOT_IN_ROW_DIGEST,
    ROW_COLUMNS,
    ROW_COLUMNS_V3,
    link_hash_for,
    link_hash_v2,
    link_hash_v3,
    row_digest,
    row_digest_values,
)
from models.complaint import Complaint
from models.sqlutil import table_of

T = datetime(2026, 11, 26, 1, 30, tzinfo=UTC)
CHAIN = [{"level": "handler", "title": "承办人", "person": "chen.jing", "name": "陈静", "acting": False}]
ROW: dict[str, Any] = {
    "case_no": "DL-2026-000001", "status": "acknowledged", "source": "desk", "branch": "dl", "outlet": None,
    "respondent": "某支行", "channel": "A01", "category": "B02", "cause": "C03", "severity": "ordinary",
    "tags": ["elderly"], "vulnerable": True, "group_size": 1, "complainant_type": "individual",
    "complainant_name": "张三", "complainant_phone": "13812345678", "complainant_id_number": "210202198001011238",
    "agent_name": None, "request": "退还年费", "facts": "账单扣收年费 200 元。", "triage": False,
    "department": "card", "department_branch": "dl", "handler": "chen.jing", "regime": "nfra", "tier": "standard",
    "received_at": T, "clock_started_at": T, "paused_days": 0, "regulatory_due_at": T, "ack_due_at": T,
    "routed_at": T, "acknowledged_at": T, "responded_at": None, "closed_at": None, "created_at": T,
    # version 3's own
    "external_ref": "T-000001", "submitted_by": "cli", "request_fingerprint": "f" * 64, "channel_raw": "营业现场",
    "category_raw": "银行卡", "cause_raw": "定价收费", "severity_requested": None, "vulnerable_note": "听力障碍",
    "complainant_id_type": "resident_id", "complainant_email": "zs@example.cn", "complainant_address": "大连市中山区",
    "complainant_credit_code": None, "complainant_legal_rep": None, "agent_phone": "13900001111",
    "agent_id_type": "resident_id", "agent_id_number": "210202199001011234", "agent_authorization": "委托书 001",
    "triage_reasons": ["高龄"], "chain": CHAIN, "watchers": ["li.na"],
}
# Derived by the code before version 3 (git show 09260ac:models/audit_chain.py) for ROW's version-2 columns
# and for the link below.
V2_ROW_DIGEST = "2b38e54e3cb2b619aea968f9eacb74684ecb88bb9a4666d6ef3f6e1cec43849a"
V2_LINK = "cb2a6c044ed24f0279169e6552b0d89ed4859788277bd870e30548fc2670ba19"
LINK_ARGS = ("0" * 64, 7, T, "chen.jing", "acknowledged", 1, "DL-2026-000001", {"status": "routed"},
             {"status": "acknowledged"}, "", "ab" * 32)


def _stored(columns: tuple[str, ...], row: dict[str, Any]) -> list[Any]:
    """The row as SQLite hands it back without result processing: times as text, booleans as 0/1, JSON as text."""
    out: list[Any] = []
    for c in columns:
        v = row[c]
        if isinstance(v, datetime):
            v = v.strftime("%Y-%m-%d %H:%M:%S.%f")
        elif isinstance(v, bool):
            v = int(v)
        elif isinstance(v, list):
            v = json.dumps(v)  # SQLAlchemy's JSON serialiser: ASCII escapes, spaces after separators
        out.append(v)
    return out


def test_version_2_digest_and_link_are_unchanged() -> None:
    assert row_digest(ROW, 2) == V2_ROW_DIGEST
    assert row_digest({c: ROW[c] for c in ROW_COLUMNS}, 2) == V2_ROW_DIGEST  # the new columns play no part
    assert link_hash_v2(*LINK_ARGS) == link_hash_for(2, *LINK_ARGS) == V2_LINK


def test_version_3_link_is_the_same_rule_with_its_own_version() -> None:
    assert link_hash_v3(*LINK_ARGS) == link_hash_for(3, *LINK_ARGS) != V2_LINK
    with pytest.raises(ValueError, match="hash version 4"):
        link_hash_for(4, *LINK_ARGS)


@pytest.mark.parametrize("version", [2, 3])
def test_digest_of_the_stored_row_equals_the_digest_of_the_values_written(version: int) -> None:
    columns = ROW_COLUMNS if version == 2 else ROW_COLUMNS_V3
    assert row_digest_values(_stored(columns, ROW), version) == row_digest(ROW, version)


def test_version_3_digest_does_not_depend_on_the_key_order_of_the_chain() -> None:
    reordered = {**ROW, "chain": [dict(reversed(list(CHAIN[0].items())))]}
    assert row_digest(reordered, 3) == row_digest(ROW, 3)


def test_every_version_3_column_changes_the_digest() -> None:
    assert ROW_COLUMNS_V3[:len(ROW_COLUMNS)] == ROW_COLUMNS
    base = row_digest(ROW, 3)
    for column in ROW_COLUMNS_V3[len(ROW_COLUMNS):]:
        value = ROW[column]
        changed = ["x"] if isinstance(value, list) else "x" if value != "x" else "y"
        assert row_digest({**ROW, column: changed}, 3) != base, column
        assert row_digest({**ROW, column: changed}, 2) == V2_ROW_DIGEST, column


def test_every_complaint_column_is_in_the_digest_or_left_out_for_a_reason() -> None:
    columns = {c.name for c in table_of(Complaint).columns}
    digested = set(ROW_COLUMNS_V3)
    assert len(digested) == len(ROW_COLUMNS_V3)  # no column twice
    assert digested <= columns and NOT_IN_ROW_DIGEST <= columns
    assert not digested & NOT_IN_ROW_DIGEST
    assert columns - digested - NOT_IN_ROW_DIGEST == set()
