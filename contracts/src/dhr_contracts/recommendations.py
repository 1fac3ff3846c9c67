"""Events of the recommendations service: SMART recommendations and their audit per addressee.

One stream per recommendation (`recommendation-<recommendation_id>`); every event carries
`recommendation_id` and `review_id`, and the Kafka key is the review id. A recommendation goes to
one or more addressees (agencies, or for a national recommendation government departments), each
with its own response, action plan and status, as in the NTSB model where one recommendation goes
to several recipients. The addressee's CLAIM about implementation and the CSP's VERIFIED status
are separate events and separate fields. Correspondence is free text that may name people, so it
is marked personal.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated, ClassVar
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
from dhr_contracts.learning import LearningTheme
from dhr_contracts.panel import RecommendationLevel

RecommendationTheme = LearningTheme
"""The eight themes of the Home Office library of DHR recommendations (shared with learning)."""

__all__ = ["RecommendationLevel", "RecommendationTheme"]

Tag = Annotated[str, Field(min_length=1, max_length=60, pattern=r"^[^A-Z\s](?:[^A-Z]*[^A-Z\s])?$",
                           description="A free tag: lower case, trimmed.")]
AddresseeId = Annotated[str, Field(min_length=1, max_length=80, pattern=r"^[a-z0-9][a-z0-9-]*$",
                                   description="Id of the addressee within the recommendation "
                                   "(a slug of its name).")]


class RecommendationSource(StrEnum):
    """Where a recommendation came from."""

    REVIEW_REPORT = "review_report"
    """From the panel's agreed overview report (`dhr.panel.ReviewReportAgreed.v1`)."""
    DIRECT = "direct"
    """Entered directly over HTTP."""


class AddresseeType(StrEnum):
    """The addressee categories of the Home Office library, plus government departments."""

    POLICE = "police"
    SOCIAL_SERVICES = "social_services"
    HEALTH_SERVICES = "health_services"
    IDVA_OR_DOMESTIC_ABUSE_SERVICE = "idva_or_domestic_abuse_service"
    PROBATION = "probation"
    HOUSING = "housing"
    SCHOOL = "school"
    EMPLOYER = "employer"
    OTHER_EDUCATIONAL_INSTITUTION = "other_educational_institution"
    RELIGIOUS_INSTITUTION = "religious_institution"
    MILITARY = "military"
    COMMUNITY_SAFETY_PARTNERSHIP = "community_safety_partnership"
    GOVERNMENT_DEPARTMENT = "government_department"


class ResponseStatus(StrEnum):
    """The addressee's response to the recommendation (first axis of its status)."""

    AWAITING_RESPONSE = "awaiting_response"
    RESPONSE_RECEIVED = "response_received"
    ACCEPTED = "accepted"
    ACCEPTED_IN_PART = "accepted_in_part"
    REJECTED = "rejected"
    ALREADY_IN_PLACE = "already_in_place"
    NOT_APPLICABLE = "not_applicable"


class ImplementationStatus(StrEnum):
    """How far the action has gone (second axis): claimed by the addressee, verified by the CSP."""

    NOT_STARTED = "not_started"
    IN_PROGRESS = "in_progress"
    IMPLEMENTED = "implemented"
    IMPLEMENTED_BY_ALTERNATIVE_MEANS = "implemented_by_alternative_means"
    PARTIALLY_IMPLEMENTED = "partially_implemented"
    NOT_IMPLEMENTED = "not_implemented"
    SUPERSEDED = "superseded"
    NO_LONGER_APPLICABLE = "no_longer_applicable"


class SmartFlag(StrEnum):
    """What the SMART check found missing or weak in a recommendation."""

    NO_NAMED_ADDRESSEE = "no_named_addressee"
    NO_CONCRETE_ACTION = "no_concrete_action"
    NO_MEASURE_OF_SUCCESS = "no_measure_of_success"
    NO_TARGET_DATE = "no_target_date"
    VAGUE_WORDING = "vague_wording"


class SmartFinding(BaseModel):
    """One flag of the SMART check with the reason, in words a CSP can act on."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    flag: SmartFlag = Field(description="What is missing or weak.")
    reason: NonEmptyText = Field(description="Why it was flagged.")


class SmartAssessment(BaseModel):
    """The SMART check at agreement: recorded with the recommendation, never a refusal."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    score: int = Field(ge=0, le=100, description="Quality score, 100 when nothing is flagged.")
    findings: tuple[SmartFinding, ...] = Field(description="Flags with their reasons; empty when "
                                               "the recommendation is SMART.")


class Addressee(BaseModel):
    """One recipient of a recommendation, with its own deadlines."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    addressee_id: AddresseeId
    name: ShortText = Field(description="The agency or government department, as named.")
    addressee_type: AddresseeType = Field(description="The library's addressee category.")
    addressee_type_inferred: bool = Field(
        default=False, description="True when the category was inferred from the name (from an "
        "agreed report, which names agencies only); the CSP may correct it.")
    response_due_on: date = Field(description="Date the addressee's response is due (policy in "
                                  "force for its addressee type, counted from the issue date).")
    target_date: date | None = Field(default=None, description="Date the action is due, when set.")


class RecommendationRecorded(EventPayload):
    """A recommendation was recorded, from an agreed report or directly, with its SMART check."""

    event_type: ClassVar[str] = "dhr.recommendations.RecommendationRecorded.v1"

    recommendation_id: UUID = Field(description="Id of the recommendation (from a report: UUID v5 "
                                    "of the review id and the number, so a redelivery is a no-op).")
    review_id: UUID = Field(description="Id of the review that made the recommendation.")
    source: RecommendationSource = Field(description="review_report or direct.")
    number: int | None = Field(default=None, ge=1, description="Its number in the report.")
    text: NonEmptyText = Field(description="The recommendation as worded.")
    level: RecommendationLevel = Field(description="local, regional or national.")
    themes: tuple[RecommendationTheme, ...] = Field(
        min_length=1, description="Home Office library themes (inferred from the wording when the "
        "report gave none).")
    themes_inferred: bool = Field(default=False,
                                  description="True when the themes were inferred from the text.")
    tags: tuple[Tag, ...] = Field(description="Free tags.")
    addressees: tuple[Addressee, ...] = Field(min_length=1, description="Who must act.")
    csp_area: ShortText | None = Field(
        default=None, description="Community Safety Partnership area of the review, when known.")
    issued_on: date = Field(description="Date the recommendation was issued (report agreed).")
    measure_of_success: NonEmptyText | None = Field(
        default=None, description="How success will be measured, when stated.")
    smart: SmartAssessment = Field(description="The SMART check at agreement.")


class ResponseRecorded(EventPayload):
    """An addressee's response was recorded (a legal move of the response axis)."""

    event_type: ClassVar[str] = "dhr.recommendations.ResponseRecorded.v1"

    recommendation_id: UUID = Field(description="The recommendation.")
    review_id: UUID = Field(description="Id of the review.")
    addressee_id: AddresseeId
    previous_status: ResponseStatus = Field(description="Response status before.")
    status: ResponseStatus = Field(description="Response status now.")
    recorded_on: date = Field(description="Date of the response.")
    reason: NonEmptyText | None = Field(default=None,
                                        description="Why (required when rejected).")
    action_plan: NonEmptyText | None = Field(default=None,
                                             description="What the addressee will do, when said.")
    target_date: date | None = Field(default=None,
                                     description="Action target date agreed with the response.")


class ImplementationClaimed(EventPayload):
    """The addressee reported progress: its CLAIM, not yet verified by the CSP."""

    event_type: ClassVar[str] = "dhr.recommendations.ImplementationClaimed.v1"

    recommendation_id: UUID = Field(description="The recommendation.")
    review_id: UUID = Field(description="Id of the review.")
    addressee_id: AddresseeId
    previous_status: ImplementationStatus = Field(description="Claimed status before.")
    status: ImplementationStatus = Field(description="Claimed status now.")
    claimed_on: date = Field(description="Date of the update.")
    summary: NonEmptyText = Field(description="What was done, in the addressee's words.")
    evidence_reference: ShortText | None = Field(
        default=None, description="Reference of the evidence offered (document id, link).")


class ImplementationVerified(EventPayload):
    """The CSP verified the implementation status (kept apart from the addressee's claim)."""

    event_type: ClassVar[str] = "dhr.recommendations.ImplementationVerified.v1"

    recommendation_id: UUID = Field(description="The recommendation.")
    review_id: UUID = Field(description="Id of the review.")
    addressee_id: AddresseeId
    status: ImplementationStatus = Field(description="The status the CSP verified.")
    verified_on: date = Field(description="Date of the verification.")
    verified_by: ShortText = Field(description="Role or body that verified (e.g. the CSP board).")
    note: NonEmptyText = Field(description="What the verification rested on.")
    evidence_reference: ShortText | None = Field(default=None,
                                                 description="Reference of the evidence seen.")
    exceeds_recommended_action: bool = Field(
        default=False, description="The action went beyond what was recommended.")
    reverify_on: date | None = Field(
        default=None, description="When implemented: date to check the change lasted (policy in "
        "force at verification).")
    closes_addressee: bool = Field(description="Whether this verification closes the addressee.")


class CorrespondenceDirection(StrEnum):
    """Which way a piece of correspondence went."""

    TO_ADDRESSEE = "to_addressee"
    FROM_ADDRESSEE = "from_addressee"
    INTERNAL = "internal"


class CorrespondenceLogged(EventPayload):
    """A letter, e-mail, meeting or piece of evidence was logged against an addressee."""

    event_type: ClassVar[str] = "dhr.recommendations.CorrespondenceLogged.v1"

    recommendation_id: UUID = Field(description="The recommendation.")
    review_id: UUID = Field(description="Id of the review.")
    addressee_id: AddresseeId
    entry_id: UUID = Field(description="Id of the log entry.")
    logged_on: date = Field(description="Date of the correspondence.")
    direction: CorrespondenceDirection = Field(description="to_addressee, from_addressee, internal.")
    correspondent: PersonalShortText = personal("Who wrote or was written to (a role or a person).")
    summary: PersonalText = personal("What it said; it may name people.")
    evidence_reference: ShortText | None = Field(default=None,
                                                 description="Reference of attached evidence.")


class RecommendationResponseOverdue(EventPayload):
    """An addressee's response passed its due date (recorded once per due date)."""

    event_type: ClassVar[str] = "dhr.recommendations.RecommendationResponseOverdue.v1"

    recommendation_id: UUID = Field(description="The recommendation.")
    review_id: UUID = Field(description="Id of the review.")
    addressee_id: AddresseeId
    due_on: date = Field(description="The due date that passed.")
    detected_on: date = Field(description="Date the check found it overdue.")


class ActionOverdue(EventPayload):
    """An addressee's action passed its target date unfinished (once per target date)."""

    event_type: ClassVar[str] = "dhr.recommendations.ActionOverdue.v1"

    recommendation_id: UUID = Field(description="The recommendation.")
    review_id: UUID = Field(description="Id of the review.")
    addressee_id: AddresseeId
    target_date: date = Field(description="The target date that passed.")
    claimed_status: ImplementationStatus = Field(description="The addressee's claim at the time.")
    detected_on: date = Field(description="Date the check found it overdue.")


class EscalationTarget(StrEnum):
    """Who an overdue deadline is escalated to."""

    CSP = "csp"
    OVERSIGHT = "oversight"
    """The oversight view (Domestic Abuse Commissioner, Home Office): national recommendations."""


class EscalationReason(StrEnum):
    """Which deadline passed."""

    RESPONSE_OVERDUE = "response_overdue"
    ACTION_OVERDUE = "action_overdue"


class RecommendationEscalated(EventPayload):
    """An overdue deadline was escalated: to the CSP always, to oversight for national ones."""

    event_type: ClassVar[str] = "dhr.recommendations.RecommendationEscalated.v1"

    recommendation_id: UUID = Field(description="The recommendation.")
    review_id: UUID = Field(description="Id of the review.")
    addressee_id: AddresseeId
    escalated_to: EscalationTarget = Field(description="csp or oversight.")
    reason: EscalationReason = Field(description="response_overdue or action_overdue.")
    due_on: date = Field(description="The deadline that passed.")
    escalated_on: date = Field(description="Date of the escalation.")


class ReverificationDue(EventPayload):
    """A verified implementation reached its re-verification date: check the change lasted."""

    event_type: ClassVar[str] = "dhr.recommendations.ReverificationDue.v1"

    recommendation_id: UUID = Field(description="The recommendation.")
    review_id: UUID = Field(description="Id of the review.")
    addressee_id: AddresseeId
    verified_on: date = Field(description="Date of the verification to check again.")
    due_on: date = Field(description="Re-verification date.")
    detected_on: date = Field(description="Date the check found it due.")


EVENTS: tuple[type[EventPayload], ...] = (
    RecommendationRecorded,
    ResponseRecorded,
    ImplementationClaimed,
    ImplementationVerified,
    CorrespondenceLogged,
    RecommendationResponseOverdue,
    ActionOverdue,
    RecommendationEscalated,
    ReverificationDue,
)
