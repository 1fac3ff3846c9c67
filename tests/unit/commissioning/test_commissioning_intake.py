"""Intake of a death notification: the case opens, dates and ages are checked, deadlines set."""

from datetime import date

import pytest
from commissioning_givens import (
    CSP_LEARNED_ON,
    RECEIVED_AT,
    REVIEW_ID,
    a_notified_review,
    receive_notification,
    when,
)
from pydantic import ValidationError

from dhr_commissioning.domain import InvalidCommand, ReviewAlreadyExists, fold
from dhr_contracts.commissioning import EligibilityAssessed, NotificationReceived


def test_a_notification_opens_a_review_and_assesses_its_eligibility() -> None:
    events = when(receive_notification(), given=[])

    assert [type(event) for event in events] == [NotificationReceived, EligibilityAssessed]
    received = events[0]
    assert isinstance(received, NotificationReceived)
    assert received.review_id == REVIEW_ID
    assert received.received_at == RECEIVED_AT
    assert received.notifying_agency == "Northshire Police"
    assert received.csp_area == "Northtown"
    assert received.victim_name == "Jane Example"
    assert received.suspect_name == "John Example"
    assert events[1].review_id == REVIEW_ID


def test_the_decision_is_due_one_month_after_the_csp_learned_of_the_death() -> None:
    received = when(receive_notification(), given=[])[0]

    assert isinstance(received, NotificationReceived)
    assert received.decision_due_months == 1
    assert received.decision_due_on == date(2025, 4, 3)


def test_the_decision_due_date_follows_the_policy_on_the_command() -> None:
    received = when(receive_notification(decision_due_months=2), given=[])[0]

    assert isinstance(received, NotificationReceived)
    assert received.decision_due_on == date(2025, 5, 3)


def test_a_decision_due_date_at_a_month_end_is_clamped_to_the_shorter_month() -> None:
    command = receive_notification(date_of_death=date(2024, 1, 30), csp_learned_on=date(2024, 1, 31))

    received = when(command, given=[])[0]

    assert isinstance(received, NotificationReceived)
    assert received.decision_due_on == date(2024, 2, 29)


def test_a_second_notification_for_the_same_review_is_refused() -> None:
    with pytest.raises(ReviewAlreadyExists) as refused:
        when(receive_notification(), given=a_notified_review())

    assert refused.value.field == "review_id"


def test_a_date_of_death_after_the_notification_was_received_is_refused() -> None:
    with pytest.raises(InvalidCommand) as refused:
        when(receive_notification(date_of_death=date(2025, 3, 11)), given=[])

    assert refused.value.field == "date_of_death"
    assert "after the notification was received" in refused.value.message


def test_a_death_on_the_day_the_notification_is_received_is_accepted() -> None:
    command = receive_notification(date_of_death=date(2025, 3, 10), csp_learned_on=date(2025, 3, 10))

    assert len(when(command, given=[])) == 2


def test_the_csp_cannot_learn_of_a_death_before_it_happened() -> None:
    with pytest.raises(InvalidCommand) as refused:
        when(receive_notification(csp_learned_on=date(2025, 2, 28)), given=[])

    assert refused.value.field == "csp_learned_on"


def test_the_csp_cannot_have_learned_of_the_death_after_the_notification_was_received() -> None:
    with pytest.raises(InvalidCommand) as refused:
        when(receive_notification(csp_learned_on=date(2025, 3, 11)), given=[])

    assert refused.value.field == "csp_learned_on"


def test_a_notification_without_age_or_age_band_is_refused() -> None:
    with pytest.raises(InvalidCommand) as refused:
        when(receive_notification(victim_age=None, victim_age_band=None), given=[])

    assert refused.value.field == "victim_age"


def test_an_age_band_alone_is_enough() -> None:
    events = when(receive_notification(victim_age=None, victim_age_band="25-34"), given=[])

    received = events[0]
    assert isinstance(received, NotificationReceived)
    assert received.victim_age is None
    assert received.victim_age_band == "25-34"


def test_an_age_and_an_age_band_that_disagree_are_refused() -> None:
    with pytest.raises(InvalidCommand) as refused:
        when(receive_notification(victim_age=34, victim_age_band="45-54"), given=[])

    assert refused.value.field == "victim_age_band"
    assert "25-34" in refused.value.message


@pytest.mark.parametrize(("age", "band"), [(16, "16-19"), (19, "16-19"), (15, "under_16"),
                                           (65, "65+"), (120, "65+"), (30, "unknown")])
def test_an_age_and_an_age_band_that_agree_are_accepted(age: int, band: str) -> None:
    assert len(when(receive_notification(victim_age=age, victim_age_band=band), given=[])) == 2


@pytest.mark.parametrize("age", [-1, 121])
def test_an_age_outside_0_to_120_cannot_be_given(age: int) -> None:
    with pytest.raises(ValidationError):
        receive_notification(victim_age=age)


def test_blank_names_are_recorded_as_absent() -> None:
    received = when(receive_notification(victim_name="  ", suspect_name=None), given=[])[0]

    assert isinstance(received, NotificationReceived)
    assert received.victim_name is None
    assert received.suspect_name is None


def test_a_blank_notifying_agency_is_refused() -> None:
    with pytest.raises(InvalidCommand) as refused:
        when(receive_notification(notifying_agency="   "), given=[])

    assert refused.value.field == "notifying_agency"


def test_names_are_marked_as_personal_data_in_the_contract() -> None:
    assert NotificationReceived.personal_fields() == {"victim_name", "suspect_name"}


def test_the_csp_learning_date_is_kept_on_the_state() -> None:
    state = fold(a_notified_review())

    assert state.csp_learned_on == CSP_LEARNED_ON
