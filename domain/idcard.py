"""Identity documents (证件): the types a complainant or agent may show, and the number checks.

A 居民身份证 number is checked by GB 11643-1999: 18 characters, a 6-digit address code (its first
two digits a province-level code of GB/T 2260), an 8-digit birth date, a 3-digit sequence and a
check character computed by ISO 7064 MOD 11-2 (0-9 or X). A 15-digit number is the
first-generation card, no longer valid, and is refused with a message saying so. Other document
types get a length and character-set check only (their numbering is not public or not uniform).

Messages are Chinese, name no value (an ID number is personal data) and say what is expected.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from enum import StrEnum


class IdType(StrEnum):
    RESIDENT = "resident_id"
    PASSPORT = "passport"
    HK_MACAO = "hk_macao_permit"
    TAIWAN = "taiwan_permit"
    FOREIGN_PERMANENT = "foreign_permanent_resident"
    OTHER = "other"


ID_TYPE_NAMES: Mapping[IdType, str] = {
    IdType.RESIDENT: "居民身份证",
    IdType.PASSPORT: "护照",
    IdType.HK_MACAO: "港澳居民来往内地通行证",
    IdType.TAIWAN: "台湾居民来往大陆通行证",
    IdType.FOREIGN_PERMANENT: "外国人永久居留身份证",
    IdType.OTHER: "其他",
}

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)  # 2^(17-i) mod 11, i = 0..16
CHECK_CHARS = "10X98765432"  # check character for (sum of weighted digits) mod 11 = 0..10

# GB/T 2260 province-level codes; 71 台湾, 81 香港, 82 澳门 (residence permits), 83 台湾居民居住证.
PROVINCES = frozenset({
    "11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37",
    "41", "42", "43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64", "65",
    "71", "81", "82", "83",
})
EARLIEST_BIRTH = date(1900, 1, 1)

_RESIDENT_SHAPE = re.compile(r"[0-9]{17}[0-9X]")
_SANITY: Mapping[IdType, tuple[re.Pattern[str], str]] = {
    IdType.PASSPORT: (re.compile(r"[A-Z0-9]{5,17}"), "应为 5 至 17 位字母或数字"),
    IdType.HK_MACAO: (re.compile(r"[HM][0-9]{8}([0-9]{2})?"), "应为 H 或 M 开头，后接 8 位（或 10 位）数字"),
    IdType.TAIWAN: (re.compile(r"[0-9]{8}|[0-9]{10}|[0-9]{7,9}[A-Z]"), "应为 8 位数字（旧版为 10 位）"),
    IdType.FOREIGN_PERMANENT: (re.compile(r"[A-Z]{3}[0-9]{12}|9[0-9]{16}[0-9X]"),
                               "应为 3 位字母加 12 位数字（2017 版），或 9 开头的 18 位号码（2023 版）"),
    IdType.OTHER: (re.compile(r"[0-9A-Z\-\u4e00-\u9fff]{4,32}"), "应为 4 至 32 位字母、数字、汉字或连字符"),
}


def check_char(first17: str) -> str:
    """The GB 11643 check character (ISO 7064 MOD 11-2) of the first 17 digits."""
    if len(first17) != 17 or not first17.isascii() or not first17.isdigit():
        raise ValueError("the first 17 characters must be digits")
    return CHECK_CHARS[sum(int(d) * w for d, w in zip(first17, WEIGHTS, strict=True)) % 11]


def birth_date(number: str) -> date | None:
    """The birth date inside an 18-character resident ID number, None when it is no real date."""
    try:
        return date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return None


def normalize(number: str) -> str:
    """The number as stored: spaces removed, letters upper-cased (a lower-case x check character)."""
    return re.sub(r"\s+", "", number).upper()


def resident_id_problem(number: str, *, today: date | None = None) -> str | None:
    """Why `number` (normalized) is not a valid 居民身份证 number, in Chinese; None when it is."""
    if len(number) == 15 and number.isascii() and number.isdigit():
        return "这是 15 位的第一代居民身份证号码，已停止使用，请提供 18 位的第二代居民身份证号码"
    if len(number) != 18:
        return f"应为 18 位（现为 {len(number)} 位）"
    if not _RESIDENT_SHAPE.fullmatch(number):
        return "前 17 位应为数字，第 18 位（校验码）应为数字或 X"
    if number[:2] not in PROVINCES:
        return "前两位不是有效的省级行政区划代码"
    born = birth_date(number)
    if born is None:
        return "第 7 至 14 位不是有效的出生日期"
    if born < EARLIEST_BIRTH:
        return "出生日期早于 1900 年"
    if today is not None and born > today:
        return "出生日期晚于今天"
    if number[17] != check_char(number[:17]):
        return "校验码不符（GB 11643），请核对号码是否抄错"
    return None


def id_number_problem(id_type: IdType, number: str, *, today: date | None = None) -> str | None:
    """Why `number` (normalized) is not valid for `id_type`, in Chinese; None when it is."""
    if id_type is IdType.RESIDENT:
        return resident_id_problem(number, today=today)
    pattern, expected = _SANITY[id_type]
    if pattern.fullmatch(number):
        return None
    return f"{ID_TYPE_NAMES[id_type]}号码格式不正确，{expected}"
