"""The outbox relay against the real PostgreSQL server and Kafka broker."""

from __future__ import annotations

import asyncio
import json
import random
from collections import defaultdict

import asyncpg

from dhr_platform.eventstore import EventMetadata, EventStore, NewEvent
from dhr_platform.kafka import safe_producer
from dhr_platform.outbox import OutboxRelay
from support.kafka import create_topics, headers_of, read_records, unique_topic


def relay_for(pool: asyncpg.Pool, bootstrap: str, topic: str, **options) -> OutboxRelay:
    return OutboxRelay(pool, lambda: safe_producer(bootstrap, "test-relay"), name="test",
                       topic=topic, source="/dhr/test", **options)


async def test_a_transaction_that_commits_late_is_published_not_skipped(
    store: EventStore, kafka_bootstrap: str
) -> None:
    topic = unique_topic("relay")
    await create_topics(kafka_bootstrap, topic)
    relay = relay_for(store.pool, kafka_bootstrap, topic)
    early_writer = await store.pool.acquire()
    try:
        # The early writer takes the lower global position and commits last.
        early = early_writer.transaction()
        await early.start()
        await store.append(early_writer, "review-early", 0,
                           [NewEvent("dhr.test.Early.v1", {"n": 1})],
                           EventMetadata(subject="review-early", actor="test"))
        async with store.pool.acquire() as late_writer, late_writer.transaction():
            await store.append(late_writer, "review-late", 0,
                               [NewEvent("dhr.test.Late.v1", {"n": 2})],
                               EventMetadata(subject="review-late", actor="test"))

        # While the early transaction is open the relay must not move past it.
        assert await relay.publish_pending() == 0
        await early.commit()
    finally:
        await store.pool.release(early_writer)

    assert await relay.publish_pending() == 2
    records = await read_records(kafka_bootstrap, topic, expected=2)
    assert sorted(record.key for record in records) == [b"review-early", b"review-late"]
    positions = await store.pool.fetch("SELECT global_position FROM events ORDER BY global_position")
    assert len(positions) == 2
    await relay._drop_producer()


async def test_published_records_carry_cloudevents_headers_and_the_review_key(
    store: EventStore, kafka_bootstrap: str
) -> None:
    topic = unique_topic("relay")
    await create_topics(kafka_bootstrap, topic)
    metadata = EventMetadata(subject="9b1f0d1e-review", actor="agency:police",
                             traceparent="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
    async with store.pool.acquire() as connection, connection.transaction():
        [event] = await store.append(connection, "review-9b1f", 0,
                                     [NewEvent("dhr.test.Opened.v1", {"area": "Norfolk"})], metadata)
    relay = relay_for(store.pool, kafka_bootstrap, topic)
    assert await relay.publish_pending() == 1
    await relay._drop_producer()

    [record] = await read_records(kafka_bootstrap, topic, expected=1)
    headers = headers_of(record)
    assert record.key == b"9b1f0d1e-review"
    assert json.loads(record.value) == {"area": "Norfolk"}
    assert headers["ce_id"] == str(event.event_id)
    assert headers["ce_type"] == "dhr.test.Opened.v1"
    assert headers["ce_source"] == "/dhr/test"
    assert headers["ce_subject"] == "9b1f0d1e-review"
    assert headers["ce_specversion"] == "1.0"
    assert headers["ce_stream"] == "review-9b1f"
    assert headers["ce_streamversion"] == "1"
    assert headers["ce_actor"] == "agency:police"
    assert headers["ce_correlationid"] == str(metadata.correlation_id)
    assert headers["ce_traceparent"] == metadata.traceparent
    assert headers["traceparent"] == metadata.traceparent
    assert headers["content-type"] == "application/json"
    assert "ce_time" in headers


async def test_concurrent_writers_lose_nothing_and_keep_each_stream_in_order(
    store: EventStore, kafka_bootstrap: str
) -> None:
    topic = unique_topic("relay")
    await create_topics(kafka_bootstrap, topic)
    relay = relay_for(store.pool, kafka_bootstrap, topic, batch_size=50, idle_poll_seconds=0.01)
    relay_task = asyncio.create_task(relay.run())
    streams = [f"review-{i}" for i in range(16)]
    appends_per_stream = 15

    async def writer(stream: str) -> None:
        for version in range(appends_per_stream):
            async with store.pool.acquire() as connection, connection.transaction():
                await store.append(connection, stream, version,
                                   [NewEvent("dhr.test.Step.v1", {"step": version + 1})],
                                   EventMetadata(subject=stream, actor="test"))
                # Hold some transactions open so commits land out of position order.
                await asyncio.sleep(random.uniform(0, 0.01))

    await asyncio.gather(*(writer(stream) for stream in streams))
    expected = len(streams) * appends_per_stream
    records = await read_records(kafka_bootstrap, topic, expected=expected, timeout=60)
    relay.stop()
    await relay_task

    steps: dict[bytes, list[int]] = defaultdict(list)
    for record in sorted(records, key=lambda r: (r.partition, r.offset)):
        steps[record.key].append(json.loads(record.value)["step"])
    assert len({headers_of(r)["ce_id"] for r in records}) == expected
    for stream in streams:
        assert steps[stream.encode()] == list(range(1, appends_per_stream + 1))


async def test_an_append_in_the_relays_process_is_published_without_waiting_for_the_idle_poll(
    platform_pool: asyncpg.Pool, kafka_bootstrap: str
) -> None:
    topic = unique_topic("relay")
    await create_topics(kafka_bootstrap, topic)
    relay = relay_for(platform_pool, kafka_bootstrap, topic, idle_poll_seconds=30.0)
    store = EventStore(platform_pool, on_append=relay.wake)
    running = asyncio.create_task(relay.run())
    try:
        await asyncio.sleep(1.0)  # the relay has polled once and is now idle for 30 s
        async with platform_pool.acquire() as connection, connection.transaction():
            await store.append(connection, "review-wake", 0,
                               [NewEvent("dhr.test.Woken.v1", {})],
                               EventMetadata(subject="review-wake", actor="test"))
        records = await read_records(kafka_bootstrap, topic, expected=1, timeout=5)
    finally:
        relay.stop()
        await running
    assert [record.key for record in records] == [b"review-wake"]
