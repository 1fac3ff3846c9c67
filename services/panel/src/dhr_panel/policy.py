"""Who may do what in the panel service (ADR 0008, docs/security.md).

A panel is run by the review manager of its CSP area and by its Chair (matched on the token's
subject, recorded from the commissioning service's `ChairAppointed`). Agencies on the panel
(panel members, agency leads) read it, but see only their own agency's information requests:
never another agency's IMR, chronology or scoping return. An agency (its lead, a panel member
or its case system) records its own submissions. Oversight bodies read everything. The family
record is kept by the review manager and the Chair only, and read by oversight too.
"""

from __future__ import annotations

from dhr_panel.model import InformationRequest, PanelState
from dhr_platform.policy import Permissions
from dhr_platform.principal import AGENCY_ROLES, Principal, Role

MANAGE_PANEL = "run a panel (members, terms of reference, requests, meetings, report)"
SUBMIT_INFORMATION = "record an information submission"
READ_PANEL = "read a panel"
READ_PANEL_HISTORY = "read a panel's event history"
CHECK_EVERY_DEADLINE = "run the deadline checks of every panel"
RECORD_FAMILY = "record family involvement"
READ_FAMILY = "read family involvement"

PERMISSIONS = Permissions({
    MANAGE_PANEL: {Role.REVIEW_MANAGER, Role.CHAIR},
    SUBMIT_INFORMATION: {Role.REVIEW_MANAGER, Role.CHAIR, *AGENCY_ROLES},
    READ_PANEL: {Role.REVIEW_MANAGER, Role.CHAIR, Role.OVERSIGHT_READER, Role.PANEL_MEMBER,
                 Role.AGENCY_LEAD},
    READ_PANEL_HISTORY: {Role.REVIEW_MANAGER, Role.CHAIR, Role.OVERSIGHT_READER},
    CHECK_EVERY_DEADLINE: {Role.ADMIN},
    RECORD_FAMILY: {Role.REVIEW_MANAGER, Role.CHAIR},
    READ_FAMILY: {Role.REVIEW_MANAGER, Role.CHAIR, Role.OVERSIGHT_READER},
})


def manages_review(principal: Principal, csp_area: str | None, chair_subject: str | None) -> bool:
    """The review manager of the review's area, or its Chair."""
    if principal.has(Role.REVIEW_MANAGER) and principal.belongs_to(csp_area):
        return True
    return principal.has(Role.CHAIR) and chair_subject is not None and (
        chair_subject == principal.subject)


def manages(principal: Principal, panel: PanelState) -> bool:
    return manages_review(principal, panel.csp_area,
                          None if panel.chair is None else panel.chair.subject)


def reads_all_of(principal: Principal, panel: PanelState) -> bool:
    """Whether the principal sees the whole panel, every agency's requests included."""
    return principal.has(Role.OVERSIGHT_READER) or manages(principal, panel)


def is_agency_of(principal: Principal, panel: PanelState) -> bool:
    """An agency role whose agency sits (or sat) on the panel or was asked for information."""
    if not principal.has(Role.PANEL_MEMBER, Role.AGENCY_LEAD):
        return False
    agencies = ([m.agency for m in panel.members] + [m.agency for m in panel.former_members]
                + [r.agency for r in panel.requests])
    return any(principal.belongs_to(agency) for agency in agencies)


def may_see(principal: Principal, panel: PanelState) -> bool:
    return reads_all_of(principal, panel) or is_agency_of(principal, panel)


def may_see_request(principal: Principal, panel: PanelState,
                    request: InformationRequest) -> bool:
    """Managers and oversight see every request; an agency only its own."""
    if reads_all_of(principal, panel):
        return True
    return principal.has(*AGENCY_ROLES) and principal.belongs_to(request.agency)


def may_submit(principal: Principal, panel: PanelState, request: InformationRequest) -> bool:
    """The panel's managers, or the agency the request was made of (never another agency)."""
    if manages(principal, panel):
        return True
    return principal.has(*AGENCY_ROLES) and principal.belongs_to(request.agency)


def visible_requests(principal: Principal, panel: PanelState) -> list[InformationRequest]:
    return [r for r in panel.requests if may_see_request(principal, panel, r)]
