"""Who may do what, and which cases each role sees (docs/api.md has the table).

* desk: registers complaints; sees the cases of its own branch, masked (to answer "where is my case").
* handler: the cases assigned to them or where they sit in the chain; acts on them.
* supervisor (承办部门负责人, 分管行长, 行长): the cases of their branch and its sub-branches, and
  any case whose chain or watchers name them; acts on them and assigns handlers.
* cpo (消保办): every case; acts, assigns.
* auditor: every case, read-only, always masked; reports and the audit chain.
* admin: everything.
Personal data is masked unless a role that needs it asks (`unmask`), and that view is audited.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import ColumnElement, false, or_, true

from models.complaint import Complaint
from models.sqlutil import table_of
from models.users import User
from settings.config import Config

COMPLAINT = table_of(Complaint)

ALL = frozenset({"desk", "handler", "supervisor", "cpo", "auditor", "admin"})
ACTORS = frozenset({"handler", "supervisor", "cpo", "admin"})

PERMISSIONS: Mapping[str, frozenset[str]] = {
    "submit": frozenset({"desk", "handler", "supervisor", "cpo", "admin"}),
    "read_cases": ALL,
    "unmask": frozenset({"handler", "supervisor", "cpo", "admin"}),
    "act": ACTORS,
    "assign": frozenset({"supervisor", "cpo", "admin"}),
    "escalations": frozenset({"handler", "supervisor", "cpo", "admin"}),
    "reports": frozenset({"supervisor", "cpo", "auditor", "admin"}),
    "audit": frozenset({"cpo", "auditor", "admin"}),
    "dashboard": frozenset({"supervisor", "cpo", "auditor", "admin"}),  # 一把手看板 (a supervisor: what they head)
}


def allowed(user: User, permission: str) -> bool:
    return user.role in PERMISSIONS[permission]


def subtree(config: Config, branch: str) -> set[str]:
    """The branch and every branch below it."""
    return {code for code in config.org.branches
            if any(b.code == branch for b in config.org.ancestry(code))}


def _names(value: Any, person: str) -> bool:
    if isinstance(value, list):
        return any(_names(v, person) for v in value)
    if isinstance(value, dict):
        return person in (value.get("person"), value.get("person_id"))
    return bool(value == person)


def can_see(user: User, case: Any, config: Config) -> bool:
    """Whether the user may open this case (a row with branch, handler, chain, watchers)."""
    role = user.role
    if role in ("cpo", "auditor", "admin"):
        return True
    person = user.person_id
    if person and (case.handler == person or _names(case.chain, person) or _names(case.watchers, person)):
        return True
    if role == "desk":
        return bool(case.branch == user.branch)
    if role == "supervisor" and user.branch:
        mine = subtree(config, user.branch)
        return bool(case.branch in mine or case.department_branch in mine)
    return False


def scope(user: User, config: Config, *, open_only: bool = False) -> ColumnElement[bool]:
    """SQL filter for the cases the user may list (a superset for chains, checked again by can_see).
    `open_only`: the caller lists open cases only (the participants' open rows are read)."""
    role = user.role
    if role in ("cpo", "auditor", "admin"):
        return true()
    if role == "supervisor" and user.branch and subtree(config, user.branch) == set(config.org.branches):
        return true()  # the head office's supervisor: every branch
    clauses: list[ColumnElement[bool]] = []
    if user.person_id:  # handler, chain, watcher, escalation recipient: an indexed relation (models/participants.py)
        from models.participants import involves

        clauses.append(involves(user.person_id, open_only=open_only))
    if role == "desk" and user.branch:
        clauses.append(COMPLAINT.c.branch == user.branch)
    if role == "supervisor" and user.branch:
        mine = sorted(subtree(config, user.branch))
        clauses += [COMPLAINT.c.branch.in_(mine), COMPLAINT.c.department_branch.in_(mine)]
    return or_(*clauses) if clauses else false()


def may_unmask(user: User, case: Any, config: Config) -> bool:
    return allowed(user, "unmask") and can_see(user, case, config)


def may_act(user: User, case: Any, config: Config, action: str) -> bool:
    permission = "assign" if action == "assign" else "act"
    return allowed(user, permission) and can_see(user, case, config)
