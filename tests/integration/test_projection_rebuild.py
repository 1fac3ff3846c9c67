"""Rebuilding the commissioning read model from the event store and from its topic."""

from __future__ import annotations

import asyncio
import io
from dataclasses import replace
from unittest import mock
from uuid import UUID, uuid4

import pytest
from aiokafka import AIOKafkaProducer
from commissioning_support import RunningService, notification

from dhr_commissioning.__main__ import main
from dhr_commissioning.projections import ReviewsProjection
from dhr_platform import topic_fold, workers
from dhr_platform.database import Connection
from dhr_platform.envelopes import to_envelope
from dhr_platform.eventstore import InlineProjection, RecordedEvent
from dhr_platform.projections import event_of_record, rebuild, rebuild_from_topic, table_checksum
from support.kafka import create_topics, read_records, unique_topic
from support.tokens import OVERSIGHT, TestIssuer


async def test_a_rebuilt_read_model_equals_the_live_one(commissioning: RunningService,
                                                        token_issuer: TestIssuer) -> None:
    for area in ("Norfolk", "Suffolk", "Essex"):
        manager = token_issuer.headers(role="review_manager", organisation=area)
        response = await commissioning.client.post("/reviews", json=notification(csp_area=area),
                                                   headers=manager)
        review_id = response.json()["review_id"]
        await commissioning.client.post(f"/reviews/{review_id}/decision-to-commission",
                                        json={"decided_on": "2026-03-01", "rationale": "Met."},
                                        headers=manager)
    await commissioning.client.post(f"/reviews/{review_id}/pause", headers=manager,
                                    json={"paused_on": "2026-03-02", "reason": "inquest"})
    pool = commissioning.runtime.pool
    live = await table_checksum(pool, "reviews", "review_id")
    await pool.execute("UPDATE reviews SET status = 'corrupted'")
    assert await table_checksum(pool, "reviews", "review_id") != live

    progress = io.StringIO()
    replayed = await rebuild(commissioning.runtime.store, progress=progress)

    assert replayed == await commissioning.event_count() == 10
    assert await table_checksum(pool, "reviews", "review_id") == live
    assert "10/10 events" in progress.getvalue()
    listed = (await commissioning.client.get("/reviews?status=paused",
                                             headers=token_issuer.headers(OVERSIGHT))).json()
    assert listed["total"] == 1


async def test_the_rebuild_command_replays_the_store_into_the_read_model(
    commissioning: RunningService, monkeypatch, capsys
) -> None:
    await commissioning.client.post("/reviews", json=notification())
    pool = commissioning.runtime.pool
    await pool.execute("DELETE FROM reviews")
    monkeypatch.setenv("DHR_DATABASE_URL", commissioning.runtime.settings.database_url)
    await asyncio.to_thread(main, ["rebuild"])

    assert await pool.fetchval("SELECT count(*) FROM reviews") == 1
    said = capsys.readouterr().out
    assert "rebuilt the commissioning read models (reviews) from 2 events of the event store" in said


class EventByEvent:
    """The reviews projection without its fold interface: replayed event by event."""

    def __init__(self, projection: ReviewsProjection) -> None:
        self.projection = projection
        self.name = projection.name
        self.tables = projection.tables

    async def apply(self, connection: Connection, event: RecordedEvent) -> None:
        await self.projection.apply(connection, event)


@pytest.mark.parametrize("how", ["folded by worker processes", "folded in process",
                                 "event by event"])
async def test_a_read_model_rebuilt_from_the_topic_equals_the_one_from_the_store(
    commissioning: RunningService, token_issuer: TestIssuer, kafka_bootstrap: str, how: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for area in ("Norfolk", "Suffolk", "Essex", "Kent"):
        manager = token_issuer.headers(role="review_manager", organisation=area)
        created = await commissioning.client.post(
            "/reviews", json=notification(csp_area=area, victim_name="A Name"), headers=manager)
        await commissioning.client.post(
            f"/reviews/{created.json()['review_id']}/decision-to-commission",
            json={"decided_on": "2026-03-01", "rationale": "Met."}, headers=manager)
    store = commissioning.runtime.store
    stored = await store.read_all(0, 1000)
    # The relay's own envelopes, on a topic of this test's alone (the service's is shared).
    topic = unique_topic("commissioning-replay")
    await create_topics(kafka_bootstrap, topic)
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    try:
        for event in stored:
            envelope = to_envelope(event, "/dhr/commissioning")
            for _ in range(2 if event.stream_version == 2 else 1):  # a relay may publish twice
                await producer.send_and_wait(topic, envelope.kafka_value(),
                                             key=envelope.subject.encode(),
                                             headers=envelope.kafka_headers())
        await producer.send_and_wait(topic, b"not a CloudEvent", key=b"noise")
        # A review known from a later event alone (its notification never on the topic): no row.
        orphan = str(uuid4())
        later = to_envelope(replace(stored[-1], stream_id=f"review-{orphan}", stream_version=3,
                                    metadata={**stored[-1].metadata, "subject": orphan}),
                            "/dhr/commissioning")
        await producer.send_and_wait(topic, later.kafka_value(), key=orphan.encode(),
                                     headers=later.kafka_headers())
    finally:
        await producer.stop()
    pool = commissioning.runtime.pool
    live = await table_checksum(pool, "reviews", "review_id")
    await pool.execute("UPDATE reviews SET status = 'corrupted', version = 1")
    projection = store.projections[0]
    assert isinstance(projection, ReviewsProjection)
    chosen: list[InlineProjection] = [projection]
    if how == "folded by worker processes":
        monkeypatch.setattr(topic_fold, "IN_PROCESS_BELOW", 0)
        forked = mock.patch.object(workers, "get_context", wraps=workers.get_context)
    else:
        forked = mock.patch.object(workers, "get_context", side_effect=AssertionError)
        if how == "event by event":
            chosen = [EventByEvent(projection)]
    progress = io.StringIO()

    with forked as get_context:
        replayed = await rebuild_from_topic(store, kafka_bootstrap, topic, chosen,
                                            progress=progress)

    assert get_context.called == (how == "folded by worker processes")
    # Every CloudEvent read, the second copies and the orphan too; none applied twice.
    assert replayed == len(stored) + sum(e.stream_version == 2 for e in stored) + 1
    assert await table_checksum(pool, "reviews", "review_id") == live
    assert f"{replayed + 1}/{replayed + 1} " in progress.getvalue() or how == "event by event"


def test_a_record_reads_back_as_the_event_it_was_published_from() -> None:
    from datetime import UTC, datetime
    from uuid import uuid4

    from dhr_platform.eventstore import RecordedEvent

    event = RecordedEvent(
        global_position=7, stream_id="review-1", stream_version=3, event_id=uuid4(),
        type="dhr.commissioning.ReviewPaused.v1", schema_version=1, data={"a": "b"},
        metadata={"subject": "1", "actor": "rm", "correlation_id": str(uuid4()),
                  "causation_id": None, "traceparent": None, "data_key_id": str(uuid4())},
        recorded_at=datetime(2026, 3, 2, 9, 30, 0, 123000, tzinfo=UTC))
    envelope = to_envelope(event, "/dhr/commissioning")

    back = event_of_record(envelope.kafka_headers(), envelope.kafka_value(), 7)

    assert back == event
    assert event_of_record([("content-type", b"application/json")], b"{}", 8) is None


async def test_the_rebuild_command_replays_the_service_topic_into_the_read_model(
    commissioning: RunningService, kafka_bootstrap: str, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    created = await commissioning.client.post("/reviews", json=notification())
    review_id = created.json()["review_id"]
    await read_records(kafka_bootstrap, "dhr.commissioning.events.v1", expected=2,
                       key=review_id.encode())
    pool = commissioning.runtime.pool
    live = await pool.fetchrow("SELECT * FROM reviews WHERE review_id = $1", UUID(review_id))
    await pool.execute("DELETE FROM reviews")
    monkeypatch.setenv("DHR_DATABASE_URL", commissioning.runtime.settings.database_url)
    monkeypatch.setenv("DHR_KAFKA_BOOTSTRAP", kafka_bootstrap)

    await asyncio.to_thread(main, ["rebuild", "--from-kafka"])

    assert await pool.fetchrow("SELECT * FROM reviews WHERE review_id = $1",
                               UUID(review_id)) == live
    said = capsys.readouterr().out
    assert "events of the topic dhr.commissioning.events.v1" in said
