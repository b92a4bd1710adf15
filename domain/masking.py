"""Masking of personal data for notifications, reports, logs and roles that need no more.

Choices made here (DESIGN.md decision 8):

* Phones keep the first 3 and last 4 digits; other digits become "*" and separators stay
  ("13812345678" → "138****5678", "0411-88886666" → "041*-****6666"). Fewer than 8 digits:
  everything becomes "*".
* ID numbers keep only their last 4 characters, same length.
* Names keep their first character; every other character, spaces included, becomes "*",
  so the length is kept but the shape of a Western name is not ("John Smith" → "J*********").
* E-mail keeps the first character of the local part and the domain: "z***@example.com"
  (always three stars, so the length of the local part is not revealed).
* Free text (`mask_free_text`, the one function every outgoing path uses; `mask_text` is it
  without names): e-mail addresses; phones in any spacing or punctuation (+86 / 0086, dots,
  spaces, dashes, full-width digits), landlines with an area code ("041*-****6666"); resident
  ID numbers and card / account numbers (12–19 digits grouped as written, any longer run) to
  their last 4; the names given (the submitted fields' people) and a Chinese name after a
  kinship or customer word or before 先生 / 女士; street, building, unit and room numbers.
  Case numbers, amounts, dates and times are left as written. Digits are Unicode decimal digits.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

_STAR = "*"
_MIN_PHONE_DIGITS = 8

def _mask_digits(v: str, *, keep_first: int, keep_last: int) -> str:
    """Star every digit except the first `keep_first` and last `keep_last`; keep the rest."""
    total = sum(ch.isdecimal() for ch in v)
    out: list[str] = []
    seen = 0
    for ch in v:
        if ch.isdecimal():
            keep = seen < keep_first or seen >= total - keep_last
            out.append(ch if keep else _STAR)
            seen += 1
        else:
            out.append(ch)
    return "".join(out)


def mask_phone(v: str) -> str:
    """Keep the first 3 and last 4 digits of a phone number; short values are all stars."""
    v = v.strip()
    if sum(ch.isdecimal() for ch in v) < _MIN_PHONE_DIGITS:
        return _STAR * len(v)
    return _mask_digits(v, keep_first=3, keep_last=4)


def mask_id_number(v: str) -> str:
    """Keep only the last 4 characters of an identity document number, same length."""
    v = v.strip()
    if len(v) <= 4:
        return _STAR * len(v)
    return _STAR * (len(v) - 4) + v[-4:]


def mask_name(v: str) -> str:
    """Keep the first character of a name and star every other one, spaces included."""
    v = v.strip()
    if len(v) <= 1:
        return _STAR * len(v)
    return v[0] + _STAR * (len(v) - 1)


def mask_email(v: str) -> str:
    """Keep the first character of the local part and the domain: z***@example.com."""
    v = v.strip()
    local, at, domain = v.rpartition("@")
    if not at:
        return _STAR * len(v)
    return f"{local[:1]}***@{domain}"


def mask_text(text: str) -> str:
    """Mask the personal data inside free text when no names are known: `mask_free_text`."""
    return mask_free_text(text)


# ---------------------------------------------------------------- free text

# Separators people put between the digits of one number: spaces (also full-width and no-break),
# dashes of every width, dots, middle dots and brackets around an area code; up to three in a row
# ("138 - 1234 - 5678"). Colons, slashes and commas are not separators: times, dates written with
# slashes and amounts with thousands separators stay one number each.
_X = "Xx\uff38\uff58"  # the check character of a resident ID number, also full-width
_SEP = " \t\u00a0\u3000\\-\u2010\u2011\u2012\u2013\u2014\uff0d.\uff0e\u00b7\u30fb()\uff08\uff09"
_RUN = re.compile(rf"\d(?:[{_SEP}]{{0,3}}\d){{9,}}(?:[{_X}](?![A-Za-z0-9]))?")  # 10 digits or more
_GROUP = re.compile(r"\d+")
_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+[@\uff20][A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}")
_MOBILE_SECOND = frozenset("3456789")
_MAX_SPAN_DIGITS = 19  # the longest number recognised across separators (a 19-digit card)
_MIN_SPAN_DIGITS = 10  # the shortest: a landline with its area code

# The common Chinese surnames (compound ones first), used only to recognise a name right after a
# kinship or role word ("儿子王建国", "投诉人刘桂兰") or right before 先生 / 女士 ("张三先生").
_COMPOUND_SURNAMES = ("欧阳", "司马", "诸葛", "上官", "东方", "皇甫", "尉迟", "公孙", "慕容", "令狐", "宇文",
                      "长孙", "夏侯", "轩辕", "端木", "独孤", "南宫", "西门", "司徒", "申屠", "澹台", "呼延")
_SURNAMES = ("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁"
             "任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃"
             "武戴莫孔向汤常温康施文牛樊葛邢安齐易乔伍庞颜倪庄聂章鲁岳翟殷詹申欧耿关兰焦俞左柳甘祝包宁尚符"
             "舒阮柯纪梅童凌毕单季裴霍涂成苗谷盛曲翁冉骆蓝路游辛靳管柴蒙鲍华喻祁蒲房滕屈饶解牟艾尤阳时穆农"
             "司卓古吉缪简车项连芦麦褚娄窦戚岑景党宫费卜冷晏席卫米柏宗瞿桂全佟应臧闵苟邬边卞姬师和仇栾隋商"
             "刁沙荣巫寇桑郎甄丛仲虞敖巩明佘池查麻苑迟邝")
# Characters that end a name (words that follow a name in a complaint: 来电, 表示, 向我行 …).
_NAME_STOP = ("我你他她它们本贵该其此这那银行的了是在于和与及或称说讲来去到向对把被因为从自已曾也都就还又再将要会能"
              "可以而并等办理反映表示投诉要求称于今昨日月年时分号元次个位名号等、，。；：！？")
_NAME_AFTER = ("先生", "女士", "小姐", "阿姨", "大爷", "大妈", "老人", "本人", "老师", "师傅")
# A given name is Han characters (not "²" or other word characters that are no letters of a name).
_GIVEN = rf"(?:(?!{'|'.join(_NAME_AFTER)})(?![{_NAME_STOP}])[\u3400-\u4dbf\u4e00-\u9fff])"
_SURNAME = rf"(?:{'|'.join(_COMPOUND_SURNAMES)}|[{_SURNAMES}])"
# Words after which a customer's (or a relative's) name follows. Staff words (经理, 行长, 柜员) are
# not here: staff names in the org chart are shown to staff as they are.
_KIN = ("投诉人", "申诉人", "举报人", "当事人", "客户", "委托人", "代理人", "受托人", "联系人", "家属", "亲属", "配偶",
        "儿子", "女儿", "丈夫", "妻子", "老公", "老婆", "爱人", "母亲", "父亲", "妈妈", "爸爸", "儿媳", "女婿",
        "孙子", "孙女", "外孙", "哥哥", "姐姐", "弟弟", "妹妹", "侄子", "侄女", "外甥", "岳父", "岳母", "公公", "婆婆",
        "爷爷", "奶奶", "外公", "外婆", "朋友", "邻居", "本人", "持卡人", "借款人", "担保人", "户主", "监护人",
        "法定代表人", "法定代理人", "老伴", "子女")
_KIN_NAME = re.compile(
    rf"(?P<kin>{'|'.join(sorted(_KIN, key=len, reverse=True))})"
    rf"(?P<link>[ \u3000]?(?:名叫|姓名|叫|是|为|[:：])?[ \u3000]?)(?P<name>{_SURNAME}{_GIVEN}{{1,2}})"
)
_TITLES = _NAME_AFTER[:4]
_TITLED_NAME = re.compile(rf"{_SURNAME}{_GIVEN}{{1,2}}(?={'|'.join(_TITLES)})")
_HAS_UNIT = re.compile("[号栋幢室单]")  # an address pass only for text with one of these
_HAS_TITLE = re.compile("|".join(_TITLES))
# Street addresses: the number part after a road, street, lane or estate word, and building /
# unit / room numbers anywhere ("人民路45号" → "人民路**号", "3栋2单元1502室" → "*栋*单元****室").
_NUMERAL = "0-9\uff10-\uff19A-Za-z\uff21-\uff3a\uff41-\uff5a一二三四五六七八九十百千零〇两"
_UNIT = "号楼|号院|号|栋|幢|座|单元|楼|层|室|户"
_ADDRESS = re.compile(
    rf"(?P<place>[路街道巷弄同区园寓厦村苑场里])(?P<num>(?:[{_NUMERAL}]+(?:[-－之][{_NUMERAL}]+)?(?:{_UNIT}))+)"
    rf"|(?P<unit>(?<![{_NUMERAL}])(?:[{_NUMERAL}]+(?:栋|幢|单元|号楼))+(?:[{_NUMERAL}]+(?:{_UNIT}))*"
    rf"|(?<![{_NUMERAL}])[0-9\uff10-\uff19]+室)"
)
_ADDRESS_NUMERAL = re.compile(rf"[{_NUMERAL}]")


def _ascii_digits(v: str) -> str:
    return v if v.isascii() else "".join(str(int(ch)) for ch in v)


def _grouping_ok(sizes: Sequence[int]) -> bool:
    """Groups of a card or ID number written with separators: every group but the last of 3 to 8
    digits and the last of at most 8 ("6222 0212 3456 7890 123", "110105 19491231 002X"), or evenly
    spaced digits ("1 1 0 1 …"). Dates ("2026-11-20 2026-11-21") fail both, and so does a case
    number's tail before a mobile ("000123 13812345678": the mobile is found on its own)."""
    if len(sizes) == 1:
        return True
    return (all(3 <= n <= 8 for n in sizes[:-1]) and sizes[-1] <= 8
            or (len(set(sizes[:-1])) == 1 and sizes[0] <= 2 and sizes[-1] <= sizes[0]))


def _kind(digits: str, x: bool, sizes: Sequence[int]) -> tuple[str, int] | None:
    """What a number is: ("mobile", prefix digits), ("landline", 0), ("tail4", 0) or None."""
    n = len(digits)
    if x:
        return ("tail4", 0) if n == 17 and _grouping_ok(sizes) else None
    p = n - 11  # digits before a mobile number: none, 86 or 0086
    if (p in (0, 2, 4) and digits[p] == "1" and digits[p + 1] in _MOBILE_SECOND
            and digits[:p] == ("", "", "86", "", "0086")[p] and (not p or len(sizes) == 1 or sizes[0] >= p)):
        return ("mobile", p)
    if digits[0] == "0" and digits[1:2] != "0" and 10 <= n <= 12 and (len(sizes) == 1 or sizes[0] in (3, 4)):
        return ("landline", 0)
    if (12 <= n <= _MAX_SPAN_DIGITS and _grouping_ok(sizes)) or (len(sizes) == 1 and n >= 12):
        return ("tail4", 0)
    return None


def _star_span(part: str, *, skip: int, keep_first: int, keep_last: int) -> str:
    """Star the digits (and a final X) of `part` but `skip` + `keep_first` at the start and
    `keep_last` at the end; separators stay."""
    counted = [i for i, ch in enumerate(part) if ch.isdecimal() or ch in _X]
    starred = set(counted[skip + keep_first:len(counted) - keep_last])
    return "".join(_STAR if i in starred else ch for i, ch in enumerate(part))


def _find(groups: Sequence[str], sizes: Sequence[int], i: int, has_x: bool) -> tuple[int, bool, str, int] | None:
    """The longest number starting at group `i`: (last group, with the X, kind, prefix digits)."""
    ends: list[int] = []
    total = 0
    for j in range(i, len(groups)):
        total += sizes[j]
        if total > _MAX_SPAN_DIGITS and j > i:
            break
        if total >= _MIN_SPAN_DIGITS:  # nothing shorter is a number we mask
            ends.append(j)
    last = len(groups) - 1
    for j in reversed(ends):
        digits = _ascii_digits("".join(groups[i:j + 1]))
        for x in ((True, False) if has_x and j == last else (False,)):
            kind = _kind(digits, x, sizes[i:j + 1])
            if kind is not None:
                return j, x, kind[0], kind[1]
    return None


def _mask_run(match: re.Match[str]) -> str:
    """Mask the phones, ID and card numbers inside one run of digits and separators."""
    text = match.group(0)
    if text.isdecimal():  # one run of digits: the usual case, done without the group search
        kind = _kind(_ascii_digits(text), False, (len(text),))
        if kind is None:
            return text
        if kind[0] == "tail4":
            return _STAR * (len(text) - 4) + text[-4:]
        head = kind[1] + 3
        return text[:head] + _STAR * (len(text) - head - 4) + text[-4:]
    groups = _GROUP.findall(text)
    sizes = [len(g) for g in groups]
    has_x = text[-1] in _X
    hits: list[tuple[int, int, bool, str, int]] = []
    i = 0
    remaining = sum(sizes)
    while remaining >= _MIN_SPAN_DIGITS:  # a date and time ("2026-11-27 09") is one try
        found = _find(groups, sizes, i, has_x)
        if found is None:
            remaining -= sizes[i]
            i += 1
            continue
        hits.append((i, *found))
        remaining -= sum(sizes[i:found[0] + 1])
        i = found[0] + 1
    if not hits:
        return text
    spans = [(g.start(), g.end()) for g in _GROUP.finditer(text)]
    out: list[str] = []
    pos = 0
    for i, j, x, what, prefix in hits:
        start, end = spans[i][0], spans[j][1] + (1 if x else 0)
        part = text[start:end]
        if what == "tail4":
            masked = _star_span(part, skip=0, keep_first=0, keep_last=4)
        else:  # mobile (its +86 / 0086 prefix kept) or landline: first 3 and last 4, as mask_phone
            masked = _star_span(part, skip=prefix, keep_first=3, keep_last=4)
        out += [text[pos:start], masked]
        pos = end
    out.append(text[pos:])
    return "".join(out)


def _mask_address(match: re.Match[str]) -> str:
    if match.group("place"):
        return match.group("place") + _ADDRESS_NUMERAL.sub(_STAR, match.group("num"))
    return _ADDRESS_NUMERAL.sub(_STAR, match.group(0))


def _mask_kin(match: re.Match[str]) -> str:
    return match.group("kin") + match.group("link") + mask_name(match.group("name"))


def _is_cjk(v: str) -> bool:
    return all("\u3400" <= ch <= "\u9fff" or "\uf900" <= ch <= "\ufaff" for ch in v)


@lru_cache(maxsize=4096)
def _names_pattern(names: tuple[str, ...]) -> re.Pattern[str] | None:
    """One pattern for the given names: each full name, and for Chinese names of three or more
    characters the given name alone ("桂兰" of "刘桂兰"); Western names also by their parts of
    three or more letters."""
    words: set[str] = set()
    for raw in names:
        name = " ".join(raw.split())
        if len(name) < 2:
            continue
        words.add(name)
        if _is_cjk(name):
            if len(name) >= 3:
                words.add(name[1:])
        else:
            words.update(p for p in name.split(" ") if len(p) >= 3)
    if not words:
        return None
    return re.compile("|".join(re.escape(w) for w in sorted(words, key=len, reverse=True)))


# Keys (in message contexts and event payloads) whose values are digests, never personal data: left
# unmasked, as a hex digest of only digits would read as a card number.
DIGEST_KEYS = frozenset({"sha256", "hash", "anchor_hash", "head_hash", "root", "response_sha256"})


def mask_free_text(text: str, *, names: Sequence[str | None] = ()) -> str:
    """Mask the personal data inside free text (a complaint's facts and request, notes, reasons).

    * e-mail addresses → "z***@example.com";
    * numbers in any spacing or punctuation (spaces, dashes, dots, full-width digits, +86 / 0086):
      mobiles → "138****5678" (the prefix kept), landlines with an area code → "041*-****6666",
      resident ID numbers (17 digits and X, or 18 digits) and card / account numbers (16–19 digits
      grouped as written, 12 or more in one run) keep their last 4 characters; case numbers,
      amounts, dates and times are left alone (too short, or grouped like a date);
    * the given `names` (complainant, agent, legal representative …) wherever they occur → "刘**",
      and their given names alone ("桂兰" → "桂*");
    * a Chinese name right after a kinship or customer word ("儿子王建国" → "儿子王**") or before
      先生 / 女士 / 小姐 / 阿姨 ("张三先生" → "张*先生");
    * street numbers, buildings, units and rooms ("人民路45号3栋2单元1502室" → "人民路**号*栋*单元****室").

    Everything else is left as written (the length too, but for e-mail addresses). Pure: no
    I/O, no framework.
    """
    if not text:
        return text
    if "@" in text or "\uff20" in text:
        text = _EMAIL.sub(lambda m: mask_email(m.group(0).replace("\uff20", "@")), text)
    text = _RUN.sub(_mask_run, text)
    if _HAS_UNIT.search(text):
        text = _ADDRESS.sub(_mask_address, text)
    if names:
        clean = tuple(sorted({n.strip() for n in names if n and n.strip()}))
        pattern = _names_pattern(clean) if clean else None
        if pattern is not None:
            text = pattern.sub(lambda m: mask_name(m.group(0)), text)
    if _HAS_TITLE.search(text):
        text = _TITLED_NAME.sub(lambda m: mask_name(m.group(0)), text)
    return _KIN_NAME.sub(_mask_kin, text)
