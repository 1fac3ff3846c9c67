"""Family members and friends are recorded with their relationship to the victim."""

from datetime import date

import pytest
from family_givens import FRIEND, MOTHER, RECORDED_AT, REVIEW_ID, a_family, record_member, when

from dhr_contracts.family import FamilyMemberRecorded, FamilyRelationship
from dhr_panel.family import (
    InvalidFamilyCommand,
    PersonAlreadyRecorded,
    fold,
    initial_state,
)


def test_recording_a_family_member_opens_the_family_record() -> None:
    events = when(record_member(), given=[])

    assert events == [FamilyMemberRecorded(
        review_id=REVIEW_ID, person_id=MOTHER, recorded_on=date(2026, 4, 2), name="Mary Example",
        relationship=FamilyRelationship.PARENT, contact_details="1 High Street, Norwich")]
    state = fold(events)
    assert state.exists and state.review_id == REVIEW_ID
    assert [p.name for p in state.people] == ["Mary Example"]


def test_a_review_without_events_has_no_family_record() -> None:
    assert not initial_state().exists


def test_names_and_contact_details_are_personal_data() -> None:
    assert FamilyMemberRecorded.personal_fields() == {"name", "contact_details"}


def test_friends_neighbours_and_colleagues_are_recorded_too() -> None:
    for relationship in ("friend", "neighbour", "colleague", "employer"):
        [event] = when(record_member(person_id=FRIEND, relationship=relationship), given=a_family())
        assert isinstance(event, FamilyMemberRecorded)
        assert event.relationship == relationship


def test_the_same_person_is_not_recorded_twice() -> None:
    with pytest.raises(PersonAlreadyRecorded) as refused:
        when(record_member(), given=a_family())

    assert refused.value.field == "person_id"


def test_an_other_relationship_needs_describing() -> None:
    with pytest.raises(InvalidFamilyCommand) as refused:
        when(record_member(relationship="other"), given=[])

    assert refused.value.field == "relationship_detail"
    [event] = when(record_member(relationship="other", relationship_detail="Step-cousin"), given=[])
    assert isinstance(event, FamilyMemberRecorded)
    assert event.relationship_detail == "Step-cousin"


def test_a_blank_name_is_refused_naming_the_field() -> None:
    with pytest.raises(InvalidFamilyCommand) as refused:
        when(record_member(name="   "), given=[])

    assert refused.value.field == "name"


def test_a_date_in_the_future_is_refused() -> None:
    future = RECORDED_AT.date().replace(day=RECORDED_AT.day + 2)

    with pytest.raises(InvalidFamilyCommand) as refused:
        when(record_member(recorded_on=future), given=[])

    assert refused.value.field == "recorded_on"


def test_tomorrows_date_is_allowed_because_england_may_be_a_day_ahead_of_utc() -> None:
    tomorrow = RECORDED_AT.date().replace(day=RECORDED_AT.day + 1)

    assert when(record_member(recorded_on=tomorrow), given=[])
