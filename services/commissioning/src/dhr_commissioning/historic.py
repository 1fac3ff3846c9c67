"""A historic review as a decider: a review completed before this system, recorded once from a
historic dataset (the Domestic Homicide Review Dataset, DHRD) for national statistics.

Pure: no I/O and no clock. The stream is `historic-<review_id>` and the review id is derived from
the source and its reference (`historic_review_id`), so an import run twice names the same
streams. Recording the same content again decides nothing; recording different content for a
reference already recorded is a conflict, never a silent overwrite.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from dhr_commissioning.domain import DomainError
from dhr_contracts.base import EventPayload, ShortText
from dhr_contracts.commissioning import (
    CaseCharacteristics,
    HistoricPerpetrator,
    HistoricReviewRecorded,
    HistoricVictim,
)

STREAM_PREFIX = "historic-"

HISTORIC_REVIEW_NAMESPACE = uuid.UUID("6f0d7a4e-2c1b-4f3a-9e58-d1a7c0b4e2f9")
"""Fixed for ever: review ids of historic reviews are UUIDv5 names in this namespace."""


def historic_review_id(source: str, source_reference: str) -> uuid.UUID:
    """The review id of a source's record: the same record always gets the same id."""
    return uuid.uuid5(HISTORIC_REVIEW_NAMESPACE, f"{source}:{source_reference}")


def stream_id(review_id: uuid.UUID) -> str:
    return f"{STREAM_PREFIX}{review_id}"


# ---------------------------------------------------------------------------------------- errors


class InvalidHistoricReview(DomainError):
    """The record's own data breaks a rule (a month without a year, a person listed twice...)."""


class HistoricReviewConflict(DomainError):
    """The reference was already recorded with different content."""


class HistoricReviewNotFound(DomainError):
    """No historic review was recorded under this id."""


# -------------------------------------------------------------------------------------- commands


class RecordHistoricReview(BaseModel):
    """Record a historic review as the source describes it; unknown values stay null."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    review_id: uuid.UUID = Field(description="Id of the historic review (see historic_review_id).")
    source: Literal["dhrd"] = Field(description="The dataset the review comes from.")
    source_reference: ShortText = Field(description="The incident's id in the source.")
    csp: ShortText | None = Field(default=None, description="Community Safety Partnership.")
    region: ShortText | None = Field(default=None, description="Region of the CSP.")
    death_year: int | None = Field(default=None, ge=1900, le=2100, description="Year of death.")
    death_month: int | None = Field(default=None, ge=1, le=12, description="Month of death.")
    multiple_victims: bool | None = Field(default=None, description="More than one victim died.")
    cause_of_death: ShortText | None = Field(default=None, description="Cause of death.")
    location_of_death: ShortText | None = Field(default=None, description="Location of death.")
    characteristics: CaseCharacteristics = Field(
        default_factory=CaseCharacteristics, description="The tagged case characteristics.")
    victims: tuple[HistoricVictim, ...] = Field(default=(), max_length=50,
                                                description="The victims.")
    perpetrators: tuple[HistoricPerpetrator, ...] = Field(default=(), max_length=50,
                                                          description="The perpetrators.")
    imported_at: AwareDatetime = Field(description="When the record was imported.")


Command = RecordHistoricReview


class HistoricReviewState(BaseModel):
    """What was recorded, if anything."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    recorded: HistoricReviewRecorded | None = None


def initial_state() -> HistoricReviewState:
    return HistoricReviewState()


# -------------------------------------------------------------------------------------- decision

# The time of import is when it happened, not what the source says: a second import of the same
# content at another time is the same record.
_NOT_CONTENT = {"imported_at"}


def decide(command: Command, state: HistoricReviewState) -> list[EventPayload]:
    """Record the review once; the same content again is nothing new, other content a conflict."""
    _check(command)
    event = HistoricReviewRecorded(**command.model_dump())
    if state.recorded is None:
        return [event]
    if state.recorded.model_dump(exclude=_NOT_CONTENT) == event.model_dump(exclude=_NOT_CONTENT):
        return []
    changed = sorted(
        name for name in HistoricReviewRecorded.model_fields
        if name not in _NOT_CONTENT and getattr(state.recorded, name) != getattr(event, name)
    )
    raise HistoricReviewConflict(
        f"This {command.source} record was already recorded with different content "
        f"({', '.join(changed)}); a historic record is not overwritten.",
        field=changed[0] if changed else None,
    )


def evolve(state: HistoricReviewState, event: EventPayload) -> HistoricReviewState:
    if isinstance(event, HistoricReviewRecorded):
        return HistoricReviewState(recorded=event)
    return state


def fold(events: Iterable[EventPayload]) -> HistoricReviewState:
    state = initial_state()
    for event in events:
        state = evolve(state, event)
    return state


def _check(command: Command) -> None:
    expected = historic_review_id(command.source, command.source_reference)
    if command.review_id != expected:
        raise InvalidHistoricReview(
            f"The review id of this {command.source} record is {expected}.",
            field="review_id")
    if command.death_month is not None and command.death_year is None:
        raise InvalidHistoricReview("A month of death needs its year.", field="death_month")
    _require_unique((v.source_reference for v in command.victims), "victims")
    _require_unique((p.source_reference for p in command.perpetrators), "perpetrators")


def _require_unique(references: Iterable[str], field: str) -> None:
    seen: set[str] = set()
    for reference in references:
        if reference in seen:
            raise InvalidHistoricReview(f"A source reference is listed twice in {field}.",
                                        field=field)
        seen.add(reference)
