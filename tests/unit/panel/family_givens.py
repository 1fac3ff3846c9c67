"""Builders for the family decider tests: a review's family, its people and what happens to them."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID

from dhr_contracts.base import EventPayload
from dhr_panel.family import (
    AcceptAdvocacy,
    Command,
    ConsultOnTermsOfReference,
    DeclineAdvocacy,
    OfferAdvocacy,
    OfferSupportAfterCompletion,
    RecordApproach,
    RecordChildVoice,
    RecordConsent,
    RecordContribution,
    RecordFamilyMember,
    RecordPanelMeetingAttendance,
    ShareDraftReport,
    decide,
    fold,
)

REVIEW_ID = UUID("6f1c2a2e-1d0b-4f7a-9a57-2f1c1a0b7d11")
MOTHER = UUID("9a3e5b7c-2d4f-4e6a-8b1c-3d5e7f9a1b2c")
FRIEND = UUID("1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f")
STRANGER = UUID("00000000-0000-4000-8000-000000000000")
RECORDED_AT = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def _build(model: type[Command], defaults: dict[str, Any], changes: dict[str, Any]) -> Any:
    fields: dict[str, Any] = {"review_id": REVIEW_ID, "recorded_at": RECORDED_AT, **defaults}
    fields.update(changes)
    return model.model_validate(fields)


def record_member(**changes: Any) -> RecordFamilyMember:
    return _build(RecordFamilyMember, {
        "person_id": MOTHER, "recorded_on": date(2026, 4, 2), "name": "Mary Example",
        "relationship": "parent", "contact_details": "1 High Street, Norwich"}, changes)


def approach(outcome: str = "agreed", on: date = date(2026, 4, 5), **changes: Any) -> RecordApproach:
    return _build(RecordApproach, {"person_id": MOTHER, "approached_on": on,
                                   "channel": "via_family_liaison_officer", "outcome": outcome},
                  changes)


def contribution(on: date = date(2026, 7, 15), **changes: Any) -> RecordContribution:
    return _build(RecordContribution, {"person_id": MOTHER, "contributed_on": on,
                                       "kind": "interview",
                                       "summary": "Described the victim's isolation."}, changes)


def offer_advocacy(on: date = date(2026, 4, 5), **changes: Any) -> OfferAdvocacy:
    return _build(OfferAdvocacy, {"person_id": MOTHER, "offered_on": on,
                                  "provider_name": "AAFDA"}, changes)


def accept_advocacy(offer_number: int = 1, on: date = date(2026, 4, 10)) -> AcceptAdvocacy:
    return _build(AcceptAdvocacy, {"offer_number": offer_number, "accepted_on": on}, {})


def decline_advocacy(offer_number: int = 1, on: date = date(2026, 4, 10)) -> DeclineAdvocacy:
    return _build(DeclineAdvocacy, {"offer_number": offer_number, "declined_on": on}, {})


def record_consent(**changes: Any) -> RecordConsent:
    return _build(RecordConsent, {"person_id": MOTHER, "recorded_on": date(2026, 7, 1),
                                  "consents_to_involvement": True}, changes)


def child_voice(**changes: Any) -> RecordChildVoice:
    return _build(RecordChildVoice, {"recorded_on": date(2026, 8, 1), "route": "direct",
                                     "child_details": "Son, aged 12"}, changes)


def share_draft(version: int = 1, on: date = date(2026, 11, 2)) -> ShareDraftReport:
    return _build(ShareDraftReport, {"shared_on": on, "report_version": version}, {})


def consult_on_terms(version: int = 1, on: date = date(2026, 4, 20)) -> ConsultOnTermsOfReference:
    return _build(ConsultOnTermsOfReference,
                  {"consulted_on": on, "terms_of_reference_version": version}, {})


def attend_panel(on: date = date(2026, 9, 14), reference: str = "PM-3") -> RecordPanelMeetingAttendance:
    return _build(RecordPanelMeetingAttendance,
                  {"attended_on": on, "meeting_reference": reference}, {})


def offer_support(on: date = date(2026, 11, 20), by: str = "AAFDA") -> OfferSupportAfterCompletion:
    return _build(OfferSupportAfterCompletion, {"offered_on": on, "offered_by": by}, {})


def when(command: Command, given: list[EventPayload]) -> list[EventPayload]:
    """The events `command` produces against the history `given`."""
    return decide(command, fold(given))


def then(given: list[EventPayload], *commands: Command) -> list[EventPayload]:
    """The history after running `commands` one after another on `given`."""
    history = list(given)
    for command in commands:
        history += when(command, history)
    return history


def a_family() -> list[EventPayload]:
    """A review whose family record holds the victim's mother, not yet approached."""
    return then([], record_member())


def a_family_that_agreed() -> list[EventPayload]:
    return then(a_family(), approach("agreed"))


def a_family_that_declined() -> list[EventPayload]:
    return then(a_family(), approach("declined"))
