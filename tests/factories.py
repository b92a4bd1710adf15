"""Plain helpers that make test data (no fixtures hidden inside)."""

from __future__ import annotations

import itertools
from typing import Any

from models.schemas import ComplaintIn

_counter = itertools.count(1)


def complaint_data(**overrides: Any) -> dict[str, Any]:
    n = next(_counter)
    data: dict[str, Any] = {
        "external_ref": f"T-{n:06d}",
        "received_at": "2026-11-26T09:30:00+08:00",
        "source": "desk",
        "channel": "营业现场",
        "category": "银行卡",
        "cause": "定价收费",
        "branch": "dl",
        "complainant": {"name": "张三", "phone": "13812345678", "id_number": "210202198001011238"},
        "request": "退还年费",
        "facts": "账单扣收年费 200 元。",
    }
    data.update(overrides)
    return data


def complaint(**overrides: Any) -> ComplaintIn:
    return ComplaintIn.model_validate(complaint_data(**overrides))
