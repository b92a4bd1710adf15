"""How the API refuses: `Refused` (the HTTP status and the Chinese detail naming the field), and the
403 wording. Imported by api/deps.py and api/service.py alike (no cycle between them)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from domain.field_names import refusal
from models.users import ROLE_NAMES


@dataclass
class Refused(Exception):
    status: int
    detail: str
    errors: list[str] = field(default_factory=list)
    current: str | None = None
    target: str | None = None
    denied: bool = False  # a case outside the caller's scope, answered as unknown (the security log says so)

    def as_dict(self) -> dict[str, Any]:
        return {"detail": self.detail, "errors": self.errors, "current": self.current, "target": self.target}


PERMISSION_NAMES = {"submit": "登记投诉", "read_cases": "查看案件", "unmask": "查看完整个人信息", "act": "办理案件",
                    "assign": "指派承办人", "escalations": "处理督办", "reports": "查看周报", "audit": "查看审计记录"}
NUL_REFUSED = "不能含有 NUL 字符（\\x00）"


def forbidden(role: str, permission: str) -> str:
    """The 403 detail: `role（角色）：“受理岗”无权办理案件`."""
    return refusal("role", f"“{ROLE_NAMES.get(role, role)}”无权{PERMISSION_NAMES.get(permission, permission)}")
