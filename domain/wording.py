"""What messages say about a deadline, truthfully (pure: `now` is an argument).

The deadline a supervisor must be told about is the *effective* one: the stored regulatory due
time plus the whole calendar days of a pause that is still open (the same arithmetic as
`domain.deadlines.paused_days`; the stored deadline only grows when the pause ends). Days are
counted on Asia/Shanghai dates:

* before the deadline day: "距答复期限还有 N 天"
* on the deadline day:     "今日到期"
* after it:                "已逾期 N 天"
"""

from __future__ import annotations

from datetime import datetime, timedelta

from domain.deadlines import SHANGHAI, ClockEvent, ClockKind, paused_days

NOT_VULNERABLE = ""


def effective_due_at(regulatory_due_at: datetime, *, open_pause_since: datetime | None, now: datetime) -> datetime:
    """The regulatory deadline with the days of a still-open pause counted up to `now`."""
    if open_pause_since is None:
        return regulatory_due_at
    extra, _ = paused_days([ClockEvent(ClockKind.PAUSE, open_pause_since)], now=now)
    return regulatory_due_at + timedelta(days=extra)


def days_late(due_at: datetime, now: datetime) -> int:
    """Whole local days past the deadline's local date (negative: days left; 0: the deadline day)."""
    return (now.astimezone(SHANGHAI).date() - due_at.astimezone(SHANGHAI).date()).days


def lateness_text(regulatory_due_at: datetime, now: datetime, *, open_pause_since: datetime | None = None) -> str:
    """距答复期限还有 N 天 / 今日到期 / 已逾期 N 天, with an open pause counted."""
    due = effective_due_at(regulatory_due_at, open_pause_since=open_pause_since, now=now)
    days = days_late(due, now)
    if days < 0:
        return f"距答复期限还有 {-days} 天"
    if days == 0:
        return "今日到期"
    return f"已逾期 {days} 天"


def vulnerable_text(vulnerable: bool, note: str | None) -> str:
    """特殊群体（老年人） for a vulnerable customer's case, "" otherwise."""
    if not vulnerable:
        return NOT_VULNERABLE
    note = (note or "").strip()
    return f"特殊群体（{note}）" if note else "特殊群体"


_EXTENSION_LIMITS = {"complex": "30 日（复杂投诉）", "special": "60 日（特殊情况，上级机构批准）"}


def extension_limit(tier: str) -> str:
    """The answer time an extension goes to, as a message says it."""
    return _EXTENSION_LIMITS.get(tier, tier)
