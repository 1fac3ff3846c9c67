"""Events of the panel service: the review itself, from panel to agreed report.

Every payload carries `review_id`, the id of the review (stream `panel-<review_id>`, Kafka key).
Names and free text that may name people (the Chair's name, minutes, report drafts) are marked
with `personal(...)` so they can be encrypted and erased.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import ClassVar
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from dhr_contracts.base import (
    EventPayload,
    NonEmptyText,
    PersonalShortText,
    PersonalText,
    ShortText,
    personal,
)


class RecommendationLevel(StrEnum):
    """Where a recommendation is to be acted on."""

    LOCAL = "local"
    REGIONAL = "regional"
    NATIONAL = "national"


class AgreedRecommendation(BaseModel):
    """One recommendation of an agreed report, as the recommendations service receives it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    number: int = Field(ge=1, description="The recommendation's number in the report.")
    text: NonEmptyText = Field(description="The recommendation as worded in the report.")
    addressee_agencies: tuple[ShortText, ...] = Field(
        min_length=1, description="Agencies (or, for a national recommendation, government "
        "departments) the recommendation is addressed to.")
    level: RecommendationLevel = Field(description="local, regional or national.")


class ReviewReportAgreed(EventPayload):
    """The panel agreed the overview report; its recommendations go to the recommendations
    service and the CSP takes the report to the Home Office."""

    event_type: ClassVar[str] = "dhr.panel.ReviewReportAgreed.v1"

    review_id: UUID = Field(description="Id of the review.")
    agreed_on: date = Field(description="Date the panel agreed the report.")
    report_version: int = Field(ge=1, description="The draft version that was agreed.")
    recommendations: tuple[AgreedRecommendation, ...] = Field(
        description="The report's recommendations, in report order.")


class PanelOpenedBecause(StrEnum):
    """Which commissioning event opened the panel record."""

    REVIEW_COMMISSIONED = "review_commissioned"
    CHAIR_APPOINTED = "chair_appointed"


class Sector(StrEnum):
    """The sector a panel member agency belongs to; the panel's balance is counted by sector."""

    POLICE = "police"
    HEALTH = "health"
    LOCAL_AUTHORITY_SOCIAL_CARE = "local_authority_social_care"
    PROBATION = "probation"
    HOUSING = "housing"
    EDUCATION = "education"
    SPECIALIST_DOMESTIC_ABUSE_SERVICE = "specialist_domestic_abuse_service"
    OTHER_VOLUNTARY_SECTOR = "other_voluntary_sector"
    OTHER = "other"


class PanelRole(StrEnum):
    """The part an agency plays on the panel.

    panel_member and agency_lead represent their agency as full members: they count towards the
    panel's balance and its quorum. independent_chair_support (e.g. the CSP's review manager or
    a minute taker) and observer attend without counting towards either.
    """

    PANEL_MEMBER = "panel_member"
    AGENCY_LEAD = "agency_lead"
    INDEPENDENT_CHAIR_SUPPORT = "independent_chair_support"
    OBSERVER = "observer"


class InformationRequestKind(StrEnum):
    """What the panel asks an agency for."""

    SCOPING = "scoping"
    CHRONOLOGY = "chronology"
    IMR = "imr"
    """Individual management review: the agency's own analysis of its contact with the people."""
    SHORT_REPORT = "short_report"


class PanelOpened(EventPayload):
    """The panel record of a commissioned review was opened."""

    event_type: ClassVar[str] = "dhr.panel.PanelOpened.v1"

    review_id: UUID = Field(description="Id of the review.")
    opened_on: date = Field(description="Date of the commissioning event that opened it.")
    opened_because: PanelOpenedBecause = Field(
        description="review_commissioned, or chair_appointed when the Chair's appointment "
        "arrived first.")
    csp_area: ShortText | None = Field(
        default=None, description="Community Safety Partnership area of the review, when known.")
    commissioned_on: date | None = Field(
        default=None, description="Date the review was commissioned, when known.")


class PanelChairRecorded(EventPayload):
    """The independent Chair appointed by the commissioning service was recorded on the panel."""

    event_type: ClassVar[str] = "dhr.panel.PanelChairRecorded.v1"

    review_id: UUID = Field(description="Id of the review.")
    appointed_on: date = Field(description="Date of the Chair's appointment.")
    chair_name: PersonalShortText = personal("Name of the independent Chair.")
    replaces_previous_chair: bool = Field(
        description="True when this Chair replaces one recorded earlier.")
    chair_subject: ShortText | None = Field(
        default=None,
        description="The Chair's user id at the identity provider (the `sub` of their bearer "
        "tokens), as the commissioning service recorded it; absent when none was given. An "
        "opaque id, not a name: kept in clear (not sealed) because access checks compare it "
        "with tokens.")


class AgencyJoinedPanel(EventPayload):
    """An agency joined the review panel."""

    event_type: ClassVar[str] = "dhr.panel.AgencyJoinedPanel.v1"

    review_id: UUID = Field(description="Id of the review.")
    joined_on: date = Field(description="Date the agency joined.")
    agency: ShortText = Field(description="The agency, as it is named on the panel.")
    sector: Sector = Field(description="The agency's sector.")
    role: PanelRole = Field(description="The part the agency plays on the panel.")


class AgencyLeftPanel(EventPayload):
    """An agency left the review panel."""

    event_type: ClassVar[str] = "dhr.panel.AgencyLeftPanel.v1"

    review_id: UUID = Field(description="Id of the review.")
    left_on: date = Field(description="Date the agency left.")
    agency: ShortText = Field(description="The agency that left.")
    reason: NonEmptyText | None = Field(default=None, description="Why it left, when given.")


class PanelLacksSpecialistDomesticAbuseService(EventPayload):
    """Warning, recorded once per lack: the panel has no specialist domestic-abuse service as a
    full member. Recorded, not a block."""

    event_type: ClassVar[str] = "dhr.panel.PanelLacksSpecialistDomesticAbuseService.v1"

    review_id: UUID = Field(description="Id of the review.")
    detected_on: date = Field(description="Date of the membership change that left it lacking.")
    full_member_count: int = Field(
        ge=0, description="Agencies counting towards the balance after that change.")


class PanelSpecialistDomesticAbuseServiceRestored(EventPayload):
    """A specialist domestic-abuse service joined a panel that lacked one: the warning is over."""

    event_type: ClassVar[str] = "dhr.panel.PanelSpecialistDomesticAbuseServiceRestored.v1"

    review_id: UUID = Field(description="Id of the review.")
    restored_on: date = Field(description="Date the specialist service joined.")
    agency: ShortText = Field(description="The specialist domestic-abuse service that joined.")


class TermsOfReferenceIssued(EventPayload):
    """A version of the review's terms of reference was issued (each version supersedes the last)."""

    event_type: ClassVar[str] = "dhr.panel.TermsOfReferenceIssued.v1"

    review_id: UUID = Field(description="Id of the review.")
    version: int = Field(ge=1, description="Version number, from 1.")
    issued_on: date = Field(description="Date this version was issued.")
    period_from: date = Field(description="Start of the period under review.")
    period_to: date = Field(description="End of the period under review.")
    lines_of_enquiry: tuple[NonEmptyText, ...] = Field(
        min_length=1, description="The questions the review will answer.")
    family_consulted: bool = Field(
        description="Whether the family was consulted on these terms of reference.")


class InformationRequested(EventPayload):
    """The panel asked an agency for information (scoping, chronology, IMR or short report)."""

    event_type: ClassVar[str] = "dhr.panel.InformationRequested.v1"

    review_id: UUID = Field(description="Id of the review.")
    request_id: UUID = Field(description="Id of the request within the review.")
    kind: InformationRequestKind = Field(
        description="scoping, chronology, imr (individual management review) or short_report.")
    agency: ShortText = Field(description="Agency asked for the information.")
    agency_is_panel_member: bool = Field(
        description="Whether the agency sat on the panel when asked; agencies outside the panel "
        "(e.g. a GP practice) may be asked too.")
    requested_on: date = Field(description="Date of the request.")
    due_on: date = Field(description="Date the information is due.")
    detail: NonEmptyText | None = Field(default=None, description="What exactly is asked, if said.")


class InformationSubmitted(EventPayload):
    """The agency submitted what was asked of it."""

    event_type: ClassVar[str] = "dhr.panel.InformationSubmitted.v1"

    review_id: UUID = Field(description="Id of the review.")
    request_id: UUID = Field(description="The request answered.")
    submitted_on: date = Field(description="Date of the submission.")
    due_on: date = Field(description="The due date in force when it was submitted.")
    late: bool = Field(description="True when submitted after the due date.")


class InformationReturnedForMoreWork(EventPayload):
    """The panel returned a submission for more work; it is due again on a new date."""

    event_type: ClassVar[str] = "dhr.panel.InformationReturnedForMoreWork.v1"

    review_id: UUID = Field(description="Id of the review.")
    request_id: UUID = Field(description="The request returned.")
    returned_on: date = Field(description="Date it was returned.")
    reasons: tuple[NonEmptyText, ...] = Field(
        min_length=1, description="What more is needed, one item per reason.")
    due_on: date = Field(description="New due date.")


class InformationRequestOverdue(EventPayload):
    """A request passed its due date without a submission (recorded once per due date)."""

    event_type: ClassVar[str] = "dhr.panel.InformationRequestOverdue.v1"

    review_id: UUID = Field(description="Id of the review.")
    request_id: UUID = Field(description="The overdue request.")
    kind: InformationRequestKind = Field(description="What was asked for.")
    agency: ShortText = Field(description="Agency the information is due from.")
    due_on: date = Field(description="The due date that passed.")
    detected_on: date = Field(description="Date the check found it overdue.")


class MeetingScheduled(EventPayload):
    """A panel meeting was scheduled."""

    event_type: ClassVar[str] = "dhr.panel.MeetingScheduled.v1"

    review_id: UUID = Field(description="Id of the review.")
    meeting_id: UUID = Field(description="Id of the meeting within the review.")
    scheduled_for: date = Field(description="Date of the meeting.")
    agenda: tuple[NonEmptyText, ...] = Field(min_length=1, description="Agenda items, in order.")


class MeetingHeld(EventPayload):
    """A panel meeting took place; whether it was quorate is judged by the rule in force."""

    event_type: ClassVar[str] = "dhr.panel.MeetingHeld.v1"

    review_id: UUID = Field(description="Id of the review.")
    meeting_id: UUID = Field(description="The meeting.")
    held_on: date = Field(description="Date it was held.")
    attended: tuple[ShortText, ...] = Field(description="Agencies that attended.")
    apologies: tuple[ShortText, ...] = Field(description="Agencies that sent apologies.")
    chair_present: bool = Field(description="Whether the independent Chair was present.")
    quorate: bool = Field(description="Whether the meeting met the quorum rule in force.")
    counted_agencies: int = Field(
        ge=0, description="Attending agencies that count towards the quorum (full members).")
    quorum_min_agencies: int = Field(
        ge=1, description="Rule in force: full-member agencies that must attend.")
    quorum_requires_chair: bool = Field(description="Rule in force: whether the Chair must attend.")


class MinutesRecorded(EventPayload):
    """The minutes of a held meeting were recorded (a later revision replaces an earlier one)."""

    event_type: ClassVar[str] = "dhr.panel.MinutesRecorded.v1"

    review_id: UUID = Field(description="Id of the review.")
    meeting_id: UUID = Field(description="The meeting.")
    revision: int = Field(ge=1, description="Revision of the minutes, from 1.")
    recorded_on: date = Field(description="Date the minutes were recorded.")
    text: PersonalText = personal("The minutes; they may name people.")


class PanelDecisionRecorded(EventPayload):
    """The panel took a decision at a quorate meeting."""

    event_type: ClassVar[str] = "dhr.panel.PanelDecisionRecorded.v1"

    review_id: UUID = Field(description="Id of the review.")
    meeting_id: UUID = Field(description="The meeting where it was taken.")
    decision_id: UUID = Field(description="Id of the decision.")
    text: NonEmptyText = Field(description="The decision, worded without naming individuals.")


class PanelActionAssigned(EventPayload):
    """An action arising from a meeting was given to an agency, with a due date."""

    event_type: ClassVar[str] = "dhr.panel.PanelActionAssigned.v1"

    review_id: UUID = Field(description="Id of the review.")
    meeting_id: UUID = Field(description="The meeting it arose from.")
    action_id: UUID = Field(description="Id of the action.")
    text: NonEmptyText = Field(description="What is to be done.")
    owner_agency: ShortText = Field(description="Agency that owns the action.")
    due_on: date = Field(description="Date it is due.")


class ReportDraftShared(EventPayload):
    """A draft of the overview report was shared with the panel."""

    event_type: ClassVar[str] = "dhr.panel.ReportDraftShared.v1"

    review_id: UUID = Field(description="Id of the review.")
    version: int = Field(ge=1, description="Draft version, from 1.")
    shared_on: date = Field(description="Date the draft was shared with the panel.")
    summary: PersonalText = personal("Summary of the draft; it may name people.")
    recommendations: tuple[AgreedRecommendation, ...] = Field(
        description="The draft's recommendations, numbered in report order; these are the ones "
        "published if this version is agreed.")


EVENTS: tuple[type[EventPayload], ...] = (
    PanelOpened,
    PanelChairRecorded,
    AgencyJoinedPanel,
    AgencyLeftPanel,
    PanelLacksSpecialistDomesticAbuseService,
    PanelSpecialistDomesticAbuseServiceRestored,
    TermsOfReferenceIssued,
    InformationRequested,
    InformationSubmitted,
    InformationReturnedForMoreWork,
    InformationRequestOverdue,
    MeetingScheduled,
    MeetingHeld,
    MinutesRecorded,
    PanelDecisionRecorded,
    PanelActionAssigned,
    ReportDraftShared,
    ReviewReportAgreed,
)
