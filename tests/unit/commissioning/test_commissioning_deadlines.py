"""Calendar-month arithmetic and overdue deadlines."""

from datetime import date

import pytest
from commissioning_givens import REVIEW_ID, a_commissioned_review, a_notified_review, then

from dhr_commissioning.deadlines import add_months, days_between, extend_by_days
from dhr_commissioning.domain import (
    COMPLETION_OVERDUE,
    DECISION_OVERDUE,
    PauseReview,
    ResumeReview,
    fold,
    initial_state,
    overdue,
)
from dhr_contracts.commissioning import PauseReason


@pytest.mark.parametrize(("start", "months", "expected"), [
    (date(2025, 1, 15), 1, date(2025, 2, 15)),
    (date(2025, 1, 31), 1, date(2025, 2, 28)),
    (date(2024, 1, 31), 1, date(2024, 2, 29)),
    (date(2025, 3, 31), 1, date(2025, 4, 30)),
    (date(2025, 8, 31), 6, date(2026, 2, 28)),
    (date(2025, 11, 30), 3, date(2026, 2, 28)),
    (date(2025, 12, 31), 1, date(2026, 1, 31)),
    (date(2025, 7, 20), 12, date(2026, 7, 20)),
    (date(2025, 2, 28), 1, date(2025, 3, 28)),
])
def test_adding_calendar_months_clamps_the_day_to_the_month_end(
    start: date, months: int, expected: date,
) -> None:
    assert add_months(start, months) == expected


def test_days_between_and_extension_are_plain_day_counts() -> None:
    assert days_between(date(2025, 2, 27), date(2025, 3, 1)) == 2
    assert extend_by_days(date(2025, 12, 30), 3) == date(2026, 1, 2)


def test_nothing_is_overdue_for_a_review_that_does_not_exist() -> None:
    assert overdue(initial_state(), date(2030, 1, 1)) == []


def test_a_decision_is_overdue_only_after_its_due_date() -> None:
    state = fold(a_notified_review())  # decision due 3 April 2025

    assert overdue(state, date(2025, 4, 3)) == []
    assert overdue(state, date(2025, 4, 4)) == [DECISION_OVERDUE]


def test_a_decision_once_made_is_no_longer_overdue() -> None:
    assert DECISION_OVERDUE not in overdue(fold(a_commissioned_review()), date(2025, 12, 1))


def test_a_commissioned_review_is_overdue_after_its_completion_due_date() -> None:
    state = fold(a_commissioned_review())  # completion due 20 September 2025

    assert overdue(state, date(2025, 9, 20)) == []
    assert overdue(state, date(2025, 9, 21)) == [COMPLETION_OVERDUE]


def test_a_paused_review_is_never_overdue_for_completion() -> None:
    pause = PauseReview(review_id=REVIEW_ID, paused_on=date(2025, 4, 1),
                        reason=PauseReason.CRIMINAL_PROCEEDINGS)

    state = fold(then(a_commissioned_review(), pause))

    assert overdue(state, date(2026, 6, 1)) == []


def test_completion_is_overdue_net_of_pauses() -> None:
    history = then(a_commissioned_review(),
                   PauseReview(review_id=REVIEW_ID, paused_on=date(2025, 4, 1),
                               reason=PauseReason.INQUEST),
                   ResumeReview(review_id=REVIEW_ID, resumed_on=date(2025, 5, 1)))

    state = fold(history)  # due 20 September + 30 days paused = 20 October 2025

    assert overdue(state, date(2025, 10, 20)) == []
    assert overdue(state, date(2025, 10, 21)) == [COMPLETION_OVERDUE]
