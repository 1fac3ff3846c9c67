"""Who may do what in the learning service (ADR 0008, docs/security.md).

A review's learning is run by the review manager of its CSP area and by its Chair (both known
from the commissioning service's events, in `known_reviews`); oversight bodies read it all.
Agencies take part in the learning events they are invited to or took part in: they read those
events, acknowledge the blame-free ground rules for their own agency only (each agency
acknowledges them itself) and record their own agency's contributions. Learning points across
reviews are searched by the same people who may read the reviews they come from.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dhr_learning.domain import LearningEvent
from dhr_platform.policy import Permissions, Visibility
from dhr_platform.principal import Principal, Role

RUN_LEARNING = "run a review's learning (events, learning points, dissemination)"
ACKNOWLEDGE = "acknowledge the ground rules (an agency does so itself)"
CONTRIBUTE = "record a contribution"
READ_LEARNING = "read a review's learning"
READ_LEARNING_EVENT = "read a learning event"
SEARCH_LEARNING_POINTS = "search learning points"

_AGENCY = {Role.PANEL_MEMBER, Role.AGENCY_LEAD}
PERMISSIONS = Permissions({
    RUN_LEARNING: {Role.REVIEW_MANAGER, Role.CHAIR},
    ACKNOWLEDGE: _AGENCY,
    CONTRIBUTE: {Role.REVIEW_MANAGER, Role.CHAIR, *_AGENCY},
    READ_LEARNING: {Role.REVIEW_MANAGER, Role.CHAIR, Role.OVERSIGHT_READER},
    READ_LEARNING_EVENT: {Role.REVIEW_MANAGER, Role.CHAIR, Role.OVERSIGHT_READER, *_AGENCY},
    SEARCH_LEARNING_POINTS: {Role.REVIEW_MANAGER, Role.CHAIR, Role.OVERSIGHT_READER},
})


def manages(principal: Principal, known: Mapping[str, Any] | None) -> bool:
    """The review manager of the review's area, or its Chair (`known` is its known_reviews row)."""
    if known is None:
        return False
    if principal.has(Role.REVIEW_MANAGER) and principal.belongs_to(known["csp_area"]):
        return True
    return principal.has(Role.CHAIR) and known["chair_subject"] is not None and (
        known["chair_subject"] == principal.subject)


def reads_all(principal: Principal, known: Mapping[str, Any] | None) -> bool:
    return principal.has(Role.OVERSIGHT_READER) or manages(principal, known)


def takes_part(principal: Principal, event: LearningEvent) -> bool:
    """An agency role whose agency was invited to, or took part in, the learning event."""
    if not principal.has(*_AGENCY):
        return False
    return any(principal.belongs_to(agency)
               for agency in (*event.invited_agencies, *event.participating_agencies))


def visible_learning_points(principal: Principal) -> Visibility:
    """The learning points (joined with known_reviews as `r`) the principal may search."""
    if principal.has(Role.OVERSIGHT_READER):
        return Visibility.everything()
    visible = Visibility.nothing()
    if principal.has(Role.REVIEW_MANAGER) and principal.organisation:
        visible.allow("lower(r.csp_area) = lower(?)", principal.organisation.strip())
    if principal.has(Role.CHAIR):
        visible.allow("r.chair_subject = ?", principal.subject)
    return visible
