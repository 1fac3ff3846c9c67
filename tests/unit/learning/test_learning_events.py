"""Learning events: planned, moved, cancelled, and held only once every participating agency
acknowledged the blame-free ground rules."""

from datetime import date

import pytest
from learning_givens import (
    ACKNOWLEDGED_AT,
    EVENT_ID,
    HEALTH,
    HELD_ON,
    PLANNED_ON,
    POLICE,
    REFUGE,
    REVIEW_ID,
    a_held_event,
    a_planned_event,
    acknowledge,
    an_event_acknowledged_by,
    hold,
    plan_learning_event,
    then,
    when,
)

from dhr_contracts.learning import (
    GroundRulesAcknowledged,
    LearningEventCancelled,
    LearningEventFormat,
    LearningEventHeld,
    LearningEventPlanned,
    LearningEventRescheduled,
)
from dhr_learning.domain import (
    BLAME_FREE_GROUND_RULES,
    AttributionRefused,
    CancelLearningEvent,
    GroundRulesNotAcknowledged,
    InvalidCommand,
    LearningEventNotFound,
    LearningEventNotPlanned,
    LearningEventStatus,
    RescheduleLearningEvent,
    fold,
)


def test_a_learning_event_is_planned_with_the_blame_free_ground_rules() -> None:
    assert when(plan_learning_event(), given=[]) == [LearningEventPlanned(
        review_id=REVIEW_ID, learning_event_id=EVENT_ID, planned_on=PLANNED_ON,
        facilitator_name="Sam Facilitator", format=LearningEventFormat.IN_PERSON,
        invited_agencies=(POLICE, HEALTH, REFUGE), ground_rules=BLAME_FREE_GROUND_RULES)]


def test_the_facilitators_name_is_personal_data_in_the_published_event() -> None:
    assert "facilitator_name" in LearningEventPlanned.personal_fields()


def test_invited_agencies_are_trimmed_and_repeats_dropped() -> None:
    event = when(plan_learning_event(invited_agencies=(" Northshire Police ",
                                                       "northshire police", HEALTH)), given=[])[0]

    assert isinstance(event, LearningEventPlanned)
    assert event.invited_agencies == (POLICE, HEALTH)


def test_inviting_a_person_instead_of_an_agency_is_refused_naming_the_field() -> None:
    with pytest.raises(AttributionRefused) as refused:
        when(plan_learning_event(invited_agencies=(POLICE, "Jane Smith")), given=[])

    assert refused.value.field == "invited_agencies[1]"


def test_a_blank_facilitator_is_refused() -> None:
    with pytest.raises(InvalidCommand) as refused:
        when(plan_learning_event(facilitator_name="  "), given=[])

    assert refused.value.field == "facilitator_name"


def test_an_agency_acknowledges_the_ground_rules_and_when_is_recorded() -> None:
    assert when(acknowledge(POLICE), given=a_planned_event()) == [GroundRulesAcknowledged(
        review_id=REVIEW_ID, learning_event_id=EVENT_ID, agency=POLICE,
        acknowledged_at=ACKNOWLEDGED_AT)]


def test_acknowledging_again_changes_nothing() -> None:
    assert when(acknowledge("NORTHSHIRE POLICE"), given=an_event_acknowledged_by(POLICE)) == []


def test_a_person_cannot_acknowledge_in_place_of_an_agency() -> None:
    with pytest.raises(AttributionRefused) as refused:
        when(acknowledge("DC Jones"), given=a_planned_event())

    assert refused.value.field == "agency"


def test_acknowledging_for_an_unknown_learning_event_is_refused() -> None:
    with pytest.raises(LearningEventNotFound):
        when(acknowledge(POLICE), given=[])


def test_an_event_is_held_when_every_participating_agency_acknowledged_the_ground_rules() -> None:
    assert when(hold(POLICE, HEALTH), given=an_event_acknowledged_by(POLICE, HEALTH, REFUGE)) == [
        LearningEventHeld(review_id=REVIEW_ID, learning_event_id=EVENT_ID, held_on=HELD_ON,
                          participating_agencies=(POLICE, HEALTH))]


def test_an_event_cannot_be_held_while_a_participating_agency_has_not_acknowledged() -> None:
    with pytest.raises(GroundRulesNotAcknowledged) as refused:
        when(hold(POLICE, HEALTH), given=an_event_acknowledged_by(POLICE))

    assert refused.value.field == "participating_agencies"
    assert HEALTH in refused.value.message
    assert "has not acknowledged the blame-free ground rules" in refused.value.message


def test_participating_agencies_are_recorded_as_spelled_when_they_acknowledged() -> None:
    event = when(hold("northshire police"), given=an_event_acknowledged_by(POLICE))[0]

    assert isinstance(event, LearningEventHeld)
    assert event.participating_agencies == (POLICE,)


def test_a_held_event_cannot_be_held_again_nor_acknowledged() -> None:
    with pytest.raises(LearningEventNotPlanned):
        when(hold(POLICE), given=a_held_event())
    with pytest.raises(LearningEventNotPlanned):
        when(acknowledge(REFUGE), given=a_held_event())


def test_a_planned_event_moves_to_another_date_with_a_reason() -> None:
    command = RescheduleLearningEvent(review_id=REVIEW_ID, learning_event_id=EVENT_ID,
                                      planned_on=date(2026, 6, 2), reason="Venue unavailable.")

    assert when(command, given=a_planned_event()) == [LearningEventRescheduled(
        review_id=REVIEW_ID, learning_event_id=EVENT_ID, previously_planned_on=PLANNED_ON,
        planned_on=date(2026, 6, 2), reason="Venue unavailable.")]
    assert fold(then(a_planned_event(), command)).learning_events[0].planned_on == date(2026, 6, 2)


def test_moving_to_the_same_date_changes_nothing() -> None:
    command = RescheduleLearningEvent(review_id=REVIEW_ID, learning_event_id=EVENT_ID,
                                      planned_on=PLANNED_ON, reason="Confirmed.")

    assert when(command, given=a_planned_event()) == []


def test_a_cancelled_event_can_no_longer_be_acknowledged_or_held() -> None:
    cancel = CancelLearningEvent(review_id=REVIEW_ID, learning_event_id=EVENT_ID,
                                 cancelled_on=date(2026, 5, 2), reason="Criminal trial pending.")
    history = then(a_planned_event(), cancel)

    assert isinstance(history[-1], LearningEventCancelled)
    assert fold(history).learning_events[0].status is LearningEventStatus.CANCELLED
    with pytest.raises(LearningEventNotPlanned):
        when(acknowledge(POLICE), given=history)
    with pytest.raises(LearningEventNotPlanned):
        when(hold(POLICE), given=history)


def test_a_blank_cancellation_reason_is_refused() -> None:
    cancel = CancelLearningEvent(review_id=REVIEW_ID, learning_event_id=EVENT_ID,
                                 cancelled_on=date(2026, 5, 2), reason=" ")

    with pytest.raises(InvalidCommand) as refused:
        when(cancel, given=a_planned_event())
    assert refused.value.field == "reason"
