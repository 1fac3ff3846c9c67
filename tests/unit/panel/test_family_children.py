"""Children are rarely heard: how a child was heard is recorded, and why when they were not."""

from datetime import date

import pytest
from family_givens import MOTHER, REVIEW_ID, STRANGER, a_family, child_voice, when

from dhr_contracts.family import ChildVoiceRecorded, ChildVoiceRoute
from dhr_panel.family import (
    FamilyRecordNotFound,
    InvalidFamilyCommand,
    PersonNotRecorded,
)


@pytest.mark.parametrize("route", ["direct", "through_advocate", "through_social_worker"])
def test_a_child_heard_is_recorded_with_the_route(route: str) -> None:
    assert when(child_voice(route=route, summary="Wanted people to know."), given=a_family()) == [
        ChildVoiceRecorded(review_id=REVIEW_ID, recorded_on=date(2026, 8, 1),
                           route=ChildVoiceRoute(route), child_details="Son, aged 12",
                           summary="Wanted people to know.")]


def test_a_child_not_sought_needs_the_reason() -> None:
    with pytest.raises(InvalidFamilyCommand) as refused:
        when(child_voice(route="not_sought"), given=a_family())

    assert refused.value.field == "reason_not_sought"
    with pytest.raises(InvalidFamilyCommand):
        when(child_voice(route="not_sought", reason_not_sought="  "), given=a_family())


def test_a_child_not_sought_is_recorded_with_the_reason() -> None:
    [event] = when(child_voice(route="not_sought", reason_not_sought="Aged 3."), given=a_family())

    assert isinstance(event, ChildVoiceRecorded)
    assert event.reason_not_sought == "Aged 3."


def test_a_reason_not_sought_is_refused_for_a_child_who_was_heard() -> None:
    with pytest.raises(InvalidFamilyCommand) as refused:
        when(child_voice(reason_not_sought="n/a"), given=a_family())

    assert refused.value.field == "reason_not_sought"


def test_a_child_not_heard_has_no_summary_of_what_they_said() -> None:
    with pytest.raises(InvalidFamilyCommand) as refused:
        when(child_voice(route="not_sought", reason_not_sought="Aged 3.", summary="x"),
             given=a_family())

    assert refused.value.field == "summary"


def test_a_child_linked_to_a_person_must_be_a_recorded_person() -> None:
    assert when(child_voice(person_id=MOTHER), given=a_family())
    with pytest.raises(PersonNotRecorded) as refused:
        when(child_voice(person_id=STRANGER), given=a_family())

    assert refused.value.field == "person_id"


def test_a_childs_voice_needs_a_family_record() -> None:
    with pytest.raises(FamilyRecordNotFound):
        when(child_voice(), given=[])


def test_child_details_and_what_they_said_are_personal_data() -> None:
    assert ChildVoiceRecorded.personal_fields() == {"child_details", "summary",
                                                   "reason_not_sought"}
