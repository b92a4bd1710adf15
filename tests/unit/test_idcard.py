"""Identity document numbers: GB 11643 (ISO 7064 MOD 11-2) for 居民身份证, sanity checks for the rest."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.field_names import field_label
from domain.idcard import (
    CHECK_CHARS,
    EARLIEST_BIRTH,
    ID_TYPE_NAMES,
    PROVINCES,
    IdType,
    check_char,
    id_number_problem,
    normalize,
    resident_id_problem,
)

# The example of GB 11643-1999 (11010519491231002X) and the numbers in examples/ and tests/factories.py.
KNOWN_VALID = ["11010519491231002X", "210202198001011238", "210203197505052342"]


@pytest.mark.parametrize("number", KNOWN_VALID)
def test_known_numbers_are_valid(number: str) -> None:
    assert check_char(number[:17]) == number[17]
    assert resident_id_problem(number) is None


def test_check_char_by_hand() -> None:
    """The weighted sum of 11010519491231002 is 167; 167 mod 11 = 2 → X."""
    digits = "11010519491231002"
    weights = [2 ** (17 - i) % 11 for i in range(17)]
    total = sum(int(d) * w for d, w in zip(digits, weights, strict=True))
    assert total == 167 and CHECK_CHARS[total % 11] == "X" == check_char(digits)


@pytest.mark.parametrize(("number", "fragment"), [
    ("110105491231002", "15 位的第一代居民身份证"),
    ("21020219800101123", "应为 18 位（现为 17 位）"),
    ("2102021980010112345", "应为 18 位（现为 19 位）"),
    ("21020219800101123Y", "第 18 位（校验码）应为数字或 X"),
    ("X10105194912310021", "前 17 位应为数字"),
    ("990105194912310021", "省级行政区划代码"),
    ("110105194902300021", "出生日期"),
    ("110105189912310021", "早于 1900 年"),
    ("210202198001011234", "校验码不符"),
])
def test_bad_resident_numbers_say_why(number: str, fragment: str) -> None:
    problem = resident_id_problem(number)
    assert problem is not None and fragment in problem
    assert number not in problem  # a message never repeats the personal data


def test_birth_date_after_today_is_refused() -> None:
    first17 = "11010520270101002"
    number = first17 + check_char(first17)
    assert resident_id_problem(number) is None
    assert resident_id_problem(number, today=date(2026, 11, 26)) == "出生日期晚于今天"
    assert resident_id_problem(number, today=date(2027, 1, 1)) is None


def test_normalize_upper_cases_and_drops_spaces() -> None:
    assert normalize(" 11010519491231002x ") == "11010519491231002X"
    assert normalize("110105 19491231 002X") == "11010519491231002X"


@pytest.mark.parametrize(("kind", "good", "bad"), [
    (IdType.PASSPORT, "E12345678", "E1"),
    (IdType.HK_MACAO, "H12345678", "12345678"),
    (IdType.TAIWAN, "12345678", "1234"),
    (IdType.FOREIGN_PERMANENT, "USA123456789012", "12345"),
    (IdType.OTHER, "军字第12345号", "1"),
])
def test_other_document_types_get_a_sanity_check_not_gb11643(kind: IdType, good: str, bad: str) -> None:
    assert id_number_problem(kind, good) is None
    problem = id_number_problem(kind, bad)
    assert problem is not None and problem.startswith(ID_TYPE_NAMES[kind])
    # an 18-digit number with a wrong GB 11643 check digit is no problem for 其他
    assert id_number_problem(IdType.OTHER, "210202198001011234") is None
    assert id_number_problem(IdType.RESIDENT, "210202198001011234") is not None


def test_every_type_has_a_chinese_name() -> None:
    assert set(ID_TYPE_NAMES) == set(IdType)
    assert ID_TYPE_NAMES[IdType.RESIDENT] == "居民身份证"


def test_field_labels_name_nested_fields() -> None:
    assert field_label(("complainant", "phone")) == "投诉人联系电话"
    assert field_label(("agent", "id_type")) == "代理人证件类型"
    assert field_label(("tags", 1)) == "敏感标签第 2 项"
    assert field_label(()) == "投诉"
    assert field_label(("complainant", "nickname")) is None and field_label(("foo",)) is None


births = st.dates(min_value=EARLIEST_BIRTH, max_value=date(2026, 11, 26))
provinces = st.sampled_from(sorted(PROVINCES))
regions = st.from_regex(r"[0-9]{4}", fullmatch=True)
sequences = st.from_regex(r"[0-9]{3}", fullmatch=True)


@st.composite
def valid_numbers(draw: st.DrawFn) -> str:
    born = draw(births)
    first17 = draw(provinces) + draw(regions) + born.strftime("%Y%m%d") + draw(sequences)
    return first17 + check_char(first17)


@given(valid_numbers())
def test_generated_numbers_with_their_check_digit_pass(number: str) -> None:
    assert resident_id_problem(number) is None
    assert resident_id_problem(number, today=date(2026, 11, 26)) is None


@given(valid_numbers(), st.integers(min_value=0, max_value=17), st.integers(min_value=1, max_value=10))
def test_any_single_character_change_fails(number: str, position: int, shift: int) -> None:
    """MOD 11-2 detects every single substitution: change one digit (or the check character) and it fails."""
    alphabet = "0123456789X" if position == 17 else "0123456789"
    current = alphabet.index(number[position])
    replacement = alphabet[(current + shift) % len(alphabet)]
    if replacement == number[position]:
        replacement = alphabet[(current + 1) % len(alphabet)]
    changed = number[:position] + replacement + number[position + 1:]
    assert changed != number
    assert resident_id_problem(changed) is not None


@given(valid_numbers())
def test_the_check_digit_is_the_only_one_that_fits(number: str) -> None:
    fitting = [c for c in CHECK_CHARS if resident_id_problem(number[:17] + c) is None]
    assert fitting == [number[17]]


def test_birth_date_bounds() -> None:
    first17 = "110105" + (date(2026, 11, 26) + timedelta(days=1)).strftime("%Y%m%d") + "002"
    assert resident_id_problem(first17 + check_char(first17), today=date(2026, 11, 26)) == "出生日期晚于今天"
