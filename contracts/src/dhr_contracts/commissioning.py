"""Events of the commissioning service: a death notification and the review case it may become.

Every payload carries `review_id`, the id of the stream and the Kafka key. Names, dates of birth,
addresses and contact details are marked with `personal(...)` so they can be encrypted and erased.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated, ClassVar, Literal
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from dhr_contracts.base import (
    EventPayload,
    NonEmptyText,
    PersonalShortText,
    ShortText,
    personal,
)


class AgeBand(StrEnum):
    """Age band of the victim, when the exact age is not given."""

    UNDER_16 = "under_16"
    AGED_16_TO_19 = "16-19"
    AGED_20_TO_24 = "20-24"
    AGED_25_TO_34 = "25-34"
    AGED_35_TO_44 = "35-44"
    AGED_45_TO_54 = "45-54"
    AGED_55_TO_64 = "55-64"
    AGED_65_AND_OVER = "65+"
    UNKNOWN = "unknown"


class SuspectRelationship(StrEnum):
    """Relationship of the suspect to the victim, as the notifying agency understands it."""

    CURRENT_INTIMATE_PARTNER = "current_intimate_partner"
    FORMER_INTIMATE_PARTNER = "former_intimate_partner"
    RELATIVE = "relative"
    HOUSEHOLD_MEMBER = "household_member"
    OTHER = "other"
    UNKNOWN = "unknown"


class Circumstances(StrEnum):
    """How the victim died, as far as is known at notification."""

    HOMICIDE = "homicide"
    SUSPECTED_SUICIDE_WITH_DOMESTIC_ABUSE_HISTORY = "suspected_suicide_with_domestic_abuse_history"
    OTHER_OR_UNEXPLAINED = "other_or_unexplained"


class PriorAgencyContact(StrEnum):
    """Whether any agency had contact with the victim or suspect before the death."""

    YES = "yes"
    NO = "no"
    UNKNOWN = "unknown"


class EligibilityOutcome(StrEnum):
    """Result of checking a notification against the statutory test."""

    ELIGIBLE = "eligible"
    NOT_ELIGIBLE = "not_eligible"
    NEEDS_HUMAN_DECISION = "needs_human_decision"


class GreyAreaFlag(StrEnum):
    """A circumstance the code never decides: it sends the notification to a human."""

    NO_PRIOR_AGENCY_CONTACT = "no_prior_agency_contact"
    PRIOR_AGENCY_CONTACT_UNKNOWN = "prior_agency_contact_unknown"
    SUSPECTED_SUICIDE = "suspected_suicide"
    CIRCUMSTANCES_UNEXPLAINED = "circumstances_unexplained"
    AGE_UNKNOWN = "age_unknown"
    RELATIONSHIP_UNKNOWN = "relationship_unknown"
    RELATIONSHIP_OTHER = "relationship_other"


class DecisionOutcome(StrEnum):
    """The decision the Community Safety Partnership made on a notification."""

    COMMISSIONED = "commissioned"
    NOT_COMMISSIONED = "not_commissioned"


class FamilyContactChannel(StrEnum):
    """How the family was told of the decision."""

    IN_PERSON = "in_person"
    TELEPHONE = "telephone"
    LETTER = "letter"
    EMAIL = "email"
    VIA_FAMILY_LIAISON_OFFICER = "via_family_liaison_officer"
    VIA_ADVOCATE = "via_advocate"
    OTHER = "other"


class PauseReason(StrEnum):
    """Why a commissioned review stops its clock."""

    CRIMINAL_PROCEEDINGS = "criminal_proceedings"
    INQUEST = "inquest"
    FAMILY_REASONS = "family_reasons"
    OTHER = "other"


class ParallelReviewKind(StrEnum):
    """Another statutory process running alongside the review."""

    SAFEGUARDING_ADULT_REVIEW = "safeguarding_adult_review"
    CHILD_SAFEGUARDING_PRACTICE_REVIEW = "child_safeguarding_practice_review"
    MENTAL_HEALTH_HOMICIDE_REVIEW = "mental_health_homicide_review"
    OFFENSIVE_WEAPONS_HOMICIDE_REVIEW = "offensive_weapons_homicide_review"
    INQUEST = "inquest"
    IOPC_INVESTIGATION = "iopc_investigation"


class QualityAssuranceOutcome(StrEnum):
    """What the Home Office Quality Assurance Panel decided on a submitted report."""

    APPROVED_FOR_PUBLICATION = "approved_for_publication"
    CHANGES_REQUIRED = "changes_required"


class ReportRecipient(StrEnum):
    """Who receives a copy of the published report."""

    DOMESTIC_ABUSE_COMMISSIONER = "domestic_abuse_commissioner"
    SECRETARY_OF_STATE = "secretary_of_state"


Sha256Hex = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$", min_length=64, max_length=64)]
"""A SHA-256 digest as 64 lower-case hexadecimal characters."""


class ChairIndependenceDeclaration(BaseModel):
    """What a prospective independent Chair declares about links to the agencies involved."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    line_management_of_involved_agency: bool = Field(
        description="Whether the Chair line-manages, or has line-managed, staff of any agency "
        "involved in the case.")
    service_delivery_for_involved_agency: bool = Field(
        description="Whether the Chair delivers, or has delivered, services for any agency "
        "involved in the case.")
    other_interests: NonEmptyText | None = Field(
        default=None, description="Any other interest the Chair declares, for the record.")


DhrdAgeBand = Literal["16-19", "20-24", "25-34", "35-44", "45-54", "55-64", "65+"]
"""An age band of the DHRD codebook (Home Office metadata); other recorded values are kept apart."""


class CaseCharacteristics(BaseModel):
    """The case characteristics tagged in the Home Office metadata of a published review.

    Each is true (tagged), false (not tagged: not necessarily absent from the case) or null
    (unknown: missing or malformed in the source).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    intimate_partner_violence: bool | None = Field(
        default=None, description="Intimate partner violence (IPV).")
    familial_homicide: bool | None = Field(default=None, description="Familial homicide.")
    parricide: bool | None = Field(default=None, description="Parricide.")
    homicide_suicide: bool | None = Field(default=None, description="Homicide followed by suicide.")
    children_present: bool | None = Field(
        default=None, description="Children were present at the time of death.")
    coercive_control: bool | None = Field(
        default=None, description="Coercive or controlling behaviour by the perpetrator.")
    economic_abuse: bool | None = Field(
        default=None, description="Economic abuse by the perpetrator.")
    physical_abuse: bool | None = Field(
        default=None, description="Physical abuse by the perpetrator.")
    emotional_abuse: bool | None = Field(
        default=None, description="Emotional or psychological abuse by the perpetrator.")
    sexual_abuse: bool | None = Field(default=None, description="Sexual abuse by the perpetrator.")
    separation: bool | None = Field(default=None, description="Separation.")
    stalking: bool | None = Field(default=None, description="Stalking by the perpetrator.")
    forced_marriage: bool | None = Field(default=None, description="Forced marriage.")
    honour_based_violence: bool | None = Field(
        default=None, description="Honour-based violence.")
    faith_based_marriage: bool | None = Field(default=None, description="Faith-based marriage.")


class HistoricVictim(BaseModel):
    """One victim of a historic review, as the source recorded them (anonymised metadata)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source_reference: ShortText = Field(description="The victim's id in the source (DHRD victim_id).")
    age_band: DhrdAgeBand | None = Field(
        default=None, description="Age band at death, when it is one of the codebook's bands.")
    age_band_as_recorded: ShortText | None = Field(
        default=None, description="The recorded age band when it is not one of the codebook's "
        "bands (kept as given, e.g. 20-34); null otherwise.")
    sex: ShortText | None = Field(
        default=None, description="Sex as recorded: female, male, other, or another recorded "
        "value; null when unknown.")
    relationship_to_perpetrator: ShortText | None = Field(
        default=None, description="Relationship to the perpetrator as recorded; null when unknown.")


class HistoricPerpetrator(BaseModel):
    """One perpetrator of a historic review, as the source recorded them (anonymised metadata)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source_reference: ShortText = Field(
        description="The perpetrator's id in the source (DHRD perpetrator_id).")
    age_band: DhrdAgeBand | None = Field(
        default=None, description="Age band at the fatal incident, when it is one of the "
        "codebook's bands.")
    age_band_as_recorded: ShortText | None = Field(
        default=None, description="The recorded age band when it is not one of the codebook's "
        "bands (kept as given, e.g. 20-34); null otherwise.")
    sex: ShortText | None = Field(
        default=None, description="Sex as recorded: female, male, other, or another recorded "
        "value; null when unknown.")
    court_verdict: ShortText | None = Field(
        default=None, description="Court verdict or outcome as recorded, including values not "
        "in the codebook (e.g. Unfit to plead); null when unknown.")


class NotificationReceived(EventPayload):
    """A death was notified to the Community Safety Partnership (CSP): a review case is opened."""

    event_type: ClassVar[str] = "dhr.commissioning.NotificationReceived.v1"

    review_id: UUID = Field(description="Id of the review case opened by this notification.")
    received_at: AwareDatetime = Field(description="When the notification was received.")
    notifying_agency: ShortText = Field(description="Agency that notified the death.")
    date_of_death: date = Field(description="Date of the death.")
    csp_learned_on: date = Field(description="Date the CSP learned of the death.")
    csp_area: ShortText = Field(description="Community Safety Partnership area responsible.")
    victim_age: int | None = Field(
        default=None, ge=0, le=120, description="Victim's age at death, when known.")
    victim_age_band: AgeBand | None = Field(
        default=None, description="Victim's age band, when given instead of or with the age.")
    suspect_relationship: SuspectRelationship = Field(
        description="Relationship of the suspect to the victim.")
    circumstances: Circumstances = Field(description="Circumstances of the death.")
    prior_agency_contact: PriorAgencyContact = Field(
        description="Whether any agency had contact with the victim or suspect before the death.")
    victim_name: PersonalShortText | None = personal("Victim's name, when given.", default=None)
    suspect_name: PersonalShortText | None = personal("Suspect's name, when given.", default=None)
    decision_due_months: int = Field(
        ge=1, description="Policy in force: months after the CSP learned of the death within "
        "which the decision to commission is due.")
    decision_due_on: date = Field(description="Date by which the decision to commission is due.")


class EligibilityAssessed(EventPayload):
    """The notification was checked against the statutory test; grey areas go to a human."""

    event_type: ClassVar[str] = "dhr.commissioning.EligibilityAssessed.v1"

    review_id: UUID = Field(description="Id of the review case.")
    assessed_at: AwareDatetime = Field(description="When the assessment was made.")
    outcome: EligibilityOutcome = Field(
        description="eligible, not_eligible, or needs_human_decision when any grey area is "
        "flagged and nothing rules the case out.")
    reasons: tuple[NonEmptyText, ...] = Field(
        description="Human-readable reasons for the outcome, one per criterion.")
    grey_area_flags: tuple[GreyAreaFlag, ...] = Field(
        description="Grey areas that only a human may decide; empty when there are none.")


class ReviewCommissioned(EventPayload):
    """The CSP decided to commission a review."""

    event_type: ClassVar[str] = "dhr.commissioning.ReviewCommissioned.v1"

    review_id: UUID = Field(description="Id of the review case.")
    decided_on: date = Field(description="Date of the decision.")
    rationale: NonEmptyText = Field(description="Why the review is commissioned.")
    eligibility_outcome: EligibilityOutcome = Field(
        description="Outcome of the eligibility assessment the decision was made against.")
    overrides_eligibility_assessment: bool = Field(
        description="True when commissioning a notification assessed as not eligible "
        "(a discretionary review).")
    decided_after_due_date: bool = Field(
        description="True when the decision was made after the decision due date.")
    completion_due_months: int = Field(
        ge=1, description="Policy in force: months after the decision within which the review "
        "is due to complete, net of pauses.")
    completion_due_on: date = Field(description="Date the review is due to complete.")


class DecidedNotToCommission(EventPayload):
    """The CSP decided not to commission a review; its reasons go to the Home Office."""

    event_type: ClassVar[str] = "dhr.commissioning.DecidedNotToCommission.v1"

    review_id: UUID = Field(description="Id of the review case.")
    decided_on: date = Field(description="Date of the decision.")
    rationale: NonEmptyText = Field(description="Why no review is commissioned.")
    reasons: tuple[NonEmptyText, ...] = Field(
        min_length=1, description="Reasons (codes or text) to be sent to the Home Office.")
    eligibility_outcome: EligibilityOutcome = Field(
        description="Outcome of the eligibility assessment the decision was made against.")
    overrides_eligibility_assessment: bool = Field(
        description="True when declining a notification assessed as eligible.")
    decided_after_due_date: bool = Field(
        description="True when the decision was made after the decision due date.")
    home_office_to_be_notified: bool = Field(
        default=True, description="Always true: a decision not to commission must be sent, "
        "with its reasons, to the Home Office.")


class HomeOfficeNotified(EventPayload):
    """The Home Office was told of the decision."""

    event_type: ClassVar[str] = "dhr.commissioning.HomeOfficeNotified.v1"

    review_id: UUID = Field(description="Id of the review case.")
    notified_on: date = Field(description="Date the Home Office was notified.")
    decision: DecisionOutcome = Field(description="The decision the Home Office was told of.")


class FamilyInformed(EventPayload):
    """The victim's family was told of the decision (may happen more than once)."""

    event_type: ClassVar[str] = "dhr.commissioning.FamilyInformed.v1"

    review_id: UUID = Field(description="Id of the review case.")
    informed_on: date = Field(description="Date the family was told.")
    channel: FamilyContactChannel = Field(description="How the family was told.")
    decision: DecisionOutcome = Field(description="The decision the family was told of.")


class ChairAppointed(EventPayload):
    """An independent Chair was appointed, or replaced the previous one."""

    event_type: ClassVar[str] = "dhr.commissioning.ChairAppointed.v1"

    review_id: UUID = Field(description="Id of the review case.")
    appointed_on: date = Field(description="Date of the appointment.")
    chair_name: PersonalShortText = personal("Name of the independent Chair.")
    declaration: ChairIndependenceDeclaration = Field(
        description="The Chair's declaration of independence from the agencies involved.")
    replaces_previous_chair: bool = Field(
        description="True when this appointment replaces an earlier Chair.")
    replacement_reason: NonEmptyText | None = Field(
        default=None, description="Why the previous Chair was replaced; set when replacing.")
    chair_subject: ShortText | None = Field(
        default=None,
        description="The Chair's user id at the identity provider (the `sub` of their bearer "
        "tokens), which gives them access to the reviews they chair; absent when none was "
        "given. An opaque id, not a name: kept in clear (not sealed) because access checks "
        "compare it with tokens.")


class ReviewPaused(EventPayload):
    """The review's completion clock stopped."""

    event_type: ClassVar[str] = "dhr.commissioning.ReviewPaused.v1"

    review_id: UUID = Field(description="Id of the review case.")
    paused_on: date = Field(description="Date the review was paused.")
    reason: PauseReason = Field(description="Why the review was paused.")
    detail: NonEmptyText | None = Field(
        default=None, description="Free-text detail of the reason; required when reason is other.")


class ReviewResumed(EventPayload):
    """The review's completion clock restarted; its due date moved by the days paused."""

    event_type: ClassVar[str] = "dhr.commissioning.ReviewResumed.v1"

    review_id: UUID = Field(description="Id of the review case.")
    resumed_on: date = Field(description="Date the review resumed.")
    paused_on: date = Field(description="Date the pause that ends here began.")
    paused_days: int = Field(ge=0, description="Days this pause lasted.")
    total_paused_days: int = Field(ge=0, description="Days paused over the life of the review.")
    completion_due_on: date = Field(
        description="New completion due date: the previous one moved by paused_days.")


class ParallelReviewLinked(EventPayload):
    """Another statutory process running alongside the review was linked to it."""

    event_type: ClassVar[str] = "dhr.commissioning.ParallelReviewLinked.v1"

    review_id: UUID = Field(description="Id of the review case.")
    linked_on: date = Field(description="Date the link was recorded.")
    kind: ParallelReviewKind = Field(description="Kind of parallel process.")
    reference: ShortText = Field(
        description="Reference of the parallel process, as its owner uses it.")


class ReportAgreementRecorded(EventPayload):
    """The panel agreed the overview report (dhr.panel.ReviewReportAgreed.v1), recorded on the
    review case; the CSP may now sign it off."""

    event_type: ClassVar[str] = "dhr.commissioning.ReportAgreementRecorded.v1"

    review_id: UUID = Field(description="Id of the review case.")
    agreed_on: date = Field(description="Date the panel agreed the report.")
    report_version: int = Field(ge=1, description="The draft version the panel agreed.")
    recommendation_count: int = Field(
        ge=0, description="Number of recommendations in the agreed report.")
    panel_event_id: UUID | None = Field(
        default=None, description="Id of the panel's ReviewReportAgreed event recorded here.")


class ReportSignedOff(EventPayload):
    """The Community Safety Partnership signed off the agreed report for the Home Office."""

    event_type: ClassVar[str] = "dhr.commissioning.ReportSignedOff.v1"

    review_id: UUID = Field(description="Id of the review case.")
    signed_off_on: date = Field(description="Date the CSP signed the report off.")
    signed_off_by: PersonalShortText = personal("Who signed the report off for the CSP.")
    report_version: int = Field(ge=1, description="The agreed report version signed off.")


class PersonalDataErased(EventPayload):
    """An admin erased the review's personal data: its data key was destroyed (crypto-shredding),
    so every sealed personal value of the review, in every service, store and topic, reads as
    erased from now on. The events themselves stay, so the ledger and its proofs still verify."""

    event_type: ClassVar[str] = "dhr.commissioning.PersonalDataErased.v1"

    review_id: UUID = Field(description="Id of the review case.")
    erased_on: date = Field(description="Date of the erasure.")
    reason: NonEmptyText = Field(
        description="Why (the legal basis or request); must not itself hold personal data.")
    data_key_id: UUID | None = Field(
        description="Id of the data key destroyed; null when the review never had one.")


class ReportSubmittedToHomeOffice(EventPayload):
    """The signed-off report went to the Home Office Quality Assurance Panel (first submission
    or a resubmission after changes were required)."""

    event_type: ClassVar[str] = "dhr.commissioning.ReportSubmittedToHomeOffice.v1"

    review_id: UUID = Field(description="Id of the review case.")
    submission_number: int = Field(
        ge=1, description="1 for the first submission, then 2, 3... for each resubmission.")
    submitted_on: date = Field(description="Date the report was submitted.")
    report_version: int = Field(ge=1, description="The report version submitted.")
    resubmission: bool = Field(
        description="True when this answers changes the Quality Assurance Panel required.")


class QualityAssuranceOutcomeRecorded(EventPayload):
    """The Home Office Quality Assurance Panel decided on one submission."""

    event_type: ClassVar[str] = "dhr.commissioning.QualityAssuranceOutcomeRecorded.v1"

    review_id: UUID = Field(description="Id of the review case.")
    submission_number: int = Field(ge=1, description="The submission decided on.")
    decided_on: date = Field(description="Date of the panel's decision.")
    outcome: QualityAssuranceOutcome = Field(
        description="approved_for_publication, or changes_required before resubmission.")
    areas_for_development: tuple[NonEmptyText, ...] = Field(
        description="The panel's itemised areas for development: at least one when changes "
        "are required; possibly some with an approval.")
    report_version: int = Field(ge=1, description="The report version decided on.")


class ReportPublished(EventPayload):
    """The anonymised report, approved by the Quality Assurance Panel, was published."""

    event_type: ClassVar[str] = "dhr.commissioning.ReportPublished.v1"

    review_id: UUID = Field(description="Id of the review case.")
    published_on: date = Field(description="Date of publication.")
    report_version: int = Field(ge=1, description="The report version published.")
    anonymised: Literal[True] = Field(
        description="Always true: only an anonymised report may be published.")
    location: Annotated[str, Field(min_length=1, max_length=2000)] = Field(
        description="Where the report was published: a URL or a description of the place.")


class ReportDelivered(EventPayload):
    """A copy of the published report was sent to the Domestic Abuse Commissioner or the
    Secretary of State, with a checksum of exactly what was sent."""

    event_type: ClassVar[str] = "dhr.commissioning.ReportDelivered.v1"

    review_id: UUID = Field(description="Id of the review case.")
    recipient: ReportRecipient = Field(description="Who the copy was sent to.")
    delivered_on: date = Field(description="Date the copy was sent.")
    document_version: int = Field(ge=1, description="The report version sent.")
    sha256: Sha256Hex = Field(
        description="SHA-256 of the document as delivered, 64 lower-case hexadecimal characters.")


class HistoricReviewRecorded(EventPayload):
    """A review completed before this system, imported from a historic dataset (the Domestic
    Homicide Review Dataset, DHRD) with its case characteristics, for national statistics.

    Anonymised metadata derived from public Home Office records: no names, dates of birth,
    addresses or free text, so no field is marked personal. Unknown values are null, never
    guessed. The review id is derived from the source and its reference, so importing the same
    record again names the same review.
    """

    event_type: ClassVar[str] = "dhr.commissioning.HistoricReviewRecorded.v1"

    review_id: UUID = Field(description="Id of the historic review: a UUIDv5 of the source and "
                            "its reference.")
    source: Literal["dhrd"] = Field(
        description="The dataset the review comes from: dhrd, the Domestic Homicide Review "
        "Dataset for England and Wales.")
    source_reference: ShortText = Field(description="The incident's id in the source (DHRD "
                                        "incident_id).")
    csp: ShortText | None = Field(
        default=None, description="Community Safety Partnership as recorded; null when unknown.")
    region: ShortText | None = Field(
        default=None, description="Region of the CSP as recorded; null when unknown.")
    death_year: int | None = Field(
        default=None, ge=1900, le=2100, description="Year of death; null when unknown.")
    death_month: int | None = Field(
        default=None, ge=1, le=12, description="Month of death (1-12); null when unknown.")
    multiple_victims: bool | None = Field(
        default=None, description="More than one victim died; null when unknown.")
    cause_of_death: ShortText | None = Field(
        default=None, description="Cause or method of death as recorded; null when unknown.")
    location_of_death: ShortText | None = Field(
        default=None, description="Location of death as recorded; null when unknown.")
    characteristics: CaseCharacteristics = Field(
        description="The case characteristics tagged in the Home Office metadata.")
    victims: tuple[HistoricVictim, ...] = Field(
        default=(), description="The victims the source describes individually (DHRD: "
        "single-victim incidents only); may be empty.")
    perpetrators: tuple[HistoricPerpetrator, ...] = Field(
        default=(), description="The perpetrators the source describes; may be empty.")
    imported_at: AwareDatetime = Field(description="When the record was imported.")


EVENTS: tuple[type[EventPayload], ...] = (
    NotificationReceived,
    EligibilityAssessed,
    ReviewCommissioned,
    DecidedNotToCommission,
    HomeOfficeNotified,
    FamilyInformed,
    ChairAppointed,
    ReviewPaused,
    ReviewResumed,
    ParallelReviewLinked,
    ReportAgreementRecorded,
    ReportSignedOff,
    ReportSubmittedToHomeOffice,
    QualityAssuranceOutcomeRecorded,
    ReportPublished,
    ReportDelivered,
    HistoricReviewRecorded,
    PersonalDataErased,
)
