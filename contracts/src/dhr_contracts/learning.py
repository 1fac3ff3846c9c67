"""Events of the learning service: blame-free learning events and learning points.

Agencies only speak openly at a learning event when they trust they will not be "thrown under a
bus", so everything said is attributed to an agency, never to a person. Free text may still
mention people and is marked personal; the facilitator's name is personal too.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated, ClassVar
from uuid import UUID

from pydantic import AwareDatetime, Field

from dhr_contracts.base import (
    EventPayload,
    NonEmptyText,
    PersonalShortText,
    PersonalText,
    ShortText,
    personal,
)

AgencyName = Annotated[str, Field(min_length=1, max_length=200,
                                  description="An agency (organisation), never a person.")]
Tag = Annotated[str, Field(min_length=1, max_length=60, pattern=r"^[^A-Z\s](?:[^A-Z]*[^A-Z\s])?$",
                           description="A free tag: lower case, trimmed.")]


class LearningEventFormat(StrEnum):
    """How a learning event is run."""

    IN_PERSON = "in_person"
    ONLINE = "online"
    HYBRID = "hybrid"


class LearningTheme(StrEnum):
    """The eight recommendation themes of the Home Office library of DHR recommendations."""

    TECHNOLOGY_SYSTEMS = "technology_systems"
    IDENTIFICATION_OF_RISK = "identification_of_risk"
    TRAINING = "training"
    POLICY = "policy"
    MULTI_AGENCY_WORKING = "multi_agency_working"
    RECORD_KEEPING = "record_keeping"
    AWARENESS_RAISING = "awareness_raising"
    OTHER = "other"


class DisseminationChannel(StrEnum):
    """How a briefing on a learning point reached partners."""

    EMAIL = "email"
    BRIEFING_SESSION = "briefing_session"
    NEWSLETTER = "newsletter"
    TRAINING = "training"
    MEETING = "meeting"
    WEBSITE = "website"
    OTHER = "other"


class LearningEventPlanned(EventPayload):
    """A learning event was planned for a review, with the blame-free ground rules to be
    acknowledged by every agency taking part."""

    event_type: ClassVar[str] = "dhr.learning.LearningEventPlanned.v1"

    review_id: UUID = Field(description="Id of the review.")
    learning_event_id: UUID = Field(description="Id of the learning event.")
    planned_on: date = Field(description="Date the event is planned for.")
    facilitator_name: PersonalShortText = personal("Name of the person facilitating the event.")
    format: LearningEventFormat = Field(description="in_person, online or hybrid.")
    invited_agencies: tuple[AgencyName, ...] = Field(
        min_length=1, description="Agencies invited to take part.")
    ground_rules: NonEmptyText = Field(
        description="The blame-free ground rules, as put to the agencies.")


class LearningEventRescheduled(EventPayload):
    """A planned learning event moved to another date."""

    event_type: ClassVar[str] = "dhr.learning.LearningEventRescheduled.v1"

    review_id: UUID = Field(description="Id of the review.")
    learning_event_id: UUID = Field(description="Id of the learning event.")
    previously_planned_on: date = Field(description="The date it was planned for until now.")
    planned_on: date = Field(description="The new date.")
    reason: PersonalText = personal("Why it moved (free text; may mention people).")


class LearningEventCancelled(EventPayload):
    """A planned learning event will not take place."""

    event_type: ClassVar[str] = "dhr.learning.LearningEventCancelled.v1"

    review_id: UUID = Field(description="Id of the review.")
    learning_event_id: UUID = Field(description="Id of the learning event.")
    cancelled_on: date = Field(description="Date it was cancelled.")
    reason: PersonalText = personal("Why it was cancelled (free text; may mention people).")


class GroundRulesAcknowledged(EventPayload):
    """An agency acknowledged the blame-free ground rules of a learning event."""

    event_type: ClassVar[str] = "dhr.learning.GroundRulesAcknowledged.v1"

    review_id: UUID = Field(description="Id of the review.")
    learning_event_id: UUID = Field(description="Id of the learning event.")
    agency: AgencyName = Field(description="The agency that acknowledged the ground rules.")
    acknowledged_at: AwareDatetime = Field(description="When it acknowledged them.")


class LearningEventHeld(EventPayload):
    """A learning event took place; every participating agency had acknowledged the ground rules."""

    event_type: ClassVar[str] = "dhr.learning.LearningEventHeld.v1"

    review_id: UUID = Field(description="Id of the review.")
    learning_event_id: UUID = Field(description="Id of the learning event.")
    held_on: date = Field(description="Date it took place.")
    participating_agencies: tuple[AgencyName, ...] = Field(
        min_length=1, description="Agencies that took part.")


class ContributionRecorded(EventPayload):
    """What an agency contributed at a learning event, attributed to the agency alone."""

    event_type: ClassVar[str] = "dhr.learning.ContributionRecorded.v1"

    review_id: UUID = Field(description="Id of the review.")
    learning_event_id: UUID = Field(description="Id of the learning event.")
    contribution_id: UUID = Field(description="Id of the contribution.")
    agency: AgencyName = Field(
        description="The participating agency the contribution is attributed to.")
    contributed_on: date = Field(description="Date of the contribution.")
    text: PersonalText = personal("The contribution (free text; may mention people).")


class LearningPointRecorded(EventPayload):
    """A learning point of a review, with its themes and tags."""

    event_type: ClassVar[str] = "dhr.learning.LearningPointRecorded.v1"

    review_id: UUID = Field(description="Id of the review.")
    learning_point_id: UUID = Field(description="Id of the learning point.")
    recorded_on: date = Field(
        description="Date the point was recorded; the period of cross-review queries.")
    summary: PersonalText = personal("The learning (free text; may mention people).")
    themes: tuple[LearningTheme, ...] = Field(
        min_length=1, description="Home Office recommendation themes, without repeats.")
    tags: tuple[Tag, ...] = Field(description="Free tags: lower case, trimmed, without repeats.")
    learning_event_id: UUID | None = Field(
        default=None, description="The learning event it came from, if any.")
    draft_recommendation: ShortText | None = Field(
        default=None, description="The draft recommendation it supports (its number or id), "
        "if any.")


class LearningPointDisseminated(EventPayload):
    """A briefing on a learning point was issued to partners."""

    event_type: ClassVar[str] = "dhr.learning.LearningPointDisseminated.v1"

    review_id: UUID = Field(description="Id of the review.")
    learning_point_id: UUID = Field(description="Id of the learning point.")
    dissemination_id: UUID = Field(description="Id of this dissemination.")
    issued_on: date = Field(description="Date the briefing was issued.")
    partners: tuple[AgencyName, ...] = Field(
        min_length=1, description="Partner agencies the briefing went to.")
    channel: DisseminationChannel = Field(description="How it was issued.")


EVENTS: tuple[type[EventPayload], ...] = (
    LearningEventPlanned,
    LearningEventRescheduled,
    LearningEventCancelled,
    GroundRulesAcknowledged,
    LearningEventHeld,
    ContributionRecorded,
    LearningPointRecorded,
    LearningPointDisseminated,
)
