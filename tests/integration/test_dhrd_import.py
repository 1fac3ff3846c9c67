"""Historic backfill end to end: DHRD files -> POST /historic-reviews -> event store -> Kafka, and
national statistics from the events on the topic equal to counts taken directly from the files.

Both the real 62-incident sample (`tests/fixtures/dhrd-sample`) and the synthetic mini fixture,
with its deliberate faults, are imported.
"""

from __future__ import annotations

import csv
import os
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from commissioning_support import RunningService

from dhr_contracts.commissioning import HistoricReviewRecorded
from dhr_contracts.topics import COMMISSIONING_EVENTS
from dhr_oversight.dhrd import import_dhrd, parse_dhrd
from dhr_oversight.national_statistics import national_statistics
from support.kafka import eventually, headers_of, read_records
from support.tokens import ADMIN

REPO = Path(__file__).resolve().parents[2]
# A copy of shared/data/dhrd-sample (CC BY 4.0, attribution in its README), so the suite needs
# nothing outside the repository; DHRD_SAMPLE_DIR points at another copy, e.g. the full dataset.
SAMPLE = Path(os.environ.get("DHRD_SAMPLE_DIR", REPO / "tests" / "fixtures" / "dhrd-sample"))
MINI = REPO / "tests" / "fixtures" / "dhrd-mini"
HISTORIC = HistoricReviewRecorded.event_type


@pytest.fixture(autouse=True)
def as_an_operator(commissioning: RunningService) -> None:
    """Importing historic reviews is an operator's (admin) command."""
    commissioning.client.headers.update(commissioning.tokens.headers(ADMIN))


# --- counts taken directly from the files, per the codebook, without the importer -------------

BANDS = {"16-19", "20-24", "25-34", "35-44", "45-54", "55-64", "65+"}
CHARACTERISTICS = ["intimate_partner_violence", "familial_homicide", "parricide",
                   "homicide_suicide", "children_present", "coercive_control", "economic_abuse",
                   "physical_abuse", "emotional_abuse", "sexual_abuse", "separation", "stalking",
                   "forced_marriage", "honour_based_violence", "faith_based_marriage"]
DATE_FORMATS = ["%B %Y", "%b %Y", "%m-%Y", "%Y", "%Y-%m", "%Y-%m-%d"]


def complete_rows(path: Path, key: str) -> list[dict[str, str]]:
    """Rows as wide as the header with a key not seen before (the first of duplicates)."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        header = [name.strip() for name in next(reader)]
        rows, seen = [], set()
        for cells in reader:
            row = dict(zip(header, cells, strict=False))
            if len(cells) == len(header) and row[key].strip() and row[key] not in seen:
                seen.add(row[key])
                rows.append(row)
        return rows


def category(value: str) -> str:
    value = value.strip()
    return "unknown" if value.lower() in {"", "unknown", "not known", "not_known"} else value


def year_of(value: str) -> str:
    for form in DATE_FORMATS:
        try:
            return str(datetime.strptime(value.strip(), form).year)
        except ValueError:
            continue
    return "unknown"


def flag(value: str) -> str:
    return value.strip().lower() if value.strip().lower() in {"true", "false"} else "unknown"


def sex_of(value: str) -> str:
    """The codebook's female, male, other in its own case; anything else as recorded."""
    value = category(value)
    return value.lower() if value.lower() in {"female", "male", "other"} else value


def counts_from_files(directory: Path) -> dict[str, Any]:
    incidents = complete_rows(directory / "incidents.csv", "incident_id")
    known = {row["incident_id"] for row in incidents}
    victims = [row for row in complete_rows(directory / "victims.csv", "victim_id")
               if row["incident_id"] in known]
    return {
        "reviews": len(incidents),
        "victims": len(victims),
        "by_region": Counter(category(row["region"]) for row in incidents),
        "by_csp": Counter(category(row["csp"]) for row in incidents),
        "by_year_of_death": Counter(year_of(row["death_date"]) for row in incidents),
        "by_characteristic": {
            name: Counter(flag(row.get(name, "")) for row in incidents) for name in CHARACTERISTICS},
        "by_victim_age_band": Counter(category(row["age_at_death"]) for row in victims),
        "by_victim_sex": Counter(sex_of(row["sex_of_victim"]) for row in victims),
    }


# --- the test ------------------------------------------------------------------------------------


async def historic_records(kafka_bootstrap: str, event_ids: set[str]) -> list[Any]:
    records = await read_records(kafka_bootstrap, COMMISSIONING_EVENTS, expected=10**7, timeout=2)
    return [r for r in records if headers_of(r).get("ce_id") in event_ids]


@pytest.mark.parametrize("directory", [SAMPLE, MINI], ids=["dhrd-sample", "dhrd-mini"])
async def test_imported_files_give_national_statistics_equal_to_counts_from_the_files(
    commissioning: RunningService, kafka_bootstrap: str, directory: Path
) -> None:
    if not (directory / "incidents.csv").is_file():
        pytest.fail(f"the DHRD sample is not at {directory}: it is committed under "
                    "tests/fixtures (or set DHRD_SAMPLE_DIR)")
    plan = parse_dhrd(directory)

    result = await import_dhrd(plan, commissioning.client)

    assert (result.recorded, result.already_present) == (len(plan.reviews), 0)
    assert result.rejected == plan.rejected
    stored = [e for e in await commissioning.runtime.store.read_all(limit=100_000)
              if e.type == HISTORIC]
    assert len(stored) == len(plan.reviews)
    event_ids = {str(e.event_id) for e in stored}

    async def all_published() -> bool:
        return len(await historic_records(kafka_bootstrap, event_ids)) == len(event_ids)

    await eventually(all_published, timeout=60)
    records = await historic_records(kafka_bootstrap, event_ids)
    events = [{"ce_type": headers_of(r)["ce_type"], "data": r.value} for r in records]

    statistics = national_statistics(events).model_dump()
    expected = counts_from_files(directory)
    for dimension in ("reviews", "victims", "by_region", "by_csp", "by_year_of_death",
                      "by_victim_age_band", "by_victim_sex"):
        assert statistics[dimension] == expected[dimension], dimension
    for name in CHARACTERISTICS:
        assert statistics["by_characteristic"][name] == {
            value: expected["by_characteristic"][name][value]
            for value in ("true", "false", "unknown")}, name

    events_before = await commissioning.event_count()
    again = await import_dhrd(parse_dhrd(directory), commissioning.client)

    assert (again.recorded, again.already_present) == (0, len(plan.reviews))
    assert await commissioning.event_count() == events_before


async def test_the_sample_is_imported_whole_with_its_known_gaps_unknown(
    commissioning: RunningService,
) -> None:
    if not (SAMPLE / "incidents.csv").is_file():
        pytest.fail(f"the DHRD sample is not at {SAMPLE}: it is committed under "
                    "tests/fixtures (or set DHRD_SAMPLE_DIR)")
    plan = parse_dhrd(SAMPLE)

    result = await import_dhrd(plan, commissioning.client)

    assert (result.recorded, result.rejected) == (62, [])
    assert (plan.victims, plan.perpetrators) == (60, 62)
    location_gap = (await commissioning.client.get(
        f"/historic-reviews/{result.review_ids['INC-0231']}")).json()
    cause_gap = (await commissioning.client.get(
        f"/historic-reviews/{result.review_ids['INC-0477']}")).json()
    assert (location_gap["location_of_death"], location_gap["cause_of_death"]) == (
        None, "sharp instrument")
    assert (cause_gap["cause_of_death"], cause_gap["death_year"], cause_gap["death_month"]) == (
        None, 2012, 11)
    only_a_year = [r for r in plan.reviews if r.body["death_month"] is None]
    assert [r.body["death_year"] for r in only_a_year] == [2020]


async def test_malformed_rows_are_imported_with_unknowns_or_reported_by_line(
    commissioning: RunningService,
) -> None:
    plan = parse_dhrd(MINI)

    result = await import_dhrd(plan, commissioning.client)

    assert result.recorded == 6
    assert [(r.file, r.line) for r in result.rejected] == [
        ("incidents.csv", 6), ("incidents.csv", 7), ("incidents.csv", 8),
        ("victims.csv", 6), ("victims.csv", 7), ("victims.csv", 8),
        ("perpetrators.csv", 6), ("perpetrators.csv", 7)]
    malformed = (await commissioning.client.get(
        f"/historic-reviews/{result.review_ids['MINI-0004']}")).json()
    assert (malformed["death_year"], malformed["death_month"]) == (None, None)
    assert malformed["characteristics"]["intimate_partner_violence"] is None
    assert malformed["source_reference"] == "MINI-0004"


async def test_the_same_reference_with_other_content_is_a_conflict_and_records_nothing(
    commissioning: RunningService,
) -> None:
    body = parse_dhrd(MINI).reviews[0].body
    first = await commissioning.client.post("/historic-reviews", json=body)
    same = await commissioning.client.post("/historic-reviews", json=body)
    before = await commissioning.event_count()

    changed = await commissioning.client.post("/historic-reviews", json={**body, "csp": "Boston"})

    assert (first.status_code, same.status_code) == (201, 200)
    assert first.headers["Location"] == f"/historic-reviews/{first.json()['review_id']}"
    assert same.json()["events"] == []
    assert changed.status_code == 409, changed.text
    assert changed.headers["content-type"] == "application/problem+json"
    assert changed.json()["field"] == "csp"
    assert await commissioning.event_count() == before


async def test_bad_input_names_the_field_and_stores_nothing(commissioning: RunningService) -> None:
    body = parse_dhrd(MINI).reviews[0].body

    bad_month = await commissioning.client.post(
        "/historic-reviews", json={**body, "death_month": 13})
    no_year = await commissioning.client.post(
        "/historic-reviews", json={**body, "death_year": None})
    unknown_review = await commissioning.client.get(
        "/historic-reviews/00000000-0000-0000-0000-000000000000")

    assert bad_month.status_code == 422
    assert bad_month.json()["errors"][0]["field"] == "death_month"
    assert no_year.status_code == 422
    assert no_year.json()["field"] == "death_month"
    assert unknown_review.status_code == 404
    assert await commissioning.event_count() == 0
