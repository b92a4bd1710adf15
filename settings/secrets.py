"""Secrets by reference: `env:NAME` (an environment variable) or `prefect:NAME` (a Secret block).

The configuration only ever holds the reference, never the value; values are read when first
needed, kept in memory, and never logged (`SecretRef.__repr__` shows the reference only).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field


class SecretMissing(LookupError):
    """The referenced secret is not set."""


@dataclass(frozen=True)
class SecretRef:
    ref: str
    _cache: dict[str, str] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        scheme, _, name = self.ref.partition(":")
        if scheme not in ("env", "prefect") or not name:
            raise ValueError(f"a secret must be a reference like env:NAME or prefect:NAME, not a value ({scheme}:…)")

    def __repr__(self) -> str:
        return f"SecretRef({self.ref!r})"

    def get(self) -> str:
        if "v" in self._cache:
            return self._cache["v"]
        scheme, _, name = self.ref.partition(":")
        if scheme == "env":
            value = os.environ.get(name)
            if not value:
                raise SecretMissing(f"environment variable {name} is not set")
        else:
            from prefect.blocks.system import Secret

            try:
                value = str(Secret.load(name).get())  # type: ignore[union-attr]
            except ValueError as exc:
                raise SecretMissing(f"Prefect Secret block {name!r} not found") from exc
        self._cache["v"] = value
        return value
