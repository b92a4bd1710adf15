"""Tests of personal-data masking."""

import re

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from domain import masking
from domain.masking import mask_email, mask_id_number, mask_name, mask_phone, mask_text

MOBILE = re.compile(r"1[3-9]\d{9}")
ID_NUMBER = re.compile(r"\d{17}[\dXx]")


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        ("13812345678", "138****5678"),
        (" 13812345678 ", "138****5678"),
        ("0411-88886666", "041*-****6666"),
        ("+86 138 1234 5678", "+86 1** **** 5678"),
        ("95588", "*****"),
        ("", ""),
    ],
)
def test_mask_phone(value: str, masked: str) -> None:
    """Phones keep the first 3 and last 4 digits, separators stay, short values are all stars."""
    assert mask_phone(value) == masked


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        ("110105194912310021", "**************0021"),
        ("11010519491231002X", "**************002X"),
        ("G12345678", "*****5678"),
        ("123", "***"),
    ],
)
def test_mask_id_number(value: str, masked: str) -> None:
    """ID numbers keep only their last 4 characters and their length."""
    assert mask_id_number(value) == masked


@pytest.mark.parametrize(
    ("value", "masked"),
    [("张三", "张*"), ("欧阳娜娜", "欧***"), ("John Smith", "J*********"), ("李", "*"), ("", "")],
)
def test_mask_name(value: str, masked: str) -> None:
    """Names keep their first character; every other character, spaces included, is a star."""
    assert mask_name(value) == masked


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        ("zhang.san@example.com", "z***@example.com"),
        ("a@bank.cn", "a***@bank.cn"),
        ("not-an-email", "************"),
    ],
)
def test_mask_email(value: str, masked: str) -> None:
    """E-mail keeps the first character and the domain; a value without @ is all stars."""
    assert mask_email(value) == masked


def test_mask_text_realistic_complaint() -> None:
    """Mobile, ID and card numbers and the name after 本人 are masked; the rest is left as written."""
    text = (
        "本人张三，身份证号11010519491231002X，手机13812345678，"
        "于2026年3月2日在贵行网点办理信用卡6222 0212 3456 7890 123时被收取年费300元，"
        "请联系 139-1234-5678 或 0411-88886666。"
    )
    assert mask_text(text) == (
        "本人张*，身份证号**************002X，手机138****5678，"
        "于2026年3月2日在贵行网点办理信用卡**** **** **** ***0 123时被收取年费300元，"
        "请联系 139-****-5678 或 041*-****6666。"
    )


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("账号6222021234567890 13812345678", "账号************7890 138****5678"),
        ("卡号 6222-0212-3456-7890", "卡号 ****-****-****-7890"),
        ("流水号 123456789012345678901234", "流水号 ********************1234"),
        ("全角手机１３８１２３４５６７８", "全角手机１３８****５６７８"),
        ("订单 12345678901 金额 100000", "订单 12345678901 金额 100000"),
        ("座机 010-12345678，账号 0411-8888-6666-1", "座机 010-****5678，账号 ****-****-*666-1"),
    ],
)
def test_mask_text_cases(text: str, masked: str) -> None:
    """Cards with separators, long digit runs and full-width mobiles are masked; short numbers are not."""
    assert mask_text(text) == masked


mobiles = st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True)
id_numbers = st.from_regex(r"[1-9][0-9]{16}[0-9X]", fullmatch=True)
fillers = st.text(alphabet=st.sampled_from("0123456789 -X投诉手机号身份证，。:abc\n"), max_size=12)


@given(
    parts=st.lists(st.tuples(fillers, st.one_of(mobiles, id_numbers)), min_size=1, max_size=5),
    tail=fillers,
)
def test_mask_text_leaves_no_mobile_or_id(parts: list[tuple[str, str]], tail: str) -> None:
    """Whatever surrounds them, no 11-digit mobile nor 18-character ID number survives mask_text."""
    text = "".join(filler + value for filler, value in parts) + tail
    masked = mask_text(text)
    assert MOBILE.search(masked) is None
    assert ID_NUMBER.search(masked) is None
    assert len(masked) == len(text)


_NAME_CUES = (*masking._KIN, *masking._NAME_AFTER)  # a name follows or precedes these words


@given(text=st.text(alphabet=st.characters(exclude_categories=["Nd", "No"]), max_size=200))
def test_mask_text_leaves_digit_free_text_alone(text: str) -> None:
    """Text without any digit, e-mail sign, address unit or name cue (投诉人…, …先生) is returned unchanged.

    Those cues are what mask_text masks without digits: a name after a kinship or role word or
    before a title, an e-mail address, a building or room number written in Chinese numerals."""
    assume("@" not in text and "＠" not in text and not re.search("[号栋幢室单楼层户座]", text))
    assume(not any(cue in text for cue in _NAME_CUES))
    assert mask_text(text) == text
