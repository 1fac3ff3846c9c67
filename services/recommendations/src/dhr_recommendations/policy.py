"""Who may do what in the recommendations service (ADR 0008, docs/security.md).

A review's recommendations are the business of the CSP of its area: its review managers enter
them, verify implementation and follow up. Each addressee agency (its lead, its panel members
or its case system) sees the recommendations addressed to it and records its own response and
claimed progress, never another addressee's; it can never verify itself. Oversight bodies read
everything. The national library is shared learning: every person's role may search it. The
Chair's part ends with the agreed report, so Chairs read the library only.
"""

from __future__ import annotations

from dhr_platform.policy import Permissions, Visibility
from dhr_platform.principal import AGENCY_ROLES, Principal, Role
from dhr_recommendations.model import AddresseeState, RecommendationState

ENTER = "enter a recommendation"
RESPOND = "record an addressee's response or claimed progress"
VERIFY = "verify implementation (the CSP's own check)"
CORRESPOND = "log correspondence with an addressee"
READ = "read recommendations, action plans and escalations"
READ_HISTORY = "read a recommendation's event history"
CHECK_DEADLINES = "run a recommendation's deadline checks"
CHECK_EVERY_DEADLINE = "run the deadline checks of every recommendation"
SEARCH_LIBRARY = "search the national library"

_PEOPLE_OF_AGENCIES = {Role.PANEL_MEMBER, Role.AGENCY_LEAD}
PERMISSIONS = Permissions({
    ENTER: {Role.REVIEW_MANAGER},
    RESPOND: {Role.REVIEW_MANAGER, *AGENCY_ROLES},
    VERIFY: {Role.REVIEW_MANAGER},
    CORRESPOND: {Role.REVIEW_MANAGER, *_PEOPLE_OF_AGENCIES},
    READ: {Role.REVIEW_MANAGER, Role.OVERSIGHT_READER, *AGENCY_ROLES},
    READ_HISTORY: {Role.REVIEW_MANAGER, Role.OVERSIGHT_READER},
    CHECK_DEADLINES: {Role.REVIEW_MANAGER},
    CHECK_EVERY_DEADLINE: {Role.ADMIN},
    SEARCH_LIBRARY: {Role.REVIEW_MANAGER, Role.CHAIR, Role.OVERSIGHT_READER,
                     *_PEOPLE_OF_AGENCIES},
})


def manages(principal: Principal, recommendation: RecommendationState) -> bool:
    """The review manager of the recommendation's CSP area."""
    return principal.has(Role.REVIEW_MANAGER) and principal.belongs_to(recommendation.csp_area)


def is_addressee(principal: Principal, addressee: AddresseeState) -> bool:
    """An agency role of the agency this addressee is."""
    return principal.has(*AGENCY_ROLES) and principal.belongs_to(addressee.name)


def may_see(principal: Principal, recommendation: RecommendationState) -> bool:
    if principal.has(Role.OVERSIGHT_READER) or manages(principal, recommendation):
        return True
    return any(is_addressee(principal, a) for a in recommendation.addressees)


def may_act_for(principal: Principal, recommendation: RecommendationState,
                addressee: AddresseeState, action: str) -> bool:
    """Whether the principal may run `action` for this addressee of the recommendation."""
    if manages(principal, recommendation):
        return True
    return action in (RESPOND, CORRESPOND) and is_addressee(principal, addressee)


def visible_recommendations(principal: Principal, alias: str = "r") -> Visibility:
    """The `recommendations` rows (as `alias`) the principal may read, as SQL."""
    if principal.has(Role.OVERSIGHT_READER):
        return Visibility.everything()
    visible = Visibility.nothing()
    if principal.organisation is None:
        return visible
    organisation = principal.organisation.strip()
    if principal.has(Role.REVIEW_MANAGER):
        visible.allow(f"lower({alias}.csp_area) = lower(?)", organisation)
    if principal.has(*AGENCY_ROLES):
        visible.allow(f"""EXISTS (SELECT 1 FROM recommendation_addressees mine
                                   WHERE mine.recommendation_id = {alias}.recommendation_id
                                     AND lower(mine.name) = lower(?))""", organisation)
    return visible


def visible_addressee_rows(principal: Principal, *, area_column: str,
                           addressee_column: str) -> Visibility:
    """Rows of one addressee each (action plans, escalations): the CSP sees its area's, an
    agency its own rows only."""
    if principal.has(Role.OVERSIGHT_READER):
        return Visibility.everything()
    visible = Visibility.nothing()
    if principal.organisation is None:
        return visible
    organisation = principal.organisation.strip()
    if principal.has(Role.REVIEW_MANAGER):
        visible.allow(f"lower({area_column}) = lower(?)", organisation)
    if principal.has(*AGENCY_ROLES):
        visible.allow(f"lower({addressee_column}) = lower(?)", organisation)
    return visible
