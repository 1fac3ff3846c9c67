"""Authorisation helpers every service's policy module uses (ADR 0008).

Two questions, asked in this order on every request:

1. May this role do this kind of thing at all? A role table per service (`Permissions`) answers,
   as a dependency of the route (`Permissions.requires`), before the body is read or any object
   looked at; a refusal is 403 and says nothing about any object.
2. May this principal see this object? The service's policy module answers from the columns of
   its read model (CSP area, Chair, agency). An object the caller may not see is answered with
   exactly the 404 a missing object gets, so that refusals never reveal that it exists. List
   endpoints put the same rule in their SQL `WHERE` instead (`Visibility`), so that counts and
   pages never include what the caller may not see.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from fastapi import Depends

from dhr_platform.auth import CurrentPrincipal
from dhr_platform.http import Problem
from dhr_platform.principal import Principal, Role


def forbidden(principal: Principal, doing: str) -> Problem:
    """The 403 of a role that may not do something (whatever the object)."""
    return Problem(403, f"Your role ({principal.describe()}) may not {doing}.", title="Forbidden")


@dataclass(frozen=True)
class Permissions:
    """A service's role table: for each action (worded to follow "may not"), the roles that may
    do it. One table per service, so that who may do what reads in one place."""

    table: Mapping[str, frozenset[Role]]

    def __init__(self, table: Mapping[str, Iterable[Role]]):
        object.__setattr__(self, "table", {action: frozenset(roles)
                                           for action, roles in table.items()})

    def allows(self, principal: Principal, action: str) -> bool:
        return principal.has(*self.table[action])

    def require(self, principal: Principal, action: str) -> None:
        """403 unless one of the principal's roles may do `action`."""
        if not self.allows(principal, action):
            raise forbidden(principal, action)

    def requires(self, action: str) -> Any:
        """A route dependency that refuses (403) a role that may not do `action`.

        As a dependency it runs after the token check and before the body is read or
        validated, so a caller without the right learns nothing from a 422 either. The app
        factory refuses routes without one.
        """
        if action not in self.table:
            raise KeyError(f"{action!r} is not in the role table")

        async def check(principal: CurrentPrincipal) -> Principal:
            self.require(principal, action)
            return principal

        check.policy_action = action  # type: ignore[attr-defined]
        return Depends(check)


@dataclass
class Visibility:
    """A SQL condition limiting a list to what a principal may see, with its arguments.

    `everything()` for roles that read all; `nothing()` when the principal may see none (the
    list is then empty without asking the database); otherwise conditions OR-ed together, each
    with `?` where its argument goes, renumbered after the query's own arguments by `where`.
    """

    conditions: list[tuple[str, Any]] = field(default_factory=list)
    unrestricted: bool = False

    @classmethod
    def everything(cls) -> Visibility:
        return cls(unrestricted=True)

    @classmethod
    def nothing(cls) -> Visibility:
        return cls()

    def allow(self, condition: str, argument: Any) -> Visibility:
        """Also let the caller see rows where `condition` holds (`?` stands for `argument`)."""
        self.conditions.append((condition, argument))
        return self

    @property
    def is_empty(self) -> bool:
        return not self.unrestricted and not self.conditions

    def where(self, arguments: list[Any]) -> str:
        """The SQL condition, appending its arguments to the query's `arguments`."""
        if self.unrestricted:
            return "true"
        if not self.conditions:
            return "false"
        parts = []
        for condition, argument in self.conditions:
            arguments.append(argument)
            parts.append(condition.replace("?", f"${len(arguments)}"))
        return "(" + " OR ".join(parts) + ")"
