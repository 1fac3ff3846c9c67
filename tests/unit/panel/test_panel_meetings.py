"""Meetings: scheduled, held with a quorum judged by the rule in force, minutes, decisions,
actions."""

from datetime import date
from uuid import UUID

import pytest
from panel_givens import (
    MEETING_ID,
    REVIEW_ID,
    a_balanced_panel,
    a_held_meeting,
    hold_meeting,
    schedule_meeting,
    then,
    when,
)
from pydantic import ValidationError

from dhr_contracts.panel import (
    MeetingHeld,
    MeetingScheduled,
    MinutesRecorded,
    PanelActionAssigned,
    PanelDecisionRecorded,
)
from dhr_panel.domain import fold
from dhr_panel.model import (
    AssignAction,
    InvalidCommand,
    MeetingAlreadyHeld,
    MeetingNotFound,
    MeetingNotHeld,
    MeetingNotQuorate,
    RecordDecision,
    RecordMinutes,
)

DECISION_ID = UUID("00000000-0000-4000-8000-0000000000c1")
ACTION_ID = UUID("00000000-0000-4000-8000-0000000000d1")


def minutes(**changes) -> RecordMinutes:
    fields = {"review_id": REVIEW_ID, "meeting_id": MEETING_ID, "recorded_on": date(2025, 5, 12),
              "text": "Alex Chair opened the meeting; Jane's GP records were discussed."}
    fields.update(changes)
    return RecordMinutes.model_validate(fields)


def decision(**changes) -> RecordDecision:
    fields = {"review_id": REVIEW_ID, "meeting_id": MEETING_ID, "decision_id": DECISION_ID,
              "text": "The period under review starts in 2020."}
    fields.update(changes)
    return RecordDecision.model_validate(fields)


def action(**changes) -> AssignAction:
    fields = {"review_id": REVIEW_ID, "meeting_id": MEETING_ID, "action_id": ACTION_ID,
              "text": "Send the chronology template.", "owner_agency": "northshire police",
              "due_on": date(2025, 5, 20)}
    fields.update(changes)
    return AssignAction.model_validate(fields)


def test_a_meeting_is_scheduled_with_its_agenda() -> None:
    assert when(schedule_meeting(), a_balanced_panel()) == [MeetingScheduled(
        review_id=REVIEW_ID, meeting_id=MEETING_ID, scheduled_for=date(2025, 5, 10),
        agenda=("Terms of reference", "Scoping returns"))]


def test_a_blank_agenda_item_is_refused() -> None:
    with pytest.raises(InvalidCommand) as refused:
        when(schedule_meeting(agenda=["Item", ""]), a_balanced_panel())
    assert refused.value.field == "agenda"


def test_three_full_members_and_the_chair_make_a_quorate_meeting() -> None:
    events = when(hold_meeting(), then(a_balanced_panel(), schedule_meeting()))

    assert events == [MeetingHeld(
        review_id=REVIEW_ID, meeting_id=MEETING_ID, held_on=date(2025, 5, 10),
        attended=("Northshire Police", "Northshire ICB", "Safe Haven"),
        apologies=("Northtown Housing",), chair_present=True, quorate=True, counted_agencies=3,
        quorum_min_agencies=3, quorum_requires_chair=True)]


def test_observers_and_agencies_off_the_panel_do_not_count_towards_the_quorum() -> None:
    event = when(hold_meeting(attended=["Northshire Police", "Safe Haven", "Northtown Housing",
                                        "Visiting Charity"], apologies=[]),
                 then(a_balanced_panel(), schedule_meeting()))[0]

    assert isinstance(event, MeetingHeld)
    assert event.counted_agencies == 2 and not event.quorate


def test_a_meeting_without_the_chair_is_inquorate_when_the_rule_requires_the_chair() -> None:
    event = when(hold_meeting(chair_present=False), then(a_balanced_panel(), schedule_meeting()))[0]
    assert isinstance(event, MeetingHeld) and not event.quorate


def test_the_chair_is_not_needed_when_the_rule_says_so() -> None:
    event = when(hold_meeting(chair_present=False, quorum_requires_chair=False),
                 then(a_balanced_panel(), schedule_meeting()))[0]
    assert isinstance(event, MeetingHeld) and event.quorate


def test_the_minimum_number_of_agencies_comes_from_the_rule_in_force() -> None:
    event = when(hold_meeting(quorum_min_agencies=4), then(a_balanced_panel(), schedule_meeting()))[0]
    assert isinstance(event, MeetingHeld) and not event.quorate
    assert event.quorum_min_agencies == 4


def test_an_agenda_item_longer_than_the_record_holds_is_refused() -> None:
    with pytest.raises(ValidationError, match=r"agenda\.1"):
        schedule_meeting(agenda=["Item", "x" * 10_001])


def test_an_attending_agency_named_at_more_length_than_the_record_holds_is_refused() -> None:
    with pytest.raises(ValidationError, match=r"attended\.1"):
        hold_meeting(attended=["Safe Haven", "Northshire " + "Partnership " * 20])


def test_an_agency_cannot_attend_and_send_apologies() -> None:
    with pytest.raises(InvalidCommand) as refused:
        when(hold_meeting(apologies=["Safe Haven"]), then(a_balanced_panel(), schedule_meeting()))
    assert refused.value.field == "apologies"


def test_a_meeting_is_held_once() -> None:
    with pytest.raises(MeetingAlreadyHeld):
        when(hold_meeting(), a_held_meeting())


def test_an_unknown_meeting_cannot_be_held() -> None:
    with pytest.raises(MeetingNotFound):
        when(hold_meeting(), a_balanced_panel())


def test_minutes_are_recorded_and_revised() -> None:
    history = then(a_held_meeting(), minutes())

    events = when(minutes(text="Corrected."), history)

    assert events == [MinutesRecorded(review_id=REVIEW_ID, meeting_id=MEETING_ID, revision=2,
                                      recorded_on=date(2025, 5, 12), text="Corrected.")]
    assert "text" in MinutesRecorded.personal_fields()


def test_minutes_of_a_meeting_not_yet_held_are_refused() -> None:
    with pytest.raises(MeetingNotHeld):
        when(minutes(), then(a_balanced_panel(), schedule_meeting()))


def test_a_quorate_meeting_records_decisions() -> None:
    assert when(decision(), a_held_meeting()) == [PanelDecisionRecorded(
        review_id=REVIEW_ID, meeting_id=MEETING_ID, decision_id=DECISION_ID,
        text="The period under review starts in 2020.")]


def test_decisions_at_an_inquorate_meeting_are_refused() -> None:
    with pytest.raises(MeetingNotQuorate):
        when(decision(), a_held_meeting(chair_present=False))


def test_actions_go_to_an_agency_with_a_due_date_even_at_an_inquorate_meeting() -> None:
    history = a_held_meeting(chair_present=False)

    events = when(action(), history)

    assert events == [PanelActionAssigned(
        review_id=REVIEW_ID, meeting_id=MEETING_ID, action_id=ACTION_ID,
        text="Send the chronology template.", owner_agency="Northshire Police",
        due_on=date(2025, 5, 20))]
    meeting = fold(history + events).meeting(MEETING_ID)
    assert meeting is not None and meeting.actions[0].owner_agency == "Northshire Police"


def test_an_action_due_before_the_meeting_is_refused() -> None:
    with pytest.raises(InvalidCommand) as refused:
        when(action(due_on=date(2025, 5, 9)), a_held_meeting())
    assert refused.value.field == "due_on"
