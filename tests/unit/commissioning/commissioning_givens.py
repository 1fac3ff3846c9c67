"""Builders for the commissioning decider tests: a typical case, and the histories it goes through."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID

from dhr_commissioning.domain import (
    AppointChair,
    Command,
    DecideNotToCommission,
    DecideToCommission,
    PublishReport,
    ReceiveNotification,
    RecordQualityAssuranceOutcome,
    RecordReportAgreed,
    RecordReportDelivery,
    SignOffReport,
    SubmitToHomeOffice,
    decide,
    fold,
)
from dhr_contracts.base import EventPayload
from dhr_contracts.commissioning import ChairIndependenceDeclaration

REVIEW_ID = UUID("5f0c1a4e-2b7d-4c1e-9a53-0d2f6b8e7c11")
RECEIVED_AT = datetime(2025, 3, 10, 9, 30, tzinfo=UTC)
CSP_LEARNED_ON = date(2025, 3, 3)
DECIDED_ON = date(2025, 3, 20)


def receive_notification(**changes: Any) -> ReceiveNotification:
    """A notification that passes the statutory test with no grey area, unless changed."""
    fields: dict[str, Any] = {
        "review_id": REVIEW_ID,
        "received_at": RECEIVED_AT,
        "notifying_agency": "Northshire Police",
        "date_of_death": date(2025, 3, 1),
        "csp_learned_on": CSP_LEARNED_ON,
        "csp_area": "Northtown",
        "victim_age": 34,
        "suspect_relationship": "former_intimate_partner",
        "circumstances": "homicide",
        "prior_agency_contact": "yes",
        "victim_name": "Jane Example",
        "suspect_name": "John Example",
    }
    fields.update(changes)
    return ReceiveNotification.model_validate(fields)


def decide_to_commission(**changes: Any) -> DecideToCommission:
    fields: dict[str, Any] = {"review_id": REVIEW_ID, "decided_on": DECIDED_ON,
                              "rationale": "Statutory criteria met; agencies were involved."}
    fields.update(changes)
    return DecideToCommission.model_validate(fields)


def decide_not_to_commission(**changes: Any) -> DecideNotToCommission:
    fields: dict[str, Any] = {"review_id": REVIEW_ID, "decided_on": DECIDED_ON,
                              "rationale": "The suspect was a stranger to the victim.",
                              "reasons": ("relationship_outside_statutory_test",)}
    fields.update(changes)
    return DecideNotToCommission.model_validate(fields)


def independent_declaration(**changes: Any) -> ChairIndependenceDeclaration:
    fields: dict[str, Any] = {"line_management_of_involved_agency": False,
                              "service_delivery_for_involved_agency": False}
    fields.update(changes)
    return ChairIndependenceDeclaration.model_validate(fields)


def appoint_chair(**changes: Any) -> AppointChair:
    fields: dict[str, Any] = {"review_id": REVIEW_ID, "appointed_on": date(2025, 4, 1),
                              "chair_name": "Alex Chair", "declaration": independent_declaration()}
    fields.update(changes)
    return AppointChair.model_validate(fields)


def when(command: Command, given: list[EventPayload]) -> list[EventPayload]:
    """The events `command` produces against the history `given`."""
    return decide(command, fold(given))


def then(given: list[EventPayload], *commands: Command) -> list[EventPayload]:
    """The history after running `commands` one after another on `given`."""
    history = list(given)
    for command in commands:
        history += when(command, history)
    return history


def a_notified_review(**changes: Any) -> list[EventPayload]:
    return then([], receive_notification(**changes))


def a_commissioned_review(**changes: Any) -> list[EventPayload]:
    return then(a_notified_review(), decide_to_commission(**changes))


def a_review_not_commissioned() -> list[EventPayload]:
    return then(a_notified_review(), decide_not_to_commission())


# ------------------------------------------------------------ from agreed report to publication

AGREED_ON = date(2025, 8, 1)
CHECKSUM = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"


def record_report_agreed(**changes: Any) -> RecordReportAgreed:
    fields: dict[str, Any] = {"review_id": REVIEW_ID, "agreed_on": AGREED_ON,
                              "report_version": 3, "recommendation_count": 7}
    fields.update(changes)
    return RecordReportAgreed.model_validate(fields)


def sign_off_report(**changes: Any) -> SignOffReport:
    fields: dict[str, Any] = {"review_id": REVIEW_ID, "signed_off_on": date(2025, 8, 5),
                              "signed_off_by": "CSP chair, Northtown"}
    fields.update(changes)
    return SignOffReport.model_validate(fields)


def submit_to_home_office(**changes: Any) -> SubmitToHomeOffice:
    fields: dict[str, Any] = {"review_id": REVIEW_ID, "submitted_on": date(2025, 8, 10)}
    fields.update(changes)
    return SubmitToHomeOffice.model_validate(fields)


def record_outcome(**changes: Any) -> RecordQualityAssuranceOutcome:
    """Changes required, with two areas for development, on the first submission."""
    fields: dict[str, Any] = {"review_id": REVIEW_ID, "submission_number": 1,
                              "decided_on": date(2025, 9, 1), "outcome": "changes_required",
                              "areas_for_development": ("Action plan lacks dates",
                                                        "Family voice under-represented")}
    fields.update(changes)
    return RecordQualityAssuranceOutcome.model_validate(fields)


def approve(**changes: Any) -> RecordQualityAssuranceOutcome:
    fields: dict[str, Any] = {"outcome": "approved_for_publication", "areas_for_development": ()}
    fields.update(changes)
    return record_outcome(**fields)


def publish_report(**changes: Any) -> PublishReport:
    fields: dict[str, Any] = {"review_id": REVIEW_ID, "published_on": date(2025, 10, 1),
                              "anonymised": True,
                              "location": "https://northtown.example/dhr/2025-01"}
    fields.update(changes)
    return PublishReport.model_validate(fields)


def deliver_report(**changes: Any) -> RecordReportDelivery:
    fields: dict[str, Any] = {"review_id": REVIEW_ID, "recipient": "domestic_abuse_commissioner",
                              "delivered_on": date(2025, 10, 2), "document_version": 3,
                              "sha256": CHECKSUM}
    fields.update(changes)
    return RecordReportDelivery.model_validate(fields)


def a_review_with_an_agreed_report() -> list[EventPayload]:
    return then(a_commissioned_review(), record_report_agreed())


def a_signed_off_report() -> list[EventPayload]:
    return then(a_review_with_an_agreed_report(), sign_off_report())


def a_submitted_report() -> list[EventPayload]:
    return then(a_signed_off_report(), submit_to_home_office())


def a_report_with_changes_required() -> list[EventPayload]:
    return then(a_submitted_report(), record_outcome())


def an_approved_report() -> list[EventPayload]:
    return then(a_submitted_report(), approve())


def a_published_report() -> list[EventPayload]:
    return then(an_approved_report(), publish_report())
