"""The integration service end to end: events from real Kafka topics matched to subscriptions in
a real PostgreSQL database, and delivered over HTTP to a real receiver on a free port."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from webhook_support import (
    PanelStream,
    Receiver,
    RunningIntegration,
    correspondence,
    recommendation,
    response,
    running_integration,
    settings_for_test,
    signature_is_valid,
)

from dhr_contracts.recommendations import CorrespondenceDirection
from support.kafka import eventually
from support.tokens import TestIssuer

POLICE = "Norfolk Constabulary"
HEALTH = "Norfolk and Waveney ICB"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    receiver.start()
    yield receiver
    receiver.stop()


@pytest.fixture
async def integration(fresh_database: str, kafka_bootstrap: str,
                      token_issuer: TestIssuer) -> AsyncIterator[RunningIntegration]:
    settings = settings_for_test(fresh_database, kafka_bootstrap, token_issuer)
    async with running_integration(settings, token_issuer) as service:
        yield service


def ids(*envelopes: Any) -> list[str]:
    return [str(envelope.id) for envelope in envelopes]


def by_review(received: list[Any]) -> dict[str, list[str]]:
    order: dict[str, list[str]] = {}
    for delivery in received:
        order.setdefault(delivery.event["subject"], []).append(delivery.event_id)
    return order


# --- what is delivered, to whom, signed how -----------------------------------------------------


async def test_an_agency_receives_the_signed_events_that_concern_it_and_nothing_of_another(
        integration: RunningIntegration, receiver: Receiver) -> None:
    police = await integration.subscribe(POLICE, receiver.url)
    other = Receiver()
    other.start()
    try:
        health = await integration.subscribe(HEALTH, other.url)
        review = PanelStream()
        police_request, health_request = uuid.uuid4(), uuid.uuid4()
        events = [review.requested(POLICE, police_request), review.requested(HEALTH, health_request),
                  review.submitted(health_request), review.action(POLICE),
                  review.overdue(POLICE, police_request)]
        await integration.publish(integration.panel_topic, *events)

        police_got = await receiver.wait_for(2)
        health_got = await other.wait_for(2)
    finally:
        other.stop()

    # The police get their request and its overdue (panel actions are not among their kinds);
    # health gets its request and its submission, matched to it through the request's id.
    assert [r.event_id for r in police_got] == ids(events[0], events[4])
    assert [r.event_id for r in health_got] == ids(events[1], events[2])
    await eventually(lambda: integration.consumed(events[-1].id))
    assert len(receiver.received) == 2 and len(other.received) == 2

    delivery = police_got[0]
    assert delivery.headers["content-type"] == "application/cloudevents+json"
    assert delivery.event == events[0].model_dump(mode="json", exclude_none=True)
    assert delivery.event["specversion"] == "1.0" and delivery.event["data"]["agency"] == POLICE
    assert delivery.headers["dhr-event-id"] == str(events[0].id)
    assert delivery.headers["dhr-subscription-id"] == police["subscription_id"]
    assert "dhr-redelivery" not in delivery.headers
    assert signature_is_valid(police["secret"], delivery)
    assert not signature_is_valid(health["secret"], delivery)
    tampered = type(delivery)(delivery.headers, delivery.body.replace(b"imr", b"scoping"), 204)
    assert not signature_is_valid(police["secret"], tampered)


async def test_recommendations_reach_each_addressee_and_later_events_only_the_one_they_name(
        integration: RunningIntegration, receiver: Receiver) -> None:
    kinds = {"kinds": ["recommendations"]}
    police = await integration.subscribe(POLICE, receiver.url, **kinds)
    other = Receiver()
    other.start()
    try:
        await integration.subscribe(HEALTH, other.url, **kinds)
        recorded = recommendation(uuid.uuid4(), {"police": POLICE, "icb": HEALTH})
        answered = response(recorded, "police", 2)
        internal = correspondence(recorded, "police", 3, CorrespondenceDirection.INTERNAL)
        written = correspondence(recorded, "icb", 4, CorrespondenceDirection.TO_ADDRESSEE)
        await integration.publish(integration.recommendations_topic,
                                  recorded, answered, internal, written)

        police_got = await receiver.wait_for(2)
        health_got = await other.wait_for(2)
        await eventually(lambda: integration.consumed(written.id))
    finally:
        other.stop()

    assert [r.event_id for r in police_got] == ids(recorded, answered)
    assert [r.event_id for r in health_got] == ids(recorded, written)
    assert signature_is_valid(police["secret"], police_got[1])


async def test_event_types_narrow_a_subscription_within_its_kinds(
        integration: RunningIntegration, receiver: Receiver) -> None:
    await integration.subscribe(POLICE, receiver.url, kinds=["information_requests", "deadlines"],
                                event_types=["dhr.panel.InformationRequestOverdue.v1"])
    review = PanelStream()
    request_id = uuid.uuid4()
    events = [review.requested(POLICE, request_id), review.overdue(POLICE, request_id)]
    await integration.publish(integration.panel_topic, *events)

    got = await receiver.wait_for(1)
    await eventually(lambda: integration.consumed(events[-1].id))

    assert [r.event_id for r in got] == ids(events[1])


# --- order, retries, outages -------------------------------------------------------------------


async def test_a_later_event_of_a_review_waits_while_an_earlier_one_is_retried(
        integration: RunningIntegration, receiver: Receiver) -> None:
    subscription = await integration.subscribe(POLICE, receiver.url,
                                               kinds=["information_requests"])
    slow, other = PanelStream(), PanelStream()
    first, later = slow.requested(POLICE), [slow.requested(POLICE) for _ in range(4)]
    elsewhere = other.requested(POLICE)

    def answer(received: Any) -> int:
        # The first event is refused at least three times, and for as long as the other review's
        # event has not arrived: were that one held up behind it, neither would ever arrive.
        refused = sum(1 for r in receiver.received if r.event_id == str(first.id))
        other_arrived = any(r.event_id == str(elsewhere.id) for r in receiver.received)
        if received.event_id == str(first.id) and (refused < 3 or not other_arrived):
            return 503
        return 204

    receiver.answer = answer
    await integration.publish(integration.panel_topic, first, *later, elsewhere)

    await receiver.wait_for(6)
    requests = [r.event_id for r in receiver.received]
    tries = requests.count(str(first.id))
    # Nothing later of the first event's review was tried before the first was accepted.
    assert [i for i in requests if i != str(elsewhere.id)] == [str(first.id)] * tries + ids(*later)
    assert tries >= 4

    [log] = [d for d in await integration.deliveries(POLICE, subscription["subscription_id"])
             if d["event_id"] == str(first.id)]
    assert log["status"] == "delivered" and log["attempts"] == tries
    assert [a["status_code"] for a in log["attempt_log"]] == [503] * (tries - 1) + [204]
    assert all(a["started_at"] and a["duration_ms"] >= 0 for a in log["attempt_log"])


@pytest.mark.parametrize("outage", ["stopped", "answering 503"])
async def test_a_receiver_that_was_down_gets_everything_in_order_once_per_event_when_it_is_back(
        integration: RunningIntegration, receiver: Receiver, outage: str) -> None:
    subscription = await integration.subscribe(POLICE, receiver.url)
    if outage == "stopped":
        receiver.stop()
    else:
        receiver.answer = lambda received: 503
    reviews = [PanelStream(), PanelStream()]
    events = [stream.requested(POLICE) for _ in range(3) for stream in reviews]
    await integration.publish(integration.panel_topic, *events)

    async def failed_attempts() -> int:
        log = await integration.deliveries(POLICE, subscription["subscription_id"])
        return sum(d["attempts"] for d in log)

    await eventually(lambda: _at_least(failed_attempts, 6))
    log = await integration.deliveries(POLICE, subscription["subscription_id"])
    assert {d["status"] for d in log} == {"pending"}
    attempt = log[-1]["attempt_log"][0]
    if outage == "stopped":
        assert attempt["status_code"] is None and "Connect" in attempt["error"]
    else:
        assert attempt["status_code"] == 503

    receiver.answer = lambda received: 200
    if outage == "stopped":
        receiver.start()
    await receiver.wait_for(6)
    await asyncio.sleep(0.5)  # time for anything sent twice to arrive

    accepted = receiver.accepted()
    assert sorted(r.event_id for r in accepted) == sorted(ids(*events))  # each once
    expected = {str(stream.review_id): [str(e.id) for e in events if e.subject == str(stream.review_id)]
                for stream in reviews}
    assert by_review(accepted) == expected

    async def all_delivered() -> bool:
        log = await integration.deliveries(POLICE, subscription["subscription_id"])
        return {d["status"] for d in log} == {"delivered"}

    await eventually(all_delivered)


async def _at_least(count: Any, minimum: int) -> bool:
    return bool(await count() >= minimum)


async def test_a_delivery_never_accepted_within_its_maximum_age_is_failed_and_shown(
        fresh_database: str, kafka_bootstrap: str, token_issuer: TestIssuer,
        receiver: Receiver) -> None:
    settings = settings_for_test(fresh_database, kafka_bootstrap, token_issuer,
                                 webhook_max_age_seconds=1.0)
    receiver.answer = lambda received: 500
    async with running_integration(settings, token_issuer) as integration:
        subscription = await integration.subscribe(POLICE, receiver.url)
        review = PanelStream()
        events = [review.requested(POLICE), review.requested(POLICE)]
        await integration.publish(integration.panel_topic, *events)

        async def all_failed() -> bool:
            log = await integration.deliveries(POLICE, subscription["subscription_id"])
            return len(log) == 2 and {d["status"] for d in log} == {"failed"}

        await eventually(all_failed)
        log = await integration.deliveries(POLICE, subscription["subscription_id"],
                                           status="failed")
        first = next(d for d in log if d["event_id"] == str(events[0].id))
        assert first["attempts"] >= 2 and first["failed_at"] is not None
        assert first["last_status_code"] == 500 and "500" in first["last_error"]
        shown = (await integration.client.get(
            f"/webhook-subscriptions/{subscription['subscription_id']}",
            headers=integration.headers(POLICE))).json()
        assert shown["deliveries"]["failed"] == 2

        # Once the receiver is fixed, a replay sends them again.
        receiver.answer = lambda received: 204
        replayed = await integration.client.post(
            f"/webhook-subscriptions/{subscription['subscription_id']}/replays",
            json={"from_event_id": str(events[0].id)}, headers=integration.headers(POLICE))
        assert replayed.status_code == 202 and replayed.json()["deliveries"] == 2
        got = await receiver.wait_for(2)
        assert [r.event_id for r in got] == ids(*events)
        assert all(r.headers["dhr-redelivery"] == "true" for r in got)


# --- replays ---------------------------------------------------------------------------------


async def test_a_replay_redelivers_from_a_chosen_event_or_time_with_the_same_ids(
        integration: RunningIntegration, receiver: Receiver) -> None:
    subscription = await integration.subscribe(POLICE, receiver.url)
    path = f"/webhook-subscriptions/{subscription['subscription_id']}/replays"
    headers = integration.headers(POLICE)
    review, other = PanelStream(), PanelStream()
    start = datetime.now(UTC)
    events = [review.requested(POLICE, at=start + timedelta(minutes=minute)) for minute in range(4)]
    foreign = other.requested(HEALTH)
    await integration.publish(integration.panel_topic, events[0], foreign, *events[1:])
    originals = await receiver.wait_for(4)
    assert [r.event_id for r in originals] == ids(*events)

    from_event = await integration.client.post(
        path, json={"from_event_id": str(events[1].id)},
        headers={**headers, "Idempotency-Key": "replay-1"})
    assert from_event.status_code == 202, from_event.text
    replay = from_event.json()
    assert replay["deliveries"] == 3
    assert from_event.headers["Location"] == replay["location"]
    again = await integration.client.post(path, json={"from_event_id": str(events[1].id)},
                                          headers={**headers, "Idempotency-Key": "replay-1"})
    assert again.json() == replay  # a retried request replays nothing twice

    replayed = (await receiver.wait_for(7))[4:]
    assert [r.event_id for r in replayed] == ids(*events[1:])
    assert all(r.headers["dhr-redelivery"] == "true"
               and r.headers["dhr-replay-id"] == replay["replay_id"] for r in replayed)
    assert [r.body for r in replayed] == [r.body for r in originals[1:]]  # same event, same bytes
    assert all(signature_is_valid(subscription["secret"], r) for r in replayed)

    from_time = await integration.client.post(
        path, json={"from_time": (start + timedelta(minutes=2, seconds=30)).isoformat()},
        headers=headers)
    assert from_time.json()["deliveries"] == 1
    assert [r.event_id for r in (await receiver.wait_for(8))[7:]] == ids(events[3])

    log = await integration.deliveries(POLICE, subscription["subscription_id"],
                                       replay_id=replay["replay_id"])
    assert sorted(d["event_id"] for d in log) == sorted(ids(*events[1:]))
    assert all(d["redelivery"] and d["status"] == "delivered" for d in log)
    everything = await integration.deliveries(POLICE, subscription["subscription_id"])
    assert len(everything) == 8 and str(foreign.id) not in {d["event_id"] for d in everything}


async def test_a_replay_needs_one_starting_point_that_concerns_the_organisation(
        integration: RunningIntegration, receiver: Receiver) -> None:
    subscription = await integration.subscribe(POLICE, receiver.url)
    review = PanelStream()
    foreign = review.requested(HEALTH)
    await integration.publish(integration.panel_topic, foreign)
    await eventually(lambda: integration.matched(foreign.id))
    path = f"/webhook-subscriptions/{subscription['subscription_id']}/replays"
    headers = integration.headers(POLICE)

    unknown = await integration.client.post(path, json={"from_event_id": str(foreign.id)},
                                            headers=headers)
    both = await integration.client.post(path, json={"from_event_id": str(foreign.id),
                                                     "from_time": "2026-01-01T00:00:00Z"},
                                         headers=headers)
    naive = await integration.client.post(path, json={"from_time": "2026-01-01T00:00:00"},
                                          headers=headers)

    assert unknown.status_code == 422
    assert unknown.headers["content-type"] == "application/problem+json"
    assert unknown.json()["errors"][0]["field"] == "from_event_id"
    assert both.status_code == 422 and "exactly one" in both.json()["detail"]
    assert naive.status_code == 422 and naive.json()["errors"][0]["field"] == "from_time"


# --- subscriptions -----------------------------------------------------------------------------


REFUSED_SUBSCRIPTIONS: list[tuple[dict[str, Any], str, str]] = [
    ({"url": "http://cases.norfolk.example/dhr"}, "url", "127.0.0.1"),
    ({"url": "ftp://127.0.0.1/dhr"}, "url", "https://"),
    ({"url": "https://user:pass@cases.norfolk.example/dhr"}, "url", "credentials"),
    ({"url": "not a url"}, "url", "https://"),
    ({"kinds": []}, "kinds", "at least 1"),
    ({"kinds": ["weather"]}, "kinds.0", "information_requests"),
    ({"kinds": ["deadlines", "deadlines"]}, "kinds", "repeat"),
    ({"event_types": ["dhr.panel.MeetingHeld.v1"]}, "event_types.0", "not an event type"),
    ({"event_types": ["dhr.recommendations.ResponseRecorded.v1"]}, "event_types.0",
     "'recommendations'"),
    ({"secret": "mine"}, "secret", "Extra inputs"),
]


async def test_a_subscription_request_is_refused_with_a_problem_naming_the_field(
        integration: RunningIntegration) -> None:
    for body, field, says in REFUSED_SUBSCRIPTIONS:
        request = {"url": "https://cases.norfolk.example/dhr", "kinds": ["information_requests"],
                   **body}

        refused = await integration.client.post("/webhook-subscriptions", json=request,
                                                headers=integration.headers(POLICE))

        assert refused.status_code == 422, body
        assert refused.headers["content-type"] == "application/problem+json"
        problem = refused.json()
        errors = {error["field"]: error["message"] for error in problem["errors"]}
        assert field in errors, (body, problem)
        assert says in errors[field], (body, problem)
        assert field in problem["detail"]
    listed = await integration.client.get("/webhook-subscriptions",
                                          headers=integration.headers(POLICE))
    assert listed.json()["items"] == []


async def test_a_request_without_a_token_is_refused_before_anything_else(
        integration: RunningIntegration) -> None:
    for method, path in [("GET", "/webhook-subscriptions"), ("POST", "/webhook-subscriptions"),
                         ("GET", f"/webhook-subscriptions/{uuid.uuid4()}/deliveries")]:
        refused = await integration.client.request(method, path, json={"url": "nothing"})

        assert refused.status_code == 401, (method, path)
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize(("role", "organisation"), [
    ("panel_member", POLICE), ("review_manager", "Norfolk"), ("chair", None),
    ("oversight_reader", "Home Office"), ("admin", "DHR operations"),
    ("agency_system", None)])
async def test_a_role_that_may_not_manage_an_agency_s_webhooks_is_forbidden(
        integration: RunningIntegration, role: str, organisation: str | None) -> None:
    headers = integration.headers(organisation, role=role)

    listed = await integration.client.get("/webhook-subscriptions", headers=headers)
    created = await integration.client.post("/webhook-subscriptions", headers=headers,
                                            json={"url": "not even a url", "kinds": []})

    for refused in (listed, created):  # 403, not 422: the body is not even read
        assert refused.status_code == 403, (role, refused.text)
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["title"] == "Forbidden"
    count = await integration.runtime.pool.fetchval("SELECT count(*) FROM webhook_subscriptions")
    assert count == 0


async def test_another_organisation_s_subscription_is_answered_as_a_missing_one(
        integration: RunningIntegration, receiver: Receiver) -> None:
    mine = await integration.subscribe(POLICE, receiver.url)
    review = PanelStream()
    event = review.requested(POLICE)
    await integration.publish(integration.panel_topic, event)
    await receiver.wait_for(1)
    health = integration.headers(HEALTH, role="agency_lead")
    made_up = uuid.uuid4()

    def hidden(subscription_id: Any) -> list[tuple[str, str, dict[str, Any] | None]]:
        path = f"/webhook-subscriptions/{subscription_id}"
        return [("GET", path, None), ("GET", f"{path}/deliveries", None),
                ("POST", f"{path}/replays", {"from_time": "2026-01-01T00:00:00Z"}),
                ("DELETE", path, None)]

    for (method, path, body), (_, missing_path, _) in zip(
            hidden(mine["subscription_id"]), hidden(made_up), strict=True):
        theirs = await integration.client.request(method, path, json=body, headers=health)
        missing = await integration.client.request(method, missing_path, json=body,
                                                   headers=health)

        assert theirs.status_code == missing.status_code == 404, (method, path)
        expected = missing.json()
        expected.update(detail=expected["detail"].replace(str(made_up),
                                                          mine["subscription_id"]),
                        instance=expected["instance"].replace(str(made_up),
                                                              mine["subscription_id"]))
        assert theirs.json() == expected
    listed = await integration.client.get("/webhook-subscriptions", headers=health)
    assert listed.json()["items"] == []

    # Still there for its own organisation, with nothing replayed by the other.
    shown = await integration.client.get(mine["location"], headers=integration.headers(POLICE))
    assert shown.status_code == 200
    assert len(await integration.deliveries(POLICE, mine["subscription_id"])) == 1


async def test_an_organisation_sees_and_stops_only_its_own_subscriptions(
        integration: RunningIntegration, receiver: Receiver) -> None:
    created = await integration.client.post(
        "/webhook-subscriptions", json={"url": receiver.url, "kinds": ["information_requests"],
                                        "description": "case system"},
        headers=integration.headers(POLICE, **{"Idempotency-Key": "subscribe-1"}))
    assert created.status_code == 201
    mine = created.json()
    assert mine["secret"].startswith("whsec_") and mine["organisation"] == POLICE
    assert created.headers["Location"] == f"/webhook-subscriptions/{mine['subscription_id']}"
    path = mine["location"]
    retried = await integration.client.post(
        "/webhook-subscriptions", json={"url": receiver.url, "kinds": ["information_requests"],
                                        "description": "case system"},
        headers=integration.headers(POLICE, **{"Idempotency-Key": "subscribe-1"}))
    assert retried.json() == mine  # the same subscription, and its secret again
    theirs = await integration.client.post(
        "/webhook-subscriptions", json={"url": receiver.url, "kinds": ["information_requests"],
                                        "description": "case system"},
        headers=integration.headers(HEALTH, **{"Idempotency-Key": "subscribe-1"}))
    assert theirs.status_code == 201 and theirs.json()["subscription_id"] != mine["subscription_id"]

    # The police's lead, by hand, with the name spelt loosely: names compare loosely.
    police = integration.headers("  norfolk   CONSTABULARY ", role="agency_lead")
    health = integration.headers(HEALTH)
    shown = (await integration.client.get(path, headers=police)).json()
    assert "secret" not in shown and shown["deliveries"]["pending"] == 0
    listed = (await integration.client.get("/webhook-subscriptions", headers=police)).json()
    assert [s["subscription_id"] for s in listed["items"]] == [mine["subscription_id"]]
    for method, suffix in [("GET", ""), ("GET", "/deliveries"), ("DELETE", "")]:
        hidden = await integration.client.request(method, path + suffix, headers=health)
        assert hidden.status_code == 404, (method, suffix)

    # Stopped: pending deliveries are cancelled and nothing more is recorded for it.
    receiver.answer = lambda received: 503
    review = PanelStream()
    pending = review.requested(POLICE)
    await integration.publish(integration.panel_topic, pending)
    await eventually(lambda: integration.consumed(pending.id))
    assert (await integration.client.delete(path, headers=police)).status_code == 204
    assert (await integration.client.get(path, headers=police)).status_code == 404
    assert (await integration.client.delete(path, headers=police)).status_code == 404
    status = await integration.runtime.pool.fetchval(
        "SELECT status FROM webhook_deliveries WHERE event_id = $1", pending.id)
    assert status == "cancelled"
    after = review.requested(POLICE)
    await integration.publish(integration.panel_topic, after)
    await eventually(lambda: integration.consumed(after.id))
    recorded = await integration.runtime.pool.fetchval(
        "SELECT count(*) FROM webhook_deliveries WHERE event_id = $1", after.id)
    assert recorded == 0


async def test_a_redelivered_event_makes_no_second_delivery(
        integration: RunningIntegration, receiver: Receiver) -> None:
    await integration.subscribe(POLICE, receiver.url)
    review = PanelStream()
    event = review.requested(POLICE)
    marker = review.requested(POLICE)

    await integration.publish(integration.panel_topic, event, event, marker)
    await receiver.wait_for(2)
    await eventually(lambda: integration.consumed(marker.id))
    await asyncio.sleep(0.3)

    assert receiver.accepted_ids() == ids(event, marker)
