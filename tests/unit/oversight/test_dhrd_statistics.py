"""National statistics from HistoricReviewRecorded events, on small synthetic inputs; and the
import's answers from the commissioning service (a hand-written fake of its route)."""

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from dhr_commissioning.historic import historic_review_id
from dhr_contracts.commissioning import HistoricReviewRecorded
from dhr_contracts.envelope import Envelope
from dhr_oversight.dhrd import ImportFailed, import_dhrd, parse_dhrd
from dhr_oversight.national_statistics import national_statistics
from dhr_oversight.national_statistics_api import build_national_statistics_router
from dhr_platform.http import create_app
from support.tokens import OVERSIGHT, TestIssuer

MINI = Path(__file__).resolve().parents[2] / "fixtures" / "dhrd-mini"
TYPE = HistoricReviewRecorded.event_type
IMPORTED_AT = "2026-03-02T09:30:00+00:00"


def data_of(body: dict[str, Any]) -> dict[str, Any]:
    """The event data the commissioning service records for a POST body."""
    review_id = historic_review_id(body["source"], body["source_reference"])
    return {**body, "review_id": str(review_id), "imported_at": IMPORTED_AT}


def mini_events() -> list[dict[str, Any]]:
    return [{"type": TYPE, "data": data_of(review.body)} for review in parse_dhrd(MINI).reviews]


def test_the_mini_fixture_is_counted_in_every_dimension_with_unknowns_kept() -> None:
    statistics = national_statistics(mini_events())

    assert (statistics.reviews, statistics.victims) == (6, 5)
    assert statistics.by_region == {"East": 1, "East Midlands": 1, "Greater London": 1,
                                    "South West": 1, "Wales": 1, "unknown": 1}
    assert statistics.by_csp == {"Bournemouth, Christchurch and Poole": 1, "Ealing": 1,
                                 "Lincoln": 1, "Norfolk": 2, "Wrexham": 1}
    assert statistics.by_year_of_death == {"2017": 1, "2018": 1, "2019": 1, "2020": 1,
                                           "2021": 1, "unknown": 1}
    ipv = statistics.by_characteristic["intimate_partner_violence"]
    assert (ipv.true, ipv.false, ipv.unknown) == (3, 1, 2)
    honour = statistics.by_characteristic["honour_based_violence"]
    assert (honour.true, honour.false, honour.unknown) == (1, 5, 0)
    assert statistics.by_victim_age_band == {"25-34": 1, "65+": 1, "70-74": 1, "unknown": 2}
    assert statistics.by_victim_sex == {"female": 2, "male": 2, "unknown": 1}


def test_every_dimension_adds_up_to_the_reviews_or_the_victims() -> None:
    statistics = national_statistics(mini_events())

    for counts in (statistics.by_region, statistics.by_csp, statistics.by_year_of_death):
        assert sum(counts.values()) == statistics.reviews
    for tally in statistics.by_characteristic.values():
        assert tally.true + tally.false + tally.unknown == statistics.reviews
    for counts in (statistics.by_victim_age_band, statistics.by_victim_sex):
        assert sum(counts.values()) == statistics.victims


def test_other_events_are_ignored_and_a_review_read_twice_counts_once() -> None:
    events = mini_events()
    noise = {"type": "dhr.commissioning.ReviewPaused.v1", "data": {"review_id": "x"}}

    twice = national_statistics([noise, *events, *events])

    assert twice == national_statistics(events)


def test_kafka_records_and_bare_data_give_the_same_statistics() -> None:
    events = mini_events()
    as_kafka = [{"ce_type": e["type"], "data": json.dumps(e["data"]).encode()} for e in events]
    as_bare = [{"ce_type": e["type"], **e["data"]} for e in events]

    assert national_statistics(as_kafka) == national_statistics(events)
    assert national_statistics(as_bare) == national_statistics(events)


def test_no_events_give_zero_counts() -> None:
    statistics = national_statistics([])

    assert (statistics.reviews, statistics.victims, statistics.by_region) == (0, 0, {})
    assert statistics.by_characteristic["stalking"].unknown == 0


def test_the_csv_has_one_row_per_count() -> None:
    lines = national_statistics(mini_events()).to_csv().splitlines()

    assert lines[0] == "dimension,category,count"
    assert "total,reviews,6" in lines
    assert 'csp,"Bournemouth, Christchurch and Poole",1' in lines
    assert "characteristic.intimate_partner_violence,unknown,2" in lines
    assert "victim_age_band,70-74,1" in lines
    assert "victim_sex,unknown,1" in lines


async def test_the_route_serves_json_and_csv_from_the_loaded_events(
        token_issuer: TestIssuer) -> None:
    async def load() -> list[dict[str, Any]]:
        return mini_events()

    app = create_app(title="oversight", version="test", description="",
                     routers=[build_national_statistics_router(load)], readiness={},
                     error_statuses={}, max_body_bytes=1024,
                     token_verifier=token_issuer.verifier())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://oversight",
                                 headers=token_issuer.headers(OVERSIGHT)) as client:
        as_json = await client.get("/statistics/national")
        as_csv = await client.get("/statistics/national", params={"format": "csv"})
        as_xml = await client.get("/statistics/national", params={"format": "xml"})

    assert as_json.status_code == 200
    assert as_json.json()["by_victim_sex"] == {"female": 2, "male": 2, "unknown": 1}
    assert json.loads(national_statistics(mini_events()).to_json()) == as_json.json()
    assert as_csv.headers["content-type"].startswith("text/csv")
    assert as_csv.text == national_statistics(mini_events()).to_csv()
    assert as_xml.status_code == 422


# --- the import's answers -------------------------------------------------------------------


class FakeCommissioning:
    """POST /historic-reviews as the service answers it: 201 once, 200 for the same body again,
    409 for different content."""

    def __init__(self, fail_with: int | None = None) -> None:
        self.recorded: dict[str, dict[str, Any]] = {}
        self.fail_with = fail_with

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if self.fail_with:
            return httpx.Response(self.fail_with, json={"detail": "down"})
        body = json.loads(request.content)
        review_id = str(historic_review_id(body["source"], body["source_reference"]))
        answer = {"review_id": review_id, "version": 1}
        known = self.recorded.get(review_id)
        if known is None:
            self.recorded[review_id] = body
            return httpx.Response(201, json={**answer, "events": [TYPE]})
        if known == body:
            return httpx.Response(200, json={**answer, "events": []})
        return httpx.Response(409, json={"detail": "already recorded with different content"})


def client_of(fake: FakeCommissioning) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.MockTransport(fake), base_url="http://commissioning")


async def test_importing_twice_records_each_review_once() -> None:
    plan = parse_dhrd(MINI)
    fake = FakeCommissioning()

    async with client_of(fake) as client:
        first = await import_dhrd(plan, client)
        second = await import_dhrd(plan, client)

    assert (first.recorded, first.already_present) == (6, 0)
    assert (second.recorded, second.already_present) == (0, 6)
    assert len(fake.recorded) == 6
    assert first.rejected == plan.rejected == second.rejected
    assert first.review_ids["MINI-0001"] == historic_review_id("dhrd", "MINI-0001")


async def test_a_review_the_service_refuses_is_rejected_with_its_line() -> None:
    plan = parse_dhrd(MINI)
    fake = FakeCommissioning()
    async with client_of(fake) as client:
        await import_dhrd(plan, client)
        plan.reviews[1].body["csp"] = "Norwich"
        result = await import_dhrd(plan, client)

    assert (result.recorded, result.already_present) == (0, 5)
    refused = [r for r in result.rejected if "refused" in r.reason]
    assert [(r.file, r.line) for r in refused] == [("incidents.csv", 3)]
    assert "MINI-0002 refused by the commissioning service (409)" in refused[0].reason


async def test_a_failing_service_stops_the_import_saying_it_is_safe_to_run_again() -> None:
    async with client_of(FakeCommissioning(fail_with=503)) as client:
        with pytest.raises(ImportFailed, match="running the import again is safe"):
            await import_dhrd(parse_dhrd(MINI), client)


def test_a_planned_body_is_valid_event_data_once_the_server_adds_the_id_and_time() -> None:
    for event in mini_events():
        recorded = HistoricReviewRecorded.model_validate(event["data"])
        assert recorded.imported_at == datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


def test_cloudevents_in_the_ledger_json_form_give_the_same_statistics() -> None:
    events = mini_events()
    ledger_form = [Envelope(
        id=uuid.uuid4(), source="/dhr/commissioning", type=e["type"],
        subject=e["data"]["review_id"], time=datetime(2026, 3, 2, tzinfo=UTC),
        stream=f"historic-{e['data']['review_id']}", streamversion=1,
        correlationid=uuid.uuid4(), causationid=None, actor="dhr import-dhrd", traceparent=None,
        data=e["data"]).model_dump(mode="json", exclude_none=True) for e in events]

    assert national_statistics(ledger_form) == national_statistics(events)
