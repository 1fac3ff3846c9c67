"""Eligibility against the statutory test; grey areas always go to a human."""

from typing import Any

import pytest
from commissioning_givens import receive_notification, when

from dhr_commissioning.domain import assess_eligibility
from dhr_contracts.commissioning import (
    AgeBand,
    Circumstances,
    EligibilityAssessed,
    EligibilityOutcome,
    GreyAreaFlag,
    PriorAgencyContact,
    SuspectRelationship,
)


def assessed(**changes: Any) -> EligibilityAssessed:
    event = when(receive_notification(**changes), given=[])[1]
    assert isinstance(event, EligibilityAssessed)
    return event


@pytest.mark.parametrize("relationship", ["current_intimate_partner", "former_intimate_partner",
                                          "relative", "household_member"])
def test_an_adult_killed_by_a_partner_relative_or_household_member_is_eligible(
    relationship: str,
) -> None:
    event = assessed(suspect_relationship=relationship)

    assert event.outcome is EligibilityOutcome.ELIGIBLE
    assert event.grey_area_flags == ()
    assert len(event.reasons) == 2


def test_a_victim_of_exactly_16_is_eligible() -> None:
    assert assessed(victim_age=16).outcome is EligibilityOutcome.ELIGIBLE


def test_a_victim_known_to_be_under_16_is_not_eligible() -> None:
    event = assessed(victim_age=15)

    assert event.outcome is EligibilityOutcome.NOT_ELIGIBLE
    assert any("under 16" in reason for reason in event.reasons)


def test_a_victim_in_the_under_16_band_is_not_eligible_even_with_grey_areas() -> None:
    event = assessed(victim_age=None, victim_age_band="under_16", suspect_relationship="unknown")

    assert event.outcome is EligibilityOutcome.NOT_ELIGIBLE
    assert event.grey_area_flags == (GreyAreaFlag.RELATIONSHIP_UNKNOWN,)


def test_an_adult_age_band_satisfies_the_age_test() -> None:
    event = assessed(victim_age=None, victim_age_band="65+")

    assert event.outcome is EligibilityOutcome.ELIGIBLE
    assert any("65+" in reason for reason in event.reasons)


@pytest.mark.parametrize(("changes", "flag"), [
    ({"victim_age": None, "victim_age_band": "unknown"}, GreyAreaFlag.AGE_UNKNOWN),
    ({"suspect_relationship": "unknown"}, GreyAreaFlag.RELATIONSHIP_UNKNOWN),
    ({"suspect_relationship": "other"}, GreyAreaFlag.RELATIONSHIP_OTHER),
    ({"circumstances": "suspected_suicide_with_domestic_abuse_history"},
     GreyAreaFlag.SUSPECTED_SUICIDE),
    ({"circumstances": "other_or_unexplained"}, GreyAreaFlag.CIRCUMSTANCES_UNEXPLAINED),
    ({"prior_agency_contact": "no"}, GreyAreaFlag.NO_PRIOR_AGENCY_CONTACT),
    ({"prior_agency_contact": "unknown"}, GreyAreaFlag.PRIOR_AGENCY_CONTACT_UNKNOWN),
])
def test_each_grey_area_is_flagged_and_left_to_a_human(
    changes: dict[str, Any], flag: GreyAreaFlag,
) -> None:
    event = assessed(**changes)

    assert event.outcome is EligibilityOutcome.NEEDS_HUMAN_DECISION
    assert event.grey_area_flags == (flag,)
    assert any("human" in reason for reason in event.reasons)


def test_every_grey_area_present_is_flagged() -> None:
    event = assessed(victim_age=None, victim_age_band="unknown", suspect_relationship="other",
                     circumstances="suspected_suicide_with_domestic_abuse_history",
                     prior_agency_contact="no")

    assert event.outcome is EligibilityOutcome.NEEDS_HUMAN_DECISION
    assert set(event.grey_area_flags) == {
        GreyAreaFlag.AGE_UNKNOWN, GreyAreaFlag.RELATIONSHIP_OTHER,
        GreyAreaFlag.SUSPECTED_SUICIDE, GreyAreaFlag.NO_PRIOR_AGENCY_CONTACT}


def test_the_assessment_is_made_when_the_notification_is_received() -> None:
    event = assessed()

    assert event.assessed_at == receive_notification().received_at


def test_the_assessment_helper_is_pure_and_usable_on_its_own() -> None:
    outcome, reasons, flags = assess_eligibility(
        40, AgeBand.AGED_35_TO_44, SuspectRelationship.RELATIVE, Circumstances.HOMICIDE,
        PriorAgencyContact.YES)

    assert (outcome, flags) == (EligibilityOutcome.ELIGIBLE, ())
    assert reasons
