"""Deadline arithmetic, and overdue responses and actions recorded once per deadline with their
escalations; re-verification reminded once."""

from __future__ import annotations

from datetime import date

import pytest
from recommendations_givens import (
    POLICE,
    a_recorded_recommendation,
    check,
    claim,
    respond,
    then,
    verify,
    when,
)

from dhr_contracts.recommendations import (
    ActionOverdue,
    AddresseeType,
    EscalationReason,
    EscalationTarget,
    RecommendationEscalated,
    RecommendationResponseOverdue,
    ReverificationDue,
)
from dhr_recommendations.deadlines import (
    add_months,
    is_past,
    response_due_on,
    reverify_on,
    target_date_in_text,
)
from dhr_recommendations.domain import fold

ISSUED = date(2026, 3, 2)


@pytest.mark.parametrize(("start", "months", "expected"), [
    (date(2026, 1, 31), 1, date(2026, 2, 28)),
    (date(2028, 1, 31), 1, date(2028, 2, 29)),
    (date(2026, 3, 2), 12, date(2027, 3, 2)),
    (date(2026, 11, 30), 3, date(2027, 2, 28)),
    (date(2024, 2, 29), 12, date(2025, 2, 28)),
])
def test_months_are_added_with_the_end_of_month_clamped(start: date, months: int,
                                                        expected: date) -> None:
    assert add_months(start, months) == expected


def test_a_response_is_due_56_days_after_issue_by_default() -> None:
    assert response_due_on(ISSUED, AddresseeType.POLICE) == date(2026, 4, 27)
    assert response_due_on(ISSUED, AddresseeType.GOVERNMENT_DEPARTMENT,
                           {AddresseeType.GOVERNMENT_DEPARTMENT: 90}) == date(2026, 5, 31)


def test_re_verification_is_twelve_months_after_verification_by_default() -> None:
    assert reverify_on(date(2027, 4, 15)) == date(2028, 4, 15)
    assert reverify_on(date(2027, 4, 15), 6) == date(2027, 10, 15)


def test_a_deadline_is_overdue_the_day_after_it() -> None:
    assert not is_past(date(2026, 4, 27), date(2026, 4, 27))
    assert is_past(date(2026, 4, 27), date(2026, 4, 28))
    assert not is_past(None, date(2030, 1, 1))


@pytest.mark.parametrize(("text", "expected"), [
    ("Publish the protocol by 31 March 2027.", date(2027, 3, 31)),
    ("Publish the protocol by 31st March 2027.", date(2027, 3, 31)),
    ("Publish the protocol by 2027-03-31.", date(2027, 3, 31)),
    ("Publish the protocol by 31/03/2027.", date(2027, 3, 31)),
    ("Publish the protocol by March 2027.", date(2027, 3, 31)),
    ("Publish the protocol by the end of February 2028.", date(2028, 2, 29)),
    ("Publish the protocol within six months.", date(2026, 9, 2)),
    ("Publish the protocol within 8 weeks.", date(2026, 4, 27)),
    ("Publish the protocol within 30 days.", date(2026, 4, 1)),
    ("Publish the protocol within one year.", date(2027, 3, 2)),
    ("Publish the protocol soon.", None),
    ("Publish the protocol by 31 Smarch 2027.", None),
])
def test_target_dates_are_read_from_the_wording(text: str, expected: date | None) -> None:
    assert target_date_in_text(text, ISSUED) == expected


def test_an_overdue_response_is_recorded_once_with_one_escalation_to_the_csp() -> None:
    history = a_recorded_recommendation()
    assert when(check(date(2026, 4, 27)), history) == []
    events = when(check(date(2026, 4, 28)), history)
    assert [type(e) for e in events] == [RecommendationResponseOverdue, RecommendationEscalated]
    escalation = events[1]
    assert isinstance(escalation, RecommendationEscalated)
    assert (escalation.escalated_to, escalation.reason, escalation.due_on) == (
        EscalationTarget.CSP, EscalationReason.RESPONSE_OVERDUE, date(2026, 4, 27))
    assert when(check(date(2026, 5, 30)), [*history, *events]) == []


def test_a_national_recommendation_is_escalated_to_oversight_too() -> None:
    history = a_recorded_recommendation(level="national", addressees=[{"name": "Home Office"}])
    events = when(check(date(2026, 6, 1)), history)
    assert [(type(e).__name__, getattr(e, "escalated_to", None)) for e in events] == [
        ("RecommendationResponseOverdue", None),
        ("RecommendationEscalated", EscalationTarget.CSP),
        ("RecommendationEscalated", EscalationTarget.OVERSIGHT)]


def test_a_response_in_time_means_no_response_overdue() -> None:
    history = then(a_recorded_recommendation(), respond("accepted"))
    assert when(check(date(2026, 5, 1)), history) == []


def test_an_unfinished_action_is_overdue_once_per_target_date() -> None:
    history = then(a_recorded_recommendation(), respond("accepted"), claim("in_progress"))
    assert when(check(date(2027, 3, 31)), history) == []
    events = when(check(date(2027, 4, 1)), history)
    assert isinstance(events[0], ActionOverdue)
    assert events[0].target_date == date(2027, 3, 31)
    assert [e.reason for e in events[1:]] == [EscalationReason.ACTION_OVERDUE]  # type: ignore[attr-defined]
    history += events
    assert when(check(date(2027, 5, 1)), history) == []
    # A new target date agreed may become overdue in its turn.
    history = then(history, respond("accepted_in_part", recorded_on=date(2027, 4, 2),
                                    target_date=date(2027, 9, 30)))
    later = when(check(date(2027, 10, 1)), history)
    assert [type(e) for e in later] == [ActionOverdue, RecommendationEscalated]


def test_a_claimed_implementation_is_not_an_overdue_action() -> None:
    history = then(a_recorded_recommendation(), respond("accepted"), claim("implemented"))
    assert when(check(date(2027, 6, 1)), history) == []


def test_an_implementation_verified_gets_one_reverification_reminder_after_twelve_months() -> None:
    history = then(a_recorded_recommendation(), respond("accepted"), claim("implemented"),
                   verify("implemented", verified_on=date(2027, 4, 15)))
    assert fold(history).addressee(POLICE).reverify_on == date(2028, 4, 15)
    assert when(check(date(2028, 4, 14)), history) == []
    events = when(check(date(2028, 4, 15)), history)
    assert events == [ReverificationDue(
        recommendation_id=events[0].recommendation_id, review_id=events[0].review_id,  # type: ignore[attr-defined]
        addressee_id=POLICE, verified_on=date(2027, 4, 15), due_on=date(2028, 4, 15),
        detected_on=date(2028, 4, 15))]
    assert when(check(date(2028, 6, 1)), [*history, *events]) == []


def test_a_closed_addressee_is_never_overdue() -> None:
    history = then(a_recorded_recommendation(),
                   verify("no_longer_applicable", verified_on=date(2026, 3, 10)))
    assert when(check(date(2028, 1, 1)), history) == []
