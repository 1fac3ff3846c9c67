"""Contributions are attributed to an agency that took part, never to a person."""

import pytest
from learning_givens import (
    CONTRIBUTION_ID,
    EVENT_ID,
    HEALTH,
    HELD_ON,
    POLICE,
    REFUGE,
    REVIEW_ID,
    a_held_event,
    a_planned_event,
    contribute,
    then,
    when,
)

from dhr_contracts.learning import ContributionRecorded
from dhr_learning.domain import (
    AttributionRefused,
    InvalidCommand,
    LearningEventNotHeld,
    fold,
    why_not_an_agency,
)


def test_a_contribution_attributed_to_a_participating_agency_is_recorded() -> None:
    assert when(contribute(POLICE), given=a_held_event()) == [ContributionRecorded(
        review_id=REVIEW_ID, learning_event_id=EVENT_ID, contribution_id=CONTRIBUTION_ID,
        agency=POLICE, contributed_on=HELD_ON,
        text="Risk assessments were not shared with health partners.")]


def test_a_contribution_attributed_to_a_persons_name_is_refused_with_a_clear_error() -> None:
    with pytest.raises(AttributionRefused) as refused:
        when(contribute("Jane Smith"), given=a_held_event())

    assert refused.value.field == "agency"
    assert "must name an agency, never a person" in refused.value.message
    assert "first and last name" in refused.value.message
    assert "Jane Smith" not in refused.value.message  # the error never repeats a name


@pytest.mark.parametrize(("attribution", "reason"), [
    ("Mrs Patel", "personal title"),
    ("Dr. Okafor", "personal title"),
    ("DC Jones", "role or rank"),
    ("PC 4512", "role or rank"),
    ("Detective Sergeant Brown", "role or rank"),
    ("Social worker Jane", "role or rank"),
    ("Jane Smith, social worker", "name with their role"),
    ("J. Smith", "first and last name"),
    ("jane.smith@northshire.gov.uk", "email address"),
])
def test_titles_roles_with_names_and_contact_details_are_refused(attribution: str,
                                                                 reason: str) -> None:
    with pytest.raises(AttributionRefused) as refused:
        when(contribute(attribution), given=a_held_event())

    assert refused.value.field == "agency"
    assert reason in refused.value.message


@pytest.mark.parametrize("agency", [
    "Northshire Police", "Greater Manchester Police", "Women's Aid", "Refuge", "Victim Support",
    "Adult Social Care", "Children's Social Care", "Leeds Teaching Hospitals NHS Trust",
    "National Probation Service", "GP Surgery", "Northshire County Council", "Hestia",
])
def test_agency_names_are_not_mistaken_for_people(agency: str) -> None:
    assert why_not_an_agency(agency) is None


def test_a_contribution_from_an_agency_that_did_not_take_part_is_refused() -> None:
    with pytest.raises(AttributionRefused) as refused:
        when(contribute(REFUGE), given=a_held_event())

    assert refused.value.field == "agency"
    assert "one of the learning event's participating agencies" in refused.value.message


def test_the_attribution_is_matched_ignoring_case_and_kept_as_the_agency_spelled_it() -> None:
    event = when(contribute(" NORTHSHIRE police "), given=a_held_event())[0]

    assert isinstance(event, ContributionRecorded)
    assert event.agency == POLICE


def test_free_text_naming_nobody_is_allowed() -> None:
    text = "Our referral pathway did not trigger a MARAC referral after the third call-out."

    event = when(contribute(HEALTH, text=text), given=a_held_event())[0]

    assert isinstance(event, ContributionRecorded)
    assert event.text == text


def test_free_text_is_marked_personal_since_it_may_still_mention_people() -> None:
    assert ContributionRecorded.personal_fields() == {"text"}


def test_contributions_wait_for_the_event_to_be_held() -> None:
    with pytest.raises(LearningEventNotHeld):
        when(contribute(POLICE), given=a_planned_event())


def test_a_contribution_dated_before_the_event_is_refused() -> None:
    from datetime import date

    with pytest.raises(InvalidCommand) as refused:
        when(contribute(contributed_on=date(2026, 5, 1)), given=a_held_event())
    assert refused.value.field == "contributed_on"


def test_a_blank_contribution_is_refused() -> None:
    with pytest.raises(InvalidCommand) as refused:
        when(contribute(text="   "), given=a_held_event())
    assert refused.value.field == "text"


def test_contributions_are_kept_with_their_event() -> None:
    state = fold(then(a_held_event(), contribute()))

    assert [c.agency for c in state.learning_events[0].contributions] == [POLICE]
