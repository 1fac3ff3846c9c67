"""The decision to commission a review or not: rationale, reasons, overrides, due dates."""

from datetime import date

import pytest
from commissioning_givens import (
    DECIDED_ON,
    a_commissioned_review,
    a_notified_review,
    a_review_not_commissioned,
    decide_not_to_commission,
    decide_to_commission,
    when,
)
from pydantic import ValidationError

from dhr_commissioning.domain import DecisionAlreadyMade, InvalidCommand, ReviewNotFound
from dhr_contracts.commissioning import (
    DecidedNotToCommission,
    EligibilityOutcome,
    ReviewCommissioned,
)


def test_commissioning_a_review_records_the_rationale_and_the_completion_due_date() -> None:
    events = when(decide_to_commission(), given=a_notified_review())

    assert events == [ReviewCommissioned(
        review_id=events[0].review_id,
        decided_on=DECIDED_ON,
        rationale="Statutory criteria met; agencies were involved.",
        eligibility_outcome=EligibilityOutcome.ELIGIBLE,
        overrides_eligibility_assessment=False,
        decided_after_due_date=False,
        completion_due_months=6,
        completion_due_on=date(2025, 9, 20),
    )]


def test_the_completion_due_date_follows_the_policy_on_the_command() -> None:
    event = when(decide_to_commission(completion_due_months=12), given=a_notified_review())[0]

    assert isinstance(event, ReviewCommissioned)
    assert event.completion_due_on == date(2026, 3, 20)


def test_a_completion_due_date_at_a_month_end_is_clamped() -> None:
    given = a_notified_review()
    command = decide_to_commission(decided_on=date(2025, 8, 31))

    event = when(command, given=given)[0]

    assert isinstance(event, ReviewCommissioned)
    assert event.completion_due_on == date(2026, 2, 28)


def test_a_decision_after_the_due_date_is_allowed_and_marked_late() -> None:
    event = when(decide_to_commission(decided_on=date(2025, 4, 4)), given=a_notified_review())[0]

    assert isinstance(event, ReviewCommissioned)
    assert event.decided_after_due_date is True


def test_a_decision_on_the_due_date_is_not_late() -> None:
    event = when(decide_to_commission(decided_on=date(2025, 4, 3)), given=a_notified_review())[0]

    assert isinstance(event, ReviewCommissioned)
    assert event.decided_after_due_date is False


@pytest.mark.parametrize("rationale", ["", "   "])
def test_a_decision_without_a_rationale_is_refused(rationale: str) -> None:
    with pytest.raises(InvalidCommand) as refused:
        when(decide_to_commission(rationale=rationale), given=a_notified_review())

    assert refused.value.field == "rationale"


def test_a_decision_before_the_csp_learned_of_the_death_is_refused() -> None:
    with pytest.raises(InvalidCommand) as refused:
        when(decide_to_commission(decided_on=date(2025, 3, 2)), given=a_notified_review())

    assert refused.value.field == "decided_on"


def test_a_decision_on_an_unknown_review_is_refused() -> None:
    with pytest.raises(ReviewNotFound):
        when(decide_to_commission(), given=[])


def test_commissioning_an_ineligible_notification_is_recorded_as_an_override() -> None:
    event = when(decide_to_commission(), given=a_notified_review(victim_age=15))[0]

    assert isinstance(event, ReviewCommissioned)
    assert event.eligibility_outcome is EligibilityOutcome.NOT_ELIGIBLE
    assert event.overrides_eligibility_assessment is True


def test_deciding_a_grey_area_either_way_overrides_nothing() -> None:
    given = a_notified_review(prior_agency_contact="no")

    commissioned = when(decide_to_commission(), given=given)[0]
    declined = when(decide_not_to_commission(), given=given)[0]

    assert isinstance(commissioned, ReviewCommissioned)
    assert isinstance(declined, DecidedNotToCommission)
    assert commissioned.overrides_eligibility_assessment is False
    assert declined.overrides_eligibility_assessment is False
    assert declined.eligibility_outcome is EligibilityOutcome.NEEDS_HUMAN_DECISION


def test_a_decision_not_to_commission_carries_its_reasons_for_the_home_office() -> None:
    events = when(decide_not_to_commission(), given=a_notified_review(victim_age=15))

    assert events == [DecidedNotToCommission(
        review_id=events[0].review_id,
        decided_on=DECIDED_ON,
        rationale="The suspect was a stranger to the victim.",
        reasons=("relationship_outside_statutory_test",),
        eligibility_outcome=EligibilityOutcome.NOT_ELIGIBLE,
        overrides_eligibility_assessment=False,
        decided_after_due_date=False,
        home_office_to_be_notified=True,
    )]


def test_declining_an_eligible_notification_is_recorded_as_an_override() -> None:
    event = when(decide_not_to_commission(), given=a_notified_review())[0]

    assert isinstance(event, DecidedNotToCommission)
    assert event.overrides_eligibility_assessment is True


@pytest.mark.parametrize("reasons", [(), ("  ",), ("criminal_case_pending", "")])
def test_a_decision_not_to_commission_without_reasons_is_refused(
    reasons: tuple[str, ...],
) -> None:
    with pytest.raises(InvalidCommand) as refused:
        when(decide_not_to_commission(reasons=reasons), given=a_notified_review())

    assert refused.value.field == "reasons"


def test_a_reason_longer_than_the_record_holds_is_refused_by_the_command() -> None:
    with pytest.raises(ValidationError, match=r"reasons\.1"):
        decide_not_to_commission(reasons=("criminal_case_pending", "x" * 10_001))


def test_a_decision_not_to_commission_without_a_rationale_is_refused() -> None:
    with pytest.raises(InvalidCommand) as refused:
        when(decide_not_to_commission(rationale=" "), given=a_notified_review())

    assert refused.value.field == "rationale"


def test_a_review_cannot_be_commissioned_twice() -> None:
    with pytest.raises(DecisionAlreadyMade):
        when(decide_to_commission(), given=a_commissioned_review())


def test_a_decision_cannot_be_reversed_once_made() -> None:
    with pytest.raises(DecisionAlreadyMade):
        when(decide_not_to_commission(), given=a_commissioned_review())
    with pytest.raises(DecisionAlreadyMade):
        when(decide_to_commission(), given=a_review_not_commissioned())
