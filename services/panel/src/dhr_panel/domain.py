"""The review panel as a decider: one stream per review, from opening to the agreed report.

Pure: no I/O and no clock. Every command carries the date it happened (and any policy in force,
such as the quorum rule); the actor travels in the message metadata. `decide` turns a command
into events or raises a `DomainError`; `evolve` applies one event; `fold` rebuilds the state.

Decisions taken here, for the reader who would otherwise guess:
- Opening is idempotent: a panel already open is not opened again, and a Chair already recorded
  with the same name and date is not recorded again, so redelivered commissioning events add
  nothing. A Chair's appointment that arrives before the review's commissioning opens the panel.
- Balance: full members (roles panel_member and agency_lead) are counted by sector. A panel that
  has full members but no specialist domestic-abuse service among them gets one
  `PanelLacksSpecialistDomesticAbuseService` warning per lack (when first constituted, or when a
  departure leaves it without one), and `PanelSpecialistDomesticAbuseServiceRestored` when one
  joins. A warning never blocks anything.
- Information requests may go to any named agency, on the panel or not (agencies that had contact
  often supply chronologies without sitting on the panel); the event says which.
- Overdue requests are recorded once per due date: returning a submission sets a new due date,
  which may become overdue in its turn.
- Quorum and decisions: see `decide_hold_meeting` and `decide_record_decision`.
- The report is agreed once, on the latest draft only (see `decide_agree_report`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date
from typing import Any
from uuid import UUID

from dhr_contracts.base import EventPayload
from dhr_contracts.panel import (
    AgencyJoinedPanel,
    AgencyLeftPanel,
    InformationRequested,
    InformationRequestOverdue,
    InformationReturnedForMoreWork,
    InformationSubmitted,
    MeetingHeld,
    MeetingScheduled,
    MinutesRecorded,
    PanelActionAssigned,
    PanelChairRecorded,
    PanelDecisionRecorded,
    PanelLacksSpecialistDomesticAbuseService,
    PanelOpened,
    PanelOpenedBecause,
    PanelSpecialistDomesticAbuseServiceRestored,
    ReportDraftShared,
    ReviewReportAgreed,
    TermsOfReferenceIssued,
)
from dhr_panel.meetings import (
    decide_agree_report,
    decide_assign_action,
    decide_hold_meeting,
    decide_record_decision,
    decide_record_minutes,
    decide_schedule_meeting,
    decide_share_report_draft,
)
from dhr_panel.model import (
    LACKS_SPECIALIST_WARNING,
    Action,
    AddMember,
    AgencyAlreadyOnPanel,
    AgencyNotOnPanel,
    AgreedReport,
    AgreeReport,
    AssignAction,
    Chair,
    Command,
    Decision,
    DetectOverdueRequests,
    FormerMember,
    HoldMeeting,
    InformationNotAwaited,
    InformationNotSubmitted,
    InformationRequest,
    InformationRequestNotFound,
    InvalidCommand,
    IssueTermsOfReference,
    Meeting,
    MeetingStatus,
    Member,
    Minutes,
    OpenPanel,
    PanelState,
    PanelWarning,
    RecordChair,
    RecordDecision,
    RecordMinutes,
    RemoveMember,
    ReportDraft,
    RequestInformation,
    RequestStatus,
    ReturnForMoreWork,
    ReturnInformation,
    ScheduleMeeting,
    ShareReportDraft,
    SubmitInformation,
    TermsOfReference,
    has_specialist_domestic_abuse_service,
    not_before,
    optional_text,
    require_open,
    required_items,
    required_text,
)

# ------------------------------------------------------------------------- opening and the Chair


def decide_open_panel(command: OpenPanel, state: PanelState) -> list[EventPayload]:
    """Open the panel; an open panel is not opened again (commissioning events are redelivered)."""
    if state.open:
        return []
    return [PanelOpened(review_id=command.review_id, opened_on=command.opened_on,
                        opened_because=command.opened_because,
                        csp_area=optional_text(command.csp_area),
                        commissioned_on=command.commissioned_on)]


def decide_record_chair(command: RecordChair, state: PanelState) -> list[EventPayload]:
    """Record the Chair, opening the panel first if the appointment arrived before it opened.

    The same Chair on the same date again is a redelivery and records nothing.
    """
    chair_name = required_text(command.chair_name, "chair_name", "Name the Chair.")
    if (state.chair is not None and state.chair.name == chair_name
            and state.chair.appointed_on == command.appointed_on
            and state.chair.subject == command.chair_subject):
        return []
    events: list[EventPayload] = decide_open_panel(OpenPanel(
        review_id=command.review_id, opened_on=command.appointed_on,
        opened_because=PanelOpenedBecause.CHAIR_APPOINTED), state)
    events.append(PanelChairRecorded(review_id=command.review_id,
                                     appointed_on=command.appointed_on, chair_name=chair_name,
                                     replaces_previous_chair=state.chair is not None,
                                     chair_subject=command.chair_subject))
    return events


# ------------------------------------------------------------------------------------ membership


def decide_add_member(command: AddMember, state: PanelState) -> list[EventPayload]:
    """An agency joins; the specialist domestic-abuse balance is re-checked (warn, never block)."""
    opened_on = require_open(command.review_id, state)
    agency = required_text(command.agency, "agency", "Name the agency.")
    if state.member(agency) is not None:
        raise AgencyAlreadyOnPanel("The agency is already a member of the panel.", "agency")
    not_before(command.joined_on, opened_on, "joined_on", "the panel opened")
    member = Member(agency=agency, sector=command.sector, role=command.role,
                    joined_on=command.joined_on)
    events: list[EventPayload] = [AgencyJoinedPanel(
        review_id=command.review_id, joined_on=command.joined_on, agency=agency,
        sector=command.sector, role=command.role)]
    events += _balance_events(command.review_id, state, (*state.members, member),
                              command.joined_on, agency)
    return events


def decide_remove_member(command: RemoveMember, state: PanelState) -> list[EventPayload]:
    """An agency leaves; if that leaves the panel without a specialist service, warn once."""
    require_open(command.review_id, state)
    member = state.member(command.agency)
    if member is None:
        raise AgencyNotOnPanel("The agency is not a member of the panel.", "agency")
    not_before(command.left_on, member.joined_on, "left_on", "the agency joined")
    events: list[EventPayload] = [AgencyLeftPanel(
        review_id=command.review_id, left_on=command.left_on, agency=member.agency,
        reason=optional_text(command.reason))]
    remaining = tuple(m for m in state.members if m is not member)
    events += _balance_events(command.review_id, state, remaining, command.left_on, member.agency)
    return events


def _balance_events(review_id: UUID, state: PanelState, members: tuple[Member, ...],
                    on: date, agency: str) -> list[EventPayload]:
    """The warning when the panel (with full members) comes to lack a specialist service, or
    its end when one joins. A panel with no full member yet is not constituted: no warning."""
    full_members = sum(1 for m in members if m.is_full_member)
    lacks = full_members > 0 and not has_specialist_domestic_abuse_service(members)
    if lacks and not state.lacks_specialist_domestic_abuse_service:
        return [PanelLacksSpecialistDomesticAbuseService(
            review_id=review_id, detected_on=on, full_member_count=full_members)]
    if state.lacks_specialist_domestic_abuse_service and has_specialist_domestic_abuse_service(
            members):
        return [PanelSpecialistDomesticAbuseServiceRestored(
            review_id=review_id, restored_on=on, agency=agency)]
    return []


# ---------------------------------------------------------------------------- terms of reference


def decide_issue_terms_of_reference(
    command: IssueTermsOfReference, state: PanelState
) -> list[EventPayload]:
    """Issue the next version of the terms of reference."""
    require_open(command.review_id, state)
    if command.period_from > command.period_to:
        raise InvalidCommand(f"The period under review starts ({command.period_from}) after it "
                             f"ends ({command.period_to}).", "period_to")
    lines = required_items(command.lines_of_enquiry, "lines_of_enquiry",
                            "Give at least one line of enquiry; none may be blank.")
    current = state.current_terms_of_reference
    if current is not None:
        not_before(command.issued_on, current.issued_on, "issued_on",
                    f"version {current.version} was issued")
    return [TermsOfReferenceIssued(
        review_id=command.review_id, version=(current.version + 1 if current else 1),
        issued_on=command.issued_on, period_from=command.period_from,
        period_to=command.period_to, lines_of_enquiry=lines,
        family_consulted=command.family_consulted)]


# -------------------------------------------------------------------------- information requests


def decide_request_information(
    command: RequestInformation, state: PanelState
) -> list[EventPayload]:
    """Ask any named agency (on the panel or not) for information by a due date."""
    require_open(command.review_id, state)
    agency = required_text(command.agency, "agency", "Name the agency asked.")
    if state.request(command.request_id) is not None:
        raise InvalidCommand(f"Request {command.request_id} already exists.", "request_id")
    if command.due_on < command.requested_on:
        raise InvalidCommand(f"The due date ({command.due_on}) is before the request "
                             f"({command.requested_on}).", "due_on")
    member = state.member(agency)
    return [InformationRequested(
        review_id=command.review_id, request_id=command.request_id, kind=command.kind,
        agency=member.agency if member else agency, agency_is_panel_member=member is not None,
        requested_on=command.requested_on, due_on=command.due_on,
        detail=optional_text(command.detail))]


def decide_submit_information(command: SubmitInformation, state: PanelState) -> list[EventPayload]:
    """Record a submission of a request that awaits one; late when after its due date."""
    request = _require_request(command.review_id, command.request_id, state)
    if not request.awaiting_submission:
        raise InformationNotAwaited(
            f"Request {request.request_id} was already submitted on {request.submitted_on}; "
            "return it for more work first.")
    latest = request.returns[-1].returned_on if request.returns else request.requested_on
    not_before(command.submitted_on, latest, "submitted_on",
                "it was returned" if request.returns else "it was requested")
    return [InformationSubmitted(
        review_id=command.review_id, request_id=request.request_id,
        submitted_on=command.submitted_on, due_on=request.due_on,
        late=command.submitted_on > request.due_on)]


def decide_return_information(command: ReturnInformation, state: PanelState) -> list[EventPayload]:
    """Return a submission for more work; it is due again on the new date."""
    request = _require_request(command.review_id, command.request_id, state)
    if request.status is not RequestStatus.SUBMITTED or request.submitted_on is None:
        raise InformationNotSubmitted(
            f"Request {request.request_id} has not been submitted, so it cannot be returned.")
    not_before(command.returned_on, request.submitted_on, "returned_on", "it was submitted")
    if command.due_on <= command.returned_on:
        raise InvalidCommand(f"The new due date ({command.due_on}) must be after the date it is "
                             f"returned ({command.returned_on}).", "due_on")
    reasons = required_items(command.reasons, "reasons",
                              "Give at least one reason for returning it; none may be blank.")
    return [InformationReturnedForMoreWork(
        review_id=command.review_id, request_id=request.request_id,
        returned_on=command.returned_on, reasons=reasons, due_on=command.due_on)]


def decide_detect_overdue_requests(
    command: DetectOverdueRequests, state: PanelState
) -> list[EventPayload]:
    """One `InformationRequestOverdue` per request awaiting submission past its due date, once
    for each due date (a check run twice records nothing the second time)."""
    if not state.open:
        return []
    return [
        InformationRequestOverdue(
            review_id=command.review_id, request_id=request.request_id, kind=request.kind,
            agency=request.agency, due_on=request.due_on, detected_on=command.as_of)
        for request in state.requests
        if request.overdue_on(command.as_of) and request.due_on not in request.overdue_due_dates
    ]


# -------------------------------------------------------------------------------------- dispatch


def decide(command: Command, state: PanelState) -> list[EventPayload]:
    """The events a command produces against the current state, or a `DomainError`."""
    match command:
        case OpenPanel():
            return decide_open_panel(command, state)
        case RecordChair():
            return decide_record_chair(command, state)
        case AddMember():
            return decide_add_member(command, state)
        case RemoveMember():
            return decide_remove_member(command, state)
        case IssueTermsOfReference():
            return decide_issue_terms_of_reference(command, state)
        case RequestInformation():
            return decide_request_information(command, state)
        case SubmitInformation():
            return decide_submit_information(command, state)
        case ReturnInformation():
            return decide_return_information(command, state)
        case DetectOverdueRequests():
            return decide_detect_overdue_requests(command, state)
        case ScheduleMeeting():
            return decide_schedule_meeting(command, state)
        case HoldMeeting():
            return decide_hold_meeting(command, state)
        case RecordMinutes():
            return decide_record_minutes(command, state)
        case RecordDecision():
            return decide_record_decision(command, state)
        case AssignAction():
            return decide_assign_action(command, state)
        case ShareReportDraft():
            return decide_share_report_draft(command, state)
        case AgreeReport():
            return decide_agree_report(command, state)
    raise TypeError(f"Not a panel command: {type(command).__name__}")


# ---------------------------------------------------------------------------------------- evolve


def evolve(state: PanelState, event: EventPayload) -> PanelState:
    """The state after one event. Never refuses a fact; events it does not know (e.g. family
    involvement, if recorded on the same stream) leave the state as it is."""
    match event:
        case PanelOpened():
            return state.model_copy(update={
                "open": True, "review_id": event.review_id, "opened_on": event.opened_on,
                "opened_because": event.opened_because, "csp_area": event.csp_area,
                "commissioned_on": event.commissioned_on})
        case PanelChairRecorded():
            return state.model_copy(update={
                "chair": Chair(name=event.chair_name, appointed_on=event.appointed_on,
                               subject=event.chair_subject)})
        case AgencyJoinedPanel():
            member = Member(agency=event.agency, sector=event.sector, role=event.role,
                            joined_on=event.joined_on)
            return state.model_copy(update={"members": (*state.members, member)})
        case AgencyLeftPanel():
            return _evolve_left(state, event)
        case PanelLacksSpecialistDomesticAbuseService():
            warning = PanelWarning(kind=LACKS_SPECIALIST_WARNING, raised_on=event.detected_on)
            return state.model_copy(update={"lacks_specialist_domestic_abuse_service": True,
                                            "warnings": (*state.warnings, warning)})
        case PanelSpecialistDomesticAbuseServiceRestored():
            warnings = tuple(
                w.model_copy(update={"resolved_on": event.restored_on})
                if w.kind == LACKS_SPECIALIST_WARNING and w.resolved_on is None else w
                for w in state.warnings)
            return state.model_copy(update={"lacks_specialist_domestic_abuse_service": False,
                                            "warnings": warnings})
        case TermsOfReferenceIssued():
            terms = TermsOfReference(
                version=event.version, issued_on=event.issued_on, period_from=event.period_from,
                period_to=event.period_to, lines_of_enquiry=event.lines_of_enquiry,
                family_consulted=event.family_consulted)
            return state.model_copy(
                update={"terms_of_reference": (*state.terms_of_reference, terms)})
        case InformationRequested():
            request = InformationRequest(
                request_id=event.request_id, kind=event.kind, agency=event.agency,
                agency_is_panel_member=event.agency_is_panel_member,
                requested_on=event.requested_on, due_on=event.due_on, detail=event.detail)
            return state.model_copy(update={"requests": (*state.requests, request)})
        case InformationSubmitted():
            return _update_request(state, event.request_id, lambda r: {
                "status": RequestStatus.SUBMITTED, "submitted_on": event.submitted_on,
                "submissions": r.submissions + 1})
        case InformationReturnedForMoreWork():
            returned = ReturnForMoreWork(returned_on=event.returned_on, reasons=event.reasons,
                                         due_on=event.due_on)
            return _update_request(state, event.request_id, lambda r: {
                "status": RequestStatus.RETURNED, "due_on": event.due_on,
                "returns": (*r.returns, returned)})
        case InformationRequestOverdue():
            return _update_request(state, event.request_id, lambda r: {
                "overdue_due_dates": (*r.overdue_due_dates, event.due_on)})
        case MeetingScheduled():
            meeting = Meeting(meeting_id=event.meeting_id, scheduled_for=event.scheduled_for,
                              agenda=event.agenda)
            return state.model_copy(update={"meetings": (*state.meetings, meeting)})
        case MeetingHeld():
            return _update_meeting(state, event.meeting_id, lambda m: {
                "status": MeetingStatus.HELD, "held_on": event.held_on,
                "attended": event.attended, "apologies": event.apologies,
                "chair_present": event.chair_present, "quorate": event.quorate})
        case MinutesRecorded():
            minutes = Minutes(revision=event.revision, recorded_on=event.recorded_on,
                              text=event.text)
            return _update_meeting(state, event.meeting_id, lambda m: {"minutes": minutes})
        case PanelDecisionRecorded():
            decision = Decision(decision_id=event.decision_id, text=event.text)
            return _update_meeting(state, event.meeting_id, lambda m: {
                "decisions": (*m.decisions, decision)})
        case PanelActionAssigned():
            action = Action(action_id=event.action_id, text=event.text,
                            owner_agency=event.owner_agency, due_on=event.due_on)
            return _update_meeting(state, event.meeting_id, lambda m: {
                "actions": (*m.actions, action)})
        case ReportDraftShared():
            draft = ReportDraft(version=event.version, shared_on=event.shared_on,
                                summary=event.summary, recommendations=event.recommendations)
            return state.model_copy(update={"report_drafts": (*state.report_drafts, draft)})
        case ReviewReportAgreed():
            return state.model_copy(update={"report_agreed": AgreedReport(
                agreed_on=event.agreed_on, report_version=event.report_version)})
    return state


def fold(events: Iterable[EventPayload]) -> PanelState:
    """The state of a panel rebuilt from its events, oldest first."""
    state = initial_state()
    for event in events:
        state = evolve(state, event)
    return state


def initial_state() -> PanelState:
    """The state of a panel that is not open yet."""
    return PanelState()


def _evolve_left(state: PanelState, event: AgencyLeftPanel) -> PanelState:
    member = state.member(event.agency)
    if member is None:
        return state
    former = FormerMember(agency=member.agency, sector=member.sector, role=member.role,
                          joined_on=member.joined_on, left_on=event.left_on, reason=event.reason)
    return state.model_copy(update={
        "members": tuple(m for m in state.members if m is not member),
        "former_members": (*state.former_members, former)})


def _update_request(state: PanelState, request_id: UUID,
                    changes: Callable[[InformationRequest], dict[str, Any]]) -> PanelState:
    requests = tuple(r.model_copy(update=changes(r)) if r.request_id == request_id else r
                     for r in state.requests)
    return state.model_copy(update={"requests": requests})


def _update_meeting(state: PanelState, meeting_id: UUID,
                    changes: Callable[[Meeting], dict[str, Any]]) -> PanelState:
    meetings = tuple(m.model_copy(update=changes(m)) if m.meeting_id == meeting_id else m
                     for m in state.meetings)
    return state.model_copy(update={"meetings": meetings})


def _require_request(review_id: UUID, request_id: UUID, state: PanelState) -> InformationRequest:
    require_open(review_id, state)
    request = state.request(request_id)
    if request is None:
        raise InformationRequestNotFound(f"No information request {request_id} on this panel.",
                                         "request_id")
    return request
