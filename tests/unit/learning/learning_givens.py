"""Builders for the learning decider tests: a typical review's learning and its histories."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID

from dhr_contracts.base import EventPayload
from dhr_learning.domain import (
    AcknowledgeGroundRules,
    Command,
    DisseminateLearningPoint,
    HoldLearningEvent,
    PlanLearningEvent,
    RecordContribution,
    RecordLearningPoint,
    decide,
    fold,
)

REVIEW_ID = UUID("7a1c2b3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d")
EVENT_ID = UUID("11111111-2222-4333-8444-555555555555")
POINT_ID = UUID("22222222-3333-4444-8555-666666666666")
CONTRIBUTION_ID = UUID("33333333-4444-4555-8666-777777777777")
DISSEMINATION_ID = UUID("44444444-5555-4666-8777-888888888888")
PLANNED_ON = date(2026, 5, 12)
HELD_ON = date(2026, 5, 12)
ACKNOWLEDGED_AT = datetime(2026, 5, 1, 10, 0, tzinfo=UTC)
POLICE = "Northshire Police"
HEALTH = "Northshire NHS Trust"
REFUGE = "Northshire Women's Aid"


def plan_learning_event(**changes: Any) -> PlanLearningEvent:
    fields: dict[str, Any] = {"review_id": REVIEW_ID, "learning_event_id": EVENT_ID,
                              "planned_on": PLANNED_ON, "facilitator_name": "Sam Facilitator",
                              "format": "in_person", "invited_agencies": (POLICE, HEALTH, REFUGE)}
    fields.update(changes)
    return PlanLearningEvent.model_validate(fields)


def acknowledge(agency: str, **changes: Any) -> AcknowledgeGroundRules:
    fields: dict[str, Any] = {"review_id": REVIEW_ID, "learning_event_id": EVENT_ID,
                              "agency": agency, "acknowledged_at": ACKNOWLEDGED_AT}
    fields.update(changes)
    return AcknowledgeGroundRules.model_validate(fields)


def hold(*agencies: str, **changes: Any) -> HoldLearningEvent:
    fields: dict[str, Any] = {"review_id": REVIEW_ID, "learning_event_id": EVENT_ID,
                              "held_on": HELD_ON, "participating_agencies": agencies or (POLICE,
                                                                                         HEALTH)}
    fields.update(changes)
    return HoldLearningEvent.model_validate(fields)


def contribute(agency: str = POLICE, **changes: Any) -> RecordContribution:
    fields: dict[str, Any] = {"review_id": REVIEW_ID, "learning_event_id": EVENT_ID,
                              "contribution_id": CONTRIBUTION_ID, "agency": agency,
                              "contributed_on": HELD_ON,
                              "text": "Risk assessments were not shared with health partners."}
    fields.update(changes)
    return RecordContribution.model_validate(fields)


def record_learning_point(**changes: Any) -> RecordLearningPoint:
    fields: dict[str, Any] = {"review_id": REVIEW_ID, "learning_point_id": POINT_ID,
                              "recorded_on": date(2026, 5, 20),
                              "summary": "Risk information must reach GPs within a day.",
                              "themes": ("identification_of_risk", "multi_agency_working")}
    fields.update(changes)
    return RecordLearningPoint.model_validate(fields)


def disseminate(**changes: Any) -> DisseminateLearningPoint:
    fields: dict[str, Any] = {"review_id": REVIEW_ID, "learning_point_id": POINT_ID,
                              "dissemination_id": DISSEMINATION_ID, "issued_on": date(2026, 6, 1),
                              "partners": (POLICE, HEALTH), "channel": "briefing_session"}
    fields.update(changes)
    return DisseminateLearningPoint.model_validate(fields)


def when(command: Command, given: list[EventPayload]) -> list[EventPayload]:
    """The events `command` produces against the history `given`."""
    return decide(command, fold(given))


def then(given: list[EventPayload], *commands: Command) -> list[EventPayload]:
    """The history after running `commands` one after another on `given`."""
    history = list(given)
    for command in commands:
        history += when(command, history)
    return history


def a_planned_event() -> list[EventPayload]:
    return then([], plan_learning_event())


def an_event_acknowledged_by(*agencies: str) -> list[EventPayload]:
    return then(a_planned_event(), *(acknowledge(agency) for agency in agencies))


def a_held_event() -> list[EventPayload]:
    return then(an_event_acknowledged_by(POLICE, HEALTH), hold(POLICE, HEALTH))


def a_recorded_point() -> list[EventPayload]:
    return then([], record_learning_point())
