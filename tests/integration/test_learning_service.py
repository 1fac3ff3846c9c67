"""The learning service end to end: commissioning events in from Kafka, blame-free learning over
HTTP, learning points queried across reviews, and its own events out on dhr.learning.events.v1."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from commissioning_support import RunningService

from dhr_contracts.base import EventPayload
from dhr_contracts.commissioning import NotificationReceived, ReviewCommissioned
from dhr_contracts.envelope import Envelope
from dhr_contracts.panel import ReviewReportAgreed
from dhr_contracts.topics import COMMISSIONING_EVENTS, LEARNING_EVENTS, PANEL_EVENTS
from support.kafka import eventually, headers_of, is_access_event, read_records
from support.tokens import OVERSIGHT, TestIssuer

POLICE = "Northshire Police"
HEALTH = "Northshire NHS Trust"


@pytest.fixture(autouse=True)
def as_the_northshire_review_manager(learning: RunningService, token_issuer: TestIssuer) -> None:
    """These reviews are Northshire's: its review manager runs their learning."""
    learning.client.headers.update(token_issuer.headers(role="review_manager",
                                                        organisation="Northshire"))


def manager_of(service: RunningService, area: str) -> dict[str, str]:
    return service.tokens.headers(role="review_manager", organisation=area)


def lead_of(service: RunningService, agency: str) -> dict[str, str]:
    return service.tokens.headers(role="agency_lead", organisation=agency)


def envelope(payload: EventPayload, review_id: uuid.UUID, version: int,
             source: str = "/dhr/commissioning") -> Envelope:
    return Envelope(id=uuid.uuid4(), source=source, type=payload.event_type,
                    subject=str(review_id), time=datetime.now(UTC), stream=f"review-{review_id}",
                    streamversion=version, correlationid=uuid.uuid4(), actor="test",
                    data=payload.model_dump(mode="json"))


def notified(review_id: uuid.UUID, area: str, died: date = date(2026, 1, 5)) -> NotificationReceived:
    return NotificationReceived(
        review_id=review_id, received_at=datetime(2026, 1, 10, 9, tzinfo=UTC),
        notifying_agency=POLICE, date_of_death=died, csp_learned_on=date(2026, 1, 8),
        csp_area=area, victim_age=40, suspect_relationship="current_intimate_partner",
        circumstances="homicide", prior_agency_contact="yes", victim_name="Victim Example",
        decision_due_months=1, decision_due_on=date(2026, 2, 8))


def commissioned(review_id: uuid.UUID) -> ReviewCommissioned:
    return ReviewCommissioned(
        review_id=review_id, decided_on=date(2026, 1, 20), rationale="Criteria met.",
        eligibility_outcome="eligible", overrides_eligibility_assessment=False,
        decided_after_due_date=False, completion_due_months=6,
        completion_due_on=date(2026, 7, 20))


async def publish(bootstrap: str, topic: str, *envelopes: Envelope) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True)
    await producer.start()
    try:
        for sent in envelopes:
            await producer.send_and_wait(topic, sent.kafka_value(), key=sent.subject.encode(),
                                         headers=sent.kafka_headers())
    finally:
        await producer.stop()


async def commission_review(service: RunningService, bootstrap: str, area: str,
                            died: date = date(2026, 1, 5)) -> uuid.UUID:
    """Publish a notification and commissioning, and wait until the learning service knows."""
    review_id = uuid.uuid4()
    await publish(bootstrap, COMMISSIONING_EVENTS, envelope(notified(review_id, area, died),
                                                            review_id, 1),
                  envelope(commissioned(review_id), review_id, 3))
    await eventually(lambda: _commissioned(service, review_id), timeout=60)
    return review_id


async def _commissioned(service: RunningService, review_id: uuid.UUID) -> bool:
    response = await service.client.get(f"/reviews/{review_id}/learning",
                                        headers=service.tokens.headers(OVERSIGHT))
    return (response.status_code == 200 and response.json()["review"] is not None
            and response.json()["review"]["commissioned_on"] is not None)


async def post(service: RunningService, path: str, body: dict[str, Any], status: int = 200,
               **headers: str) -> dict[str, Any]:
    response = await service.client.post(path, json=body, headers=headers)
    assert response.status_code == status, response.text
    return response.json()


async def held_event(service: RunningService, review_id: uuid.UUID) -> str:
    """Plan a learning event, have both agencies acknowledge the ground rules, hold it."""
    base = f"/reviews/{review_id}/learning-events"
    planned = await post(service, base, {
        "planned_on": "2026-03-10", "facilitator_name": "Sam Facilitator", "format": "hybrid",
        "invited_agencies": [POLICE, HEALTH]}, status=201, **{"Idempotency-Key": "plan-1"})
    event_id = planned["id"]
    for agency in (POLICE, HEALTH):  # each agency acknowledges them itself
        await post(service, f"{base}/{event_id}/ground-rules-acknowledgements", {"agency": agency},
                   **lead_of(service, agency))
    await post(service, f"{base}/{event_id}/held",
               {"held_on": "2026-03-10", "participating_agencies": [POLICE, HEALTH]})
    return str(event_id)


async def record_point(service: RunningService, review_id: uuid.UUID, recorded_on: str,
                       themes: list[str], tags: list[str] | None = None,
                       **headers: str) -> str:
    answer = await post(service, f"/reviews/{review_id}/learning-points", {
        "recorded_on": recorded_on, "summary": "Risk information must reach GPs.",
        "themes": themes, "tags": tags or []}, status=201, **headers)
    return str(answer["id"])


async def test_a_review_is_learned_from_the_commissioning_topic_and_learning_follows_the_rules(
    learning: RunningService, kafka_bootstrap: str
) -> None:
    review_id = await commission_review(learning, kafka_bootstrap, "Northshire")
    event_id = await held_event(learning, review_id)
    base = f"/reviews/{review_id}/learning-events/{event_id}"

    refused = await learning.client.post(f"{base}/contributions", json={
        "agency": "Jane Smith", "contributed_on": "2026-03-10", "text": "We missed the signs."})
    assert refused.status_code == 422
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["field"] == "agency"
    assert "never a person" in refused.json()["detail"]

    contributed = await post(learning, f"{base}/contributions", {
        "agency": POLICE, "contributed_on": "2026-03-10",
        "text": "Call handlers could not see earlier call-outs to the address."}, status=201)
    point = await post(learning, f"/reviews/{review_id}/learning-points", {
        "recorded_on": "2026-03-20", "summary": "Earlier call-outs must be visible.",
        "themes": ["identification_of_risk", "technology_systems"],
        "tags": [" Call Handling ", "call handling"], "learning_event_id": event_id,
        "draft_recommendation": "R3"}, status=201)
    await post(learning, f"/reviews/{review_id}/learning-points/{point['id']}/disseminations", {
        "issued_on": "2026-04-01", "partners": [POLICE, HEALTH], "channel": "email"}, status=201)

    view = (await learning.client.get(f"/reviews/{review_id}/learning")).json()
    event = view["learning_events"][0]
    assert event["status"] == "held"
    assert [a["agency"] for a in event["acknowledgements"]] == [POLICE, HEALTH]
    assert event["acknowledgements"][0]["acknowledged_at"].startswith("2026-03-02T09:30")
    assert event["contributions"][0]["contribution_id"] == contributed["id"]
    assert view["learning_points"][0]["tags"] == ["call handling"]
    assert view["learning_points"][0]["disseminations"][0]["channel"] == "email"
    assert view["review"]["csp_area"] == "Northshire"

    history = (await learning.client.get(f"/reviews/{review_id}/learning/events")).json()["events"]
    types = [e["type"].split(".")[2] for e in history]
    assert types == ["LearningEventPlanned", "GroundRulesAcknowledged", "GroundRulesAcknowledged",
                     "LearningEventHeld", "ContributionRecorded", "LearningPointRecorded",
                     "LearningPointDisseminated"]

    async def published() -> list[Any]:
        records = await read_records(kafka_bootstrap, LEARNING_EVENTS, expected=100_000, timeout=1)
        return [r for r in records if r.key == str(review_id).encode()
                and not is_access_event(r)]

    async def all_published() -> bool:
        return len(await published()) >= len(history)

    await eventually(all_published, timeout=30)
    mine = sorted(await published(), key=lambda r: int(headers_of(r)["ce_streamversion"]))
    assert [headers_of(r)["ce_id"] for r in mine] == [e["event_id"] for e in history]
    assert headers_of(mine[0])["ce_source"] == "/dhr/learning"
    assert headers_of(mine[0])["ce_stream"] == f"learning-{review_id}"
    assert headers_of(mine[0])["ce_subject"] == str(review_id)
    # Personal data is published sealed with the review's key (docs/security.md).
    assert json.loads(mine[0].value)["facilitator_name"].startswith("dhr-sealed:v1:")
    assert b"Sam Facilitator" not in mine[0].value


async def test_holding_an_event_before_every_agency_acknowledged_is_refused(
    learning: RunningService, kafka_bootstrap: str
) -> None:
    review_id = await commission_review(learning, kafka_bootstrap, "Northshire")
    base = f"/reviews/{review_id}/learning-events"
    planned = await post(learning, base, {"planned_on": "2026-03-10", "facilitator_name": "Sam",
                                          "format": "online", "invited_agencies": [POLICE, HEALTH]},
                         status=201)
    await post(learning, f"{base}/{planned['id']}/ground-rules-acknowledgements",
               {"agency": POLICE}, **lead_of(learning, POLICE))

    refused = await learning.client.post(f"{base}/{planned['id']}/held", json={
        "held_on": "2026-03-10", "participating_agencies": [POLICE, HEALTH]})

    assert refused.status_code == 409
    assert refused.json()["field"] == "participating_agencies"
    assert HEALTH in refused.json()["detail"]


async def test_learning_points_are_queried_across_reviews_by_theme_area_and_period(
    learning: RunningService, kafka_bootstrap: str
) -> None:
    area_a, area_b = f"Northshire-{uuid.uuid4().hex[:6]}", f"Southshire-{uuid.uuid4().hex[:6]}"
    first = await commission_review(learning, kafka_bootstrap, area_a)
    second = await commission_review(learning, kafka_bootstrap, area_b)
    in_a, in_b = manager_of(learning, area_a), manager_of(learning, area_b)
    a_training = await record_point(learning, first, "2026-03-01", ["training"],
                                    ["Coercive control"], **in_a)
    a_risk = await record_point(learning, first, "2026-05-01", ["identification_of_risk"], **in_a)
    b_training = await record_point(learning, second, "2026-04-01", ["training", "policy"], **in_b)
    learning.client.headers.update(learning.tokens.headers(OVERSIGHT))  # reads every area

    async def ids(query: str, headers: dict[str, str] | None = None) -> list[str]:
        response = await learning.client.get(f"/learning-points?{query}", headers=headers)
        assert response.status_code == 200, response.text
        return [item["learning_point_id"] for item in response.json()["items"]]

    assert await ids("theme=training", in_a) == [a_training]  # a CSP sees its own area's

    assert await ids("theme=training") == [a_training, b_training]
    assert await ids(f"theme=training&area={area_b.upper()}") == [b_training]
    assert await ids(f"area={area_a}") == [a_training, a_risk]
    assert await ids("from=2026-03-15&to=2026-04-30") == [b_training]
    assert await ids("tag=%20COERCIVE%20control") == [a_training]
    page = (await learning.client.get("/learning-points?theme=training&limit=1&offset=1")).json()
    assert page["total"] == 2 and [i["learning_point_id"] for i in page["items"]] == [b_training]
    assert page["items"][0]["csp_area"] == area_b
    bad = await learning.client.get("/learning-points?theme=blame")
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "theme"


async def test_redelivered_commissioning_events_have_no_second_effect(
    learning: RunningService, kafka_bootstrap: str
) -> None:
    review_id = uuid.uuid4()
    first = envelope(notified(review_id, "Eastshire"), review_id, 1)
    again = envelope(commissioned(review_id), review_id, 3)
    await publish(kafka_bootstrap, COMMISSIONING_EVENTS, first, again, first, again)
    await eventually(lambda: _commissioned(learning, review_id), timeout=60)

    async def inbox_count() -> int:
        return int(await learning.runtime.pool.fetchval(
            "SELECT count(*) FROM inbox WHERE message_id = ANY($1::text[])",
            [str(first.id), str(again.id)]))

    await eventually(lambda: _equals(inbox_count, 2), timeout=30)
    rows = await learning.runtime.pool.fetch(
        "SELECT csp_area, commissioned_on FROM known_reviews WHERE review_id = $1", review_id)
    assert [(r["csp_area"], r["commissioned_on"]) for r in rows] == [("Eastshire",
                                                                      date(2026, 1, 20))]
    assert await learning.event_count() == 0  # foreign facts are not restated as learning events


async def _equals(fetch: Any, expected: int) -> bool:
    return bool(await fetch() == expected)


async def test_learning_for_a_review_not_known_or_not_commissioned_is_refused(
    learning: RunningService, kafka_bootstrap: str
) -> None:
    body = {"planned_on": "2026-03-10", "facilitator_name": "Sam", "format": "online",
            "invited_agencies": [POLICE]}
    unknown = await learning.client.post(f"/reviews/{uuid.uuid4()}/learning-events", json=body)
    assert unknown.status_code == 404 and unknown.json()["field"] == "review_id"

    review_id = uuid.uuid4()
    await publish(kafka_bootstrap, COMMISSIONING_EVENTS,
                  envelope(notified(review_id, "Westshire"), review_id, 1))
    westshire = manager_of(learning, "Westshire")

    async def known() -> bool:
        return (await learning.client.get(f"/reviews/{review_id}/learning",
                                          headers=westshire)).status_code == 200

    await eventually(known, timeout=60)
    not_yet = await learning.client.post(f"/reviews/{review_id}/learning-events", json=body,
                                         headers=westshire)
    assert not_yet.status_code == 409
    assert await learning.event_count() == 0


async def test_bad_input_is_refused_with_422_naming_the_field_and_nothing_is_stored(
    learning: RunningService, kafka_bootstrap: str
) -> None:
    review_id = await commission_review(learning, kafka_bootstrap, "Northshire")
    base = f"/reviews/{review_id}/learning-events"

    missing = await learning.client.post(base, json={"planned_on": "2026-03-10",
                                                     "format": "online",
                                                     "invited_agencies": [POLICE]})
    assert missing.status_code == 422
    assert missing.json()["errors"][0]["field"] == "facilitator_name"

    person = await learning.client.post(base, json={
        "planned_on": "2026-03-10", "facilitator_name": "Sam", "format": "online",
        "invited_agencies": [POLICE, "Mrs Patel"]})
    assert person.status_code == 422 and person.json()["field"] == "invited_agencies[1]"

    themeless = await learning.client.post(f"/reviews/{review_id}/learning-points", json={
        "recorded_on": "2026-03-20", "summary": "Something.", "themes": []})
    assert themeless.status_code == 422 and themeless.json()["errors"][0]["field"] == "themes"

    bad_id = await learning.client.post(f"{base}/not-a-uuid/held", json={
        "held_on": "2026-03-10", "participating_agencies": [POLICE]})
    assert bad_id.status_code == 422

    assert await learning.event_count() == 0
    assert (await learning.client.get(f"/reviews/{review_id}/learning/events")).status_code == 404


async def test_a_retried_command_with_the_same_idempotency_key_records_once(
    learning: RunningService, kafka_bootstrap: str
) -> None:
    review_id = await commission_review(learning, kafka_bootstrap, "Northshire")
    body = {"planned_on": "2026-03-10", "facilitator_name": "Sam", "format": "online",
            "invited_agencies": [POLICE]}
    headers = {"Idempotency-Key": "plan-once"}

    first = await learning.client.post(f"/reviews/{review_id}/learning-events", json=body,
                                       headers=headers)
    second = await learning.client.post(f"/reviews/{review_id}/learning-events", json=body,
                                        headers=headers)

    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert second.headers["idempotent-replayed"] == "true"
    assert await learning.event_count() == 1


async def test_an_agreed_report_on_the_panel_topic_marks_the_review(
    learning: RunningService, kafka_bootstrap: str
) -> None:
    review_id = await commission_review(learning, kafka_bootstrap, "Northshire")
    agreed = ReviewReportAgreed(review_id=review_id, agreed_on=date(2026, 9, 1), report_version=2,
                                recommendations=())
    await publish(kafka_bootstrap, PANEL_EVENTS,
                  envelope(agreed, review_id, 9, source="/dhr/panel"))

    async def marked() -> bool:
        review = (await learning.client.get(f"/reviews/{review_id}/learning")).json()["review"]
        return bool(review["report_agreed_on"] == "2026-09-01")

    await eventually(marked, timeout=60)


async def test_the_read_models_rebuild_to_the_same_rows_and_keep_the_known_reviews(
    learning: RunningService, kafka_bootstrap: str
) -> None:
    from dhr_platform.projections import rebuild, table_checksum

    review_id = await commission_review(learning, kafka_bootstrap, "Northshire")
    event_id = await held_event(learning, review_id)
    await record_point(learning, review_id, "2026-03-20", ["policy"], ["Housing"])
    await post(learning, f"/reviews/{review_id}/learning-points", {
        "recorded_on": "2026-03-21", "summary": "From the event.", "themes": ["training"],
        "learning_event_id": event_id}, status=201)
    pool = learning.runtime.pool
    before = [await table_checksum(pool, "learning_reviews", "review_id"),
              await table_checksum(pool, "learning_points", "learning_point_id")]

    replayed = await rebuild(learning.runtime.store)

    assert replayed == await learning.event_count()
    assert [await table_checksum(pool, "learning_reviews", "review_id"),
            await table_checksum(pool, "learning_points", "learning_point_id")] == before
    assert await _commissioned(learning, review_id)
