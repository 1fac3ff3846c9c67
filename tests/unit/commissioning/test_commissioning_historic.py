"""Historic reviews: recorded once per source reference; the same record again is nothing new,
different content for it a conflict."""

from datetime import UTC, datetime

import pytest

from dhr_commissioning.historic import (
    HistoricReviewConflict,
    HistoricReviewState,
    InvalidHistoricReview,
    RecordHistoricReview,
    decide,
    fold,
    historic_review_id,
    stream_id,
)
from dhr_contracts.base import EventPayload
from dhr_contracts.commissioning import (
    CaseCharacteristics,
    HistoricPerpetrator,
    HistoricReviewRecorded,
    HistoricVictim,
)

IMPORTED_AT = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
REVIEW_ID = historic_review_id("dhrd", "INC-0001")


def record(**overrides: object) -> RecordHistoricReview:
    fields: dict[str, object] = {
        "review_id": REVIEW_ID, "source": "dhrd", "source_reference": "INC-0001",
        "csp": "Lincoln", "region": "East Midlands", "death_year": 2018, "death_month": 9,
        "multiple_victims": False, "cause_of_death": "sharp instrument",
        "characteristics": CaseCharacteristics(intimate_partner_violence=True, stalking=None),
        "victims": (HistoricVictim(source_reference="VIC-0001", age_band="25-34", sex="female"),),
        "perpetrators": (HistoricPerpetrator(source_reference="SUS-0001",
                                             age_band_as_recorded="20-34", sex="male",
                                             court_verdict="Unfit to plead"),),
        "imported_at": IMPORTED_AT,
    }
    fields.update(overrides)
    return RecordHistoricReview.model_validate(fields)


def when(command: RecordHistoricReview, given: list[EventPayload]) -> list[EventPayload]:
    return decide(command, fold(given))


def test_a_historic_review_is_recorded_with_everything_the_source_says() -> None:
    [event] = when(record(), given=[])

    assert isinstance(event, HistoricReviewRecorded)
    assert event.model_dump() == {**record().model_dump()}
    assert event.characteristics.stalking is None


def test_the_review_id_is_the_same_for_the_same_reference_and_differs_between_references() -> None:
    assert historic_review_id("dhrd", "INC-0001") == REVIEW_ID
    assert historic_review_id("dhrd", "INC-0002") != REVIEW_ID
    assert stream_id(REVIEW_ID) == f"historic-{REVIEW_ID}"


def test_recording_the_same_content_again_later_records_nothing() -> None:
    given = when(record(), given=[])

    assert when(record(imported_at=datetime(2027, 1, 1, tzinfo=UTC)), given=given) == []


def test_recording_different_content_for_a_recorded_reference_is_a_conflict() -> None:
    given = when(record(), given=[])

    with pytest.raises(HistoricReviewConflict) as refused:
        when(record(region="East"), given=given)

    assert refused.value.field == "region"
    assert "already recorded with different content (region)" in refused.value.message
    assert "INC-0001" not in refused.value.message  # a refusal never repeats what was sent


def test_a_review_id_not_derived_from_the_reference_is_refused() -> None:
    with pytest.raises(InvalidHistoricReview) as refused:
        when(record(review_id=historic_review_id("dhrd", "INC-0002")), given=[])

    assert refused.value.field == "review_id"


def test_a_month_of_death_without_its_year_is_refused() -> None:
    with pytest.raises(InvalidHistoricReview) as refused:
        when(record(death_year=None), given=[])

    assert refused.value.field == "death_month"


def test_a_victim_listed_twice_is_refused() -> None:
    victim = HistoricVictim(source_reference="VIC-0001")

    with pytest.raises(InvalidHistoricReview) as refused:
        when(record(victims=(victim, victim)), given=[])

    assert refused.value.field == "victims"


def test_everything_unknown_but_the_reference_is_a_valid_record() -> None:
    bare = RecordHistoricReview(review_id=REVIEW_ID, source="dhrd", source_reference="INC-0001",
                                imported_at=IMPORTED_AT)

    [event] = when(bare, given=[])

    assert isinstance(event, HistoricReviewRecorded)
    assert event.characteristics == CaseCharacteristics()
    assert fold([event]) == HistoricReviewState(recorded=event)
