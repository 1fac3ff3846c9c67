"""Specialist advocacy: offered, then accepted or declined; a new offer is always possible."""

from datetime import date

import pytest
from family_givens import (
    MOTHER,
    REVIEW_ID,
    STRANGER,
    a_family,
    accept_advocacy,
    decline_advocacy,
    offer_advocacy,
    then,
    when,
)

from dhr_contracts.family import AdvocacyAccepted, AdvocacyDeclined, AdvocacyOffered
from dhr_panel.family import (
    AdvocacyOfferAlreadyAnswered,
    AdvocacyOfferNotFound,
    InvalidFamilyCommand,
    PersonNotRecorded,
    fold,
)


def test_advocacy_is_offered_to_a_recorded_person_with_the_provider() -> None:
    assert when(offer_advocacy(provider_name=" National Homicide Service "), given=a_family()) == [
        AdvocacyOffered(review_id=REVIEW_ID, offer_number=1, person_id=MOTHER,
                        offered_on=date(2026, 4, 5), provider_name="National Homicide Service")]


def test_advocacy_is_offered_only_to_a_recorded_person() -> None:
    with pytest.raises(PersonNotRecorded) as refused:
        when(offer_advocacy(person_id=STRANGER), given=a_family())

    assert refused.value.field == "person_id"


def test_an_accepted_offer_records_the_provider_and_the_person() -> None:
    assert when(accept_advocacy(), given=then(a_family(), offer_advocacy())) == [
        AdvocacyAccepted(review_id=REVIEW_ID, offer_number=1, person_id=MOTHER,
                         accepted_on=date(2026, 4, 10), provider_name="AAFDA")]


def test_advocacy_cannot_be_accepted_before_it_was_offered() -> None:
    with pytest.raises(AdvocacyOfferNotFound) as refused:
        when(accept_advocacy(), given=a_family())

    assert refused.value.field == "offer_number"


def test_an_acceptance_dated_before_the_offer_is_refused() -> None:
    with pytest.raises(InvalidFamilyCommand) as refused:
        when(accept_advocacy(on=date(2026, 4, 4)), given=then(a_family(), offer_advocacy()))

    assert refused.value.field == "accepted_on"


def test_an_offer_is_answered_once_and_a_declined_one_can_be_made_again() -> None:
    declined = then(a_family(), offer_advocacy(), decline_advocacy())
    assert isinstance(declined[-1], AdvocacyDeclined)

    with pytest.raises(AdvocacyOfferAlreadyAnswered) as refused:
        when(accept_advocacy(), given=declined)
    assert refused.value.field == "offer_number"

    offered_again = then(declined, offer_advocacy(on=date(2026, 6, 1)))
    accepted = then(offered_again, accept_advocacy(offer_number=2, on=date(2026, 6, 2)))
    offers = fold(accepted).advocacy_offers
    assert [(o.offer_number, o.declined_on, o.accepted_on) for o in offers] == [
        (1, date(2026, 4, 10), None), (2, None, date(2026, 6, 2))]
