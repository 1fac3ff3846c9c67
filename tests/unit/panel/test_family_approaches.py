"""Approaches: with care, possibly more than once; a decline never closes the door."""

from datetime import date

import pytest
from family_givens import (
    FRIEND,
    MOTHER,
    REVIEW_ID,
    STRANGER,
    a_family,
    a_family_that_declined,
    approach,
    contribution,
    record_member,
    then,
    when,
)

from dhr_contracts.family import (
    ApproachChannel,
    ApproachOutcome,
    FamilyContributionRecorded,
    FamilyMemberApproached,
)
from dhr_panel.family import (
    InvalidFamilyCommand,
    PersonNotRecorded,
    fold,
    process_facts,
)


def test_a_first_approach_is_numbered_one_and_is_not_a_reapproach() -> None:
    assert when(approach("no_response"), given=a_family()) == [FamilyMemberApproached(
        review_id=REVIEW_ID, person_id=MOTHER, approach_number=1, approached_on=date(2026, 4, 5),
        channel=ApproachChannel.VIA_FAMILY_LIAISON_OFFICER, outcome=ApproachOutcome.NO_RESPONSE,
        is_reapproach=False)]


def test_a_family_that_declined_can_be_re_approached_and_then_agree() -> None:
    given = a_family_that_declined()

    re_approach = approach("agreed", on=date(2026, 7, 1), channel="via_advocate")
    events = when(re_approach, given=given)

    assert events == [FamilyMemberApproached(
        review_id=REVIEW_ID, person_id=MOTHER, approach_number=2, approached_on=date(2026, 7, 1),
        channel=ApproachChannel.VIA_ADVOCATE, outcome=ApproachOutcome.AGREED, is_reapproach=True)]
    history = then(given, re_approach, contribution())
    assert isinstance(history[-1], FamilyContributionRecorded)
    assert process_facts(fold(history))["family_contributed"] is True


def test_a_re_approach_is_never_refused_whatever_the_earlier_outcomes() -> None:
    history = a_family()
    outcomes = ["declined", "declined", "no_response", "deferred", "agreed", "declined",
                "declined", "agreed"]
    for day, outcome in enumerate(outcomes, start=1):
        history = then(history, approach(outcome, on=date(2026, 5, day)))

    approaches = fold(history).approaches
    assert [a.outcome for a in approaches] == outcomes
    assert [a.approach_number for a in approaches] == list(range(1, len(outcomes) + 1))
    assert [a.is_reapproach for a in approaches] == [False] + [True] * (len(outcomes) - 1)


def test_the_approach_history_stays_in_order_per_person() -> None:
    history = then(a_family(), record_member(person_id=FRIEND, name="Fran Friend",
                                             relationship="friend"),
                   approach("declined", on=date(2026, 4, 5)),
                   approach("agreed", on=date(2026, 4, 6), person_id=FRIEND),
                   approach("agreed", on=date(2026, 4, 9)))

    state = fold(history)
    assert [(a.person_id, a.approach_number) for a in state.approaches] == [
        (MOTHER, 1), (FRIEND, 1), (MOTHER, 2)]


def test_an_approach_needs_a_recorded_person() -> None:
    with pytest.raises(PersonNotRecorded) as refused:
        when(approach(person_id=STRANGER), given=a_family())

    assert refused.value.field == "person_id"


def test_an_approach_before_the_persons_previous_one_is_refused() -> None:
    with pytest.raises(InvalidFamilyCommand) as refused:
        when(approach("agreed", on=date(2026, 4, 4)), given=a_family_that_declined())

    assert refused.value.field == "approached_on"


def test_two_approaches_on_the_same_day_are_allowed() -> None:
    assert when(approach("agreed", on=date(2026, 4, 5)), given=a_family_that_declined())


def test_an_approach_note_is_personal_data() -> None:
    assert FamilyMemberApproached.personal_fields() == {"note"}
