"""Family and friends' involvement end to end: HTTP -> event store -> read model -> Kafka.

The family router runs inside the panel service's own app (its composition root), so these tests
also prove the wiring: the 0002 migration, the projection and the merged error statuses.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from dhr_contracts.topics import PANEL_EVENTS
from dhr_panel.__main__ import build_app, build_runtime
from dhr_panel.config import PanelSettings
from dhr_panel.family_projections import FamilyProjection
from dhr_platform.projections import rebuild, table_checksum
from dhr_platform.service import ServiceRuntime
from support.kafka import eventually, headers_of, is_access_event, read_records
from support.tokens import REVIEW_MANAGER_NORFOLK, TestIssuer

NOW = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
APPROACHED = "dhr.panel.FamilyMemberApproached.v1"


@dataclass
class FamilyService:
    client: httpx.AsyncClient
    runtime: ServiceRuntime

    async def event_count(self) -> int:
        return await self.runtime.store.count()


@pytest.fixture
async def family_service(fresh_database: str, kafka_bootstrap: str,
                         token_issuer: TestIssuer) -> AsyncIterator[FamilyService]:
    settings = PanelSettings(database_url=fresh_database, kafka_bootstrap=kafka_bootstrap,
                             environment="test", consumer_initial_backoff_seconds=0.01,
                             consumer_max_attempts=2, **token_issuer.settings())
    runtime = build_runtime(settings, clock=lambda: NOW)
    app = build_app(settings, clock=lambda: NOW, runtime=runtime)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://panel",
                                     headers=token_issuer.headers(REVIEW_MANAGER_NORFOLK)
                                     ) as client:
            yield FamilyService(client, runtime)


async def a_norfolk_review(service: FamilyService) -> uuid.UUID:
    """A review the panel service knows to be in Norfolk, as NotificationReceived tells it."""
    review_id = uuid.uuid4()
    await service.runtime.pool.execute(
        "INSERT INTO commissioning_review_areas (review_id, csp_area) VALUES ($1, 'Norfolk')",
        review_id)
    return review_id


def mother(**overrides: Any) -> dict[str, Any]:
    return {"recorded_on": "2026-04-02", "name": "Mary Example", "relationship": "parent",
            "contact_details": "1 High Street, Norwich", **overrides}


async def record_person(service: FamilyService, review_id: uuid.UUID, **overrides: Any) -> str:
    response = await service.client.post(f"/panels/{review_id}/family/people",
                                         json=mother(**overrides))
    assert response.status_code == 201, response.text
    return str(response.json()["person_id"])


async def post(service: FamilyService, path: str, body: dict[str, Any], status: int = 200,
               **headers: str) -> dict[str, Any]:
    response = await service.client.post(path, json=body, headers=headers)
    assert response.status_code == status, response.text
    return dict(response.json())


async def test_a_family_that_declined_is_re_approached_agrees_and_it_reaches_the_read_model_and_kafka(
    family_service: FamilyService, kafka_bootstrap: str,
) -> None:
    review_id = await a_norfolk_review(family_service)
    person_id = await record_person(family_service, review_id)
    base = f"/panels/{review_id}/family"
    await post(family_service, f"{base}/people/{person_id}/approaches",
               {"approached_on": "2026-04-05", "channel": "via_family_liaison_officer",
                "outcome": "declined", "note": "Not ready while the trial is pending."},
               **{"X-Actor": "chair:alex"})  # ignored: the actor comes from the token

    refused = await family_service.client.post(
        f"{base}/people/{person_id}/contributions",
        json={"contributed_on": "2026-04-06", "kind": "interview", "summary": "Too early."})
    assert refused.status_code == 409
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["field"] == "person_id"

    accepted = await post(family_service, f"{base}/people/{person_id}/approaches",
                          {"approached_on": "2026-07-01", "channel": "via_advocate",
                           "outcome": "agreed"})
    assert accepted["events"] == [APPROACHED]
    await post(family_service, f"{base}/people/{person_id}/contributions",
               {"contributed_on": "2026-07-15", "kind": "interview",
                "summary": "Described the victim's isolation."})

    response = await family_service.client.get(base)
    assert response.status_code == 200
    assert response.headers["etag"] == '"4"'
    view = response.json()
    assert [(a["approach_number"], a["outcome"], a["is_reapproach"])
            for a in view["approaches"]] == [(1, "declined", False), (2, "agreed", True)]
    [person] = view["people"]
    assert person["name"] == "Mary Example"
    assert person["latest_outcome"] == "agreed" and person["may_contribute"] is True
    assert [c["kind"] for c in view["contributions"]] == ["interview"]
    assert view["process_facts"] == {
        "family_contributed": True, "consulted_on_terms_of_reference": False,
        "supported_by_expert_advocate": False, "received_draft_report": False,
        "attended_panel": False}

    async def published() -> list[Any]:
        records = await read_records(kafka_bootstrap, PANEL_EVENTS, expected=10_000, timeout=1)
        return [r for r in records if r.key == str(review_id).encode()
                and not is_access_event(r)]

    async def all_four_arrived() -> bool:
        return len(await published()) >= 4

    await eventually(all_four_arrived, timeout=30)
    mine = sorted(await published(), key=lambda r: int(headers_of(r)["ce_streamversion"]))
    assert [headers_of(r)["ce_type"] for r in mine] == [
        "dhr.panel.FamilyMemberRecorded.v1", APPROACHED, APPROACHED,
        "dhr.panel.FamilyContributionRecorded.v1"]
    second = headers_of(mine[1])
    assert second["ce_subject"] == str(review_id)
    assert second["ce_stream"] == f"family-{review_id}"
    assert second["ce_actor"] == REVIEW_MANAGER_NORFOLK[2]
    assert json.loads(mine[2].value)["outcome"] == "agreed"


async def test_bad_input_is_refused_with_a_problem_naming_the_field_and_nothing_is_stored(
    family_service: FamilyService,
) -> None:
    review_id = await a_norfolk_review(family_service)
    person_id = await record_person(family_service, review_id)
    base = f"/panels/{review_id}/family"
    before = await family_service.event_count()

    cases = [
        (f"{base}/children", {"recorded_on": "2026-08-01", "route": "not_sought",
                              "child_details": "Daughter, aged 3"}, 422, "reason_not_sought"),
        (f"{base}/people/{person_id}/approaches",
         {"approached_on": "2026-04-05", "channel": "pigeon", "outcome": "agreed"}, 422, "channel"),
        (f"{base}/people/{person_id}/approaches",
         {"approached_on": "2027-01-05", "channel": "letter", "outcome": "agreed"}, 422,
         "approached_on"),
        (f"{base}/people/{uuid.uuid4()}/approaches",
         {"approached_on": "2026-04-05", "channel": "letter", "outcome": "agreed"}, 404,
         "person_id"),
        (f"{base}/advocacy-offers/1/acceptance", {"accepted_on": "2026-04-05"}, 404,
         "offer_number"),
        (f"/panels/{review_id}/family/people", mother(relationship="other"), 422,
         "relationship_detail"),
    ]
    for path, body, status, field in cases:
        response = await family_service.client.post(path, json=body)
        assert response.status_code == status, (path, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        problem = response.json()
        named = problem.get("field") or [e["field"] for e in problem.get("errors", [])]
        assert field in named, problem

    assert await family_service.event_count() == before


async def test_the_family_of_a_review_without_a_family_record_is_not_found(
    family_service: FamilyService,
) -> None:
    review_id = uuid.uuid4()

    response = await family_service.client.get(f"/panels/{review_id}/family")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    refused = await family_service.client.post(
        f"/panels/{review_id}/family/draft-report-sharings",
        json={"shared_on": "2026-11-02", "report_version": 1})
    assert refused.status_code == 404
    assert refused.json()["field"] == "review_id"


async def test_a_retried_command_with_the_same_idempotency_key_records_the_person_once(
    family_service: FamilyService,
) -> None:
    review_id = await a_norfolk_review(family_service)
    path = f"/panels/{review_id}/family/people"

    first = await family_service.client.post(path, json=mother(),
                                             headers={"Idempotency-Key": "family-1"})
    retry = await family_service.client.post(path, json=mother(),
                                             headers={"Idempotency-Key": "family-1"})

    assert first.status_code == retry.status_code == 201
    assert retry.headers["idempotent-replayed"] == "true"
    assert retry.json()["person_id"] == first.json()["person_id"]
    assert first.headers["location"] == f"/panels/{review_id}/family"
    view = (await family_service.client.get(f"/panels/{review_id}/family")).json()
    assert len(view["people"]) == 1


async def test_family_wide_records_and_advocacy_make_the_five_facts_true(
    family_service: FamilyService,
) -> None:
    review_id = await a_norfolk_review(family_service)
    person_id = await record_person(family_service, review_id)
    base = f"/panels/{review_id}/family"
    await post(family_service, f"{base}/people/{person_id}/approaches",
               {"approached_on": "2026-04-05", "channel": "letter", "outcome": "agreed"})
    offer = await post(family_service, f"{base}/people/{person_id}/advocacy-offers",
                       {"offered_on": "2026-04-05", "provider_name": "AAFDA"})
    assert offer["events"] == ["dhr.panel.AdvocacyOffered.v1"]
    await post(family_service, f"{base}/advocacy-offers/1/acceptance", {"accepted_on": "2026-04-09"})
    await post(family_service, f"{base}/terms-of-reference-consultations",
               {"consulted_on": "2026-04-20", "terms_of_reference_version": 1})
    await post(family_service, f"{base}/people/{person_id}/contributions",
               {"contributed_on": "2026-05-01", "kind": "memory_book", "summary": "Photographs."})
    await post(family_service, f"{base}/panel-meeting-attendances",
               {"attended_on": "2026-09-14", "meeting_reference": "PM-3"})
    await post(family_service, f"{base}/draft-report-sharings",
               {"shared_on": "2026-11-02", "report_version": 2})
    await post(family_service, f"{base}/support-after-completion",
               {"offered_on": "2026-11-20", "offered_by": "AAFDA"})
    await post(family_service, f"{base}/people/{person_id}/consent",
               {"recorded_on": "2026-07-01", "consents_to_involvement": True,
                "victim_pseudonym": "Anna"})
    await post(family_service, f"{base}/children",
               {"recorded_on": "2026-08-01", "route": "through_social_worker",
                "child_details": "Son, aged 12"})

    view = (await family_service.client.get(base)).json()

    assert all(view["process_facts"].values()), view["process_facts"]
    assert view["advocacy_offers"][0]["status"] == "accepted"
    assert view["draft_sharings"] == [{"shared_on": "2026-11-02", "report_version": 2}]
    assert view["support_offers"] == [{"offered_on": "2026-11-20", "offered_by": "AAFDA"}]
    assert view["consent"][0]["victim_pseudonym"] == "Anna"
    assert view["children_voice"][0]["route"] == "through_social_worker"
    history = (await family_service.client.get(f"{base}/events")).json()["events"]
    assert len(history) == 11


async def test_the_family_read_model_rebuilds_to_the_same_rows(family_service: FamilyService) -> None:
    review_id = await a_norfolk_review(family_service)
    person_id = await record_person(family_service, review_id)
    base = f"/panels/{review_id}/family"
    for day, outcome in [("05", "declined"), ("20", "deferred"), ("30", "agreed")]:
        await post(family_service, f"{base}/people/{person_id}/approaches",
                   {"approached_on": f"2026-04-{day}", "channel": "telephone", "outcome": outcome})
    await post(family_service, f"{base}/draft-report-sharings",
               {"shared_on": "2026-11-02", "report_version": 1})
    pool = family_service.runtime.store.pool
    before = await table_checksum(pool, "family_involvement", "review_id")

    await rebuild(family_service.runtime.store, [FamilyProjection()])

    assert await table_checksum(pool, "family_involvement", "review_id") == before
    view = (await family_service.client.get(base)).json()
    assert [a["outcome"] for a in view["approaches"]] == ["declined", "deferred", "agreed"]
