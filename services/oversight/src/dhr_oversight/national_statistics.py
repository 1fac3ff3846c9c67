"""National statistics of historic reviews, computed from their events alone.

Pure: standard library, pydantic and the contracts. The input is what the ledger or the
commissioning topic holds, one mapping per event, in any of these shapes:
  - a CloudEvent in the JSON format: `{"type": ..., "data": {...}}`;
  - a Kafka record's parts: `{"ce_type": ..., "data": <the JSON value, as text, bytes or dict>}`;
  - the data itself with its type beside it: `{"ce_type": ..., "review_id": ..., ...}`.
Only `dhr.commissioning.HistoricReviewRecorded.v1` counts; other events are ignored. A review
counted twice (an event read again, or the same record imported into another store) counts once:
the last event of each review id wins.

Unknown values are counted as `unknown`, never dropped, so every dimension adds up to the number
of reviews (or of victims). Victim counts cover the victims the source describes individually
(the DHRD describes victims of single-victim incidents only).
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from dhr_contracts.commissioning import CaseCharacteristics, HistoricReviewRecorded
from dhr_contracts.registry import parse_payload

UNKNOWN = "unknown"
AGE_BANDS = ("16-19", "20-24", "25-34", "35-44", "45-54", "55-64", "65+")
CHARACTERISTICS = tuple(CaseCharacteristics.model_fields)
CSV_COLUMNS = ("dimension", "category", "count")


class CharacteristicCounts(BaseModel):
    """How many reviews were tagged with a characteristic, not tagged, or unknown."""

    model_config = ConfigDict(frozen=True)

    true: int = Field(description="Reviews tagged with the characteristic.")
    false: int = Field(description="Reviews not tagged with it (not necessarily absent).")
    unknown: int = Field(description="Reviews where it is unknown.")


class NationalStatistics(BaseModel):
    """Counts of historic reviews and their victims by each dimension; `unknown` where unknown."""

    model_config = ConfigDict(frozen=True)

    reviews: int = Field(description="Historic reviews counted.")
    victims: int = Field(description="Victims described individually.")
    by_region: dict[str, int] = Field(description="Reviews by region.")
    by_csp: dict[str, int] = Field(description="Reviews by Community Safety Partnership.")
    by_year_of_death: dict[str, int] = Field(description="Reviews by year of death.")
    by_characteristic: dict[str, CharacteristicCounts] = Field(
        description="Reviews by each case characteristic: true, false, unknown.")
    by_victim_age_band: dict[str, int] = Field(
        description="Victims by age band; a band outside the codebook as recorded.")
    by_victim_sex: dict[str, int] = Field(description="Victims by sex.")

    def to_json(self) -> str:
        return self.model_dump_json(indent=2)

    def to_csv(self) -> str:
        """One row per count: dimension, category, count (characteristics as
        `characteristic.<name>` with categories true, false, unknown)."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        writer.writerow(("total", "reviews", self.reviews))
        writer.writerow(("total", "victims", self.victims))
        for dimension, counts in (("region", self.by_region), ("csp", self.by_csp),
                                  ("year_of_death", self.by_year_of_death)):
            writer.writerows((dimension, category, count) for category, count in counts.items())
        for name, tally in self.by_characteristic.items():
            writer.writerows((f"characteristic.{name}", category, count)
                             for category, count in tally.model_dump().items())
        for dimension, counts in (("victim_age_band", self.by_victim_age_band),
                                  ("victim_sex", self.by_victim_sex)):
            writer.writerows((dimension, category, count) for category, count in counts.items())
        return out.getvalue()


def national_statistics(events: Iterable[Mapping[str, Any]]) -> NationalStatistics:
    """The national statistics of the historic reviews among `events`."""
    reviews: dict[UUID, HistoricReviewRecorded] = {}
    for event in events:
        review = historic_review_of(event)
        if review is not None:
            reviews[review.review_id] = review
    victims = [victim for review in reviews.values() for victim in review.victims]
    by_characteristic = {}
    for name in CHARACTERISTICS:
        tally = Counter(_flag(getattr(review.characteristics, name)) for review in reviews.values())
        by_characteristic[name] = CharacteristicCounts(
            true=tally["true"], false=tally["false"], unknown=tally[UNKNOWN])
    return NationalStatistics(
        reviews=len(reviews),
        victims=len(victims),
        by_region=_ordered(Counter(_known(r.region) for r in reviews.values())),
        by_csp=_ordered(Counter(_known(r.csp) for r in reviews.values())),
        by_year_of_death=_ordered(Counter(
            _known(None if r.death_year is None else str(r.death_year)) for r in reviews.values())),
        by_characteristic=by_characteristic,
        by_victim_age_band=_ordered(
            Counter(_known(v.age_band or v.age_band_as_recorded) for v in victims),
            first=AGE_BANDS),
        by_victim_sex=_ordered(Counter(_known(v.sex) for v in victims)),
    )


def historic_review_of(event: Mapping[str, Any]) -> HistoricReviewRecorded | None:
    """The historic review an event records, or None for any other event."""
    event_type = event.get("type", event.get("ce_type"))
    if event_type != HistoricReviewRecorded.event_type:
        return None
    data: Any = event["data"] if "data" in event else {
        key: value for key, value in event.items() if key not in {"type", "ce_type"}}
    if isinstance(data, bytes | bytearray | str):
        data = json.loads(data)
    payload = parse_payload(HistoricReviewRecorded.event_type, dict(data))
    assert isinstance(payload, HistoricReviewRecorded)
    return payload


def _known(value: str | None) -> str:
    return UNKNOWN if value is None else value


def _flag(value: bool | None) -> str:
    return UNKNOWN if value is None else str(value).lower()


def _ordered(counts: Counter[str], first: tuple[str, ...] = ()) -> dict[str, int]:
    """Categories in a stable order: `first` in its order, then the others sorted, then unknown."""
    rest = sorted(category for category in counts if category not in first and category != UNKNOWN)
    order = [category for category in first if category in counts] + rest
    if UNKNOWN in counts:
        order.append(UNKNOWN)
    return {category: counts[category] for category in order}
