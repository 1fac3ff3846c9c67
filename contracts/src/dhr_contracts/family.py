"""Events of family and friends' involvement in a review (published by the panel service).

They travel on the panel topic (`dhr.panel.events.v1`), so their types are `dhr.panel.<Name>.v1`;
they belong to the stream `family-<review_id>` and are keyed by the review id. Names, contact
details, testimony, the victim's pseudonym and tribute, and children's details are marked with
`personal(...)` so they can be encrypted and erased.

A family may decline and later agree: an approach never closes the door to another one, and
every approach is kept, in order, with its outcome.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import ClassVar
from uuid import UUID

from pydantic import Field

from dhr_contracts.base import (
    EventPayload,
    NonEmptyText,
    PersonalShortText,
    PersonalText,
    ShortText,
    personal,
)


class FamilyRelationship(StrEnum):
    """How a family member or friend was related to the victim."""

    PARENT = "parent"
    SIBLING = "sibling"
    CHILD = "child"
    PARTNER = "partner"
    FRIEND = "friend"
    COLLEAGUE = "colleague"
    NEIGHBOUR = "neighbour"
    EMPLOYER = "employer"
    OTHER = "other"


class ApproachChannel(StrEnum):
    """How a family member or friend was approached (or prefers to be contacted)."""

    LETTER = "letter"
    EMAIL = "email"
    TELEPHONE = "telephone"
    IN_PERSON = "in_person"
    VIA_FAMILY_LIAISON_OFFICER = "via_family_liaison_officer"
    VIA_ADVOCATE = "via_advocate"
    OTHER = "other"


class ApproachOutcome(StrEnum):
    """What came of one approach. None of them is final: views change, so any may be followed
    by a re-approach."""

    NO_RESPONSE = "no_response"
    DECLINED = "declined"
    AGREED = "agreed"
    DEFERRED = "deferred"


class ContributionKind(StrEnum):
    """The form a family member's or friend's contribution to the review took."""

    INTERVIEW = "interview"
    WRITTEN = "written"
    MEMORY_BOOK = "memory_book"


class ChildVoiceRoute(StrEnum):
    """Whether and how a child's voice was heard in the review."""

    DIRECT = "direct"
    THROUGH_ADVOCATE = "through_advocate"
    THROUGH_SOCIAL_WORKER = "through_social_worker"
    NOT_SOUGHT = "not_sought"


class FamilyMemberRecorded(EventPayload):
    """A family member or friend of the victim was recorded in the review."""

    event_type: ClassVar[str] = "dhr.panel.FamilyMemberRecorded.v1"

    review_id: UUID = Field(description="Id of the review.")
    person_id: UUID = Field(description="Id of the family member or friend within the review.")
    recorded_on: date = Field(description="Date the person was recorded.")
    name: PersonalShortText = personal("Name of the family member or friend.")
    relationship: FamilyRelationship = Field(description="Relationship to the victim.")
    relationship_detail: NonEmptyText | None = Field(
        default=None, description="The relationship in words; set when relationship is other.")
    contact_details: PersonalText | None = personal(
        "How to reach the person (address, telephone, email), when known.", default=None)


class FamilyMemberApproached(EventPayload):
    """A family member or friend was approached about the review, with the outcome. A later
    approach is always possible (a re-approach), whatever the earlier outcomes were."""

    event_type: ClassVar[str] = "dhr.panel.FamilyMemberApproached.v1"

    review_id: UUID = Field(description="Id of the review.")
    person_id: UUID = Field(description="The family member or friend approached.")
    approach_number: int = Field(
        ge=1, description="1 for the first approach of this person, 2 for the next, and so on.")
    approached_on: date = Field(description="Date of the approach.")
    channel: ApproachChannel = Field(description="How the person was approached.")
    outcome: ApproachOutcome = Field(description="no_response, declined, agreed or deferred.")
    is_reapproach: bool = Field(description="True when the person had been approached before.")
    note: PersonalText | None = personal(
        "Free-text note of the approach (what was said, why deferred).", default=None)


class AdvocacyOffered(EventPayload):
    """Specialist advocacy (e.g. AAFDA, the National Homicide Service) was offered to a family
    member or friend."""

    event_type: ClassVar[str] = "dhr.panel.AdvocacyOffered.v1"

    review_id: UUID = Field(description="Id of the review.")
    offer_number: int = Field(ge=1, description="Number of the offer within the review, from 1.")
    person_id: UUID = Field(description="The family member or friend the advocacy was offered to.")
    offered_on: date = Field(description="Date of the offer.")
    provider_name: ShortText = Field(
        description="The advocacy provider, e.g. AAFDA or National Homicide Service.")


class AdvocacyAccepted(EventPayload):
    """A family member or friend accepted an offer of specialist advocacy."""

    event_type: ClassVar[str] = "dhr.panel.AdvocacyAccepted.v1"

    review_id: UUID = Field(description="Id of the review.")
    offer_number: int = Field(ge=1, description="The offer accepted.")
    person_id: UUID = Field(description="The family member or friend who accepted.")
    accepted_on: date = Field(description="Date the offer was accepted.")
    provider_name: ShortText = Field(description="The advocacy provider of the offer.")


class AdvocacyDeclined(EventPayload):
    """A family member or friend declined an offer of specialist advocacy (a new offer may
    still be made later)."""

    event_type: ClassVar[str] = "dhr.panel.AdvocacyDeclined.v1"

    review_id: UUID = Field(description="Id of the review.")
    offer_number: int = Field(ge=1, description="The offer declined.")
    person_id: UUID = Field(description="The family member or friend who declined.")
    declined_on: date = Field(description="Date the offer was declined.")
    provider_name: ShortText = Field(description="The advocacy provider of the offer.")


class FamilyConsentRecorded(EventPayload):
    """A family member's or friend's consent and preferences; the latest record replaces the
    earlier ones (people change their minds), which stay in the history."""

    event_type: ClassVar[str] = "dhr.panel.FamilyConsentRecorded.v1"

    review_id: UUID = Field(description="Id of the review.")
    person_id: UUID = Field(description="The family member or friend.")
    recorded_on: date = Field(description="Date the consent and preferences were given.")
    consents_to_involvement: bool = Field(
        description="Whether the person consents to being involved and to what they say being "
        "used in the review.")
    preferred_channel: ApproachChannel | None = Field(
        default=None, description="How the person prefers to be contacted, when said.")
    victim_pseudonym: PersonalShortText | None = personal(
        "The name the family chose for the victim in the published report.", default=None)
    tribute: PersonalText | None = personal(
        "The family's tribute to the victim, in their words.", default=None)


class FamilyContributionRecorded(EventPayload):
    """A family member or friend contributed to the review."""

    event_type: ClassVar[str] = "dhr.panel.FamilyContributionRecorded.v1"

    review_id: UUID = Field(description="Id of the review.")
    contribution_number: int = Field(
        ge=1, description="Number of the contribution within the review, from 1.")
    person_id: UUID = Field(description="The family member or friend who contributed.")
    contributed_on: date = Field(description="Date of the contribution.")
    kind: ContributionKind = Field(description="interview, written or memory_book.")
    summary: PersonalText = personal("The contribution's content or a summary of it.")


class ChildVoiceRecorded(EventPayload):
    """Whether and how a child's voice was heard in the review; the reason when it was not."""

    event_type: ClassVar[str] = "dhr.panel.ChildVoiceRecorded.v1"

    review_id: UUID = Field(description="Id of the review.")
    recorded_on: date = Field(description="Date the child was heard, or the decision not to.")
    route: ChildVoiceRoute = Field(
        description="direct, through_advocate, through_social_worker, or not_sought.")
    child_details: PersonalText = personal(
        "Who the child is (name, age, relationship to the victim).")
    person_id: UUID | None = Field(
        default=None, description="The child as a recorded family member, when they are one.")
    summary: PersonalText | None = personal(
        "What the child said or conveyed, when heard.", default=None)
    reason_not_sought: PersonalText | None = personal(
        "Why the child's voice was not sought; set exactly when route is not_sought.",
        default=None)


class DraftReportSharedWithFamily(EventPayload):
    """A draft of the overview report was shared with the family."""

    event_type: ClassVar[str] = "dhr.panel.DraftReportSharedWithFamily.v1"

    review_id: UUID = Field(description="Id of the review.")
    shared_on: date = Field(description="Date the draft was shared.")
    report_version: int = Field(ge=1, description="Version of the draft report shared.")


class FamilyConsultedOnTermsOfReference(EventPayload):
    """The family was consulted on the review's terms of reference."""

    event_type: ClassVar[str] = "dhr.panel.FamilyConsultedOnTermsOfReference.v1"

    review_id: UUID = Field(description="Id of the review.")
    consulted_on: date = Field(description="Date of the consultation.")
    terms_of_reference_version: int = Field(
        ge=1, description="Version of the terms of reference the family was consulted on.")


class FamilyAttendedPanelMeeting(EventPayload):
    """The family (or some of its members) attended a panel meeting."""

    event_type: ClassVar[str] = "dhr.panel.FamilyAttendedPanelMeeting.v1"

    review_id: UUID = Field(description="Id of the review.")
    attended_on: date = Field(description="Date of the meeting.")
    meeting_reference: ShortText = Field(description="Reference of the panel meeting.")


class FamilySupportAfterCompletionOffered(EventPayload):
    """Support after the review's completion was offered to the family."""

    event_type: ClassVar[str] = "dhr.panel.FamilySupportAfterCompletionOffered.v1"

    review_id: UUID = Field(description="Id of the review.")
    offered_on: date = Field(description="Date the support was offered.")
    offered_by: ShortText = Field(
        description="The organisation or role offering the support (not a person's name).")


EVENTS: tuple[type[EventPayload], ...] = (
    FamilyMemberRecorded,
    FamilyMemberApproached,
    AdvocacyOffered,
    AdvocacyAccepted,
    AdvocacyDeclined,
    FamilyConsentRecorded,
    FamilyContributionRecorded,
    ChildVoiceRecorded,
    DraftReportSharedWithFamily,
    FamilyConsultedOnTermsOfReference,
    FamilyAttendedPanelMeeting,
    FamilySupportAfterCompletionOffered,
)
