"""The panel's language: commands, errors and the state its deciders read (pure).

The deciders live in `domain` (opening, membership, terms of reference, information requests)
and `meetings` (meetings and the report); both read and refuse in the terms defined here.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from enum import StrEnum
from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from dhr_contracts.errors import DomainError as DomainError  # re-exported: the domain's base
from dhr_contracts.panel import (
    AgreedRecommendation,
    InformationRequestKind,
    PanelOpenedBecause,
    PanelRole,
    RecommendationLevel,
    Sector,
)

# Bounds of what a caller may send: one item of a list of short texts (an agenda item, a line of
# enquiry, a reason), an agency's name, a version number.
ItemText = Annotated[str, Field(max_length=2000)]
AgencyName = Annotated[str, Field(max_length=200)]
MAX_VERSION = 10_000


# ---------------------------------------------------------------------------------------- errors


class InvalidCommand(DomainError):
    """The command's own data breaks a rule (dates out of order, blank text...)."""


class PanelNotOpen(DomainError):
    """No panel is open for this review (the review was not commissioned, or not yet)."""


class AgencyAlreadyOnPanel(DomainError):
    """The agency is already a member of the panel."""


class AgencyNotOnPanel(DomainError):
    """The agency is not a member of the panel."""


class InformationRequestNotFound(DomainError):
    """No information request with this id on this panel."""


class InformationNotAwaited(DomainError):
    """The request is not awaiting a submission (it was submitted already)."""


class InformationNotSubmitted(DomainError):
    """Only a submitted request can be returned for more work."""


class MeetingNotFound(DomainError):
    """No meeting with this id on this panel."""


class MeetingAlreadyHeld(DomainError):
    """The meeting was already recorded as held."""


class MeetingNotHeld(DomainError):
    """The command needs a meeting that was held."""


class MeetingNotQuorate(DomainError):
    """The meeting was not quorate, so the panel could not decide anything there."""


class ReportAlreadyAgreed(DomainError):
    """The panel already agreed the report."""


# -------------------------------------------------------------------------------------- commands

class Command(BaseModel):
    """A request to change one review's panel. Field constraints are checked when it is built."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    review_id: UUID = Field(description="The review; its panel is stream `panel-<review_id>`.")


class OpenPanel(Command):
    """Open the panel record of a commissioned review (from the commissioning service's events)."""

    opened_on: date
    opened_because: PanelOpenedBecause
    csp_area: str | None = Field(default=None, max_length=200)
    commissioned_on: date | None = None


class RecordChair(Command):
    """Record the independent Chair appointed by the commissioning service (a new one replaces)."""

    appointed_on: date
    chair_name: str = Field(min_length=1, max_length=200)
    chair_subject: str | None = Field(default=None, min_length=1, max_length=200,
                                      description="The Chair's user id (the `sub` of their "
                                      "tokens), which gives them access to the panel.")


class AddMember(Command):
    """An agency joins the panel."""

    joined_on: date = Field(description="Date the agency joined.")
    agency: str = Field(min_length=1, max_length=200, description="The agency's name.")
    sector: Sector = Field(description="The agency's sector.")
    role: PanelRole = Field(
        default=PanelRole.PANEL_MEMBER,
        description="panel_member or agency_lead (full members, counted for balance and quorum), "
        "independent_chair_support or observer (not counted).")


class RemoveMember(Command):
    """An agency leaves the panel."""

    left_on: date = Field(description="Date the agency left.")
    agency: str = Field(min_length=1, max_length=200, description="The agency that leaves.")
    reason: str | None = Field(default=None, max_length=10_000, description="Why, if said.")


class IssueTermsOfReference(Command):
    """Issue a new version of the terms of reference."""

    issued_on: date
    period_from: date = Field(description="Start of the period under review.")
    period_to: date = Field(description="End of the period under review (not before the start).")
    lines_of_enquiry: tuple[ItemText, ...] = Field(
        min_length=1, max_length=100, description="The questions the review will answer.")
    family_consulted: bool = Field(description="Whether the family was consulted on them.")


class RequestInformation(Command):
    """Ask an agency for a scoping return, chronology, IMR (individual management review) or
    short report, by a due date."""

    request_id: UUID
    kind: InformationRequestKind
    agency: str = Field(min_length=1, max_length=200)
    requested_on: date
    due_on: date
    detail: str | None = Field(default=None, max_length=10_000)


class SubmitInformation(Command):
    """Record that the agency submitted what was asked."""

    request_id: UUID
    submitted_on: date


class ReturnInformation(Command):
    """Return a submission for more work, with reasons and a new due date."""

    request_id: UUID
    returned_on: date
    reasons: tuple[ItemText, ...] = Field(min_length=1, max_length=50)
    due_on: date = Field(description="New due date, after the date it is returned.")


class DetectOverdueRequests(Command):
    """Record every request awaiting submission past its due date, once per due date."""

    as_of: date


class ScheduleMeeting(Command):
    """Schedule a panel meeting with its agenda."""

    meeting_id: UUID
    scheduled_for: date
    agenda: tuple[ItemText, ...] = Field(min_length=1, max_length=100)


class HoldMeeting(Command):
    """Record that a meeting was held, with attendance and apologies by agency."""

    meeting_id: UUID
    held_on: date
    attended: tuple[AgencyName, ...] = Field(default=(), max_length=100,
                                             description="Agencies that attended.")
    apologies: tuple[AgencyName, ...] = Field(default=(), max_length=100,
                                              description="Agencies that sent apologies.")
    chair_present: bool = Field(description="Whether the independent Chair was present.")
    quorum_min_agencies: int = Field(default=3, ge=1, le=100)
    quorum_requires_chair: bool = True


class RecordMinutes(Command):
    """Record (or revise) the minutes of a held meeting; they may name people."""

    meeting_id: UUID
    recorded_on: date
    text: str = Field(min_length=1, max_length=10_000)


class RecordDecision(Command):
    """Record a decision the panel took at a held, quorate meeting."""

    meeting_id: UUID
    decision_id: UUID
    text: str = Field(min_length=1, max_length=10_000)


class AssignAction(Command):
    """Give an action arising from a held meeting to an agency, with a due date."""

    meeting_id: UUID
    action_id: UUID
    text: str = Field(min_length=1, max_length=10_000)
    owner_agency: str = Field(min_length=1, max_length=200)
    due_on: date


class DraftRecommendation(BaseModel):
    """A recommendation as worded in a report draft (numbered in the order given)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    text: str = Field(min_length=1, max_length=10_000)
    addressee_agencies: tuple[AgencyName, ...] = Field(min_length=1, max_length=50)
    level: RecommendationLevel


class ShareReportDraft(Command):
    """Share a new draft of the overview report with the panel."""

    shared_on: date
    summary: str = Field(min_length=1, max_length=10_000)
    recommendations: tuple[DraftRecommendation, ...] = Field(default=(), max_length=200)


class AgreeReport(Command):
    """The panel agrees a draft of the report; its recommendations are published."""

    agreed_on: date
    report_version: int = Field(ge=1, le=MAX_VERSION)


# ----------------------------------------------------------------------------------------- state

FULL_MEMBER_ROLES = frozenset({PanelRole.PANEL_MEMBER, PanelRole.AGENCY_LEAD})


class RequestStatus(StrEnum):
    """Where an information request stands."""

    REQUESTED = "requested"
    SUBMITTED = "submitted"
    RETURNED = "returned"


class MeetingStatus(StrEnum):
    SCHEDULED = "scheduled"
    HELD = "held"


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Chair(_Record):
    name: str
    appointed_on: date
    subject: str | None = None


class Member(_Record):
    agency: str
    sector: Sector
    role: PanelRole
    joined_on: date

    @property
    def is_full_member(self) -> bool:
        return self.role in FULL_MEMBER_ROLES


class FormerMember(_Record):
    agency: str
    sector: Sector
    role: PanelRole
    joined_on: date
    left_on: date
    reason: str | None = None


class PanelWarning(_Record):
    kind: str
    raised_on: date
    resolved_on: date | None = None


class TermsOfReference(_Record):
    version: int
    issued_on: date
    period_from: date
    period_to: date
    lines_of_enquiry: tuple[str, ...]
    family_consulted: bool


class ReturnForMoreWork(_Record):
    returned_on: date
    reasons: tuple[str, ...]
    due_on: date


class InformationRequest(_Record):
    request_id: UUID
    kind: InformationRequestKind
    agency: str
    agency_is_panel_member: bool
    requested_on: date
    due_on: date
    detail: str | None = None
    status: RequestStatus = RequestStatus.REQUESTED
    submitted_on: date | None = None
    submissions: int = 0
    returns: tuple[ReturnForMoreWork, ...] = ()
    overdue_due_dates: tuple[date, ...] = ()

    @property
    def awaiting_submission(self) -> bool:
        return self.status is not RequestStatus.SUBMITTED

    def overdue_on(self, today: date) -> bool:
        """Whether, on `today`, it is awaiting a submission past its due date."""
        return self.awaiting_submission and today > self.due_on


class Minutes(_Record):
    revision: int
    recorded_on: date
    text: str


class Decision(_Record):
    decision_id: UUID
    text: str


class Action(_Record):
    action_id: UUID
    text: str
    owner_agency: str
    due_on: date


class Meeting(_Record):
    meeting_id: UUID
    scheduled_for: date
    agenda: tuple[str, ...]
    status: MeetingStatus = MeetingStatus.SCHEDULED
    held_on: date | None = None
    attended: tuple[str, ...] = ()
    apologies: tuple[str, ...] = ()
    chair_present: bool | None = None
    quorate: bool | None = None
    minutes: Minutes | None = None
    decisions: tuple[Decision, ...] = ()
    actions: tuple[Action, ...] = ()


class ReportDraft(_Record):
    version: int
    shared_on: date
    summary: str
    recommendations: tuple[AgreedRecommendation, ...]


class AgreedReport(_Record):
    agreed_on: date
    report_version: int


class PanelState(_Record):
    """Everything the deciders and the queries need to know about one review's panel."""

    open: bool = False
    review_id: UUID | None = None
    opened_on: date | None = None
    opened_because: PanelOpenedBecause | None = None
    csp_area: str | None = None
    commissioned_on: date | None = None
    chair: Chair | None = None
    members: tuple[Member, ...] = ()
    former_members: tuple[FormerMember, ...] = ()
    lacks_specialist_domestic_abuse_service: bool = False
    warnings: tuple[PanelWarning, ...] = ()
    terms_of_reference: tuple[TermsOfReference, ...] = ()
    requests: tuple[InformationRequest, ...] = ()
    meetings: tuple[Meeting, ...] = ()
    report_drafts: tuple[ReportDraft, ...] = ()
    report_agreed: AgreedReport | None = None

    def member(self, agency: str) -> Member | None:
        """The current member of that name (case and surrounding spaces ignored)."""
        key = agency.strip().casefold()
        return next((m for m in self.members if m.agency.casefold() == key), None)

    def request(self, request_id: UUID) -> InformationRequest | None:
        return next((r for r in self.requests if r.request_id == request_id), None)

    def meeting(self, meeting_id: UUID) -> Meeting | None:
        return next((m for m in self.meetings if m.meeting_id == meeting_id), None)

    @property
    def current_terms_of_reference(self) -> TermsOfReference | None:
        return self.terms_of_reference[-1] if self.terms_of_reference else None

    @property
    def latest_draft(self) -> ReportDraft | None:
        return self.report_drafts[-1] if self.report_drafts else None

    def balance(self) -> dict[str, int]:
        """Full members by sector (every sector listed, zero when absent)."""
        counts = {sector.value: 0 for sector in Sector}
        for member in self.members:
            if member.is_full_member:
                counts[member.sector.value] += 1
        return counts


LACKS_SPECIALIST_WARNING = "lacks_specialist_domestic_abuse_service"


def has_specialist_domestic_abuse_service(members: Iterable[Member]) -> bool:
    """Whether a specialist domestic-abuse service sits on the panel as a full member."""
    return any(m.is_full_member and m.sector is Sector.SPECIALIST_DOMESTIC_ABUSE_SERVICE
               for m in members)


# ------------------------------------------------------------------------- checks the deciders share


def require_open(review_id: UUID, state: PanelState) -> date:
    """The date the panel opened; `PanelNotOpen` when it is not open."""
    if not state.open or state.opened_on is None:
        raise PanelNotOpen(f"No panel is open for review {review_id}: it has not been "
                           "commissioned (or the commissioning event has not arrived yet).",
                           "review_id")
    return state.opened_on


def not_before(value: date, earliest: date, field: str, what: str) -> None:
    if value < earliest:
        raise InvalidCommand(f"{field} ({value}) is before {what} ({earliest}).", field)


def required_text(value: str, field: str, message: str) -> str:
    text = value.strip()
    if not text:
        raise InvalidCommand(message, field)
    return text


def optional_text(value: str | None) -> str | None:
    text = value.strip() if value is not None else ""
    return text or None


# The longest texts an event holds (`NonEmptyText` and `ShortText` in the contracts). A command's
# own text fields are limited to them already; the items of its lists of texts are checked here.
MAX_TEXT = 10_000
MAX_NAME = 200


def required_items(values: Iterable[str], field: str, message: str) -> tuple[str, ...]:
    """Each item stripped; none blank and at least one."""
    items = tuple(value.strip() for value in values)
    if not items or any(not item for item in items):
        raise InvalidCommand(message, field)
    if any(len(item) > MAX_TEXT for item in items):
        raise InvalidCommand(f"Each item of {field} is at most {MAX_TEXT:,} characters.", field)
    return items


def agencies(values: Iterable[str], field: str) -> tuple[str, ...]:
    """Agency names stripped, none blank or too long, each once (case ignored)."""
    names: list[str] = []
    for value in values:
        name = required_text(value, field, f"An agency in {field} is blank.")
        if len(name) > MAX_NAME:
            raise InvalidCommand(f"An agency's name in {field} is at most {MAX_NAME} characters.",
                                 field)
        if name.casefold() in {n.casefold() for n in names}:
            raise InvalidCommand(f"An agency is listed twice in {field}.", field)
        names.append(name)
    return tuple(names)
