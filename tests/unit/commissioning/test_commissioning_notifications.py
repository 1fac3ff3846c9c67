"""The Home Office and the family are told of the decision, only once it is made."""

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
    DecisionNotMade,
    HomeOfficeAlreadyNotified,
    InvalidCommand,
    RecordFamilyInformed,
    RecordHomeOfficeNotified,
    ReviewNotFound,
    fold,
)
from dhr_contracts.commissioning import (
    DecisionOutcome,
    FamilyContactChannel,
    FamilyInformed,
    HomeOfficeNotified,
)


def home_office_notified(on: date = date(2025, 3, 21)) -> RecordHomeOfficeNotified:
    return RecordHomeOfficeNotified(review_id=REVIEW_ID, notified_on=on)


def family_informed(on: date = date(2025, 3, 22),
                    channel: FamilyContactChannel = FamilyContactChannel.IN_PERSON,
                    ) -> RecordFamilyInformed:
    return RecordFamilyInformed(review_id=REVIEW_ID, informed_on=on, channel=channel)


def test_notifying_the_home_office_records_which_decision_it_was_told() -> None:
    assert when(home_office_notified(), given=a_review_not_commissioned()) == [
        HomeOfficeNotified(review_id=REVIEW_ID, notified_on=date(2025, 3, 21),
                           decision=DecisionOutcome.NOT_COMMISSIONED)]
    assert when(home_office_notified(), given=a_commissioned_review()) == [
        HomeOfficeNotified(review_id=REVIEW_ID, notified_on=date(2025, 3, 21),
                           decision=DecisionOutcome.COMMISSIONED)]


def test_the_home_office_cannot_be_notified_before_a_decision() -> None:
    with pytest.raises(DecisionNotMade):
        when(home_office_notified(), given=a_notified_review())


def test_the_home_office_cannot_be_notified_of_an_unknown_review() -> None:
    with pytest.raises(ReviewNotFound):
        when(home_office_notified(), given=[])


def test_the_home_office_is_notified_only_once() -> None:
    given = then(a_commissioned_review(), home_office_notified())

    with pytest.raises(HomeOfficeAlreadyNotified):
        when(home_office_notified(date(2025, 3, 25)), given=given)


def test_the_home_office_cannot_be_notified_before_the_decision_date() -> None:
    with pytest.raises(InvalidCommand) as refused:
        when(home_office_notified(date(2025, 3, 19)), given=a_commissioned_review())

    assert refused.value.field == "notified_on"


def test_telling_the_family_records_the_channel_and_the_decision() -> None:
    assert when(family_informed(), given=a_review_not_commissioned()) == [
        FamilyInformed(review_id=REVIEW_ID, informed_on=date(2025, 3, 22),
                       channel=FamilyContactChannel.IN_PERSON,
                       decision=DecisionOutcome.NOT_COMMISSIONED)]


def test_the_family_may_be_told_more_than_once() -> None:
    history = then(a_commissioned_review(),
                   family_informed(date(2025, 3, 22), FamilyContactChannel.LETTER),
                   family_informed(date(2025, 4, 2), FamilyContactChannel.VIA_ADVOCATE))

    contacts = fold(history).family_informed
    assert [contact.channel for contact in contacts] == [
        FamilyContactChannel.LETTER, FamilyContactChannel.VIA_ADVOCATE]


def test_the_family_cannot_be_told_before_a_decision() -> None:
    with pytest.raises(DecisionNotMade):
        when(family_informed(), given=a_notified_review())


def test_the_family_cannot_be_told_before_the_decision_date() -> None:
    with pytest.raises(InvalidCommand) as refused:
        when(family_informed(date(2025, 3, 1)), given=a_commissioned_review())

    assert refused.value.field == "informed_on"
