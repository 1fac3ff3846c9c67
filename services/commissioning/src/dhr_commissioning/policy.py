"""Who may do what in the commissioning service (ADR 0008, docs/security.md).

Review cases belong to the CSP of their area: its review managers read and change them. The
Chair reads the reviews they chair (matched on the token's subject, recorded at appointment);
oversight bodies read every review. Agencies and their systems notify deaths, for their own
agency only, and read nothing back. Historic reviews are imported by operators.
"""

from __future__ import annotations

from dhr_commissioning.domain import ReviewState
from dhr_platform.policy import Permissions, Visibility, forbidden
from dhr_platform.principal import Principal, Role

NOTIFY = "notify a death"
CHANGE_REVIEW = "change a review case"
READ_REVIEWS = "read review cases"
RECORD_HISTORIC = "record historic reviews"
READ_HISTORIC = "read historic reviews"
ERASE_PERSONAL_DATA = "erase a review's personal data"

PERMISSIONS = Permissions({
    NOTIFY: {Role.REVIEW_MANAGER, Role.AGENCY_LEAD, Role.AGENCY_SYSTEM},
    CHANGE_REVIEW: {Role.REVIEW_MANAGER},
    READ_REVIEWS: {Role.REVIEW_MANAGER, Role.CHAIR, Role.OVERSIGHT_READER},
    RECORD_HISTORIC: {Role.ADMIN},
    READ_HISTORIC: {Role.ADMIN, Role.OVERSIGHT_READER},
    ERASE_PERSONAL_DATA: {Role.ADMIN},
})


def require_may_notify(principal: Principal, csp_area: str, notifying_agency: str) -> None:
    """A review manager notifies for their own area, an agency for itself (403 otherwise)."""
    if principal.has(Role.REVIEW_MANAGER) and principal.belongs_to(csp_area):
        return
    if principal.has(Role.AGENCY_LEAD, Role.AGENCY_SYSTEM) and principal.belongs_to(
            notifying_agency):
        return
    raise forbidden(principal, "notify a death for another CSP area or agency "
                    "(csp_area or notifying_agency must be your organisation)")


def may_see(principal: Principal, review: ReviewState) -> bool:
    """Whether the principal may read this review case."""
    if principal.has(Role.OVERSIGHT_READER):
        return True
    if principal.has(Role.REVIEW_MANAGER) and principal.belongs_to(review.csp_area):
        return True
    return (principal.has(Role.CHAIR) and review.chair is not None
            and review.chair.subject == principal.subject)


def may_change(principal: Principal, review: ReviewState) -> bool:
    """Whether the principal may run commands on this review case."""
    return principal.has(Role.REVIEW_MANAGER) and principal.belongs_to(review.csp_area)


def visible_reviews(principal: Principal) -> Visibility:
    """The `reviews` rows the principal may list, as SQL."""
    if principal.has(Role.OVERSIGHT_READER):
        return Visibility.everything()
    visible = Visibility.nothing()
    if principal.has(Role.REVIEW_MANAGER) and principal.organisation:
        visible.allow("lower(csp_area) = lower(?)", principal.organisation.strip())
    if principal.has(Role.CHAIR):
        visible.allow("chair_subject = ?", principal.subject)
    return visible
