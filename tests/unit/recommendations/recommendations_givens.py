"""Builders for the recommendations decider tests: a recorded recommendation and its histories."""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID

from dhr_contracts.base import EventPayload
from dhr_recommendations.domain import decide, fold
from dhr_recommendations.model import (
    CheckDeadlines,
    ClaimImplementation,
    Command,
    RecordRecommendation,
    RecordResponse,
    VerifyImplementation,
)

REVIEW_ID = UUID("7a1c2e3d-4b5f-4a6e-8c7d-9e0f1a2b3c4d")
RECOMMENDATION_ID = UUID("00000000-0000-4000-8000-0000000000c1")
ISSUED_ON = date(2026, 3, 2)
POLICE = "norfolk-constabulary"
SMART_TEXT = ("Norfolk Constabulary to train all response officers in recognising coercive control "
              "by 31 March 2027, measured by an audit of 50 domestic abuse incident records.")


def record(**changes: Any) -> RecordRecommendation:
    fields: dict[str, Any] = {
        "recommendation_id": RECOMMENDATION_ID, "review_id": REVIEW_ID, "text": SMART_TEXT,
        "level": "local", "addressees": [{"name": "Norfolk Constabulary"}],
        "issued_on": ISSUED_ON, "csp_area": "Norfolk"}
    fields.update(changes)
    return RecordRecommendation.model_validate(fields)


def respond(status: str, addressee_id: str = POLICE, **changes: Any) -> RecordResponse:
    fields: dict[str, Any] = {"recommendation_id": RECOMMENDATION_ID, "addressee_id": addressee_id,
                              "status": status, "recorded_on": date(2026, 4, 1)}
    if status == "rejected":
        fields["reason"] = "Existing training covers it."
    fields.update(changes)
    return RecordResponse.model_validate(fields)


def claim(status: str, addressee_id: str = POLICE, **changes: Any) -> ClaimImplementation:
    fields: dict[str, Any] = {"recommendation_id": RECOMMENDATION_ID, "addressee_id": addressee_id,
                              "status": status, "claimed_on": date(2026, 6, 1),
                              "summary": "Training module delivered to two shifts."}
    fields.update(changes)
    return ClaimImplementation.model_validate(fields)


def verify(status: str, addressee_id: str = POLICE, **changes: Any) -> VerifyImplementation:
    fields: dict[str, Any] = {"recommendation_id": RECOMMENDATION_ID, "addressee_id": addressee_id,
                              "status": status, "verified_on": date(2027, 4, 15),
                              "verified_by": "CSP board", "note": "Audit of 50 records seen."}
    fields.update(changes)
    return VerifyImplementation.model_validate(fields)


def check(as_of: date) -> CheckDeadlines:
    return CheckDeadlines(recommendation_id=RECOMMENDATION_ID, as_of=as_of)


def when(command: Command, history: list[EventPayload]) -> list[EventPayload]:
    return decide(command, fold(history))


def then(history: list[EventPayload], *commands: Command) -> list[EventPayload]:
    """The history after each command in turn."""
    events = list(history)
    for command in commands:
        events += decide(command, fold(events))
    return events


def a_recorded_recommendation(**changes: Any) -> list[EventPayload]:
    return then([], record(**changes))
