"""Learning points with Home Office themes and free tags, and their dissemination to partners."""

from datetime import date

import pytest
from learning_givens import (
    DISSEMINATION_ID,
    EVENT_ID,
    HEALTH,
    POINT_ID,
    POLICE,
    REVIEW_ID,
    a_held_event,
    a_planned_event,
    a_recorded_point,
    disseminate,
    record_learning_point,
    then,
    when,
)
from pydantic import ValidationError

from dhr_contracts.learning import (
    DisseminationChannel,
    LearningPointDisseminated,
    LearningPointRecorded,
    LearningTheme,
)
from dhr_learning.domain import (
    AttributionRefused,
    InvalidCommand,
    LearningPointNotFound,
    fold,
    normalise_tags,
)


def test_a_learning_point_is_recorded_with_its_themes() -> None:
    assert when(record_learning_point(), given=[]) == [LearningPointRecorded(
        review_id=REVIEW_ID, learning_point_id=POINT_ID, recorded_on=date(2026, 5, 20),
        summary="Risk information must reach GPs within a day.",
        themes=(LearningTheme.IDENTIFICATION_OF_RISK, LearningTheme.MULTI_AGENCY_WORKING),
        tags=())]


def test_the_eight_home_office_themes_are_offered() -> None:
    assert {theme.value for theme in LearningTheme} == {
        "technology_systems", "identification_of_risk", "training", "policy",
        "multi_agency_working", "record_keeping", "awareness_raising", "other"}


def test_a_learning_point_needs_at_least_one_theme() -> None:
    with pytest.raises(ValueError, match="themes"):
        record_learning_point(themes=())


def test_an_unknown_theme_is_refused() -> None:
    with pytest.raises(ValueError, match="themes"):
        record_learning_point(themes=("blame",))


def test_tags_are_lower_case_trimmed_and_without_repeats() -> None:
    event = when(record_learning_point(tags=(" Coercive  Control", "coercive control", "MARAC",
                                             "  ")), given=[])[0]

    assert isinstance(event, LearningPointRecorded)
    assert event.tags == ("coercive control", "marac")
    assert normalise_tags(["A", "a "]) == ("a",)


def test_repeated_themes_are_recorded_once() -> None:
    event = when(record_learning_point(themes=("training", "training")), given=[])[0]

    assert isinstance(event, LearningPointRecorded)
    assert event.themes == (LearningTheme.TRAINING,)


def test_a_point_links_to_a_held_learning_event_and_a_draft_recommendation() -> None:
    event = when(record_learning_point(learning_event_id=EVENT_ID, draft_recommendation=" 3 "),
                 given=a_held_event())[0]

    assert isinstance(event, LearningPointRecorded)
    assert event.learning_event_id == EVENT_ID
    assert event.draft_recommendation == "3"


def test_a_point_linked_to_an_event_not_held_is_refused() -> None:
    with pytest.raises(InvalidCommand) as refused:
        when(record_learning_point(learning_event_id=EVENT_ID), given=a_planned_event())
    assert refused.value.field == "learning_event_id"


def test_a_blank_summary_is_refused() -> None:
    with pytest.raises(InvalidCommand) as refused:
        when(record_learning_point(summary=" "), given=[])
    assert refused.value.field == "summary"


def test_a_briefing_to_partners_is_recorded() -> None:
    assert when(disseminate(), given=a_recorded_point()) == [LearningPointDisseminated(
        review_id=REVIEW_ID, learning_point_id=POINT_ID, dissemination_id=DISSEMINATION_ID,
        issued_on=date(2026, 6, 1), partners=(POLICE, HEALTH),
        channel=DisseminationChannel.BRIEFING_SESSION)]
    state = fold(then(a_recorded_point(), disseminate()))
    assert state.learning_points[0].disseminations[0].partners == (POLICE, HEALTH)


def test_a_briefing_to_a_person_is_refused() -> None:
    with pytest.raises(AttributionRefused) as refused:
        when(disseminate(partners=(POLICE, "Ms Taylor")), given=a_recorded_point())
    assert refused.value.field == "partners[1]"


def test_a_briefing_before_the_point_was_recorded_is_refused() -> None:
    with pytest.raises(InvalidCommand) as refused:
        when(disseminate(issued_on=date(2026, 5, 1)), given=a_recorded_point())
    assert refused.value.field == "issued_on"


def test_a_briefing_on_an_unknown_point_is_refused() -> None:
    with pytest.raises(LearningPointNotFound):
        when(disseminate(), given=[])


def test_the_same_dissemination_is_not_recorded_twice() -> None:
    with pytest.raises(InvalidCommand) as refused:
        when(disseminate(), given=then(a_recorded_point(), disseminate()))
    assert refused.value.field == "dissemination_id"


def test_a_partner_name_longer_than_the_record_holds_is_refused() -> None:
    with pytest.raises(ValidationError, match=r"partners\.1"):
        disseminate(partners=(POLICE, "Northshire " + "Partnership " * 20))


def test_a_tag_is_measured_once_lower_cased() -> None:
    # "İ" lower-cases to two characters: 60 characters as given, 61 as stored.
    with pytest.raises(InvalidCommand) as refused:
        when(record_learning_point(tags=("İ" + "x" * 59,)), given=[])
    assert refused.value.field == "tags"
