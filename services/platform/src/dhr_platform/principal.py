"""Who is calling: the principal a verified bearer token names, and the roles the platform knows.

Kept apart from token verification (`dhr_platform.auth`) so that the event store can record the
actor without depending on JWT or HTTP code.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    """The roles a token may carry (claim `roles` by default; see docs/security.md)."""

    REVIEW_MANAGER = "review_manager"
    """A Community Safety Partnership's review manager: the reviews of their own CSP area."""
    CHAIR = "chair"
    """An independent Chair: the reviews they chair (matched on the token's subject)."""
    PANEL_MEMBER = "panel_member"
    """A panel member: their own agency's requests, submissions, actions and recommendations."""
    AGENCY_LEAD = "agency_lead"
    """An agency's lead for reviews: as a panel member, and may notify a death."""
    OVERSIGHT_READER = "oversight_reader"
    """Home Office or the Domestic Abuse Commissioner: reads everything, writes nothing."""
    AGENCY_SYSTEM = "agency_system"
    """An agency's case system (a machine client): notifications and its own submissions."""
    ADMIN = "admin"
    """Operators: configuration and operational commands, not the content of reviews."""


AGENCY_ROLES = frozenset({Role.PANEL_MEMBER, Role.AGENCY_LEAD, Role.AGENCY_SYSTEM})
"""Roles whose organisation is an agency, matched against agency names in the records."""


def same_organisation(left: str | None, right: str | None) -> bool:
    """Organisation and area names compare without regard to case or surrounding spaces."""
    if left is None or right is None:
        return False
    return left.strip().casefold() == right.strip().casefold()


@dataclass(frozen=True)
class Principal:
    """The authenticated caller: token subject, recognised roles and organisation claim.

    For a review manager the organisation is the CSP area (e.g. `Norfolk`); for agency roles it
    is the agency's name as the records spell it (e.g. `Norfolk Constabulary`).
    """

    subject: str
    roles: frozenset[Role]
    organisation: str | None = None
    personal_data_granted: bool = False
    """The token grants personal data (an oversight reader's `personal_data` claim)."""

    def has(self, *roles: Role) -> bool:
        """Whether the principal holds any of these roles."""
        return not self.roles.isdisjoint(roles)

    def belongs_to(self, organisation: str | None) -> bool:
        """Whether the principal's organisation is this one (an agency or a CSP area)."""
        return same_organisation(self.organisation, organisation)

    @property
    def role_names(self) -> tuple[str, ...]:
        return tuple(sorted(role.value for role in self.roles))

    def describe(self) -> str:
        """A short description for messages: roles and organisation, never the subject."""
        roles = ", ".join(self.role_names) or "no role"
        return f"{roles} of {self.organisation}" if self.organisation else roles
