"""Family and friends' involvement in a review, as a decider (one stream per review).

Pure: no I/O and no clock. Every command carries the date things happened and `recorded_at`,
the server's time of receipt, used only to refuse dates in the future.

Research behind these rules: families must be approached with care, possibly more than once, and
may change their minds; children are rarely heard. Hence:
- an approach is never refused because of earlier outcomes: a family that declined may be
  re-approached, and agree;
- a contribution needs the person's *latest* approach to have been `agreed` (latest wins: a
  later decline suspends it until a re-approach is agreed);
- approaches of one person are dated in order (a date before that person's previous approach is
  refused), so that "latest" means the same in the history as on the calendar;
- a child's voice "not sought" needs the reason.

The five process facts that the Home Office library records are derived from the events at any
time by `process_facts`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from dhr_contracts.base import EventPayload
from dhr_contracts.errors import DomainError as BaseDomainError
from dhr_contracts.family import (
    AdvocacyAccepted,
    AdvocacyDeclined,
    AdvocacyOffered,
    ApproachChannel,
    ApproachOutcome,
    ChildVoiceRecorded,
    ChildVoiceRoute,
    ContributionKind,
    DraftReportSharedWithFamily,
    FamilyAttendedPanelMeeting,
    FamilyConsentRecorded,
    FamilyConsultedOnTermsOfReference,
    FamilyContributionRecorded,
    FamilyMemberApproached,
    FamilyMemberRecorded,
    FamilyRelationship,
    FamilySupportAfterCompletionOffered,
)

# ---------------------------------------------------------------------------------------- errors


class DomainError(BaseDomainError):
    """A family command the domain refuses. `field` names the offending input, when there is one."""


class InvalidFamilyCommand(DomainError):
    """The command's own data breaks a rule (dates out of order, a missing reason...)."""


class FamilyRecordNotFound(DomainError):
    """No family member or friend has been recorded for this review yet."""


class PersonNotRecorded(DomainError):
    """The command names a family member or friend not recorded in this review."""


class PersonAlreadyRecorded(DomainError):
    """A family member or friend with this id is already recorded."""


class PersonHasNotAgreed(DomainError):
    """The person's latest approach did not end in agreement, so no contribution is taken."""


class AdvocacyOfferNotFound(DomainError):
    """No advocacy offer with this number was made in this review."""


class AdvocacyOfferAlreadyAnswered(DomainError):
    """The advocacy offer was already accepted or declined; make a new offer instead."""


# -------------------------------------------------------------------------------------- commands


class Command(BaseModel):
    """A request to change a review's family record. Field constraints are checked when built."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    review_id: UUID = Field(description="The review; the HTTP path gives it.")
    recorded_at: AwareDatetime = Field(
        description="When the server received the command; dates after it are refused.")


class RecordFamilyMember(Command):
    """Record a family member or friend of the victim, and how they were related."""

    person_id: UUID = Field(description="Id of the person; the HTTP layer mints a new one.")
    recorded_on: date = Field(description="Date the person is recorded.")
    name: str = Field(max_length=200, description="The person's name (personal data).")
    relationship: FamilyRelationship = Field(description="Relationship to the victim.")
    relationship_detail: str | None = Field(
        default=None, max_length=10_000,
        description="The relationship in words; required when relationship is other.")
    contact_details: str | None = Field(
        default=None, max_length=10_000,
        description="How to reach the person (personal data).")


class RecordApproach(Command):
    """Record an approach to a family member or friend and its outcome; always allowed again."""

    person_id: UUID = Field(description="The person approached.")
    approached_on: date = Field(description="Date of the approach.")
    channel: ApproachChannel = Field(description="How the person was approached.")
    outcome: ApproachOutcome = Field(description="no_response, declined, agreed or deferred.")
    note: str | None = Field(default=None, max_length=10_000,
                             description="Free-text note of the approach (personal data).")


class OfferAdvocacy(Command):
    """Offer specialist advocacy (e.g. AAFDA, National Homicide Service) to a person."""

    person_id: UUID = Field(description="The person the advocacy is offered to.")
    offered_on: date = Field(description="Date of the offer.")
    provider_name: str = Field(max_length=200, description="The advocacy provider.")


class AcceptAdvocacy(Command):
    """Record that an advocacy offer was accepted."""

    offer_number: int = Field(ge=1, description="The offer accepted.")
    accepted_on: date = Field(description="Date the offer was accepted.")


class DeclineAdvocacy(Command):
    """Record that an advocacy offer was declined."""

    offer_number: int = Field(ge=1, description="The offer declined.")
    declined_on: date = Field(description="Date the offer was declined.")


class RecordConsent(Command):
    """Record a person's consent and preferences; replaces their earlier ones."""

    person_id: UUID = Field(description="The person.")
    recorded_on: date = Field(description="Date the consent and preferences were given.")
    consents_to_involvement: bool = Field(
        description="Whether the person consents to being involved and to what they say being "
        "used in the review.")
    preferred_channel: ApproachChannel | None = Field(
        default=None, description="How the person prefers to be contacted.")
    victim_pseudonym: str | None = Field(
        default=None, max_length=200,
        description="The name chosen for the victim in the report (personal data).")
    tribute: str | None = Field(default=None, max_length=10_000,
                                description="The family's tribute to the victim (personal data).")


class RecordContribution(Command):
    """Record a person's contribution; they must have agreed at their latest approach."""

    person_id: UUID = Field(description="The person who contributed.")
    contributed_on: date = Field(description="Date of the contribution.")
    kind: ContributionKind = Field(description="interview, written or memory_book.")
    summary: str = Field(max_length=10_000,
                         description="The content or a summary of it (personal data).")


class RecordChildVoice(Command):
    """Record whether and how a child's voice was heard; the reason when not sought."""

    recorded_on: date = Field(description="Date the child was heard, or the decision not to.")
    route: ChildVoiceRoute = Field(
        description="direct, through_advocate, through_social_worker or not_sought.")
    child_details: str = Field(max_length=10_000,
                               description="Who the child is (personal data).")
    person_id: UUID | None = Field(
        default=None, description="The child as a recorded family member, when they are one.")
    summary: str | None = Field(default=None, max_length=10_000,
                                description="What the child conveyed, when heard (personal data).")
    reason_not_sought: str | None = Field(
        default=None, max_length=10_000,
        description="Why the child's voice was not sought; required exactly when not_sought.")


class ShareDraftReport(Command):
    """Record that a draft of the overview report was shared with the family."""

    shared_on: date = Field(description="Date the draft was shared.")
    report_version: int = Field(ge=1, le=10_000, description="Version of the draft shared.")


class ConsultOnTermsOfReference(Command):
    """Record that the family was consulted on the terms of reference."""

    consulted_on: date = Field(description="Date of the consultation.")
    terms_of_reference_version: int = Field(
        ge=1, le=10_000, description="Version of the terms of reference consulted on.")


class RecordPanelMeetingAttendance(Command):
    """Record that the family attended a panel meeting."""

    attended_on: date = Field(description="Date of the meeting.")
    meeting_reference: str = Field(max_length=200, description="Reference of the meeting.")


class OfferSupportAfterCompletion(Command):
    """Record that support after the review's completion was offered to the family."""

    offered_on: date = Field(description="Date the support was offered.")
    offered_by: str = Field(max_length=200,
                            description="The organisation or role offering the support.")


# ----------------------------------------------------------------------------------------- state


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Person(_Record):
    """A family member or friend recorded in the review."""

    person_id: UUID
    recorded_on: date
    name: str
    relationship: FamilyRelationship
    relationship_detail: str | None = None
    contact_details: str | None = None


class Approach(_Record):
    """One approach to a person, in the order recorded."""

    person_id: UUID
    approach_number: int
    approached_on: date
    channel: ApproachChannel
    outcome: ApproachOutcome
    is_reapproach: bool
    note: str | None = None


class AdvocacyOffer(_Record):
    """An offer of specialist advocacy and its answer, if any."""

    offer_number: int
    person_id: UUID
    offered_on: date
    provider_name: str
    accepted_on: date | None = None
    declined_on: date | None = None

    @property
    def answered(self) -> bool:
        return self.accepted_on is not None or self.declined_on is not None


class Consent(_Record):
    """A person's consent and preferences, as last recorded."""

    person_id: UUID
    recorded_on: date
    consents_to_involvement: bool
    preferred_channel: ApproachChannel | None = None
    victim_pseudonym: str | None = None
    tribute: str | None = None


class Contribution(_Record):
    """A contribution to the review."""

    contribution_number: int
    person_id: UUID
    contributed_on: date
    kind: ContributionKind
    summary: str


class ChildVoice(_Record):
    """Whether and how one child's voice was heard."""

    recorded_on: date
    route: ChildVoiceRoute
    child_details: str
    person_id: UUID | None = None
    summary: str | None = None
    reason_not_sought: str | None = None


class DraftSharing(_Record):
    """A draft report shared with the family."""

    shared_on: date
    report_version: int


class TermsOfReferenceConsultation(_Record):
    """A consultation of the family on the terms of reference."""

    consulted_on: date
    terms_of_reference_version: int


class PanelMeetingAttendance(_Record):
    """A panel meeting the family attended."""

    attended_on: date
    meeting_reference: str


class SupportOffer(_Record):
    """Support after completion offered to the family."""

    offered_on: date
    offered_by: str


class FamilyState(_Record):
    """Everything the deciders and the query need about a review's family involvement."""

    exists: bool = False
    review_id: UUID | None = None
    people: tuple[Person, ...] = ()
    approaches: tuple[Approach, ...] = ()
    advocacy_offers: tuple[AdvocacyOffer, ...] = ()
    consents: tuple[Consent, ...] = ()
    """The latest consent of each person who gave one (history is in the events)."""
    contributions: tuple[Contribution, ...] = ()
    children_voice: tuple[ChildVoice, ...] = ()
    draft_sharings: tuple[DraftSharing, ...] = ()
    terms_of_reference_consultations: tuple[TermsOfReferenceConsultation, ...] = ()
    panel_meeting_attendances: tuple[PanelMeetingAttendance, ...] = ()
    support_offers: tuple[SupportOffer, ...] = ()

    def person(self, person_id: UUID) -> Person | None:
        return next((p for p in self.people if p.person_id == person_id), None)

    def approaches_of(self, person_id: UUID) -> tuple[Approach, ...]:
        return tuple(a for a in self.approaches if a.person_id == person_id)

    def latest_approach(self, person_id: UUID) -> Approach | None:
        mine = self.approaches_of(person_id)
        return mine[-1] if mine else None


def initial_state() -> FamilyState:
    """The state of a review with no family record yet."""
    return FamilyState()


# -------------------------------------------------------------------------------- process facts

FAMILY_CONTRIBUTED = "family_contributed"
CONSULTED_ON_TERMS_OF_REFERENCE = "consulted_on_terms_of_reference"
SUPPORTED_BY_EXPERT_ADVOCATE = "supported_by_expert_advocate"
RECEIVED_DRAFT_REPORT = "received_draft_report"
ATTENDED_PANEL = "attended_panel"


def process_facts(state: FamilyState) -> dict[str, bool]:
    """The five facts the Home Office library records, as the events show them now."""
    return {
        FAMILY_CONTRIBUTED: bool(state.contributions),
        CONSULTED_ON_TERMS_OF_REFERENCE: bool(state.terms_of_reference_consultations),
        SUPPORTED_BY_EXPERT_ADVOCATE: any(o.accepted_on is not None
                                          for o in state.advocacy_offers),
        RECEIVED_DRAFT_REPORT: bool(state.draft_sharings),
        ATTENDED_PANEL: bool(state.panel_meeting_attendances),
    }


# -------------------------------------------------------------------------------------- deciders


def decide_record_family_member(
    command: RecordFamilyMember, state: FamilyState
) -> list[EventPayload]:
    """Record a family member or friend; the first one opens the review's family record."""
    _not_in_future(command.recorded_on, command, "recorded_on")
    if state.person(command.person_id) is not None:
        raise PersonAlreadyRecorded(
            f"A family member or friend with id {command.person_id} is already recorded.",
            "person_id")
    name = _required_text(command.name, "name", "Give the person's name.")
    detail = _optional_text(command.relationship_detail)
    if command.relationship is FamilyRelationship.OTHER and detail is None:
        raise InvalidFamilyCommand(
            "Describe the relationship to the victim when it is 'other'.", "relationship_detail")
    return [FamilyMemberRecorded(
        review_id=command.review_id, person_id=command.person_id,
        recorded_on=command.recorded_on, name=name, relationship=command.relationship,
        relationship_detail=detail, contact_details=_optional_text(command.contact_details))]


def decide_record_approach(command: RecordApproach, state: FamilyState) -> list[EventPayload]:
    """Record an approach. Never refused for what earlier approaches brought: views change."""
    _require_person(command.person_id, state)
    _not_in_future(command.approached_on, command, "approached_on")
    previous = state.latest_approach(command.person_id)
    if previous is not None:
        _not_before(command.approached_on, previous.approached_on, "approached_on",
                    "this person's previous approach")
    number = len(state.approaches_of(command.person_id)) + 1
    return [FamilyMemberApproached(
        review_id=command.review_id, person_id=command.person_id, approach_number=number,
        approached_on=command.approached_on, channel=command.channel, outcome=command.outcome,
        is_reapproach=number > 1, note=_optional_text(command.note))]


def decide_offer_advocacy(command: OfferAdvocacy, state: FamilyState) -> list[EventPayload]:
    """Offer specialist advocacy to a recorded person; a new offer is always possible."""
    _require_person(command.person_id, state)
    _not_in_future(command.offered_on, command, "offered_on")
    provider = _required_text(command.provider_name, "provider_name",
                              "Name the advocacy provider (e.g. AAFDA).")
    return [AdvocacyOffered(
        review_id=command.review_id, offer_number=len(state.advocacy_offers) + 1,
        person_id=command.person_id, offered_on=command.offered_on, provider_name=provider)]


def decide_accept_advocacy(command: AcceptAdvocacy, state: FamilyState) -> list[EventPayload]:
    """Accept an advocacy offer: only one that was made and not yet answered."""
    offer = _open_offer(command.offer_number, state)
    _not_in_future(command.accepted_on, command, "accepted_on")
    _not_before(command.accepted_on, offer.offered_on, "accepted_on", "the offer")
    return [AdvocacyAccepted(
        review_id=command.review_id, offer_number=offer.offer_number, person_id=offer.person_id,
        accepted_on=command.accepted_on, provider_name=offer.provider_name)]


def decide_decline_advocacy(command: DeclineAdvocacy, state: FamilyState) -> list[EventPayload]:
    """Decline an advocacy offer: only one that was made and not yet answered."""
    offer = _open_offer(command.offer_number, state)
    _not_in_future(command.declined_on, command, "declined_on")
    _not_before(command.declined_on, offer.offered_on, "declined_on", "the offer")
    return [AdvocacyDeclined(
        review_id=command.review_id, offer_number=offer.offer_number, person_id=offer.person_id,
        declined_on=command.declined_on, provider_name=offer.provider_name)]


def decide_record_consent(command: RecordConsent, state: FamilyState) -> list[EventPayload]:
    """Record a person's consent and preferences (latest wins; the history keeps them all)."""
    _require_person(command.person_id, state)
    _not_in_future(command.recorded_on, command, "recorded_on")
    return [FamilyConsentRecorded(
        review_id=command.review_id, person_id=command.person_id,
        recorded_on=command.recorded_on,
        consents_to_involvement=command.consents_to_involvement,
        preferred_channel=command.preferred_channel,
        victim_pseudonym=_optional_text(command.victim_pseudonym),
        tribute=_optional_text(command.tribute))]


def decide_record_contribution(
    command: RecordContribution, state: FamilyState
) -> list[EventPayload]:
    """Record a contribution from a person whose latest approach ended in agreement."""
    _require_person(command.person_id, state)
    _not_in_future(command.contributed_on, command, "contributed_on")
    latest = state.latest_approach(command.person_id)
    if latest is None:
        raise PersonHasNotAgreed(
            "This person has not been approached yet: record an approach they agreed to before "
            "their contribution.", "person_id")
    if latest.outcome is not ApproachOutcome.AGREED:
        raise PersonHasNotAgreed(
            f"This person's latest approach ({latest.approached_on}) ended in "
            f"'{latest.outcome}': a contribution needs them to have agreed. Re-approach them; "
            "if they agree, record the contribution then.", "person_id")
    _not_before(command.contributed_on, latest.approached_on, "contributed_on",
                "the approach at which the person agreed")
    summary = _required_text(command.summary, "summary",
                             "Give the contribution's content or a summary of it.")
    return [FamilyContributionRecorded(
        review_id=command.review_id, contribution_number=len(state.contributions) + 1,
        person_id=command.person_id, contributed_on=command.contributed_on, kind=command.kind,
        summary=summary)]


def decide_record_child_voice(command: RecordChildVoice, state: FamilyState) -> list[EventPayload]:
    """Record how a child was heard, or why they were not (the reason is then required)."""
    _require_family(command.review_id, state)
    if command.person_id is not None:
        _require_person(command.person_id, state)
    _not_in_future(command.recorded_on, command, "recorded_on")
    child_details = _required_text(command.child_details, "child_details",
                                   "Say who the child is (name, age, relationship).")
    reason = _optional_text(command.reason_not_sought)
    summary = _optional_text(command.summary)
    if command.route is ChildVoiceRoute.NOT_SOUGHT:
        if reason is None:
            raise InvalidFamilyCommand(
                "Give the reason the child's voice was not sought.", "reason_not_sought")
        if summary is not None:
            raise InvalidFamilyCommand(
                "A child whose voice was not sought has no summary of what they said.",
                "summary")
    elif reason is not None:
        raise InvalidFamilyCommand(
            f"The child's voice was heard ({command.route}): leave reason_not_sought empty.",
            "reason_not_sought")
    return [ChildVoiceRecorded(
        review_id=command.review_id, recorded_on=command.recorded_on, route=command.route,
        child_details=child_details, person_id=command.person_id, summary=summary,
        reason_not_sought=reason)]


def decide_share_draft_report(command: ShareDraftReport, state: FamilyState) -> list[EventPayload]:
    """Record that a draft report was shared with the family."""
    _require_family(command.review_id, state)
    _not_in_future(command.shared_on, command, "shared_on")
    return [DraftReportSharedWithFamily(review_id=command.review_id, shared_on=command.shared_on,
                                        report_version=command.report_version)]


def decide_consult_on_terms_of_reference(
    command: ConsultOnTermsOfReference, state: FamilyState
) -> list[EventPayload]:
    """Record that the family was consulted on the terms of reference."""
    _require_family(command.review_id, state)
    _not_in_future(command.consulted_on, command, "consulted_on")
    return [FamilyConsultedOnTermsOfReference(
        review_id=command.review_id, consulted_on=command.consulted_on,
        terms_of_reference_version=command.terms_of_reference_version)]


def decide_record_panel_meeting_attendance(
    command: RecordPanelMeetingAttendance, state: FamilyState
) -> list[EventPayload]:
    """Record that the family attended a panel meeting."""
    _require_family(command.review_id, state)
    _not_in_future(command.attended_on, command, "attended_on")
    reference = _required_text(command.meeting_reference, "meeting_reference",
                               "Give the panel meeting's reference.")
    return [FamilyAttendedPanelMeeting(review_id=command.review_id,
                                       attended_on=command.attended_on,
                                       meeting_reference=reference)]


def decide_offer_support_after_completion(
    command: OfferSupportAfterCompletion, state: FamilyState
) -> list[EventPayload]:
    """Record that support after completion was offered to the family."""
    _require_family(command.review_id, state)
    _not_in_future(command.offered_on, command, "offered_on")
    offered_by = _required_text(command.offered_by, "offered_by",
                                "Name the organisation or role offering the support.")
    return [FamilySupportAfterCompletionOffered(
        review_id=command.review_id, offered_on=command.offered_on, offered_by=offered_by)]


def decide(command: Command, state: FamilyState) -> list[EventPayload]:
    """The events a family command produces against the current state, or a `DomainError`."""
    match command:
        case RecordFamilyMember():
            return decide_record_family_member(command, state)
        case RecordApproach():
            return decide_record_approach(command, state)
        case OfferAdvocacy():
            return decide_offer_advocacy(command, state)
        case AcceptAdvocacy():
            return decide_accept_advocacy(command, state)
        case DeclineAdvocacy():
            return decide_decline_advocacy(command, state)
        case RecordConsent():
            return decide_record_consent(command, state)
        case RecordContribution():
            return decide_record_contribution(command, state)
        case RecordChildVoice():
            return decide_record_child_voice(command, state)
        case ShareDraftReport():
            return decide_share_draft_report(command, state)
        case ConsultOnTermsOfReference():
            return decide_consult_on_terms_of_reference(command, state)
        case RecordPanelMeetingAttendance():
            return decide_record_panel_meeting_attendance(command, state)
        case OfferSupportAfterCompletion():
            return decide_offer_support_after_completion(command, state)
    raise TypeError(f"Not a family command: {type(command).__name__}")


# --------------------------------------------------------------------------------------- evolve


def evolve(state: FamilyState, event: EventPayload) -> FamilyState:
    """The state after one event. Total over the family events; never refuses a fact."""
    match event:
        case FamilyMemberRecorded():
            person = Person(person_id=event.person_id, recorded_on=event.recorded_on,
                            name=event.name, relationship=event.relationship,
                            relationship_detail=event.relationship_detail,
                            contact_details=event.contact_details)
            return state.model_copy(update={"exists": True, "review_id": event.review_id,
                                            "people": (*state.people, person)})
        case FamilyMemberApproached():
            approach = Approach(person_id=event.person_id, approach_number=event.approach_number,
                                approached_on=event.approached_on, channel=event.channel,
                                outcome=event.outcome, is_reapproach=event.is_reapproach,
                                note=event.note)
            return state.model_copy(update={"approaches": (*state.approaches, approach)})
        case AdvocacyOffered():
            offer = AdvocacyOffer(offer_number=event.offer_number, person_id=event.person_id,
                                  offered_on=event.offered_on, provider_name=event.provider_name)
            return state.model_copy(update={"advocacy_offers": (*state.advocacy_offers, offer)})
        case AdvocacyAccepted():
            return _answer_offer(state, event.offer_number, {"accepted_on": event.accepted_on})
        case AdvocacyDeclined():
            return _answer_offer(state, event.offer_number, {"declined_on": event.declined_on})
        case FamilyConsentRecorded():
            consent = Consent(person_id=event.person_id, recorded_on=event.recorded_on,
                              consents_to_involvement=event.consents_to_involvement,
                              preferred_channel=event.preferred_channel,
                              victim_pseudonym=event.victim_pseudonym, tribute=event.tribute)
            others = tuple(c for c in state.consents if c.person_id != event.person_id)
            return state.model_copy(update={"consents": (*others, consent)})
        case FamilyContributionRecorded():
            contribution = Contribution(
                contribution_number=event.contribution_number, person_id=event.person_id,
                contributed_on=event.contributed_on, kind=event.kind, summary=event.summary)
            return state.model_copy(
                update={"contributions": (*state.contributions, contribution)})
        case ChildVoiceRecorded():
            voice = ChildVoice(recorded_on=event.recorded_on, route=event.route,
                               child_details=event.child_details, person_id=event.person_id,
                               summary=event.summary, reason_not_sought=event.reason_not_sought)
            return state.model_copy(update={"children_voice": (*state.children_voice, voice)})
        case DraftReportSharedWithFamily():
            sharing = DraftSharing(shared_on=event.shared_on, report_version=event.report_version)
            return state.model_copy(update={"draft_sharings": (*state.draft_sharings, sharing)})
        case FamilyConsultedOnTermsOfReference():
            consultation = TermsOfReferenceConsultation(
                consulted_on=event.consulted_on,
                terms_of_reference_version=event.terms_of_reference_version)
            return state.model_copy(update={"terms_of_reference_consultations": (
                *state.terms_of_reference_consultations, consultation)})
        case FamilyAttendedPanelMeeting():
            attendance = PanelMeetingAttendance(attended_on=event.attended_on,
                                                meeting_reference=event.meeting_reference)
            return state.model_copy(update={"panel_meeting_attendances": (
                *state.panel_meeting_attendances, attendance)})
        case FamilySupportAfterCompletionOffered():
            support = SupportOffer(offered_on=event.offered_on, offered_by=event.offered_by)
            return state.model_copy(update={"support_offers": (*state.support_offers, support)})
    raise TypeError(f"Not a family event: {type(event).__name__}")


def fold(events: Iterable[EventPayload]) -> FamilyState:
    """The family state rebuilt from its events, oldest first."""
    state = initial_state()
    for event in events:
        state = evolve(state, event)
    return state


# --------------------------------------------------------------------------------------- helpers


def _answer_offer(state: FamilyState, offer_number: int, answer: dict[str, date]) -> FamilyState:
    offers = tuple(o.model_copy(update=answer) if o.offer_number == offer_number else o
                   for o in state.advocacy_offers)
    return state.model_copy(update={"advocacy_offers": offers})


def _require_family(review_id: UUID, state: FamilyState) -> None:
    if not state.exists:
        raise FamilyRecordNotFound(
            f"No family member or friend is recorded for review {review_id} yet: record one "
            "first.", "review_id")


def _require_person(person_id: UUID, state: FamilyState) -> Person:
    person = state.person(person_id)
    if person is None:
        raise PersonNotRecorded(
            f"No family member or friend {person_id} is recorded in this review: record them "
            "first.", "person_id")
    return person


def _open_offer(offer_number: int, state: FamilyState) -> AdvocacyOffer:
    offer = next((o for o in state.advocacy_offers if o.offer_number == offer_number), None)
    if offer is None:
        raise AdvocacyOfferNotFound(
            f"No advocacy offer number {offer_number} was made in this review: advocacy can be "
            "accepted or declined only after it was offered.", "offer_number")
    if offer.answered:
        answer = (f"accepted on {offer.accepted_on}" if offer.accepted_on is not None
                  else f"declined on {offer.declined_on}")
        raise AdvocacyOfferAlreadyAnswered(
            f"Advocacy offer {offer_number} was already {answer}: make a new offer instead.",
            "offer_number")
    return offer


# England is at most an hour ahead of UTC, so its date is at most one day after the UTC date.
_CLOCK_SLACK = timedelta(days=1)


def _not_in_future(value: date, command: Command, field: str) -> None:
    latest = command.recorded_at.date() + _CLOCK_SLACK
    if value > latest:
        raise InvalidFamilyCommand(f"{field} ({value}) is in the future.", field)


def _not_before(value: date, earliest: date, field: str, what: str) -> None:
    if value < earliest:
        raise InvalidFamilyCommand(f"{field} ({value}) is before {what} ({earliest}).", field)


def _required_text(value: str, field: str, message: str) -> str:
    text = value.strip()
    if not text:
        raise InvalidFamilyCommand(message, field)
    return text


def _optional_text(value: str | None) -> str | None:
    text = value.strip() if value is not None else ""
    return text or None
