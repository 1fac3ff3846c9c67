"""Deciders for the panel's meetings and its report (pure; `domain.decide` dispatches here)."""

from __future__ import annotations

from dhr_contracts.base import EventPayload
from dhr_contracts.panel import (
    AgreedRecommendation,
    MeetingHeld,
    MeetingScheduled,
    MinutesRecorded,
    PanelActionAssigned,
    PanelDecisionRecorded,
    ReportDraftShared,
    ReviewReportAgreed,
)
from dhr_panel.model import (
    AgreeReport,
    AssignAction,
    HoldMeeting,
    InvalidCommand,
    Meeting,
    MeetingAlreadyHeld,
    MeetingNotFound,
    MeetingNotHeld,
    MeetingNotQuorate,
    MeetingStatus,
    PanelState,
    RecordDecision,
    RecordMinutes,
    ReportAlreadyAgreed,
    ScheduleMeeting,
    ShareReportDraft,
    agencies,
    not_before,
    require_open,
    required_items,
    required_text,
)


def decide_schedule_meeting(command: ScheduleMeeting, state: PanelState) -> list[EventPayload]:
    """Schedule a meeting with a non-empty agenda."""
    require_open(command.review_id, state)
    if state.meeting(command.meeting_id) is not None:
        raise InvalidCommand(f"Meeting {command.meeting_id} already exists.", "meeting_id")
    agenda = required_items(command.agenda, "agenda",
                            "Give at least one agenda item; none may be blank.")
    return [MeetingScheduled(review_id=command.review_id, meeting_id=command.meeting_id,
                             scheduled_for=command.scheduled_for, agenda=agenda)]


def decide_hold_meeting(command: HoldMeeting, state: PanelState) -> list[EventPayload]:
    """Record a held meeting and whether it was quorate; an inquorate meeting is recorded too.

    Quorum rule (its parameters travel on the command from the service's settings and are
    recorded on the event): at least `quorum_min_agencies` attending agencies that are full
    members of the panel (roles panel_member or agency_lead; observers, Chair support and
    agencies not on the panel attend without counting), and, when `quorum_requires_chair`, the
    independent Chair present. An agency cannot both attend and send apologies.
    """
    require_open(command.review_id, state)
    meeting = _require_meeting(command, state)
    if meeting.status is MeetingStatus.HELD:
        raise MeetingAlreadyHeld(f"Meeting {meeting.meeting_id} was already held on "
                                 f"{meeting.held_on}.")
    attended = agencies(command.attended, "attended")
    apologies = agencies(command.apologies, "apologies")
    both = {a.casefold() for a in attended} & {a.casefold() for a in apologies}
    if both:
        raise InvalidCommand(f"An agency cannot both attend and send apologies: "
                             f"{', '.join(sorted(both))}.", "apologies")
    counted = 0
    for agency in attended:
        member = state.member(agency)
        counted += 1 if member is not None and member.is_full_member else 0
    quorate = counted >= command.quorum_min_agencies and (
        command.chair_present or not command.quorum_requires_chair)
    return [MeetingHeld(
        review_id=command.review_id, meeting_id=meeting.meeting_id, held_on=command.held_on,
        attended=attended, apologies=apologies, chair_present=command.chair_present,
        quorate=quorate, counted_agencies=counted,
        quorum_min_agencies=command.quorum_min_agencies,
        quorum_requires_chair=command.quorum_requires_chair)]


def decide_record_minutes(command: RecordMinutes, state: PanelState) -> list[EventPayload]:
    """Record the minutes of a held meeting (quorate or not); a new revision replaces the last."""
    require_open(command.review_id, state)
    meeting = _require_held(command, state)
    assert meeting.held_on is not None  # set by MeetingHeld
    not_before(command.recorded_on, meeting.held_on, "recorded_on", "the meeting was held")
    text = required_text(command.text, "text", "The minutes are blank.")
    revision = meeting.minutes.revision + 1 if meeting.minutes else 1
    return [MinutesRecorded(review_id=command.review_id, meeting_id=meeting.meeting_id,
                            revision=revision, recorded_on=command.recorded_on, text=text)]


def decide_record_decision(command: RecordDecision, state: PanelState) -> list[EventPayload]:
    """Record a decision taken at a held meeting: refused when the meeting was not quorate.

    Refused rather than flagged, because a decision of an inquorate panel is no decision of the
    panel; its proposals go in the minutes and to the next quorate meeting. Actions, by contrast,
    may be assigned at an inquorate meeting (see `decide_assign_action`).
    """
    require_open(command.review_id, state)
    meeting = _require_held(command, state)
    if not meeting.quorate:
        raise MeetingNotQuorate(
            f"Meeting {meeting.meeting_id} on {meeting.held_on} was not quorate: the panel "
            "cannot record decisions taken there. Put them to a quorate meeting.")
    if any(d.decision_id == command.decision_id for d in meeting.decisions):
        raise InvalidCommand(f"Decision {command.decision_id} already exists.", "decision_id")
    text = required_text(command.text, "text", "The decision is blank.")
    return [PanelDecisionRecorded(review_id=command.review_id, meeting_id=meeting.meeting_id,
                                  decision_id=command.decision_id, text=text)]


def decide_assign_action(command: AssignAction, state: PanelState) -> list[EventPayload]:
    """Give an action from a held meeting (quorate or not: getting to a quorate meeting is itself
    an action) to a named agency, due on or after the meeting."""
    require_open(command.review_id, state)
    meeting = _require_held(command, state)
    assert meeting.held_on is not None  # set by MeetingHeld
    if any(a.action_id == command.action_id for a in meeting.actions):
        raise InvalidCommand(f"Action {command.action_id} already exists.", "action_id")
    text = required_text(command.text, "text", "Say what the action is.")
    owner = required_text(command.owner_agency, "owner_agency", "Name the agency that owns it.")
    member = state.member(owner)
    not_before(command.due_on, meeting.held_on, "due_on", "the meeting was held")
    return [PanelActionAssigned(review_id=command.review_id, meeting_id=meeting.meeting_id,
                                action_id=command.action_id, text=text,
                                owner_agency=member.agency if member else owner,
                                due_on=command.due_on)]


def decide_share_report_draft(command: ShareReportDraft, state: PanelState) -> list[EventPayload]:
    """Share the next draft version of the report, its recommendations numbered in order."""
    require_open(command.review_id, state)
    _require_not_agreed(state)
    latest = state.latest_draft
    if latest is not None:
        not_before(command.shared_on, latest.shared_on, "shared_on",
                   f"draft {latest.version} was shared")
    summary = required_text(command.summary, "summary", "The draft's summary is blank.")
    recommendations = []
    for number, draft in enumerate(command.recommendations, start=1):
        field = f"recommendations.{number - 1}"
        recommendations.append(AgreedRecommendation(
            number=number,
            text=required_text(draft.text, f"{field}.text", f"Recommendation {number} is blank."),
            addressee_agencies=agencies(draft.addressee_agencies, f"{field}.addressee_agencies"),
            level=draft.level))
    return [ReportDraftShared(review_id=command.review_id,
                              version=latest.version + 1 if latest else 1,
                              shared_on=command.shared_on, summary=summary,
                              recommendations=tuple(recommendations))]


def decide_agree_report(command: AgreeReport, state: PanelState) -> list[EventPayload]:
    """The panel agrees the report: once, and only the latest draft (an older one is superseded).

    The agreed event carries the draft's recommendations for the recommendations service.
    """
    require_open(command.review_id, state)
    _require_not_agreed(state)
    latest = state.latest_draft
    if latest is None:
        raise InvalidCommand("No draft of the report has been shared yet.", "report_version")
    if command.report_version != latest.version:
        situation = ("does not exist" if command.report_version > latest.version
                     else f"was superseded by draft {latest.version}")
        raise InvalidCommand(f"Draft {command.report_version} {situation}: only the latest "
                             "draft can be agreed.", "report_version")
    not_before(command.agreed_on, latest.shared_on, "agreed_on", "the draft was shared")
    return [ReviewReportAgreed(review_id=command.review_id, agreed_on=command.agreed_on,
                               report_version=latest.version,
                               recommendations=latest.recommendations)]


def _require_meeting(command: HoldMeeting | RecordMinutes | RecordDecision | AssignAction,
                     state: PanelState) -> Meeting:
    meeting = state.meeting(command.meeting_id)
    if meeting is None:
        raise MeetingNotFound(f"No meeting {command.meeting_id} on this panel.", "meeting_id")
    return meeting


def _require_held(command: RecordMinutes | RecordDecision | AssignAction,
                  state: PanelState) -> Meeting:
    meeting = _require_meeting(command, state)
    if meeting.status is not MeetingStatus.HELD:
        raise MeetingNotHeld(f"Meeting {meeting.meeting_id} has not been held yet (scheduled "
                             f"for {meeting.scheduled_for}).")
    return meeting


def _require_not_agreed(state: PanelState) -> None:
    if state.report_agreed is not None:
        raise ReportAlreadyAgreed(
            f"The panel already agreed draft {state.report_agreed.report_version} of the report "
            f"on {state.report_agreed.agreed_on}.")
