"""The learning of one review as a decider: learning events, contributions, learning points.

Pure: no I/O and no clock; every command carries its own date or time. One aggregate per review
(stream `learning-<review_id>`) holds its learning events, the agencies' contributions, its
learning points and their dissemination.

Blame-free by construction: an event is held only when every participating agency has itself
acknowledged the ground rules (the facilitator cannot acknowledge for them: the commitment is the
agency's own), and contributions are attributed to a participating agency, never to a person.
Whether the review is commissioned is known from the commissioning service's events, outside this
module; the HTTP layer checks it before any command reaches `decide`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from dhr_contracts.base import EventPayload
from dhr_contracts.errors import DomainError as DomainError  # re-exported: the domain's base
from dhr_contracts.learning import (
    ContributionRecorded,
    DisseminationChannel,
    GroundRulesAcknowledged,
    LearningEventCancelled,
    LearningEventFormat,
    LearningEventHeld,
    LearningEventPlanned,
    LearningEventRescheduled,
    LearningPointDisseminated,
    LearningPointRecorded,
    LearningTheme,
)

BLAME_FREE_GROUND_RULES = (
    "This is a learning event, not an inquiry into fault. We look at systems and practice, not "
    "at individuals. What is said is attributed to agencies, never to named staff, and is used "
    "only to learn and improve. Everyone may speak openly and will be listened to with respect."
)

# Bounds of what a caller may send in lists: an agency's name, a free tag.
AgencyName = Annotated[str, Field(max_length=200)]
Tag = Annotated[str, Field(max_length=100)]


# ---------------------------------------------------------------------------------------- errors


class InvalidCommand(DomainError):
    """The command's own data breaks a rule (blank text, dates out of order...)."""


class AttributionRefused(InvalidCommand):
    """An attribution that is not an agency: a person's name, a title, a role with a name."""


class ReviewNotKnown(DomainError):
    """The learning service has seen no notification or commissioning of this review."""


class ReviewNotCommissioned(DomainError):
    """The review is known but not (yet) commissioned."""


class LearningEventNotFound(DomainError):
    """No such learning event in this review."""


class LearningPointNotFound(DomainError):
    """No such learning point in this review."""


class LearningEventNotPlanned(DomainError):
    """The learning event was already held or cancelled."""


class LearningEventNotHeld(DomainError):
    """Contributions are recorded for a learning event that took place."""


class GroundRulesNotAcknowledged(DomainError):
    """A participating agency has not acknowledged the blame-free ground rules."""


# -------------------------------------------------------------------------------------- commands


class Command(BaseModel):
    """A request to change the learning of one review."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    review_id: UUID = Field(description="The review.")


class PlanLearningEvent(Command):
    """Plan a learning event; the invited agencies are asked to acknowledge the ground rules."""

    learning_event_id: UUID = Field(description="Minted by the server.")
    planned_on: date = Field(description="Date the event is planned for.")
    facilitator_name: str = Field(min_length=1, max_length=200,
                                  description="The person facilitating (personal data).")
    format: LearningEventFormat = Field(description="in_person, online or hybrid.")
    invited_agencies: tuple[AgencyName, ...] = Field(
        min_length=1, max_length=50, description="Agencies invited (names of agencies, not people).")


class RescheduleLearningEvent(Command):
    """Move a planned learning event to another date."""

    learning_event_id: UUID
    planned_on: date = Field(description="The new date.")
    reason: str = Field(min_length=1, max_length=10_000, description="Why it moves.")


class CancelLearningEvent(Command):
    """Cancel a planned learning event."""

    learning_event_id: UUID
    cancelled_on: date = Field(description="Date of the cancellation.")
    reason: str = Field(min_length=1, max_length=10_000, description="Why it is cancelled.")


class AcknowledgeGroundRules(Command):
    """Record that an agency acknowledged the event's blame-free ground rules."""

    learning_event_id: UUID
    agency: str = Field(min_length=1, max_length=200,
                        description="The agency acknowledging (an agency, never a person).")
    acknowledged_at: AwareDatetime = Field(description="Set by the server.")


class HoldLearningEvent(Command):
    """Record that the learning event took place, and which agencies took part."""

    learning_event_id: UUID
    held_on: date = Field(description="Date it took place.")
    participating_agencies: tuple[AgencyName, ...] = Field(
        min_length=1, max_length=50, description="Agencies that took part; each must have "
        "acknowledged the ground rules.")


class RecordContribution(Command):
    """Record what an agency contributed at a held learning event."""

    learning_event_id: UUID
    contribution_id: UUID = Field(description="Minted by the server.")
    agency: str = Field(min_length=1, max_length=200,
                        description="The participating agency it is attributed to (never a person).")
    contributed_on: date = Field(description="Date of the contribution.")
    text: str = Field(min_length=1, max_length=10_000,
                      description="What the agency said or submitted (free text).")


class RecordLearningPoint(Command):
    """Record a learning point of the review, with its themes and tags."""

    learning_point_id: UUID = Field(description="Minted by the server.")
    recorded_on: date = Field(description="Date it is recorded; cross-review queries filter on it.")
    summary: str = Field(min_length=1, max_length=10_000, description="The learning.")
    themes: tuple[LearningTheme, ...] = Field(
        min_length=1, max_length=8, description="Home Office recommendation themes.")
    tags: tuple[Tag, ...] = Field(default=(), max_length=30,
                                  description="Free tags (stored lower case, trimmed, unique).")
    learning_event_id: UUID | None = Field(default=None,
                                           description="The learning event it came from.")
    draft_recommendation: str | None = Field(
        default=None, max_length=200,
        description="The draft recommendation it supports: its number or id.")


class DisseminateLearningPoint(Command):
    """Record that a briefing on a learning point was issued to partners."""

    learning_point_id: UUID
    dissemination_id: UUID = Field(description="Minted by the server.")
    issued_on: date = Field(description="Date the briefing was issued.")
    partners: tuple[AgencyName, ...] = Field(min_length=1, max_length=100,
                                             description="Partner agencies it went to.")
    channel: DisseminationChannel = Field(description="How it was issued.")


# ----------------------------------------------------------------------------------------- state


class LearningEventStatus(StrEnum):
    """Where a learning event stands."""

    PLANNED = "planned"
    HELD = "held"
    CANCELLED = "cancelled"


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Acknowledgement(_Record):
    """An agency's acknowledgement of the ground rules."""

    agency: str
    acknowledged_at: datetime


class Contribution(_Record):
    """One agency's contribution."""

    contribution_id: UUID
    agency: str
    contributed_on: date
    text: str


class LearningEvent(_Record):
    """One learning event and what happened at it."""

    learning_event_id: UUID
    status: LearningEventStatus
    planned_on: date
    facilitator_name: str
    format: LearningEventFormat
    invited_agencies: tuple[str, ...]
    ground_rules: str
    acknowledgements: tuple[Acknowledgement, ...] = ()
    held_on: date | None = None
    participating_agencies: tuple[str, ...] = ()
    cancelled_on: date | None = None
    contributions: tuple[Contribution, ...] = ()


class Dissemination(_Record):
    """A briefing issued on a learning point."""

    dissemination_id: UUID
    issued_on: date
    partners: tuple[str, ...]
    channel: DisseminationChannel


class LearningPoint(_Record):
    """One learning point."""

    learning_point_id: UUID
    recorded_on: date
    summary: str
    themes: tuple[LearningTheme, ...]
    tags: tuple[str, ...]
    learning_event_id: UUID | None = None
    draft_recommendation: str | None = None
    disseminations: tuple[Dissemination, ...] = ()


class LearningState(_Record):
    """The learning of one review."""

    review_id: UUID | None = None
    learning_events: tuple[LearningEvent, ...] = ()
    learning_points: tuple[LearningPoint, ...] = ()

    def learning_event(self, learning_event_id: UUID) -> LearningEvent | None:
        return next((e for e in self.learning_events if e.learning_event_id == learning_event_id),
                    None)

    def learning_point(self, learning_point_id: UUID) -> LearningPoint | None:
        return next((p for p in self.learning_points if p.learning_point_id == learning_point_id),
                    None)


def initial_state() -> LearningState:
    """The learning of a review nothing was recorded for yet."""
    return LearningState()


# ------------------------------------------------------------------------------ attribution check

_TITLES = {"mr", "mrs", "ms", "miss", "mx", "dr", "prof", "professor", "sir", "dame", "rev",
           "revd", "reverend"}
_ROLES = {"dc", "ds", "di", "dci", "dcs", "dsi", "pc", "pcso", "sgt", "sergeant", "inspector",
          "constable", "detective", "officer", "nurse", "doctor", "gp", "midwife", "visitor",
          "worker", "caseworker", "keyworker", "manager", "idva", "isva", "advocate", "therapist",
          "counsellor", "practitioner", "clinician", "consultant", "teacher", "headteacher",
          "psychiatrist", "psychologist", "paramedic", "supervisor", "coordinator", "lead"}
# Words that make a run of capitalised words an organisation rather than a person.
_ORGANISATION_WORDS = {
    "police", "constabulary", "council", "borough", "county", "city", "district", "service",
    "nhs", "trust", "health", "hospital", "surgery", "practice", "probation", "prison", "court",
    "housing", "care", "social", "children", "adult", "education", "school", "college",
    "university", "ambulance", "fire", "rescue", "aid", "refuge", "support", "advice",
    "partnership", "team", "unit", "authority", "board", "centre", "center", "foundation",
    "association", "society", "charity", "agency", "department", "office", "group", "network",
    "project", "commission", "clinic", "ccg", "icb", "mental", "safeguarding", "community",
    "home", "victim", "women", "men", "family", "youth", "justice", "ministry", "government",
    "helpline", "integrated", "primary", "acute", "commissioning", "shelter", "alliance",
    "institute", "organisation", "organization", "company", "ltd", "limited", "cic", "plc",
    "directorate", "sector", "services", "partners", "hub", "recovery", "drug", "alcohol",
    "substance", "domestic", "abuse", "violence", "crown", "prosecution", "national", "local",
}
_TOKEN = re.compile(r"[^\W_][\w'’.\-]*")
_NAME_SHAPED = re.compile(r"^[A-Z][a-z]*(?:['’\-]?[A-Z]?[a-z]+)*$")


def _word(token: str) -> str:
    """A token lower-cased, without dots and possessive or plural endings."""
    word = token.lower().replace(".", "").replace("’", "'")
    word = word.removesuffix("'s").removesuffix("'")
    if word not in _ORGANISATION_WORDS and word.endswith("s") and word[:-1] in _ORGANISATION_WORDS:
        return word[:-1]
    return word


def _looks_like_a_name(token: str) -> bool:
    word = _word(token)
    return (bool(_NAME_SHAPED.match(token.rstrip(".")))
            and word not in _ORGANISATION_WORDS and word not in _ROLES and word not in _TITLES)


def why_not_an_agency(value: str) -> str | None:
    """Why `value` looks like a person rather than an agency, or None when nothing suggests it.

    A heuristic, tuned to refuse the usual ways a person slips into an attribution (a title,
    "Firstname Lastname", a rank or role with a name, an email address) while letting agency
    names through ("Greater Manchester Police", "Women's Aid"). It cannot know every name: the
    check that an attribution is one of the event's participating agencies backs it up.
    """
    if "@" in value:
        return "it looks like an email address"
    tokens = _TOKEN.findall(value)
    words = [_word(token) for token in tokens]
    if any(word in _TITLES for word in words):
        return "it contains a personal title (such as Mr, Mrs, Ms or Dr)"
    for index, word in enumerate(words[:-1]):
        following = tokens[index + 1]
        if word in _ROLES and (following.isdigit() or _looks_like_a_name(following)):
            return "it looks like a role or rank with a person's name or number"
    leading = 0
    while leading < len(tokens) and _looks_like_a_name(tokens[leading]):
        leading += 1
    if 2 <= leading <= 4 and leading == len(tokens):
        return "it looks like a person's first and last name"
    if leading >= 2 and any(word in _ROLES for word in words[leading:]):
        return "it looks like a person's name with their role"
    return None


def check_agency(value: str, field: str) -> str:
    """`value` trimmed, or `AttributionRefused` naming the field when it looks like a person."""
    agency = " ".join(value.split())
    if not agency:
        raise InvalidCommand(f"{field}: name the agency.", field)
    if len(agency) > 200:
        raise InvalidCommand(f"{field}: an agency's name is at most 200 characters.", field)
    reason = why_not_an_agency(agency)
    if reason is not None:
        # The value itself is not repeated: it may be a person's name.
        raise AttributionRefused(
            f"{field} must name an agency, never a person: {reason}. Learning events are "
            "blame-free, so attribute to the agency (for example 'Northshire Police').", field)
    return agency


def _check_agencies(values: Iterable[str], field: str) -> tuple[str, ...]:
    """Each agency checked and trimmed, repeats (ignoring case) dropped, order kept."""
    agencies: list[str] = []
    for index, value in enumerate(values):
        agency = check_agency(value, f"{field}[{index}]")
        if not any(_same_agency(agency, kept) for kept in agencies):
            agencies.append(agency)
    return tuple(agencies)


def _same_agency(first: str, second: str) -> bool:
    return first.casefold() == second.casefold()


def normalise_tags(tags: Iterable[str]) -> tuple[str, ...]:
    """Tags lower case, trimmed (inner spaces collapsed), blanks and repeats dropped, order kept."""
    normalised: list[str] = []
    for tag in tags:
        cleaned = " ".join(tag.split()).lower()
        if cleaned and cleaned not in normalised:
            normalised.append(cleaned)
    return tuple(normalised)


# -------------------------------------------------------------------------------------- deciders


def decide_plan_learning_event(
    command: PlanLearningEvent, state: LearningState
) -> list[EventPayload]:
    """Plan a learning event with the blame-free ground rules."""
    if state.learning_event(command.learning_event_id) is not None:
        raise InvalidCommand(f"Learning event {command.learning_event_id} already exists.",
                             "learning_event_id")
    facilitator = _required_text(command.facilitator_name, "facilitator_name",
                                 "Name the facilitator.")
    return [LearningEventPlanned(
        review_id=command.review_id, learning_event_id=command.learning_event_id,
        planned_on=command.planned_on, facilitator_name=facilitator, format=command.format,
        invited_agencies=_check_agencies(command.invited_agencies, "invited_agencies"),
        ground_rules=BLAME_FREE_GROUND_RULES)]


def decide_reschedule_learning_event(
    command: RescheduleLearningEvent, state: LearningState
) -> list[EventPayload]:
    """Move a planned learning event; the same date again changes nothing."""
    event = _require_planned(command.learning_event_id, state)
    reason = _required_text(command.reason, "reason", "Say why the learning event moves.")
    if command.planned_on == event.planned_on:
        return []
    return [LearningEventRescheduled(
        review_id=command.review_id, learning_event_id=event.learning_event_id,
        previously_planned_on=event.planned_on, planned_on=command.planned_on, reason=reason)]


def decide_cancel_learning_event(
    command: CancelLearningEvent, state: LearningState
) -> list[EventPayload]:
    """Cancel a learning event that has not taken place."""
    event = _require_planned(command.learning_event_id, state)
    reason = _required_text(command.reason, "reason", "Say why the learning event is cancelled.")
    return [LearningEventCancelled(
        review_id=command.review_id, learning_event_id=event.learning_event_id,
        cancelled_on=command.cancelled_on, reason=reason)]


def decide_acknowledge_ground_rules(
    command: AcknowledgeGroundRules, state: LearningState
) -> list[EventPayload]:
    """Record an agency's acknowledgement once; acknowledging again changes nothing."""
    event = _require_planned(command.learning_event_id, state)
    agency = check_agency(command.agency, "agency")
    if any(_same_agency(agency, ack.agency) for ack in event.acknowledgements):
        return []
    return [GroundRulesAcknowledged(
        review_id=command.review_id, learning_event_id=event.learning_event_id, agency=agency,
        acknowledged_at=command.acknowledged_at)]


def decide_hold_learning_event(
    command: HoldLearningEvent, state: LearningState
) -> list[EventPayload]:
    """Record the event as held, only when every participating agency acknowledged the rules."""
    event = _require_planned(command.learning_event_id, state)
    agencies = _check_agencies(command.participating_agencies, "participating_agencies")
    missing = [agency for agency in agencies
               if not any(_same_agency(agency, ack.agency) for ack in event.acknowledgements)]
    if missing:
        raise GroundRulesNotAcknowledged(
            f"The learning event cannot be held: {', '.join(missing)} "
            f"{'has' if len(missing) == 1 else 'have'} not acknowledged the blame-free ground "
            "rules. Every participating agency acknowledges them first.",
            "participating_agencies")
    # Spelled as acknowledged, so that attributions match one way of writing each agency.
    spelled = tuple(next(ack.agency for ack in event.acknowledgements
                         if _same_agency(agency, ack.agency)) for agency in agencies)
    return [LearningEventHeld(
        review_id=command.review_id, learning_event_id=event.learning_event_id,
        held_on=command.held_on, participating_agencies=spelled)]


def decide_record_contribution(
    command: RecordContribution, state: LearningState
) -> list[EventPayload]:
    """Record a contribution attributed to one of the event's participating agencies."""
    event = _require_event(command.learning_event_id, state)
    if event.status is not LearningEventStatus.HELD or event.held_on is None:
        raise LearningEventNotHeld(
            f"The learning event is {event.status}: contributions are recorded for a learning "
            "event that took place.")
    agency = check_agency(command.agency, "agency")
    attributed = next((p for p in event.participating_agencies if _same_agency(p, agency)), None)
    if attributed is None:
        raise AttributionRefused(
            "agency must be one of the learning event's participating agencies: "
            f"{', '.join(event.participating_agencies)}.", "agency")
    if command.contributed_on < event.held_on:
        raise InvalidCommand(f"contributed_on ({command.contributed_on}) is before the learning "
                             f"event was held ({event.held_on}).", "contributed_on")
    if any(c.contribution_id == command.contribution_id for c in event.contributions):
        raise InvalidCommand(f"Contribution {command.contribution_id} already exists.",
                             "contribution_id")
    text = _required_text(command.text, "text", "Give the contribution's text.")
    return [ContributionRecorded(
        review_id=command.review_id, learning_event_id=event.learning_event_id,
        contribution_id=command.contribution_id, agency=attributed,
        contributed_on=command.contributed_on, text=text)]


def decide_record_learning_point(
    command: RecordLearningPoint, state: LearningState
) -> list[EventPayload]:
    """Record a learning point with its themes, tags and links."""
    if state.learning_point(command.learning_point_id) is not None:
        raise InvalidCommand(f"Learning point {command.learning_point_id} already exists.",
                             "learning_point_id")
    summary = _required_text(command.summary, "summary", "Describe the learning.")
    if command.learning_event_id is not None:
        event = state.learning_event(command.learning_event_id)
        if event is None or event.status is not LearningEventStatus.HELD:
            raise InvalidCommand(
                f"learning_event_id names no learning event held in this review "
                f"({command.learning_event_id}).", "learning_event_id")
    # Checked once normalised: lower case can be longer than upper case ("İ" is two characters).
    tags = normalise_tags(command.tags)
    if any(len(tag) > 60 for tag in tags):
        raise InvalidCommand("Each tag is at most 60 characters.", "tags")
    return [LearningPointRecorded(
        review_id=command.review_id, learning_point_id=command.learning_point_id,
        recorded_on=command.recorded_on, summary=summary,
        themes=tuple(dict.fromkeys(command.themes)), tags=tags,
        learning_event_id=command.learning_event_id,
        draft_recommendation=_optional_text(command.draft_recommendation))]


def decide_disseminate_learning_point(
    command: DisseminateLearningPoint, state: LearningState
) -> list[EventPayload]:
    """Record a briefing issued to partners on a learning point."""
    point = state.learning_point(command.learning_point_id)
    if point is None:
        raise LearningPointNotFound(
            f"No learning point {command.learning_point_id} in this review.", "learning_point_id")
    if any(d.dissemination_id == command.dissemination_id for d in point.disseminations):
        raise InvalidCommand(f"Dissemination {command.dissemination_id} already exists.",
                             "dissemination_id")
    if command.issued_on < point.recorded_on:
        raise InvalidCommand(f"issued_on ({command.issued_on}) is before the learning point was "
                             f"recorded ({point.recorded_on}).", "issued_on")
    return [LearningPointDisseminated(
        review_id=command.review_id, learning_point_id=point.learning_point_id,
        dissemination_id=command.dissemination_id, issued_on=command.issued_on,
        partners=_check_agencies(command.partners, "partners"), channel=command.channel)]


def decide(command: Command, state: LearningState) -> list[EventPayload]:
    """The events a command produces against the current state, or a `DomainError`."""
    match command:
        case PlanLearningEvent():
            return decide_plan_learning_event(command, state)
        case RescheduleLearningEvent():
            return decide_reschedule_learning_event(command, state)
        case CancelLearningEvent():
            return decide_cancel_learning_event(command, state)
        case AcknowledgeGroundRules():
            return decide_acknowledge_ground_rules(command, state)
        case HoldLearningEvent():
            return decide_hold_learning_event(command, state)
        case RecordContribution():
            return decide_record_contribution(command, state)
        case RecordLearningPoint():
            return decide_record_learning_point(command, state)
        case DisseminateLearningPoint():
            return decide_disseminate_learning_point(command, state)
    raise TypeError(f"Not a learning command: {type(command).__name__}")


# --------------------------------------------------------------------------------------- evolve


def evolve(state: LearningState, event: EventPayload) -> LearningState:
    """The state after one event. Total over the learning events; never refuses a fact."""
    state = state.model_copy(update={"review_id": getattr(event, "review_id", state.review_id)})
    match event:
        case LearningEventPlanned():
            planned = LearningEvent(
                learning_event_id=event.learning_event_id, status=LearningEventStatus.PLANNED,
                planned_on=event.planned_on, facilitator_name=event.facilitator_name,
                format=event.format, invited_agencies=event.invited_agencies,
                ground_rules=event.ground_rules)
            return state.model_copy(update={"learning_events": (*state.learning_events, planned)})
        case LearningEventRescheduled():
            return _update_event(state, event.learning_event_id, planned_on=event.planned_on)
        case LearningEventCancelled():
            return _update_event(state, event.learning_event_id,
                                 status=LearningEventStatus.CANCELLED,
                                 cancelled_on=event.cancelled_on)
        case GroundRulesAcknowledged():
            found = _event(state, event.learning_event_id)
            ack = Acknowledgement(agency=event.agency, acknowledged_at=event.acknowledged_at)
            return _update_event(state, event.learning_event_id,
                                 acknowledgements=(*found.acknowledgements, ack))
        case LearningEventHeld():
            return _update_event(state, event.learning_event_id, status=LearningEventStatus.HELD,
                                 held_on=event.held_on,
                                 participating_agencies=event.participating_agencies)
        case ContributionRecorded():
            found = _event(state, event.learning_event_id)
            contribution = Contribution(contribution_id=event.contribution_id, agency=event.agency,
                                        contributed_on=event.contributed_on, text=event.text)
            return _update_event(state, event.learning_event_id,
                                 contributions=(*found.contributions, contribution))
        case LearningPointRecorded():
            point = LearningPoint(
                learning_point_id=event.learning_point_id, recorded_on=event.recorded_on,
                summary=event.summary, themes=event.themes, tags=event.tags,
                learning_event_id=event.learning_event_id,
                draft_recommendation=event.draft_recommendation)
            return state.model_copy(update={"learning_points": (*state.learning_points, point)})
        case LearningPointDisseminated():
            dissemination = Dissemination(dissemination_id=event.dissemination_id,
                                          issued_on=event.issued_on, partners=event.partners,
                                          channel=event.channel)
            points = tuple(
                p.model_copy(update={"disseminations": (*p.disseminations, dissemination)})
                if p.learning_point_id == event.learning_point_id else p
                for p in state.learning_points)
            return state.model_copy(update={"learning_points": points})
    raise TypeError(f"Not a learning event: {type(event).__name__}")


def fold(events: Iterable[EventPayload]) -> LearningState:
    """The learning of a review rebuilt from its events, oldest first."""
    state = initial_state()
    for event in events:
        state = evolve(state, event)
    return state


# --------------------------------------------------------------------------------------- helpers


def _event(state: LearningState, learning_event_id: UUID) -> LearningEvent:
    found = state.learning_event(learning_event_id)
    assert found is not None  # events refer to learning events planned before them
    return found


def _update_event(state: LearningState, learning_event_id: UUID, **changes: object
                  ) -> LearningState:
    events = tuple(e.model_copy(update=changes) if e.learning_event_id == learning_event_id else e
                   for e in state.learning_events)
    return state.model_copy(update={"learning_events": events})


def _require_event(learning_event_id: UUID, state: LearningState) -> LearningEvent:
    event = state.learning_event(learning_event_id)
    if event is None:
        raise LearningEventNotFound(f"No learning event {learning_event_id} in this review.",
                                    "learning_event_id")
    return event


def _require_planned(learning_event_id: UUID, state: LearningState) -> LearningEvent:
    event = _require_event(learning_event_id, state)
    if event.status is not LearningEventStatus.PLANNED:
        raise LearningEventNotPlanned(
            f"The learning event is already {event.status}: it can no longer change.")
    return event


def _required_text(value: str, field: str, message: str) -> str:
    text = value.strip()
    if not text:
        raise InvalidCommand(message, field)
    return text


def _optional_text(value: str | None) -> str | None:
    text = value.strip() if value is not None else ""
    return text or None
