"""What the governance pages and routes share: who sees which institutions, and one command run in one
transaction with its refusals turned into `Refused` (docs/governance.md)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from api import access
from api.deps import Context, Principal
from api.service import Refused, forbidden, visible_row
from domain.lifecycle import IllegalTransition
from models.case_actions import ActionError
from services.unit_of_work import UnitOfWork

T = TypeVar("T")
MANAGE = "assign"  # 整改 items are opened and closed by supervisors, the 消保办 and admins


def need(who: Principal, permission: str) -> None:
    if not access.allowed(who.user, permission):
        raise Refused(403, forbidden(who.user.role, permission))


def branches_of(ctx: Context, who: Principal) -> set[str] | None:
    """The institutions whose call-backs and 整改 items the user sees (None: all)."""
    user = who.user
    if user.role in ("cpo", "auditor", "admin"):
        return None
    if user.branch:
        return access.subtree(ctx.config, user.branch) if user.role == "supervisor" else {user.branch}
    return set()


def callback_scope(ctx: Context, who: Principal) -> dict[str, Any]:
    """Whose 待回访 the user sees: a handler its own cases, the others their institutions (or all)."""
    if who.user.role == "handler":
        return {"branches": None, "handler": who.user.person_id or ""}
    return {"branches": branches_of(ctx, who), "handler": None}


def run(ctx: Context, fn: Callable[[UnitOfWork], T], *, case_no: str | None = None,
        who: Principal | None = None) -> T:
    """`fn` in one transaction (the case checked visible first); ActionError → 422 (409 for a case's state)."""
    with ctx.unit() as uow:
        if case_no is not None and who is not None:
            row = visible_row(uow.session, ctx, who, case_no)
            if not access.may_act(who.user, row, ctx.config, "act"):
                raise Refused(403, forbidden(who.user.role, "act"))
        try:
            return fn(uow)
        except IllegalTransition as exc:
            raise Refused(409, str(exc), [str(exc)], exc.current.value, exc.target.value) from None
        except ActionError as exc:
            state = all(p.startswith("case（") for p in exc.problems)
            raise Refused(409 if state else 422, "输入有误，未保存" if not state else str(exc), exc.problems) from None


def plain(value: Any) -> Any:
    """Decimals as text (two decimals), for JSON."""
    from decimal import Decimal

    if isinstance(value, Decimal):
        return f"{value:.2f}"
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value
