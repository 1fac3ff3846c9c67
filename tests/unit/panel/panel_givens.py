"""Builders for the panel decider tests: a typical panel, and the histories it goes through."""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID

from dhr_contracts.base import EventPayload
from dhr_contracts.panel import PanelOpenedBecause
from dhr_panel.domain import decide, fold
from dhr_panel.model import (
    AddMember,
    AgreeReport,
    Command,
    HoldMeeting,
    IssueTermsOfReference,
    OpenPanel,
    RecordChair,
    RemoveMember,
    RequestInformation,
    ReturnInformation,
    ScheduleMeeting,
    ShareReportDraft,
    SubmitInformation,
)

REVIEW_ID = UUID("7a1c2e3d-4b5f-4a6e-8c7d-9e0f1a2b3c4d")
REQUEST_ID = UUID("00000000-0000-4000-8000-0000000000a1")
MEETING_ID = UUID("00000000-0000-4000-8000-0000000000b1")
OPENED_ON = date(2025, 4, 1)


def open_panel(**changes: Any) -> OpenPanel:
    fields: dict[str, Any] = {"review_id": REVIEW_ID, "opened_on": OPENED_ON,
                              "opened_because": PanelOpenedBecause.REVIEW_COMMISSIONED,
                              "csp_area": "Northtown", "commissioned_on": OPENED_ON}
    fields.update(changes)
    return OpenPanel.model_validate(fields)


def record_chair(**changes: Any) -> RecordChair:
    fields: dict[str, Any] = {"review_id": REVIEW_ID, "appointed_on": date(2025, 4, 5),
                              "chair_name": "Alex Chair"}
    fields.update(changes)
    return RecordChair.model_validate(fields)


def add_member(agency: str, sector: str, role: str = "panel_member", **changes: Any) -> AddMember:
    fields: dict[str, Any] = {"review_id": REVIEW_ID, "joined_on": date(2025, 4, 10),
                              "agency": agency, "sector": sector, "role": role}
    fields.update(changes)
    return AddMember.model_validate(fields)


def remove_member(agency: str, **changes: Any) -> RemoveMember:
    fields: dict[str, Any] = {"review_id": REVIEW_ID, "left_on": date(2025, 5, 1), "agency": agency}
    fields.update(changes)
    return RemoveMember.model_validate(fields)


def issue_terms(**changes: Any) -> IssueTermsOfReference:
    fields: dict[str, Any] = {"review_id": REVIEW_ID, "issued_on": date(2025, 4, 20),
                              "period_from": date(2020, 1, 1), "period_to": date(2025, 3, 1),
                              "lines_of_enquiry": ["What did each agency know of the abuse?"],
                              "family_consulted": True}
    fields.update(changes)
    return IssueTermsOfReference.model_validate(fields)


def request_information(**changes: Any) -> RequestInformation:
    fields: dict[str, Any] = {"review_id": REVIEW_ID, "request_id": REQUEST_ID, "kind": "imr",
                              "agency": "Northshire Police", "requested_on": date(2025, 4, 15),
                              "due_on": date(2025, 6, 1)}
    fields.update(changes)
    return RequestInformation.model_validate(fields)


def submit_information(**changes: Any) -> SubmitInformation:
    fields: dict[str, Any] = {"review_id": REVIEW_ID, "request_id": REQUEST_ID,
                              "submitted_on": date(2025, 5, 30)}
    fields.update(changes)
    return SubmitInformation.model_validate(fields)


def return_information(**changes: Any) -> ReturnInformation:
    fields: dict[str, Any] = {"review_id": REVIEW_ID, "request_id": REQUEST_ID,
                              "returned_on": date(2025, 6, 5),
                              "reasons": ["The chronology stops in 2023."],
                              "due_on": date(2025, 7, 1)}
    fields.update(changes)
    return ReturnInformation.model_validate(fields)


def schedule_meeting(**changes: Any) -> ScheduleMeeting:
    fields: dict[str, Any] = {"review_id": REVIEW_ID, "meeting_id": MEETING_ID,
                              "scheduled_for": date(2025, 5, 10),
                              "agenda": ["Terms of reference", "Scoping returns"]}
    fields.update(changes)
    return ScheduleMeeting.model_validate(fields)


def hold_meeting(**changes: Any) -> HoldMeeting:
    fields: dict[str, Any] = {"review_id": REVIEW_ID, "meeting_id": MEETING_ID,
                              "held_on": date(2025, 5, 10),
                              "attended": ["Northshire Police", "Northshire ICB", "Safe Haven"],
                              "apologies": ["Northtown Housing"], "chair_present": True}
    fields.update(changes)
    return HoldMeeting.model_validate(fields)


def share_draft(**changes: Any) -> ShareReportDraft:
    fields: dict[str, Any] = {
        "review_id": REVIEW_ID, "shared_on": date(2025, 9, 1),
        "summary": "Jane's contact with agencies over five years.",
        "recommendations": [{"text": "Train response officers in coercive control by 2026.",
                             "addressee_agencies": ["Northshire Police"], "level": "local"}]}
    fields.update(changes)
    return ShareReportDraft.model_validate(fields)


def agree_report(**changes: Any) -> AgreeReport:
    fields: dict[str, Any] = {"review_id": REVIEW_ID, "agreed_on": date(2025, 10, 1),
                              "report_version": 1}
    fields.update(changes)
    return AgreeReport.model_validate(fields)


def when(command: Command, given: list[EventPayload]) -> list[EventPayload]:
    """The events `command` produces against the history `given`."""
    return decide(command, fold(given))


def then(given: list[EventPayload], *commands: Command) -> list[EventPayload]:
    """The history after running `commands` one after another on `given`."""
    history = list(given)
    for command in commands:
        history += when(command, history)
    return history


def an_open_panel() -> list[EventPayload]:
    return then([], open_panel())


def a_balanced_panel() -> list[EventPayload]:
    """Police, health and a specialist domestic-abuse service as full members, and an observer."""
    return then(an_open_panel(),
                add_member("Northshire Police", "police"),
                add_member("Northshire ICB", "health", "agency_lead"),
                add_member("Safe Haven", "specialist_domestic_abuse_service"),
                add_member("Northtown Housing", "housing", "observer"))


def a_held_meeting(**changes: Any) -> list[EventPayload]:
    return then(a_balanced_panel(), schedule_meeting(), hold_meeting(**changes))
