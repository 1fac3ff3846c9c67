"""Contributions: only from a recorded person whose latest approach ended in agreement."""

from datetime import date

import pytest
from family_givens import (
    MOTHER,
    REVIEW_ID,
    STRANGER,
    a_family,
    a_family_that_agreed,
    a_family_that_declined,
    approach,
    contribution,
    then,
    when,
)

from dhr_contracts.family import ContributionKind, FamilyContributionRecorded
from dhr_panel.family import (
    InvalidFamilyCommand,
    PersonHasNotAgreed,
    PersonNotRecorded,
)


def test_a_person_who_agreed_contributes() -> None:
    assert when(contribution(kind="memory_book"), given=a_family_that_agreed()) == [
        FamilyContributionRecorded(
            review_id=REVIEW_ID, contribution_number=1, person_id=MOTHER,
            contributed_on=date(2026, 7, 15), kind=ContributionKind.MEMORY_BOOK,
            summary="Described the victim's isolation.")]


def test_contributions_are_numbered_across_the_review() -> None:
    history = then(a_family_that_agreed(), contribution(), contribution(kind="written"))

    assert [e.contribution_number for e in history if isinstance(e, FamilyContributionRecorded)] \
        == [1, 2]


def test_a_contribution_needs_a_recorded_person() -> None:
    with pytest.raises(PersonNotRecorded) as refused:
        when(contribution(person_id=STRANGER), given=a_family_that_agreed())

    assert refused.value.field == "person_id"


def test_a_person_never_approached_cannot_contribute_yet() -> None:
    with pytest.raises(PersonHasNotAgreed) as refused:
        when(contribution(), given=a_family())

    assert refused.value.field == "person_id"


@pytest.mark.parametrize("outcome", ["declined", "no_response", "deferred"])
def test_a_person_whose_latest_approach_was_not_agreed_cannot_contribute(outcome: str) -> None:
    with pytest.raises(PersonHasNotAgreed) as refused:
        when(contribution(), given=then(a_family(), approach(outcome)))

    assert refused.value.field == "person_id"
    assert outcome in refused.value.message


def test_the_latest_approach_wins_a_later_decline_suspends_contributions() -> None:
    given = then(a_family_that_agreed(), approach("declined", on=date(2026, 5, 1)))

    with pytest.raises(PersonHasNotAgreed):
        when(contribution(), given=given)

    agreed_again = then(given, approach("agreed", on=date(2026, 6, 1)))
    assert when(contribution(), given=agreed_again)


def test_a_contribution_dated_before_the_agreement_is_refused() -> None:
    given = then(a_family_that_declined(), approach("agreed", on=date(2026, 7, 1)))

    with pytest.raises(InvalidFamilyCommand) as refused:
        when(contribution(on=date(2026, 6, 30)), given=given)

    assert refused.value.field == "contributed_on"


def test_a_blank_summary_is_refused() -> None:
    with pytest.raises(InvalidFamilyCommand) as refused:
        when(contribution(summary=" "), given=a_family_that_agreed())

    assert refused.value.field == "summary"


def test_the_content_of_a_contribution_is_personal_data() -> None:
    assert FamilyContributionRecorded.personal_fields() == {"summary"}
