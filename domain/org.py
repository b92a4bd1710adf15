"""The organisation as plain data: branches, departments, positions and people.

The responsibility chain of a branch (消保"一把手"责任制, regulation.md §3) is
经办人 → 承办部门负责人 → 消保办 → 分管行长 → 行长 (一把手). A position may be vacant, held by
an acting person (代理), or both held and delegated; `resolve` walks that and, when a position
has nobody at all, leaves it out so the next level up receives the work.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import cast


class ChainLevel(StrEnum):
    HANDLER = "handler"
    DEPARTMENT_HEAD = "department_head"
    CP_OFFICE = "cp_office"
    DEPUTY = "deputy"
    PRESIDENT = "president"


CHAIN_ORDER: tuple[ChainLevel, ...] = tuple(ChainLevel)

LEVEL_TITLES: Mapping[ChainLevel, str] = {
    ChainLevel.HANDLER: "经办人",
    ChainLevel.DEPARTMENT_HEAD: "承办部门负责人",
    ChainLevel.CP_OFFICE: "消保办",
    ChainLevel.DEPUTY: "分管行长",
    ChainLevel.PRESIDENT: "行长",
}


@dataclass(frozen=True)
class Contact:
    """One way to reach a person: a channel name and the address on it."""

    channel: str
    address: str


@dataclass(frozen=True)
class Person:
    id: str
    name: str
    contacts: tuple[Contact, ...] = ()
    on_leave: bool = False
    delegate: str | None = None


@dataclass(frozen=True)
class Position:
    """A seat in the chain. `holder` None means vacant; `acting` covers a vacancy or absence."""

    title: str
    holder: str | None = None
    acting: str | None = None


@dataclass(frozen=True)
class Department:
    code: str
    name: str
    head: Position
    handlers: tuple[str, ...] = ()


@dataclass(frozen=True)
class Branch:
    code: str
    name: str
    case_prefix: str
    parent: str | None
    president: Position
    deputy: Position | None = None
    cp_office: Position | None = None
    cp_department: str | None = None
    departments: Mapping[str, Department] = field(default_factory=dict)


@dataclass(frozen=True)
class ChainMember:
    level: ChainLevel
    title: str
    person_id: str
    acting: bool = False


def chain_snapshot(chain: Sequence[ChainMember], people: Mapping[str, Person]) -> list[dict[str, object]]:
    """The responsibility chain as a case stores it (complaint.chain, JSON): level, title, person, name,
    acting, one dict per seat in chain order. The one definition (routing, reassignment, transfer)."""
    return [{"level": m.level.value, "title": m.title, "person": m.person_id, "name": people[m.person_id].name,
             "acting": m.acting} for m in chain]


@dataclass(frozen=True)
class OrgChart:
    branches: Mapping[str, Branch]
    people: Mapping[str, Person]
    # Answers that depend only on the (immutable) chart, remembered: intake asks the same few
    # questions for every case of a batch.
    _memo: dict[tuple[object, ...], object] = field(default_factory=dict, init=False, repr=False, compare=False)

    def branch(self, code: str) -> Branch:
        try:
            return self.branches[code]
        except KeyError:
            raise KeyError(f"unknown branch {code!r}") from None

    def ancestry(self, code: str) -> list[Branch]:
        """The branch and its parents up to the root, nearest first."""
        key = ("ancestry", code)
        found = self._memo.get(key)
        if found is None:
            found = self._memo[key] = tuple(self._ancestry(code))
        return list(cast(tuple[Branch, ...], found))

    def _ancestry(self, code: str) -> list[Branch]:
        out: list[Branch] = []
        current: str | None = code
        while current is not None:
            branch = self.branch(current)
            out.append(branch)
            current = branch.parent
        return out

    def find_department(self, branch_code: str, department_code: str) -> tuple[Branch, Department] | None:
        """The department in this branch, else in the nearest parent that has it."""
        for branch in self.ancestry(branch_code):
            dept = branch.departments.get(department_code)
            if dept is not None:
                return branch, dept
        return None

    def cp_department(self, branch_code: str) -> tuple[Branch, Department] | None:
        """The consumer-protection office's department (the triage queue) nearest this branch."""
        for branch in self.ancestry(branch_code):
            if branch.cp_department is not None:
                return branch, branch.departments[branch.cp_department]
        return None

    def occupant(self, position: Position | None) -> tuple[str, bool] | None:
        """Who answers for a position now: (person id, acting?) or None when nobody does."""
        if position is None:
            return None
        if position.holder is not None:
            person = self.people[position.holder]
            if person.on_leave and person.delegate:
                return person.delegate, True
            if not person.on_leave:
                return person.id, False
        if position.acting is not None:
            return position.acting, True
        return None

    def _first(self, branch_code: str, pick: str) -> tuple[Position | None, bool]:
        for branch in self.ancestry(branch_code):
            position: Position | None = getattr(branch, pick)
            if position is not None:
                return position, True
        return None, False

    def chain(self, *, branch_code: str, department: Department, handler: str | None) -> tuple[ChainMember, ...]:
        """The responsibility chain for a case, lowest level first, skipping empty seats."""
        key = ("chain", branch_code, department.code, department.head, handler)
        found = self._memo.get(key)
        if found is None:
            found = self._memo[key] = self._chain(branch_code, department, handler)
        return cast(tuple[ChainMember, ...], found)

    def _chain(self, branch_code: str, department: Department, handler: str | None) -> tuple[ChainMember, ...]:
        seats: list[tuple[ChainLevel, Position | None]] = [
            (ChainLevel.DEPARTMENT_HEAD, department.head),
            (ChainLevel.CP_OFFICE, self._first(branch_code, "cp_office")[0]),
            (ChainLevel.DEPUTY, self._first(branch_code, "deputy")[0]),
            (ChainLevel.PRESIDENT, self.branch(branch_code).president),
        ]
        members: list[ChainMember] = []
        if handler is not None:
            members.append(ChainMember(ChainLevel.HANDLER, LEVEL_TITLES[ChainLevel.HANDLER], handler))
        for level, position in seats:
            who = self.occupant(position)
            if who is None:
                continue
            title = position.title if position is not None else LEVEL_TITLES[level]
            members.append(ChainMember(level, title, who[0], who[1]))
        return tuple(members)


def people_ids(members: Sequence[ChainMember]) -> list[str]:
    return [m.person_id for m in members]
