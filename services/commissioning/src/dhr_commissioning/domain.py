"""The review case as a decider: from a death notification to a commissioned (or declined) review,
and from the report the panel agreed to its publication.

Pure: no I/O and no clock. Every command carries the date or time it happened; the actor travels
in the message metadata, not here. `decide` turns a command into events or raises a `DomainError`;
`evolve` applies one event to the state; `fold` rebuilds the state from a stream.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from dhr_commissioning.deadlines import add_months, days_between, extend_by_days
from dhr_commissioning.publication import (
    AgreedReport,
    Delivery,
    HomeOfficeSubmission,
    Publication,
    SignOff,
    cleaned_areas,
    normalised_sha256,
)
from dhr_contracts.base import EventPayload
from dhr_contracts.commissioning import (
    AgeBand,
    ChairAppointed,
    ChairIndependenceDeclaration,
    Circumstances,
    DecidedNotToCommission,
    DecisionOutcome,
    EligibilityAssessed,
    EligibilityOutcome,
    FamilyContactChannel,
    FamilyInformed,
    GreyAreaFlag,
    HomeOfficeNotified,
    NotificationReceived,
    ParallelReviewKind,
    ParallelReviewLinked,
    PauseReason,
    PersonalDataErased,
    PriorAgencyContact,
    QualityAssuranceOutcome,
    QualityAssuranceOutcomeRecorded,
    ReportAgreementRecorded,
    ReportDelivered,
    ReportPublished,
    ReportRecipient,
    ReportSignedOff,
    ReportSubmittedToHomeOffice,
    ReviewCommissioned,
    ReviewPaused,
    ReviewResumed,
    SuspectRelationship,
)
from dhr_contracts.errors import DomainError as DomainError  # re-exported: the domain's base

# One item of a list of short texts a caller sends (a reason, an area for development).
ItemText = Annotated[str, Field(max_length=2000)]


# ---------------------------------------------------------------------------------------- errors


# The names are the domain's language (ReviewNotFound, ChairNotIndependent), so no "Error" suffix.


class InvalidCommand(DomainError):
    """The command's own data breaks a rule (dates out of order, blank rationale...)."""


class ReviewNotFound(DomainError):
    """No notification was received for this review id."""


class ReviewAlreadyExists(DomainError):
    """A notification was already received for this review id."""


class DecisionAlreadyMade(DomainError):
    """The decision to commission or not was already made."""


class DecisionNotMade(DomainError):
    """The command needs a decision to commission or not, and none was made yet."""


class HomeOfficeAlreadyNotified(DomainError):
    """The Home Office was already told of the decision."""


class ChairNotIndependent(DomainError):
    """The proposed Chair declared a link to an agency involved in the case."""


class ReviewNotCommissioned(DomainError):
    """The command needs a commissioned review."""


class ReviewAlreadyPaused(DomainError):
    """The review is paused already."""


class ReviewNotPaused(DomainError):
    """The review is running, so it cannot be resumed."""


class ReviewIsPaused(DomainError):
    """The CSP's own steps wait while the review is paused."""


class ReportNotAgreed(DomainError):
    """The panel has not agreed the report yet."""


class ReportAlreadySignedOff(DomainError):
    """The current report version was signed off already."""


class ReportNotSignedOff(DomainError):
    """The current report version has not been signed off."""


class SubmissionNotFound(DomainError):
    """No submission to the Home Office has that number."""


class SubmissionAwaitingOutcome(DomainError):
    """A submission is with the Quality Assurance Panel, not decided yet."""


class QualityAssuranceOutcomeAlreadyRecorded(DomainError):
    """The submission was decided already."""


class ReportAlreadyApproved(DomainError):
    """The Quality Assurance Panel approved the report already."""


class ReportNotApproved(DomainError):
    """Publication needs the Quality Assurance Panel's approval."""


class ReportNotAnonymised(DomainError):
    """Only an anonymised report may be published."""


class ReportAlreadyPublished(DomainError):
    """The report was published already."""


class ReportNotPublished(DomainError):
    """Copies go to oversight recipients only once the report is published."""


# -------------------------------------------------------------------------------------- commands


class Command(BaseModel):
    """A request to change one review case. Field constraints are checked when it is built."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    review_id: UUID = Field(
        description="The review case; the HTTP layer mints a new one for each notification.")


class ReceiveNotification(Command):
    """Record a death notified to the Community Safety Partnership (CSP) and assess eligibility."""

    received_at: AwareDatetime
    notifying_agency: str = Field(min_length=1, max_length=200)
    date_of_death: date
    csp_learned_on: date
    csp_area: str = Field(min_length=1, max_length=200)
    victim_age: int | None = Field(default=None, ge=0, le=120)
    victim_age_band: AgeBand | None = None
    suspect_relationship: SuspectRelationship
    circumstances: Circumstances
    prior_agency_contact: PriorAgencyContact
    victim_name: str | None = Field(default=None, max_length=200)
    suspect_name: str | None = Field(default=None, max_length=200)
    decision_due_months: int = Field(default=1, ge=1, le=12)


class DecideToCommission(Command):
    """Commission a review; the completion clock starts on the decision date."""

    decided_on: date
    rationale: str = Field(max_length=10_000)
    completion_due_months: int = Field(default=6, ge=1, le=24)


class DecideNotToCommission(Command):
    """Decline to commission a review, with reasons for the Home Office."""

    decided_on: date
    rationale: str = Field(max_length=10_000)
    reasons: tuple[ItemText, ...] = Field(default=(), max_length=50)


class RecordHomeOfficeNotified(Command):
    """Record that the Home Office was told of the decision."""

    notified_on: date


class RecordFamilyInformed(Command):
    """Record that the family was told of the decision."""

    informed_on: date
    channel: FamilyContactChannel


class AppointChair(Command):
    """Appoint (or replace) the independent Chair, who declares independence."""

    appointed_on: date
    chair_name: str = Field(min_length=1, max_length=200)
    declaration: ChairIndependenceDeclaration
    replacement_reason: str | None = Field(default=None, max_length=10_000)
    chair_subject: str | None = Field(
        default=None, min_length=1, max_length=200,
        description="The Chair's user id at the identity provider (the `sub` of their tokens): "
        "gives them access to this review.")


class PauseReview(Command):
    """Stop the completion clock of a commissioned review."""

    paused_on: date
    reason: PauseReason
    detail: str | None = Field(default=None, max_length=10_000)


class ResumeReview(Command):
    """Restart the completion clock; the due date moves by the days paused."""

    resumed_on: date


class LinkParallelReview(Command):
    """Link another statutory process running alongside the review."""

    linked_on: date
    kind: ParallelReviewKind
    reference: str = Field(min_length=1, max_length=200)


class RecordReportAgreed(Command):
    """Record that the panel agreed the overview report (from dhr.panel.ReviewReportAgreed.v1)."""

    agreed_on: date
    report_version: int = Field(ge=1)
    recommendation_count: int = Field(ge=0)
    panel_event_id: UUID | None = None


class SignOffReport(Command):
    """The CSP signs off the agreed report for submission to the Home Office."""

    signed_off_on: date
    signed_off_by: str = Field(min_length=1, max_length=200)


class SubmitToHomeOffice(Command):
    """Submit the signed-off report to the Home Office Quality Assurance Panel (or resubmit it
    after changes were required)."""

    submitted_on: date


class RecordQualityAssuranceOutcome(Command):
    """Record the Quality Assurance Panel's decision on one submission."""

    submission_number: int = Field(ge=1)
    decided_on: date
    outcome: QualityAssuranceOutcome
    areas_for_development: tuple[ItemText, ...] = Field(default=(), max_length=200)


class PublishReport(Command):
    """Publish the approved report; it must be anonymised."""

    published_on: date
    anonymised: bool
    location: str = Field(min_length=1, max_length=2000)


class RecordReportDelivery(Command):
    """Record a copy of the published report sent to the Domestic Abuse Commissioner or the
    Secretary of State, with the SHA-256 of the document as delivered."""

    recipient: ReportRecipient
    delivered_on: date
    document_version: int = Field(ge=1, le=10_000)
    sha256: str = Field(min_length=64, max_length=64, pattern=r"^[0-9a-fA-F]{64}$")


# ----------------------------------------------------------------------------------------- state


class ReviewStatus(StrEnum):
    """Where a review case stands."""

    AWAITING_DECISION = "awaiting_decision"
    COMMISSIONED = "commissioned"
    NOT_COMMISSIONED = "not_commissioned"
    PAUSED = "paused"
    REPORT_AGREED = "report_agreed"
    SIGNED_OFF = "signed_off"
    SUBMITTED_TO_HOME_OFFICE = "submitted_to_home_office"
    CHANGES_REQUIRED = "changes_required"
    APPROVED_FOR_PUBLICATION = "approved_for_publication"
    PUBLISHED = "published"


# Statuses of a commissioned review whose completion clock runs: commissioned up to, not
# including, publication; a paused review's clock stops. projections._OVERDUE_SQL mirrors this.
COMPLETION_CLOCK_RUNNING: frozenset[ReviewStatus] = frozenset({
    ReviewStatus.COMMISSIONED,
    ReviewStatus.REPORT_AGREED,
    ReviewStatus.SIGNED_OFF,
    ReviewStatus.SUBMITTED_TO_HOME_OFFICE,
    ReviewStatus.CHANGES_REQUIRED,
    ReviewStatus.APPROVED_FOR_PUBLICATION,
})


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Chair(_Record):
    """The Chair in post."""

    name: str
    appointed_on: date
    subject: str | None = None


class FamilyContact(_Record):
    """One time the family was told of the decision."""

    informed_on: date
    channel: FamilyContactChannel


class ParallelReview(_Record):
    """A linked parallel process."""

    kind: ParallelReviewKind
    reference: str
    linked_on: date


class ReviewState(_Record):
    """Everything the deciders and the queries need to know about one review case."""

    exists: bool = False
    review_id: UUID | None = None
    status: ReviewStatus | None = None
    notifying_agency: str | None = None
    csp_area: str | None = None
    date_of_death: date | None = None
    csp_learned_on: date | None = None
    received_at: datetime | None = None
    eligibility_outcome: EligibilityOutcome | None = None
    eligibility_reasons: tuple[str, ...] = ()
    grey_area_flags: tuple[GreyAreaFlag, ...] = ()
    decision_due_on: date | None = None
    decision: DecisionOutcome | None = None
    decided_on: date | None = None
    decision_rationale: str | None = None
    not_commissioned_reasons: tuple[str, ...] = ()
    overrides_eligibility_assessment: bool | None = None
    completion_due_months: int | None = None
    completion_due_on: date | None = None
    paused_since: date | None = None
    pause_reason: PauseReason | None = None
    last_resumed_on: date | None = None
    total_paused_days: int = 0
    chair: Chair | None = None
    home_office_notified_on: date | None = None
    family_informed: tuple[FamilyContact, ...] = ()
    parallel_reviews: tuple[ParallelReview, ...] = ()
    report: AgreedReport | None = None
    sign_off: SignOff | None = None
    home_office_submissions: tuple[HomeOfficeSubmission, ...] = ()
    publication: Publication | None = None
    deliveries: tuple[Delivery, ...] = ()
    personal_data_erased_on: date | None = None
    """When an admin erased the review's personal data (its data key destroyed)."""


def initial_state() -> ReviewState:
    """The state of a review case that does not exist yet."""
    return ReviewState()


# ----------------------------------------------------------------------------------- eligibility

_QUALIFYING_RELATIONSHIPS = {
    SuspectRelationship.CURRENT_INTIMATE_PARTNER: "a current intimate partner of the victim",
    SuspectRelationship.FORMER_INTIMATE_PARTNER: "a former intimate partner of the victim",
    SuspectRelationship.RELATIVE: "a relative of the victim",
    SuspectRelationship.HOUSEHOLD_MEMBER: "a member of the victim's household",
}

_AGE_BAND_BOUNDS: dict[AgeBand, tuple[int, int]] = {
    AgeBand.UNDER_16: (0, 15),
    AgeBand.AGED_16_TO_19: (16, 19),
    AgeBand.AGED_20_TO_24: (20, 24),
    AgeBand.AGED_25_TO_34: (25, 34),
    AgeBand.AGED_35_TO_44: (35, 44),
    AgeBand.AGED_45_TO_54: (45, 54),
    AgeBand.AGED_55_TO_64: (55, 64),
    AgeBand.AGED_65_AND_OVER: (65, 120),
}


def age_band_for(age: int) -> AgeBand:
    """The band an exact age falls in."""
    return next(band for band, (low, high) in _AGE_BAND_BOUNDS.items() if low <= age <= high)


def assess_eligibility(
    victim_age: int | None,
    victim_age_band: AgeBand | None,
    suspect_relationship: SuspectRelationship,
    circumstances: Circumstances,
    prior_agency_contact: PriorAgencyContact,
) -> tuple[EligibilityOutcome, tuple[str, ...], tuple[GreyAreaFlag, ...]]:
    """Check the statutory test: victim 16 or over; suspect a partner, relative or household member.

    Code decides only clear cases. A victim known to be under 16 is not eligible; otherwise any grey
    area (flag) leaves the decision to a human, and only a case with no flag is eligible.
    """
    reasons: list[str] = []
    flags: list[GreyAreaFlag] = []
    ruled_out = False

    band = age_band_for(victim_age) if victim_age is not None else victim_age_band
    shown_age = f"aged {victim_age}" if victim_age is not None else f"in age band {band}"
    if band is None or band is AgeBand.UNKNOWN:
        flags.append(GreyAreaFlag.AGE_UNKNOWN)
        reasons.append("The victim's age is unknown: a human must check they were 16 or over.")
    elif band is AgeBand.UNDER_16:
        ruled_out = True
        reasons.append(f"The victim was {shown_age}: under 16, outside the statutory test.")
    else:
        reasons.append(f"The victim was {shown_age}: 16 or over, as the statutory test requires.")

    if suspect_relationship in _QUALIFYING_RELATIONSHIPS:
        described = _QUALIFYING_RELATIONSHIPS[suspect_relationship]
        reasons.append(f"The suspect is {described}, as the statutory test requires.")
    elif suspect_relationship is SuspectRelationship.OTHER:
        flags.append(GreyAreaFlag.RELATIONSHIP_OTHER)
        reasons.append("The suspect's relationship is 'other': a human must decide whether they "
                       "were a partner, relative or household member.")
    else:
        flags.append(GreyAreaFlag.RELATIONSHIP_UNKNOWN)
        reasons.append("The suspect's relationship to the victim is unknown: a human must decide.")

    if circumstances is Circumstances.SUSPECTED_SUICIDE_WITH_DOMESTIC_ABUSE_HISTORY:
        flags.append(GreyAreaFlag.SUSPECTED_SUICIDE)
        reasons.append("Suspected suicide with a history of domestic abuse: a human must decide "
                       "whether the death resulted from abuse.")
    elif circumstances is Circumstances.OTHER_OR_UNEXPLAINED:
        flags.append(GreyAreaFlag.CIRCUMSTANCES_UNEXPLAINED)
        reasons.append("The death is unexplained: a human must decide whether it resulted from "
                       "violence, abuse or neglect.")

    if prior_agency_contact is PriorAgencyContact.NO:
        flags.append(GreyAreaFlag.NO_PRIOR_AGENCY_CONTACT)
        reasons.append("No agency had contact before the death: a review may still be "
                       "worthwhile; a human must decide.")
    elif prior_agency_contact is PriorAgencyContact.UNKNOWN:
        flags.append(GreyAreaFlag.PRIOR_AGENCY_CONTACT_UNKNOWN)
        reasons.append("Whether any agency had contact before the death is unknown: a human "
                       "must decide.")

    if ruled_out:
        outcome = EligibilityOutcome.NOT_ELIGIBLE
    elif flags:
        outcome = EligibilityOutcome.NEEDS_HUMAN_DECISION
    else:
        outcome = EligibilityOutcome.ELIGIBLE
    return outcome, tuple(reasons), tuple(flags)


# -------------------------------------------------------------------------------------- deciders


def decide_receive_notification(
    command: ReceiveNotification, state: ReviewState
) -> list[EventPayload]:
    """Open a review case from a death notification and assess it against the statutory test."""
    if state.exists:
        raise ReviewAlreadyExists(
            f"Review {command.review_id} already exists: a notification was received for it.",
            "review_id")
    received_on = command.received_at.date()
    if command.date_of_death > received_on:
        raise InvalidCommand(
            f"The date of death ({command.date_of_death}) is after the notification was "
            f"received ({received_on}).", "date_of_death")
    if command.csp_learned_on < command.date_of_death:
        raise InvalidCommand(
            f"The CSP cannot have learned of the death ({command.csp_learned_on}) before it "
            f"happened ({command.date_of_death}).", "csp_learned_on")
    if command.csp_learned_on > received_on:
        raise InvalidCommand(
            f"The date the CSP learned of the death ({command.csp_learned_on}) is after the "
            f"notification was received ({received_on}).", "csp_learned_on")
    _check_age(command.victim_age, command.victim_age_band)
    notifying_agency = _required_text(command.notifying_agency, "notifying_agency",
                                      "Name the agency that notified the death.")
    csp_area = _required_text(command.csp_area, "csp_area", "Name the CSP area responsible.")

    outcome, reasons, flags = assess_eligibility(
        command.victim_age, command.victim_age_band, command.suspect_relationship,
        command.circumstances, command.prior_agency_contact)
    return [
        NotificationReceived(
            review_id=command.review_id,
            received_at=command.received_at,
            notifying_agency=notifying_agency,
            date_of_death=command.date_of_death,
            csp_learned_on=command.csp_learned_on,
            csp_area=csp_area,
            victim_age=command.victim_age,
            victim_age_band=command.victim_age_band,
            suspect_relationship=command.suspect_relationship,
            circumstances=command.circumstances,
            prior_agency_contact=command.prior_agency_contact,
            victim_name=_optional_text(command.victim_name),
            suspect_name=_optional_text(command.suspect_name),
            decision_due_months=command.decision_due_months,
            decision_due_on=add_months(command.csp_learned_on, command.decision_due_months),
        ),
        EligibilityAssessed(
            review_id=command.review_id,
            assessed_at=command.received_at,
            outcome=outcome,
            reasons=reasons,
            grey_area_flags=flags,
        ),
    ]


def decide_to_commission(command: DecideToCommission, state: ReviewState) -> list[EventPayload]:
    """Commission a review, even one assessed as not eligible (recorded as an override)."""
    _require_awaiting_decision(command.review_id, state)
    _check_decision_date(command.decided_on, state)
    rationale = _required_text(command.rationale, "rationale",
                               "Give the rationale for the decision to commission.")
    outcome = _assessed_outcome(state)
    return [
        ReviewCommissioned(
            review_id=command.review_id,
            decided_on=command.decided_on,
            rationale=rationale,
            eligibility_outcome=outcome,
            overrides_eligibility_assessment=outcome is EligibilityOutcome.NOT_ELIGIBLE,
            decided_after_due_date=_decided_late(command.decided_on, state),
            completion_due_months=command.completion_due_months,
            completion_due_on=add_months(command.decided_on, command.completion_due_months),
        )
    ]


def decide_not_to_commission(
    command: DecideNotToCommission, state: ReviewState
) -> list[EventPayload]:
    """Decline to commission a review; the reasons are to be sent to the Home Office."""
    _require_awaiting_decision(command.review_id, state)
    _check_decision_date(command.decided_on, state)
    rationale = _required_text(command.rationale, "rationale",
                               "Give the rationale for the decision not to commission.")
    reasons = tuple(reason.strip() for reason in command.reasons)
    if not reasons or not all(reasons):
        raise InvalidCommand(
            "A decision not to commission must give its reasons for the Home Office, none blank.",
            "reasons")
    _check_lengths(reasons, "reasons")
    outcome = _assessed_outcome(state)
    return [
        DecidedNotToCommission(
            review_id=command.review_id,
            decided_on=command.decided_on,
            rationale=rationale,
            reasons=reasons,
            eligibility_outcome=outcome,
            overrides_eligibility_assessment=outcome is EligibilityOutcome.ELIGIBLE,
            decided_after_due_date=_decided_late(command.decided_on, state),
        )
    ]


def decide_record_home_office_notified(
    command: RecordHomeOfficeNotified, state: ReviewState
) -> list[EventPayload]:
    """Record that the Home Office was told of the decision (once)."""
    decision, decided_on = _require_decision(command.review_id, state)
    if state.home_office_notified_on is not None:
        raise HomeOfficeAlreadyNotified(
            f"The Home Office was already notified of the decision on "
            f"{state.home_office_notified_on}.")
    _not_before(command.notified_on, decided_on, "notified_on", "the decision")
    return [HomeOfficeNotified(
        review_id=command.review_id, notified_on=command.notified_on, decision=decision)]


def decide_record_family_informed(
    command: RecordFamilyInformed, state: ReviewState
) -> list[EventPayload]:
    """Record that the family was told of the decision; families may be told more than once."""
    decision, decided_on = _require_decision(command.review_id, state)
    _not_before(command.informed_on, decided_on, "informed_on", "the decision")
    return [FamilyInformed(review_id=command.review_id, informed_on=command.informed_on,
                           channel=command.channel, decision=decision)]


def decide_appoint_chair(command: AppointChair, state: ReviewState) -> list[EventPayload]:
    """Appoint an independent Chair, or replace the one in post (a reason is then required)."""
    decided_on = _require_commissioned(command.review_id, state)
    _not_before(command.appointed_on, decided_on, "appointed_on", "the decision to commission")
    _check_independence(command.declaration)
    chair_name = _required_text(command.chair_name, "chair_name", "Name the Chair.")
    replacement_reason = _optional_text(command.replacement_reason)
    if state.chair is None and replacement_reason is not None:
        raise InvalidCommand("There is no Chair in post to replace: leave the replacement "
                             "reason empty.", "replacement_reason")
    if state.chair is not None:
        if replacement_reason is None:
            raise InvalidCommand("A Chair is already in post: give the reason for replacing "
                                 "them.", "replacement_reason")
        _not_before(command.appointed_on, state.chair.appointed_on, "appointed_on",
                    "the current Chair's appointment")
    return [
        ChairAppointed(
            review_id=command.review_id,
            appointed_on=command.appointed_on,
            chair_name=chair_name,
            declaration=command.declaration,
            replaces_previous_chair=state.chair is not None,
            replacement_reason=replacement_reason,
            chair_subject=command.chair_subject,
        )
    ]


def decide_pause_review(command: PauseReview, state: ReviewState) -> list[EventPayload]:
    """Stop the completion clock of a running, commissioned review."""
    decided_on = _require_commissioned(command.review_id, state)
    _require_not_published(state)
    if state.status is ReviewStatus.PAUSED:
        raise ReviewAlreadyPaused(f"The review is already paused, since {state.paused_since}.")
    _not_before(command.paused_on, decided_on, "paused_on", "the decision to commission")
    if state.last_resumed_on is not None:
        _not_before(command.paused_on, state.last_resumed_on, "paused_on", "the last resumption")
    detail = _optional_text(command.detail)
    if command.reason is PauseReason.OTHER and detail is None:
        raise InvalidCommand("Describe the reason for the pause when it is 'other'.", "detail")
    return [ReviewPaused(review_id=command.review_id, paused_on=command.paused_on,
                         reason=command.reason, detail=detail)]


def decide_resume_review(command: ResumeReview, state: ReviewState) -> list[EventPayload]:
    """Restart the completion clock; the completion due date moves by the days paused."""
    _require_commissioned(command.review_id, state)
    if state.status is not ReviewStatus.PAUSED or state.paused_since is None:
        raise ReviewNotPaused("The review is not paused, so it cannot be resumed.")
    assert state.completion_due_on is not None  # set by ReviewCommissioned
    _not_before(command.resumed_on, state.paused_since, "resumed_on", "the pause")
    paused_days = days_between(state.paused_since, command.resumed_on)
    return [
        ReviewResumed(
            review_id=command.review_id,
            resumed_on=command.resumed_on,
            paused_on=state.paused_since,
            paused_days=paused_days,
            total_paused_days=state.total_paused_days + paused_days,
            completion_due_on=extend_by_days(state.completion_due_on, paused_days),
        )
    ]


def decide_link_parallel_review(
    command: LinkParallelReview, state: ReviewState
) -> list[EventPayload]:
    """Link a parallel process. Idempotent: a kind and reference already linked adds nothing.

    Idempotent rather than refused because agency systems retry, and linking twice means the same.
    References are compared ignoring case and surrounding spaces.
    """
    _require_exists(command.review_id, state)
    reference = _required_text(command.reference, "reference",
                               "Give the parallel process's reference.")
    if any(linked.kind is command.kind and linked.reference.casefold() == reference.casefold()
           for linked in state.parallel_reviews):
        return []
    return [ParallelReviewLinked(review_id=command.review_id, linked_on=command.linked_on,
                                 kind=command.kind, reference=reference)]


# ------------------------------------------------------------- from agreed report to publication
#
# The order: the panel agrees the report (recorded from its event) -> the CSP signs it off ->
# submits it to the Home Office Quality Assurance Panel -> the panel approves it, or requires
# changes (itemised) and the CSP resubmits, any number of times -> the anonymised report is
# published -> copies go to the Domestic Abuse Commissioner (and the Secretary of State where
# required), each with the SHA-256 of what was sent. Deliveries are of the published report only.
#
# Facts of other bodies (the panel's agreement, the Quality Assurance outcome) are recorded while
# the review is paused; the CSP's own steps (sign-off, submission, publication) wait for it to
# resume.


def decide_record_report_agreed(
    command: RecordReportAgreed, state: ReviewState
) -> list[EventPayload]:
    """Record the panel's agreement of a report version. The same or an older version again
    records nothing: the panel's topic may redeliver and replays its history in order."""
    decided_on = _require_commissioned(command.review_id, state)
    if state.report is not None and command.report_version <= state.report.report_version:
        return []
    if state.report is not None:  # a revised report: only while the CSP still holds it
        if state.publication is not None:
            raise ReportAlreadyPublished(
                f"The report was published on {state.publication.published_on}; a revised "
                f"version {command.report_version} cannot be recorded.", "publication")
        _require_not_with_home_office(state)
    _not_before(command.agreed_on, decided_on, "agreed_on", "the decision to commission")
    return [ReportAgreementRecorded(
        review_id=command.review_id, agreed_on=command.agreed_on,
        report_version=command.report_version,
        recommendation_count=command.recommendation_count,
        panel_event_id=command.panel_event_id)]


def decide_sign_off_report(command: SignOffReport, state: ReviewState) -> list[EventPayload]:
    """The CSP signs off the report version the panel last agreed, once per version."""
    report = _require_agreed_report(command.review_id, state)
    _require_running(state, "signing off the report")
    if state.sign_off is not None and state.sign_off.report_version == report.report_version:
        raise ReportAlreadySignedOff(
            f"Report version {report.report_version} was already signed off on "
            f"{state.sign_off.signed_off_on}.", "sign_off")
    _not_before(command.signed_off_on, report.agreed_on, "signed_off_on",
                "the panel agreed the report")
    signed_off_by = _required_text(command.signed_off_by, "signed_off_by",
                                   "Name who signed the report off for the CSP.")
    return [ReportSignedOff(review_id=command.review_id, signed_off_on=command.signed_off_on,
                            signed_off_by=signed_off_by, report_version=report.report_version)]


def decide_submit_to_home_office(
    command: SubmitToHomeOffice, state: ReviewState
) -> list[EventPayload]:
    """Submit the signed-off report; a second or later submission answers changes required."""
    report = _require_agreed_report(command.review_id, state)
    _require_not_published(state)
    _require_running(state, "submitting the report")
    if state.sign_off is None or state.sign_off.report_version != report.report_version:
        raise ReportNotSignedOff(
            f"Report version {report.report_version} must be signed off by the CSP before it is "
            "submitted to the Home Office.", "sign_off")
    _require_not_with_home_office(state)
    previous = state.home_office_submissions[-1] if state.home_office_submissions else None
    _not_before(command.submitted_on, state.sign_off.signed_off_on, "submitted_on",
                "the sign-off")
    if previous is not None:
        # Not awaiting, not approved: the last outcome was changes_required.
        assert previous.decided_on is not None
        _not_before(command.submitted_on, previous.decided_on, "submitted_on",
                    "the Quality Assurance Panel required changes")
    return [ReportSubmittedToHomeOffice(
        review_id=command.review_id, submission_number=len(state.home_office_submissions) + 1,
        submitted_on=command.submitted_on, report_version=report.report_version,
        resubmission=previous is not None)]


def decide_record_quality_assurance_outcome(
    command: RecordQualityAssuranceOutcome, state: ReviewState
) -> list[EventPayload]:
    """Record the Quality Assurance Panel's decision on a submission not decided yet."""
    _require_commissioned(command.review_id, state)
    submission = next((s for s in state.home_office_submissions
                       if s.submission_number == command.submission_number), None)
    if submission is None:
        raise SubmissionNotFound(
            f"No submission {command.submission_number} was made to the Home Office "
            f"({len(state.home_office_submissions)} so far).", "submission_number")
    if submission.outcome is not None:
        raise QualityAssuranceOutcomeAlreadyRecorded(
            f"Submission {submission.submission_number} was already decided on "
            f"{submission.decided_on}: {submission.outcome}.", "submission_number")
    _not_before(command.decided_on, submission.submitted_on, "decided_on", "the submission")
    areas = cleaned_areas(command.areas_for_development)
    if areas is None:
        raise InvalidCommand("No area for development may be blank.", "areas_for_development")
    _check_lengths(areas, "areas_for_development")
    if command.outcome is QualityAssuranceOutcome.CHANGES_REQUIRED and not areas:
        raise InvalidCommand("When changes are required, list the areas for development "
                             "(at least one).", "areas_for_development")
    return [QualityAssuranceOutcomeRecorded(
        review_id=command.review_id, submission_number=submission.submission_number,
        decided_on=command.decided_on, outcome=command.outcome, areas_for_development=areas,
        report_version=submission.report_version)]


def decide_publish_report(command: PublishReport, state: ReviewState) -> list[EventPayload]:
    """Publish the report the Quality Assurance Panel approved, only if it is anonymised."""
    _require_commissioned(command.review_id, state)
    _require_not_published(state)
    _require_running(state, "publishing the report")
    approved = state.home_office_submissions[-1] if state.home_office_submissions else None
    if approved is None or approved.outcome is not QualityAssuranceOutcome.APPROVED_FOR_PUBLICATION:
        raise ReportNotApproved(
            "The report can be published only once the Home Office Quality Assurance Panel "
            "approved it for publication.", "home_office_submissions")
    if not command.anonymised:
        raise ReportNotAnonymised(
            "Only an anonymised report may be published: anonymise it and confirm "
            "anonymised = true.", "anonymised")
    assert approved.decided_on is not None
    _not_before(command.published_on, approved.decided_on, "published_on",
                "the approval for publication")
    location = _required_text(command.location, "location",
                              "Say where the report was published (a URL or a place).")
    return [ReportPublished(review_id=command.review_id, published_on=command.published_on,
                            report_version=approved.report_version, anonymised=True,
                            location=location)]


def decide_record_report_delivery(
    command: RecordReportDelivery, state: ReviewState
) -> list[EventPayload]:
    """Record a copy of the published report sent to an oversight recipient. The same copy
    (recipient, date and checksum) recorded again adds nothing; a resend on another day does."""
    _require_commissioned(command.review_id, state)
    publication = state.publication
    if publication is None:
        raise ReportNotPublished("Copies are sent once the report is published; it is not yet.",
                                 "publication")
    if command.document_version != publication.report_version:
        raise InvalidCommand(
            f"The document sent must be the published report, version "
            f"{publication.report_version}, not version {command.document_version}.",
            "document_version")
    _not_before(command.delivered_on, publication.published_on, "delivered_on", "publication")
    digest = normalised_sha256(command.sha256)
    if digest is None:
        raise InvalidCommand("sha256 must be 64 hexadecimal characters.", "sha256")
    if any(d.recipient is command.recipient and d.sha256 == digest
           and d.delivered_on == command.delivered_on for d in state.deliveries):
        return []
    return [ReportDelivered(review_id=command.review_id, recipient=command.recipient,
                            delivered_on=command.delivered_on,
                            document_version=command.document_version, sha256=digest)]


def decide(command: Command, state: ReviewState) -> list[EventPayload]:
    """The events a command produces against the current state, or a `DomainError`."""
    match command:
        case ReceiveNotification():
            return decide_receive_notification(command, state)
        case DecideToCommission():
            return decide_to_commission(command, state)
        case DecideNotToCommission():
            return decide_not_to_commission(command, state)
        case RecordHomeOfficeNotified():
            return decide_record_home_office_notified(command, state)
        case RecordFamilyInformed():
            return decide_record_family_informed(command, state)
        case AppointChair():
            return decide_appoint_chair(command, state)
        case PauseReview():
            return decide_pause_review(command, state)
        case ResumeReview():
            return decide_resume_review(command, state)
        case LinkParallelReview():
            return decide_link_parallel_review(command, state)
        case RecordReportAgreed():
            return decide_record_report_agreed(command, state)
        case SignOffReport():
            return decide_sign_off_report(command, state)
        case SubmitToHomeOffice():
            return decide_submit_to_home_office(command, state)
        case RecordQualityAssuranceOutcome():
            return decide_record_quality_assurance_outcome(command, state)
        case PublishReport():
            return decide_publish_report(command, state)
        case RecordReportDelivery():
            return decide_record_report_delivery(command, state)
    raise TypeError(f"Not a commissioning command: {type(command).__name__}")


# --------------------------------------------------------------------------------------- evolve


def evolve(state: ReviewState, event: EventPayload) -> ReviewState:
    """The state after one event. Total over the commissioning events; never refuses a fact."""
    match event:
        case NotificationReceived():
            return state.model_copy(update={
                "exists": True,
                "review_id": event.review_id,
                "status": ReviewStatus.AWAITING_DECISION,
                "notifying_agency": event.notifying_agency,
                "csp_area": event.csp_area,
                "date_of_death": event.date_of_death,
                "csp_learned_on": event.csp_learned_on,
                "received_at": event.received_at,
                "decision_due_on": event.decision_due_on,
            })
        case EligibilityAssessed():
            return state.model_copy(update={
                "eligibility_outcome": event.outcome,
                "eligibility_reasons": event.reasons,
                "grey_area_flags": event.grey_area_flags,
            })
        case ReviewCommissioned():
            return state.model_copy(update={
                "status": ReviewStatus.COMMISSIONED,
                "decision": DecisionOutcome.COMMISSIONED,
                "decided_on": event.decided_on,
                "decision_rationale": event.rationale,
                "overrides_eligibility_assessment": event.overrides_eligibility_assessment,
                "completion_due_months": event.completion_due_months,
                "completion_due_on": event.completion_due_on,
            })
        case DecidedNotToCommission():
            return state.model_copy(update={
                "status": ReviewStatus.NOT_COMMISSIONED,
                "decision": DecisionOutcome.NOT_COMMISSIONED,
                "decided_on": event.decided_on,
                "decision_rationale": event.rationale,
                "not_commissioned_reasons": event.reasons,
                "overrides_eligibility_assessment": event.overrides_eligibility_assessment,
            })
        case HomeOfficeNotified():
            return state.model_copy(update={"home_office_notified_on": event.notified_on})
        case FamilyInformed():
            contact = FamilyContact(informed_on=event.informed_on, channel=event.channel)
            return state.model_copy(update={"family_informed": (*state.family_informed, contact)})
        case ChairAppointed():
            chair = Chair(name=event.chair_name, appointed_on=event.appointed_on,
                          subject=event.chair_subject)
            return state.model_copy(update={"chair": chair})
        case ReviewPaused():
            return state.model_copy(update={
                "status": ReviewStatus.PAUSED,
                "paused_since": event.paused_on,
                "pause_reason": event.reason,
            })
        case ReviewResumed():
            return state.model_copy(update={
                "status": progress_status(state),
                "paused_since": None,
                "pause_reason": None,
                "last_resumed_on": event.resumed_on,
                "total_paused_days": event.total_paused_days,
                "completion_due_on": event.completion_due_on,
            })
        case ParallelReviewLinked():
            linked = ParallelReview(kind=event.kind, reference=event.reference,
                                    linked_on=event.linked_on)
            return state.model_copy(
                update={"parallel_reviews": (*state.parallel_reviews, linked)})
        case ReportAgreementRecorded():
            report = AgreedReport(report_version=event.report_version, agreed_on=event.agreed_on,
                                  recommendation_count=event.recommendation_count)
            return _progressed(state, report=report)
        case ReportSignedOff():
            sign_off = SignOff(report_version=event.report_version,
                               signed_off_on=event.signed_off_on,
                               signed_off_by=event.signed_off_by)
            return _progressed(state, sign_off=sign_off)
        case ReportSubmittedToHomeOffice():
            submission = HomeOfficeSubmission(
                submission_number=event.submission_number, submitted_on=event.submitted_on,
                report_version=event.report_version, resubmission=event.resubmission)
            return _progressed(state, home_office_submissions=(
                *state.home_office_submissions, submission))
        case QualityAssuranceOutcomeRecorded():
            decided = tuple(
                s.model_copy(update={"outcome": event.outcome, "decided_on": event.decided_on,
                                     "areas_for_development": event.areas_for_development})
                if s.submission_number == event.submission_number else s
                for s in state.home_office_submissions)
            return _progressed(state, home_office_submissions=decided)
        case ReportPublished():
            publication = Publication(published_on=event.published_on,
                                      report_version=event.report_version,
                                      location=event.location)
            return _progressed(state, publication=publication)
        case ReportDelivered():
            delivery = Delivery(recipient=event.recipient, delivered_on=event.delivered_on,
                                document_version=event.document_version, sha256=event.sha256)
            return state.model_copy(update={"deliveries": (*state.deliveries, delivery)})
        case PersonalDataErased():
            return state.model_copy(update={"personal_data_erased_on": event.erased_on})
    raise TypeError(f"Not a commissioning event: {type(event).__name__}")


def progress_status(state: ReviewState) -> ReviewStatus:
    """Where a commissioned review stands on its way from commission to publication."""
    if state.publication is not None:
        return ReviewStatus.PUBLISHED
    if state.home_office_submissions:
        outcome = state.home_office_submissions[-1].outcome
        if outcome is None:
            return ReviewStatus.SUBMITTED_TO_HOME_OFFICE
        if outcome is QualityAssuranceOutcome.CHANGES_REQUIRED:
            return ReviewStatus.CHANGES_REQUIRED
        return ReviewStatus.APPROVED_FOR_PUBLICATION
    if state.report is not None:
        if state.sign_off is not None and state.sign_off.report_version == state.report.report_version:
            return ReviewStatus.SIGNED_OFF
        return ReviewStatus.REPORT_AGREED
    return ReviewStatus.COMMISSIONED


def _progressed(state: ReviewState, **update: object) -> ReviewState:
    """The state with `update` applied and its status moved on, unless the review is paused
    (it then resumes to the status it reached meanwhile)."""
    state = state.model_copy(update=update)
    if state.status is ReviewStatus.PAUSED:
        return state
    return state.model_copy(update={"status": progress_status(state)})


def fold(events: Iterable[EventPayload]) -> ReviewState:
    """The state of a review case rebuilt from its events, oldest first."""
    state = initial_state()
    for event in events:
        state = evolve(state, event)
    return state


# ------------------------------------------------------------------------------------- deadlines

DECISION_OVERDUE = "decision"
COMPLETION_OVERDUE = "completion"


def overdue(state: ReviewState, today: date) -> list[str]:
    """Names of the deadlines passed by `today`: `decision`, `completion`; paused clocks stop.

    Completion is overdue in every status from commissioned to approved for publication: the
    review is complete when its report is published.
    """
    late: list[str] = []
    if (state.status is ReviewStatus.AWAITING_DECISION and state.decision_due_on is not None
            and today > state.decision_due_on):
        late.append(DECISION_OVERDUE)
    if (state.status in COMPLETION_CLOCK_RUNNING and state.completion_due_on is not None
            and today > state.completion_due_on):
        late.append(COMPLETION_OVERDUE)
    return late


# --------------------------------------------------------------------------------------- helpers


def _require_exists(review_id: UUID, state: ReviewState) -> None:
    if not state.exists:
        raise ReviewNotFound(f"No notification was received for review {review_id}.", "review_id")


def _require_awaiting_decision(review_id: UUID, state: ReviewState) -> None:
    _require_exists(review_id, state)
    if state.decision is not None:
        raise DecisionAlreadyMade(
            f"The decision was already made on {state.decided_on}: {state.decision}.")


def _require_decision(review_id: UUID, state: ReviewState) -> tuple[DecisionOutcome, date]:
    _require_exists(review_id, state)
    if state.decision is None or state.decided_on is None:
        raise DecisionNotMade("No decision to commission a review or not has been made yet.")
    return state.decision, state.decided_on


def _require_commissioned(review_id: UUID, state: ReviewState) -> date:
    """The decision date of a commissioned review (running or paused)."""
    _require_exists(review_id, state)
    if state.decision is not DecisionOutcome.COMMISSIONED or state.decided_on is None:
        situation = ("it was decided not to commission one" if state.decision is not None
                     else "no decision to commission has been made yet")
        raise ReviewNotCommissioned(f"This needs a commissioned review, but {situation}.")
    return state.decided_on


def _require_agreed_report(review_id: UUID, state: ReviewState) -> AgreedReport:
    _require_commissioned(review_id, state)
    if state.report is None:
        raise ReportNotAgreed("The panel has not agreed the report yet: it must be agreed, then "
                              "signed off, before it goes to the Home Office.", "report")
    return state.report


def _require_running(state: ReviewState, doing: str) -> None:
    if state.status is ReviewStatus.PAUSED:
        raise ReviewIsPaused(f"The review is paused since {state.paused_since}: resume it before "
                             f"{doing}.", "status")


def _require_not_published(state: ReviewState) -> None:
    if state.publication is not None:
        raise ReportAlreadyPublished(
            f"The report was already published on {state.publication.published_on}.",
            "publication")


def _require_not_with_home_office(state: ReviewState) -> None:
    """Refuse while a submission awaits its outcome or once the report is approved."""
    if not state.home_office_submissions:
        return
    last = state.home_office_submissions[-1]
    if last.outcome is None:
        raise SubmissionAwaitingOutcome(
            f"Submission {last.submission_number} (submitted on {last.submitted_on}) awaits "
            "the Quality Assurance Panel's outcome.", "home_office_submissions")
    if last.outcome is QualityAssuranceOutcome.APPROVED_FOR_PUBLICATION:
        raise ReportAlreadyApproved(
            f"The Quality Assurance Panel approved report version {last.report_version} for "
            f"publication on {last.decided_on}.", "home_office_submissions")


def _check_age(age: int | None, band: AgeBand | None) -> None:
    if age is None and band is None:
        raise InvalidCommand("Give the victim's age or age band (the band may be 'unknown').",
                             "victim_age")
    if age is not None and band is not None and band is not AgeBand.UNKNOWN:
        expected = age_band_for(age)
        if band is not expected:
            raise InvalidCommand(f"The victim's age ({age}) is not in the age band given "
                                 f"({band}); it is in {expected}.", "victim_age_band")


def _check_decision_date(decided_on: date, state: ReviewState) -> None:
    assert state.csp_learned_on is not None  # set by NotificationReceived
    _not_before(decided_on, state.csp_learned_on, "decided_on", "the CSP learned of the death")


def _check_independence(declaration: ChairIndependenceDeclaration) -> None:
    links = []
    if declaration.line_management_of_involved_agency:
        links.append(("line-manages staff of an agency involved",
                      "declaration.line_management_of_involved_agency"))
    if declaration.service_delivery_for_involved_agency:
        links.append(("delivers services for an agency involved",
                      "declaration.service_delivery_for_involved_agency"))
    if links:
        described = " and ".join(text for text, _ in links)
        raise ChairNotIndependent(
            f"The proposed Chair is not independent: they declared that they {described}. "
            "Appoint a Chair with no such link.", links[0][1])


def _assessed_outcome(state: ReviewState) -> EligibilityOutcome:
    assert state.eligibility_outcome is not None  # set by EligibilityAssessed
    return state.eligibility_outcome


def _decided_late(decided_on: date, state: ReviewState) -> bool:
    return state.decision_due_on is not None and decided_on > state.decision_due_on


def _not_before(value: date, earliest: date, field: str, what: str) -> None:
    if value < earliest:
        raise InvalidCommand(f"{field} ({value}) is before {what} ({earliest}).", field)


def _required_text(value: str, field: str, message: str) -> str:
    text = value.strip()
    if not text:
        raise InvalidCommand(message, field)
    return text


# The longest text an event holds (`NonEmptyText` in the contracts). Single text fields of the
# commands are limited to it already; items of a list of texts are checked here.
_MAX_TEXT = 10_000


def _check_lengths(items: tuple[str, ...], field: str) -> None:
    if any(len(item) > _MAX_TEXT for item in items):
        raise InvalidCommand(f"Each item of {field} is at most {_MAX_TEXT:,} characters.", field)


def _optional_text(value: str | None) -> str | None:
    text = value.strip() if value is not None else ""
    return text or None
