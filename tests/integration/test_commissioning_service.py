"""The commissioning service end to end: HTTP -> event store -> Kafka, and Kafka intake."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
from aiokafka import AIOKafkaProducer
from commissioning_support import RunningService, notification

from dhr_commissioning.consumers import review_id_for
from dhr_contracts.topics import COMMISSIONING_EVENTS, INTAKE_NOTIFICATIONS, dead_letter_topic
from support.kafka import eventually, headers_of, is_access_event, read_records
from support.tokens import OVERSIGHT, POLICE_LEAD, REVIEW_MANAGER_SUFFOLK, TestIssuer


async def notify(service: RunningService, headers: dict[str, str] | None = None,
                 **overrides) -> str:
    response = await service.client.post("/reviews", json=notification(**overrides),
                                          headers=headers)
    assert response.status_code == 201, response.text
    return response.json()["review_id"]


async def commission(service: RunningService, review_id: str,
                     headers: dict[str, str] | None = None) -> None:
    response = await service.client.post(
        f"/reviews/{review_id}/decision-to-commission",
        json={"decided_on": "2026-03-01", "rationale": "Statutory criteria met."},
        headers=headers)
    assert response.status_code == 200, response.text


async def test_a_notification_is_stored_and_published_with_its_key_and_cloudevents_headers(
    commissioning: RunningService, kafka_bootstrap: str, token_issuer: TestIssuer
) -> None:
    response = await commissioning.client.post(
        "/reviews", json=notification(victim_name="A. Person"),
        headers={**token_issuer.headers(POLICE_LEAD), "X-Actor": "someone-else"})
    assert response.status_code == 201, response.text
    accepted = response.json()
    review_id = accepted["review_id"]
    assert accepted["events"] == ["dhr.commissioning.NotificationReceived.v1",
                                  "dhr.commissioning.EligibilityAssessed.v1"]

    history = (await commissioning.client.get(f"/reviews/{review_id}/events")).json()["events"]
    assert [e["type"] for e in history] == accepted["events"]
    assert {(e["actor"], tuple(e["actor_roles"]), e["actor_organisation"]) for e in history} == {
        ("lead-police", ("agency_lead",), "Norfolk Constabulary")}
    stored_ids = [e["event_id"] for e in history]

    async def published():
        records = await read_records(kafka_bootstrap, COMMISSIONING_EVENTS, expected=10_000, timeout=1)
        return [r for r in records if r.key == review_id.encode()
                and not is_access_event(r)]

    await eventually(lambda: _has(published, 2), timeout=30)
    mine = await published()
    mine.sort(key=lambda r: int(headers_of(r)["ce_streamversion"]))
    assert [headers_of(r)["ce_id"] for r in mine] == stored_ids
    first = headers_of(mine[0])
    assert first["ce_type"] == "dhr.commissioning.NotificationReceived.v1"
    assert first["ce_source"] == "/dhr/commissioning"
    assert first["ce_subject"] == review_id
    assert first["ce_specversion"] == "1.0"
    assert first["ce_stream"] == f"review-{review_id}"
    assert first["ce_actor"] == "lead-police"  # the token's subject, never X-Actor
    assert first["content-type"] == "application/json"
    assert json.loads(mine[0].value)["decision_due_on"] == "2026-03-12"


async def _has(fetch, count: int) -> bool:
    return len(await fetch()) >= count


async def test_a_review_reads_back_with_its_state_and_deadlines(commissioning: RunningService) -> None:
    review_id = await notify(commissioning, prior_agency_contact="no")

    response = await commissioning.client.get(f"/reviews/{review_id}")

    assert response.status_code == 200
    assert response.headers["etag"] == '"2"'
    review = response.json()
    assert review["status"] == "awaiting_decision"
    assert review["eligibility_outcome"] == "needs_human_decision"
    assert "no_prior_agency_contact" in review["grey_area_flags"]
    assert review["deadlines"]["decision_due_on"] == "2026-03-12"
    assert review["deadlines"]["overdue"] == []
    late = (await commissioning.client.get(f"/reviews/{review_id}?as_of=2026-03-13")).json()
    assert late["deadlines"]["overdue"] == ["decision"]


async def test_concurrent_conflicting_decisions_let_one_win_and_refuse_the_rest_with_409(
    commissioning: RunningService,
) -> None:
    review_id = await notify(commissioning)
    commission_body = {"decided_on": "2026-03-01", "rationale": "Criteria met."}
    decline_body = {"decided_on": "2026-03-01", "rationale": "Not met.", "reasons": ["Not domestic"]}

    responses = await asyncio.gather(*(
        commissioning.client.post(
            f"/reviews/{review_id}/decision-{'to' if i % 2 else 'not-to'}-commission",
            json=commission_body if i % 2 else decline_body)
        for i in range(8)
    ))

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [409] * 7
    assert all(r.headers["content-type"] == "application/problem+json"
               for r in responses if r.status_code == 409)
    history = (await commissioning.client.get(f"/reviews/{review_id}/events")).json()["events"]
    decisions = [e for e in history if e["type"] in {"dhr.commissioning.ReviewCommissioned.v1",
                                                      "dhr.commissioning.DecidedNotToCommission.v1"}]
    assert len(decisions) == 1
    winner = next(r for r in responses if r.status_code == 200).json()
    assert winner["events"] == [decisions[0]["type"]]
    assert winner["version"] == 3


async def test_a_stale_if_match_version_is_refused_with_409(commissioning: RunningService) -> None:
    review_id = await notify(commissioning)
    await commission(commissioning, review_id)

    response = await commissioning.client.post(
        f"/reviews/{review_id}/pause", headers={"If-Match": '"2"'},
        json={"paused_on": "2026-03-02", "reason": "criminal_proceedings"})

    assert response.status_code == 409
    assert response.json()["title"] == "Concurrent modification"
    assert (await commissioning.client.get(f"/reviews/{review_id}")).json()["status"] == "commissioned"


async def test_the_same_post_with_one_idempotency_key_gives_the_same_response_and_one_review(
    commissioning: RunningService,
) -> None:
    headers = {"Idempotency-Key": "norfolk-police-case-4471"}
    first = await commissioning.client.post("/reviews", json=notification(), headers=headers)
    again = await commissioning.client.post("/reviews", json=notification(), headers=headers)
    concurrent = await asyncio.gather(*(
        commissioning.client.post("/reviews", json=notification(), headers=headers) for _ in range(4)))

    assert first.status_code == 201
    assert first.headers["location"] == f"/reviews/{first.json()['review_id']}"
    for response in (again, *concurrent):
        assert response.status_code == 201
        assert response.json() == first.json()
        assert response.headers["location"] == first.headers["location"]
        assert response.headers["idempotent-replayed"] == "true"
    assert (await commissioning.client.get("/reviews")).json()["total"] == 1
    assert await commissioning.event_count() == 2


async def test_a_retried_decision_is_answered_as_first_though_the_review_has_moved_on(
    commissioning: RunningService,
) -> None:
    review = (await commissioning.client.post("/reviews", json=notification())).json()
    path = f"/reviews/{review['review_id']}/decision-to-commission"
    decision = {"decided_on": "2026-03-02", "rationale": "The criteria are met."}
    headers = {"Idempotency-Key": "decision-77"}
    first = await commissioning.client.post(path, json=decision, headers=headers)
    retries = await asyncio.gather(*(
        commissioning.client.post(path, json=decision, headers=headers) for _ in range(3)))
    other_key = await commissioning.client.post(path, json=decision,
                                                headers={"Idempotency-Key": "decision-78"})

    assert first.status_code == 200 and first.json()["version"] == 3
    for retry in retries:
        assert retry.status_code == 200
        assert retry.json() == first.json()
        assert retry.headers["idempotent-replayed"] == "true"
    # The same decision under another key is a new command, which the review now refuses.
    assert other_key.status_code == 409
    assert await commissioning.event_count() == 3


async def test_an_idempotency_key_reused_with_another_body_is_refused(commissioning: RunningService) -> None:
    headers = {"Idempotency-Key": "key-1"}
    await commissioning.client.post("/reviews", json=notification(), headers=headers)

    response = await commissioning.client.post("/reviews", json=notification(victim_age=35),
                                               headers=headers)

    assert response.status_code == 422
    assert "Idempotency-Key" in response.json()["detail"]
    assert await commissioning.event_count() == 2


BAD_NOTIFICATIONS = [
    pytest.param(notification(csp_area=None), 422, "csp_area", id="missing field"),
    pytest.param(notification(victim_age="thirty"), 422, "victim_age", id="mistyped field"),
    pytest.param(notification(date_of_death="2026-04-01", csp_learned_on="2026-04-02"), 422,
                 "date_of_death", id="date of death in the future"),
    pytest.param(notification(victim_age=-3), 422, "victim_age", id="negative age"),
    pytest.param(notification(suspect_relationship="acquaintance"), 422, "suspect_relationship",
                 id="unknown enumeration value"),
    pytest.param(notification(date_of_death="10/02/2026"), 422, "date_of_death", id="malformed date"),
    pytest.param(notification(favourite_colour="blue"), 422, "favourite_colour", id="unknown field"),
    pytest.param(notification(csp_learned_on="2026-02-01"), 422, "csp_learned_on",
                 id="learned of the death before it happened"),
]


@pytest.mark.parametrize(("body", "status", "field"), BAD_NOTIFICATIONS)
async def test_invalid_notifications_get_a_problem_naming_the_field_and_store_nothing(
    commissioning: RunningService, body: dict, status: int, field: str
) -> None:
    response = await commissioning.client.post("/reviews", json=body)

    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == status
    named = {problem.get("field")} | {error["field"] for error in problem.get("errors", [])}
    assert field in named
    assert problem["detail"]
    assert await commissioning.event_count() == 0


async def test_invalid_json_is_a_400_problem_and_stores_nothing(commissioning: RunningService) -> None:
    response = await commissioning.client.post(
        "/reviews", content=b'{"notifying_agency": "Police",', headers={"Content-Type": "application/json"})

    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert "not valid JSON" in response.json()["detail"]
    assert await commissioning.event_count() == 0


async def test_an_oversized_body_is_a_413_problem_and_stores_nothing(commissioning: RunningService) -> None:
    response = await commissioning.client.post(
        "/reviews", json=notification(notifying_agency="x" * 100_000))

    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert await commissioning.event_count() == 0


async def test_a_chair_who_declares_a_link_to_an_involved_agency_is_refused(
    commissioning: RunningService,
) -> None:
    review_id = await notify(commissioning)
    await commission(commissioning, review_id)

    response = await commissioning.client.post(f"/reviews/{review_id}/chair", json={
        "appointed_on": "2026-03-02", "chair_name": "J. Smith",
        "declaration": {"line_management_of_involved_agency": True,
                        "service_delivery_for_involved_agency": False}})

    assert response.status_code == 422
    assert response.json()["field"] == "declaration.line_management_of_involved_agency"
    assert (await commissioning.client.get(f"/reviews/{review_id}")).json()["chair"] is None


async def test_commands_on_an_unknown_review_are_404(commissioning: RunningService) -> None:
    unknown = uuid.uuid4()
    response = await commissioning.client.post(f"/reviews/{unknown}/pause",
                                               json={"paused_on": "2026-03-02", "reason": "inquest"})
    assert response.status_code == 404
    assert (await commissioning.client.get(f"/reviews/{unknown}")).status_code == 404
    assert await commissioning.event_count() == 0


async def test_reviews_are_listed_by_status_area_and_overdue(
    commissioning: RunningService, token_issuer: TestIssuer,
) -> None:
    suffolk = token_issuer.headers(REVIEW_MANAGER_SUFFOLK)
    awaiting = await notify(commissioning, csp_area="Norfolk")
    commissioned = await notify(commissioning, suffolk, csp_area="Suffolk")
    await commission(commissioning, commissioned, suffolk)

    async def ids(query: str) -> set[str]:
        response = await commissioning.client.get(f"/reviews?{query}",
                                                  headers=token_issuer.headers(OVERSIGHT))
        assert response.status_code == 200, response.text
        return {item["review_id"] for item in response.json()["items"]}

    assert await ids("") == {awaiting, commissioned}
    assert await ids("status=commissioned") == {commissioned}
    assert await ids("area=norfolk") == {awaiting}
    assert await ids("overdue=true") == set()
    assert await ids("overdue=true&as_of=2026-03-13") == {awaiting}
    assert await ids("overdue=true&as_of=2026-09-02") == {awaiting, commissioned}
    assert await ids("overdue=false&as_of=2026-03-13") == {commissioned}
    bad = await commissioning.client.get("/reviews?status=finished")
    assert bad.status_code == 422 and "status" in bad.json()["detail"]


async def test_a_notification_on_the_intake_topic_opens_one_review_and_a_bad_one_is_dead_lettered(
    commissioning: RunningService, kafka_bootstrap: str
) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    good_id, bad_id, named_id = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
    try:
        for _ in range(2):  # an agency system that retries its send
            await producer.send_and_wait(INTAKE_NOTIFICATIONS, json.dumps(notification()).encode(),
                                         key=b"police-case-1", headers=[("ce_id", good_id.encode())])
        await producer.send_and_wait(INTAKE_NOTIFICATIONS,
                                     json.dumps(notification(victim_age=-1)).encode(),
                                     key=b"police-case-2", headers=[("ce_id", bad_id.encode())])
        # Names are never taken from Kafka, where they would stay in plain text.
        await producer.send_and_wait(INTAKE_NOTIFICATIONS,
                                     json.dumps(notification(victim_name="Ada Quennell")).encode(),
                                     key=b"police-case-3", headers=[("ce_id", named_id.encode())])
    finally:
        await producer.stop()

    review_id = str(review_id_for(good_id))

    async def opened():
        return (await commissioning.client.get(f"/reviews/{review_id}")).status_code == 200

    await eventually(opened, timeout=60)
    parked = await read_records(kafka_bootstrap, dead_letter_topic(INTAKE_NOTIFICATIONS),
                                expected=10_000, timeout=3)
    mine = [headers_of(r) for r in parked if headers_of(r).get("ce_id") == bad_id]
    assert mine and "victim_age" in mine[0]["dlq_error_message"]
    [named] = [r for r in parked if headers_of(r).get("ce_id") == named_id]
    assert "victim_name" in headers_of(named)["dlq_error_message"]
    assert b"Ada Quennell" not in named.value  # the dead-letter copy leaves the name out
    assert json.loads(named.value) == notification()
    assert (await commissioning.client.get("/reviews")).json()["total"] == 1
    assert await commissioning.event_count() == 2


async def test_health_and_readiness(commissioning: RunningService) -> None:
    assert (await commissioning.client.get("/healthz")).json() == {"status": "ok"}
    ready = await commissioning.client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": True, "kafka": True}
    openapi = (await commissioning.client.get("/openapi.json")).json()
    assert "/reviews/{review_id}/chair" in openapi["paths"]
