"""A seeded data set for the weekly report tests: ~400 complaints over 16 weeks around 2026-W47,
with rows on the week's local boundaries, a national holiday, extensions (one recorded after the
week's end), pauses, escalations, withdrawals and repeat complainants. Inserted with Core."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, insert, select

from domain.deadlines import SHANGHAI, end_of_local_day
from models.complaint import ClockEventRow, Complaint
from models.escalation import Escalation, Extension
from models.sqlutil import table_of

C, EXT, ESC, CLOCK = table_of(Complaint), table_of(Extension), table_of(Escalation), table_of(ClockEventRow)
NAMES = ["张三丰", "李四光", "王五岳", "赵六合", "钱七星", "孙八方"]
PHONES = ["13812345678", "13987654321", "15011112222", "18622223333", "13700001111", "13344445555"]
IDS = ["210202198001011234", "21020219850505567X", None, "210203199002023456", None, "210204197707077777"]
DEPTS = [("dl", "card", "B03"), ("dl", "retail", "B12"), ("dl", "credit", "B02"), ("dl-zs", "outlet", "B01"),
         ("dl", "wealth", "B10"), (None, None, None)]
BRANCHES = ["dl", "dl-zs", "dl-xg", "dl-jz"]


def local(y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=SHANGHAI).astimezone(UTC)


def _row(n: int, received: datetime, rng: random.Random, **over: Any) -> dict[str, Any]:
    who = rng.randrange(len(NAMES))
    dept_branch, dept, cat = rng.choice(DEPTS)
    d = received.astimezone(SHANGHAI).date()
    row: dict[str, Any] = {
        "case_no": f"DL-2026-{n:06d}", "source": "desk", "channel": rng.choice(["A01", "A0302", "A0303", None]),
        "category": cat, "cause": rng.choice(["C01", "C07", None]), "severity": "ordinary", "tags": [],
        "vulnerable": False, "group_size": 1, "repeat_count": 0, "complainant_type": "individual",
        "complainant_name": NAMES[who], "complainant_phone": PHONES[who], "complainant_id_number": IDS[who],
        "branch": rng.choice(BRANCHES), "outlet": rng.choice(["中山广场网点", None]),
        "request": f"请{NAMES[who]}核实，联系{PHONES[who]}", "facts": f"身份证{IDS[who] or '无'}",
        "status": "routed", "triage": dept is None, "triage_reasons": [], "department_branch": dept_branch,
        "department": dept, "handler": "chen.jing" if dept else None,
        "chain": [{"level": "handler", "title": "经办人", "person": "chen.jing", "name": "陈静", "acting": False}] if dept else [],
        "watchers": [], "regime": "nfra", "tier": "standard", "received_at": received, "clock_started_at": received,
        "paused_days": 0, "regulatory_due_at": end_of_local_day(d + timedelta(days=15)),
        "ack_due_at": end_of_local_day(d + timedelta(days=1)), "acknowledged_at": None, "responded_at": None,
        "closed_at": None, "created_at": received, "updated_at": received,
    }
    row.update(over)
    return row


def seed(engine: Engine, *, seed_value: int = 47) -> dict[str, Any]:
    """Insert the data set; returns the raw rows (with ids), extensions, escalations and clock events."""
    rng = random.Random(seed_value)
    start = local(2026, 8, 10)
    rows: list[dict[str, Any]] = []
    for n in range(1, 401):
        received = start + timedelta(minutes=rng.randrange(0, 16 * 7 * 24 * 60))
        r = _row(n, received, rng)
        fate = rng.random()
        if r["acknowledged_at"] is None and rng.random() < 0.8:
            r["acknowledged_at"] = received + timedelta(hours=rng.uniform(1, 60))
        if fate < 0.6:
            r["responded_at"] = received + timedelta(minutes=rng.randrange(30, 25 * 24 * 60))
            r["status"] = "responded"
            if rng.random() < 0.5:
                r["closed_at"] = r["responded_at"] + timedelta(days=rng.uniform(0.1, 5))
                r["status"] = "closed"
        elif fate < 0.7:
            r["closed_at"] = received + timedelta(hours=rng.uniform(1, 200))
            r["status"] = "withdrawn"
        elif fate < 0.72:
            r["status"] = "merged"
        if rng.random() < 0.08:
            r["severity"] = "major"
        if rng.random() < 0.08:
            r["tags"] = [rng.choice(["public_opinion", "judicial", "regulatory", "emotional"])]
        rows.append(r)
    # The week's local boundaries (2026-W47 is Mon 16 Nov to Sun 22 Nov, local time).
    rows.append(_row(901, local(2026, 11, 22, 23, 30), rng, category="B03", department_branch="dl", department="card"))
    rows.append(_row(902, local(2026, 11, 23, 0, 10), rng, category="B03", department_branch="dl", department="card"))
    rows.append(_row(903, local(2026, 11, 16, 0, 0), rng, severity="major",
                     request="<script>alert('x')</script> 张三丰 要求退款 13812345678"))
    rows.append(_row(904, local(2026, 11, 15, 23, 59), rng))
    # National Day holiday receipt, open and long overdue; a complex case extended before the end.
    rows.append(_row(905, local(2026, 10, 3, 10, 0), rng, department_branch="dl", department="card", category="B03"))
    with engine.begin() as conn:
        for r in rows:
            r["id"] = conn.execute(insert(C).values(**{k: v for k, v in r.items() if k != "id"}).returning(C.c.id)).scalar_one()
        by_no = {r["case_no"]: r for r in rows}
        exts: list[dict[str, Any]] = []
        escs: list[dict[str, Any]] = []
        clocks: list[dict[str, Any]] = []
        candidates = [r for r in rows[:400] if r["status"] not in ("withdrawn", "merged")]
        for r in rng.sample(candidates, 40):
            prev_due = r["regulatory_due_at"]
            decided = r["responded_at"] or prev_due
            recorded = r["received_at"] + (min(decided, prev_due) - r["received_at"]) * rng.uniform(0.1, 0.9)
            new_due = prev_due + timedelta(days=15)
            exts.append({"complaint_id": r["id"], "from_tier": "standard", "to_tier": "complex", "approver": "zhao.li",
                         "reason": "复杂", "customer_told_at": recorded, "customer_told_via": "sms",
                         "previous_due_at": prev_due, "new_due_at": new_due, "recorded_at": recorded, "actor": "t"})
            r["regulatory_due_at"], r["tier"] = new_due, "complex"
        # Recorded after W47 ended: as of the week's end the old deadline (inside W47) stood.
        late = by_no["DL-2026-000904"]
        prev_due = late["regulatory_due_at"]
        late["regulatory_due_at"] = prev_due + timedelta(days=15)
        exts.append({"complaint_id": late["id"], "from_tier": "standard", "to_tier": "complex", "approver": "zhao.li",
                     "reason": "复杂", "customer_told_at": local(2026, 11, 24, 9), "customer_told_via": "sms",
                     "previous_due_at": prev_due, "new_due_at": late["regulatory_due_at"],
                     "recorded_at": local(2026, 11, 24, 9), "actor": "t"})
        special = by_no["DL-2026-000905"]
        exts.append({"complaint_id": special["id"], "from_tier": "standard", "to_tier": "special", "approver": "总行",
                     "reason": "特殊", "customer_told_at": local(2026, 11, 17, 9), "customer_told_via": "written",
                     "previous_due_at": special["regulatory_due_at"], "new_due_at": special["regulatory_due_at"] + timedelta(days=45),
                     "recorded_at": local(2026, 11, 17, 9), "actor": "t"})
        for r in rng.sample(candidates, 60):
            for level in range(rng.randrange(1, 4)):
                fired = r["received_at"] + timedelta(days=rng.uniform(1, 40))
                escs.append({"complaint_id": r["id"], "case_no": r["case_no"], "level": level, "name": f"L{level}督办",
                             "due_at": fired, "fired_at": fired, "reason": "逾期",
                             "recipients": [{"person": "zhao.li", "title": "消保办主任", "name": "赵丽", "seat": "cp_office"}]})
        for r in rng.sample(candidates, 30):
            at = r["received_at"] + timedelta(days=rng.uniform(0.5, 10))
            clocks.append({"complaint_id": r["id"], "kind": "pause", "at": at, "reason": rng.choice(["鉴定", "调解"]),
                           "actor": "t", "created_at": at})
            clocks.append({"complaint_id": r["id"], "kind": "resume", "at": at + timedelta(days=2), "reason": "",
                           "actor": "t", "created_at": at})
        conn.execute(insert(EXT), exts)
        conn.execute(insert(ESC), escs)
        conn.execute(insert(CLOCK), clocks)
        for r in rows:
            conn.execute(C.update().where(C.c.id == r["id"]).values(regulatory_due_at=r["regulatory_due_at"], tier=r["tier"]))
        assert conn.execute(select(C.c.id)).first() is not None
    return {"rows": rows, "extensions": exts, "escalations": escs, "clock": clocks}


def day(d: date) -> datetime:
    return datetime.combine(d, datetime.min.time(), tzinfo=SHANGHAI).astimezone(UTC)
