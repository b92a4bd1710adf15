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
* Free text: mainland mobile numbers (also with spaces or dashes, also in full-width digits),
  18-character ID numbers (last character may be X), bank card / account numbers of 12–19
  digits (single spaces or dashes allowed between digits) and, to be safe, any longer run of
  digits are masked; everything else is left as written. Digits are Unicode decimal digits.
  A landline written with its area code ("0411-88886666") would otherwise read as a 12-digit
  account number; it is recognised and masked like `mask_phone` ("041*-****6666").
"""

from __future__ import annotations

import re

_STAR = "*"
_MIN_PHONE_DIGITS = 8

_TEXT_PATTERN = re.compile(
    r"(?P<id>(?<!\d)\d{17}[\dXx](?!\d))"
    r"|(?P<mobile>(?<!\d)[1１][3-9３-９]\d(?:[ -]?\d{4}){2}(?!\d))"
    r"|(?P<landline>(?<!\d)0\d{2,3}-\d{7,8}(?![\d-]))"
    r"|(?P<card>(?<!\d)\d(?:[ -]?\d){11,18}(?!\d))"
    r"|(?P<long>\d{20,})"
)


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


def _mask_match(match: re.Match[str]) -> str:
    found = match.group(0)
    if match.lastgroup in ("mobile", "landline"):
        return _mask_digits(found, keep_first=3, keep_last=4)
    if match.lastgroup == "id":
        return mask_id_number(found)
    return _mask_digits(found, keep_first=0, keep_last=4)


def mask_text(text: str) -> str:
    """Mask mobile numbers, ID numbers and card / account numbers inside free text."""
    return _TEXT_PATTERN.sub(_mask_match, text)
