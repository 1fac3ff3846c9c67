"""Pausing and resuming a commissioned review: the completion date moves by the days paused."""

from datetime import date

import pytest
from commissioning_givens import (
    REVIEW_ID,
    a_commissioned_review,
    a_notified_review,
    a_review_not_commissioned,
    then,
    when,
)

from dhr_commissioning.domain import (
    InvalidCommand,
    PauseReview,
    ResumeReview,
    ReviewAlreadyPaused,
    ReviewNotCommissioned,
    ReviewNotPaused,
    ReviewStatus,
    fold,
)
from dhr_contracts.base import EventPayload
from dhr_contracts.commissioning import PauseReason, ReviewPaused, ReviewResumed

COMPLETION_DUE_ON = date(2025, 9, 20)  # six months after the decision of 20 March 2025


def pause(on: date = date(2025, 4, 1), reason: PauseReason = PauseReason.CRIMINAL_PROCEEDINGS,
          detail: str | None = "Trial listed at the Crown Court.") -> PauseReview:
    return PauseReview(review_id=REVIEW_ID, paused_on=on, reason=reason, detail=detail)


def resume(on: date) -> ResumeReview:
    return ResumeReview(review_id=REVIEW_ID, resumed_on=on)


def test_a_commissioned_review_is_paused_with_its_reason() -> None:
    assert when(pause(), given=a_commissioned_review()) == [ReviewPaused(
        review_id=REVIEW_ID, paused_on=date(2025, 4, 1),
        reason=PauseReason.CRIMINAL_PROCEEDINGS, detail="Trial listed at the Crown Court.")]


def test_a_pause_for_a_listed_reason_needs_no_detail() -> None:
    event = when(pause(reason=PauseReason.INQUEST, detail=None), given=a_commissioned_review())[0]

    assert isinstance(event, ReviewPaused)
    assert event.detail is None


def test_a_pause_for_an_other_reason_needs_its_detail() -> None:
    with pytest.raises(InvalidCommand) as refused:
        when(pause(reason=PauseReason.OTHER, detail=" "), given=a_commissioned_review())

    assert refused.value.field == "detail"


def test_resuming_moves_the_completion_due_date_by_the_days_paused() -> None:
    given = then(a_commissioned_review(), pause(date(2025, 4, 1)))

    assert when(resume(date(2025, 4, 11)), given=given) == [ReviewResumed(
        review_id=REVIEW_ID, resumed_on=date(2025, 4, 11), paused_on=date(2025, 4, 1),
        paused_days=10, total_paused_days=10, completion_due_on=date(2025, 9, 30))]


def test_pauses_add_up_over_the_life_of_the_review() -> None:
    history = then(a_commissioned_review(),
                   pause(date(2025, 4, 1)), resume(date(2025, 4, 11)),
                   pause(date(2025, 5, 1), PauseReason.FAMILY_REASONS, None),
                   resume(date(2025, 5, 31)))

    state = fold(history)
    assert state.total_paused_days == 40
    assert state.completion_due_on == date(2025, 10, 30)
    assert state.status is ReviewStatus.COMMISSIONED
    assert state.paused_since is None


def test_a_pause_resumed_the_same_day_moves_nothing() -> None:
    given = then(a_commissioned_review(), pause(date(2025, 4, 1)))

    event = when(resume(date(2025, 4, 1)), given=given)[0]

    assert isinstance(event, ReviewResumed)
    assert (event.paused_days, event.completion_due_on) == (0, COMPLETION_DUE_ON)


def test_a_paused_review_cannot_be_paused_again() -> None:
    given = then(a_commissioned_review(), pause())

    with pytest.raises(ReviewAlreadyPaused):
        when(pause(date(2025, 4, 5)), given=given)


def test_a_running_review_cannot_be_resumed() -> None:
    with pytest.raises(ReviewNotPaused):
        when(resume(date(2025, 4, 5)), given=a_commissioned_review())


@pytest.mark.parametrize("given", [a_notified_review(), a_review_not_commissioned()])
def test_a_review_not_commissioned_cannot_be_paused_or_resumed(
    given: list[EventPayload],
) -> None:
    with pytest.raises(ReviewNotCommissioned):
        when(pause(), given=given)
    with pytest.raises(ReviewNotCommissioned):
        when(resume(date(2025, 4, 5)), given=given)


def test_a_review_cannot_be_paused_before_it_was_commissioned() -> None:
    with pytest.raises(InvalidCommand) as refused:
        when(pause(date(2025, 3, 19)), given=a_commissioned_review())

    assert refused.value.field == "paused_on"


def test_a_review_cannot_resume_before_it_was_paused() -> None:
    given = then(a_commissioned_review(), pause(date(2025, 4, 1)))

    with pytest.raises(InvalidCommand) as refused:
        when(resume(date(2025, 3, 31)), given=given)

    assert refused.value.field == "resumed_on"


def test_a_new_pause_cannot_start_before_the_last_resumption() -> None:
    given = then(a_commissioned_review(), pause(date(2025, 4, 1)), resume(date(2025, 4, 11)))

    with pytest.raises(InvalidCommand) as refused:
        when(pause(date(2025, 4, 5)), given=given)

    assert refused.value.field == "paused_on"
