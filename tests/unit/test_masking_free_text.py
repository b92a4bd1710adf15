"""Masking of personal data inside free text: a corpus of formats, negatives that stay, properties."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.masking import mask_free_text

NAMES = ("刘桂兰", "王建国", "John Smith")


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        # phones in every spacing and punctuation
        ("电话13812345678", "电话138****5678"),
        ("电话138.1234.5678", "电话138.****.5678"),
        ("电话1 3 8 1 2 3 4 5 6 0 1", "电话1 3 8 * * * * 5 6 0 1"),
        ("电话+86 138-1234-5678", "电话+86 138-****-5678"),
        ("电话+8613812345678", "电话+86138****5678"),
        ("电话0086 138 1234 5678", "电话0086 138 **** 5678"),
        ("电话（+86）138 1234 5678", "电话（+86）138 **** 5678"),
        ("电话138 - 1234 - 5678", "电话138 - **** - 5678"),
        ("全角１３８１２３４５６７８", "全角１３８****５６７８"),
        ("全角１３８－１２３４－５６７８", "全角１３８－****－５６７８"),
        ("座机0411-88886666", "座机041*-****6666"),
        ("座机(0411)88886666", "座机(041*)****6666"),
        ("2026-11-20来电13812345678", "2026-11-20来电138****5678"),
        ("2026.11.20 13812345678", "2026.11.20 138****5678"),
        ("DL-2026-000123 13812345678", "DL-2026-000123 138****5678"),
        ("Tel13812345678", "Tel138****5678"),
        # resident ID numbers, also spaced, X in either case
        ("身份证11010519491231002X", "身份证**************002X"),
        ("身份证11010519491231002x", "身份证**************002x"),
        ("身份证 110105 19491231 002X", "身份证 ****** ******** 002X"),
        ("身份证 1101 0519 4912 3100 2X", "身份证 **** **** **** **00 2X"),
        ("身份证110105194912310021", "身份证**************0021"),
        # bank cards 16–19 digits, spaced or not
        ("卡号6222021234567890", "卡号************7890"),
        ("卡号6222 0212 3456 7890 123", "卡号**** **** **** ***0 123"),
        ("卡号 6222-0212-3456-7890", "卡号 ****-****-****-7890"),
        ("卡号6222 0212 3456 7890", "卡号**** **** **** 7890"),
        ("卡号6222020212345678901", "卡号***************8901"),
        # e-mail addresses
        ("邮箱 liu.guilan@example.com。", "邮箱 l***@example.com。"),
        ("邮箱13812345678@163.com", "邮箱1***@163.com"),
        ("邮箱 zhang_san+bank@mail.example.cn", "邮箱 z***@mail.example.cn"),
        # the names given, the given name alone too
        ("刘桂兰来电", "刘**来电"),
        ("桂兰说卡被盗", "桂*说卡被盗"),
        ("代理人王建国代办", "代理人王**代办"),
        ("Mr John Smith called; Smith again", "Mr J********* called; S**** again"),
        # a name after a kinship or customer word, or before 先生 / 女士
        ("投诉人李秀英来电", "投诉人李**来电"),
        ("儿子赵小明代为办理", "儿子赵**代为办理"),
        ("女儿：孙丽", "女儿：孙*"),
        ("她丈夫叫周强", "她丈夫叫周*"),
        ("客户欧阳娜娜反映", "客户欧***反映"),
        ("母亲是陈芳，父亲是吴刚", "母亲是陈*，父亲是吴*"),
        ("张三先生与李四女士", "张*先生与李*女士"),
        # street addresses: the district stays, the numbers go
        ("住大连市中山区人民路45号", "住大连市中山区人民路**号"),
        ("住西安路12-3号3栋2单元1502室", "住西安路**-*号*栋*单元****室"),
        ("幸福小区5号楼301室", "幸福小区*号楼***室"),
        ("长江街一百零八号", "长江街****号"),
    ],
)
def test_free_text_corpus(text: str, masked: str) -> None:
    """Each personal-data format is masked as DESIGN says (138****5678, last 4, 张*, z***@)."""
    assert mask_free_text(text, names=NAMES) == masked


@pytest.mark.parametrize(
    "text",
    [
        "受理编号 DL-2026-000123，原编号DL-2025-104321",
        "被收取年费200 元，共计1,380.50元，退款 12345.67 元",
        "2026-11-20 10:30 来电，2026年11月20日，2026/11/20 09:15:30",
        "2026-11-20 2026-11-21 12时",
        "2026.11.20-2026.12.04",
        "依据 JR/T 0169-2020《金融消费者投诉统计分类及编码》",
        "依据 GB 11643-1999 与银保监发〔2020〕3号",
        "订单 12345678901 金额 100000",
        "客服热线95588，400-820-8820",
        "经办人王磊（客户经理），行长张伟已督办，部门负责人陈静",
        "客户经理王磊已联系，客户服务中心回复",
        "投诉人向我行反映，客户称被多扣费，本人要求退款",
        "2号窗口，地铁2号线，第3次来电",
        "请于15日内答复，延期30日",
    ],
)
def test_free_text_leaves_case_numbers_amounts_dates_and_staff_alone(text: str) -> None:
    """Case numbers, amounts, dates, times, standards, hotlines and staff names are not personal data."""
    assert mask_free_text(text) == text


def test_routed_message_text_keeps_staff_and_masks_the_customer() -> None:
    """A routed message: the handler's and manager's names stay, the complainant's go."""
    text = "经办人王磊，客户经理张伟；投诉人刘桂兰，手机138 1234 5678"
    assert mask_free_text(text, names=("刘桂兰",)) == "经办人王磊，客户经理张伟；投诉人刘**，手机138 **** 5678"


def test_digests_by_key_are_not_masked_but_everything_else_is() -> None:
    """A hash of only digits reads like a card number: the renderer and the event payloads leave the
    digest fields (the audit anchor, a report's sha256) alone and mask every other string."""
    from flows.events import masked_payload
    from notifications.render import mask_context

    digest = "4694198984395866"  # the first 16 hex digits of a real sha256, all decimal
    assert mask_context({"anchor_hash": digest, "note": digest}) == {"anchor_hash": digest, "note": "************5866"}
    assert masked_payload({"sha256": digest, "items": [{"hash": digest, "text": "电话13812345678"}]}) == {
        "sha256": digest, "items": [{"hash": digest, "text": "电话138****5678"}]}


def test_empty_and_digit_free_text_unchanged() -> None:
    assert mask_free_text("") == ""
    assert mask_free_text("要求退还年费并书面道歉", names=("", None, " ")) == "要求退还年费并书面道歉"


_SEPARATORS = st.sampled_from(["", " ", "-", ".", " - ", "\u3000", "－", "．", "·", "  "])
_FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


@st.composite
def written_mobiles(draw: st.DrawFn) -> tuple[str, str, str]:
    """A mainland mobile number as a person might write it: any separator between any digits,
    optional +86 / 0086 prefix, optionally full-width. Returns (written, prefix digits, the 11 digits)."""
    digits = draw(st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True))
    written = digits[0]
    for ch in digits[1:]:
        written += draw(_SEPARATORS) + ch
    if draw(st.booleans()):
        written = written.translate(_FULL_WIDTH)
    prefix = draw(st.sampled_from(["", "+86", "+86 ", "86-", "0086 ", "（+86）"]))
    return prefix + written, "".join(ch for ch in prefix if ch.isdecimal()), digits


_CONTEXT = st.text(alphabet=st.sampled_from("投诉人客户来电手机号，。：说元年月日"), max_size=6)


@given(mobile=written_mobiles(), before=_CONTEXT, after=_CONTEXT)
def test_any_written_mobile_is_masked(mobile: tuple[str, str, str], before: str, after: str) -> None:
    """Whatever the separators, prefix and width, the middle four digits never survive and the
    first 3 and last 4 stay."""
    written, prefix, digits = mobile
    masked = mask_free_text(before + written + after)
    kept = "".join(str(int(ch)) for ch in masked if ch.isdecimal())
    assert kept == prefix + digits[:3] + digits[-4:]
    assert masked.count("*") == 4
    assert len(masked) == len(before + written + after)


@given(digits=st.from_regex(r"[1-9][0-9]{16}[0-9X]", fullmatch=True),
       sep=st.sampled_from(["", " ", "-"]), before=_CONTEXT)
def test_any_resident_id_keeps_only_its_last_four(digits: str, sep: str, before: str) -> None:
    """An 18-character ID number, written whole or as 6-8-4, keeps only its last four characters."""
    written = sep.join((digits[:6], digits[6:14], digits[14:])) if sep else digits
    masked = mask_free_text(before + written)
    tail = masked[len(before):]
    assert re.sub(r"[^0-9X*]", "", tail) == "*" * 14 + digits[-4:]
