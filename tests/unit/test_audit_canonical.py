"""The audit chain's fast canonical form (orjson) writes the same bytes as the standard library's.

Every hash in a stored chain was computed from `json.dumps(sort_keys=True, ensure_ascii=False,
separators=(",", ":"))`; `audit verify` recomputes them, so the fast path must not change a byte.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from enum import StrEnum
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from models.audit_chain import _canonical, _json_canonical, _plain, link_hash

# Every character class, control characters and quotes included (lone surrogates excluded:
# neither encoder can write them as UTF-8).
TEXT = st.text(alphabet=st.characters(codec="utf-8"), max_size=30) | st.sampled_from(
    ["\x00\x01\x1f\x7f", '"\\/', "\n\r\t\b\f", "\u2028\u2029", "消保办 一把手", "😀"])
INTS = st.integers(min_value=-(2**63) + 1, max_value=2**63 - 1)
PLAIN = st.recursive(
    st.none() | st.booleans() | INTS | TEXT,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(TEXT, inner, max_size=5),
    max_leaves=25,
)
AT = st.datetimes(timezones=st.sampled_from([UTC, timezone(timedelta(hours=8))]))


@settings(max_examples=400, deadline=None)
@given(seq=INTS, at=AT, actor=TEXT, action=TEXT, case_no=st.none() | TEXT, before=PLAIN, after=PLAIN,
       detail=TEXT)
def test_fast_canonical_is_byte_identical(seq: int, at: datetime, actor: str, action: str, case_no: str | None,
                                          before: Any, after: Any, detail: str) -> None:
    assert _plain(before) and _plain(after)
    fast = _canonical(seq, at, actor, action, case_no, before, after, detail)
    assert fast == _json_canonical(seq, at, actor, action, case_no, before, after, detail)
    json.loads(fast)


class Colour(StrEnum):
    RED = "red"


def test_values_orjson_would_write_differently_take_the_standard_path() -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    for odd in (1e16, float("nan"), 2**70, Colour.RED, {1: "int key"}, at, (1, 2)):
        assert not _plain({"x": odd})
        assert _canonical(1, at, "a", "b", None, {"x": odd}, None, "") == \
            _json_canonical(1, at, "a", "b", None, {"x": odd}, None, "")


def test_link_hash_is_unchanged_for_a_known_event() -> None:
    # Computed with the standard-library-only implementation before the fast path existed.
    h = link_hash("0" * 64, 1, datetime(2026, 1, 5, 1, 0, tzinfo=UTC), "desk", "received", "DL-2026-000001",
                  None, {"status": "received", "branch": "dl"}, "")
    assert h == EXPECTED_KNOWN_HASH


EXPECTED_KNOWN_HASH = "5ee955cc991bdfe4cc0d8791b0cff06a9e25cb3e9e8c7c571e20e3745ba6fd17"
