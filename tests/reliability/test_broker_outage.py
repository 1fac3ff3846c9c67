"""The outbox relay through a Kafka broker outage: it backs off, keeps running, and loses nothing."""

from __future__ import annotations

import asyncio
from collections import Counter

from reliability_support import (
    append_events,
    assert_each_stream_in_order_ignoring_redeliveries,
    event_ids_on,
    open_platform_pool,
    read_whole_topic,
)

from dhr_local.kafka import LocalKafka
from dhr_platform.eventstore import EventStore
from dhr_platform.kafka import safe_producer
from dhr_platform.outbox import OutboxRelay
from support.kafka import create_topics, eventually, unique_topic


async def test_the_relay_survives_a_broker_outage_and_publishes_what_was_written_meanwhile(
    fresh_database: str, private_kafka: LocalKafka
) -> None:
    # The broker this test stops is its own: private_kafka.bootstrap, never kafka_bootstrap.
    bootstrap = private_kafka.bootstrap
    topic = unique_topic("reliability.outage")
    await create_topics(bootstrap, topic)
    pool = await open_platform_pool(fresh_database)
    store = EventStore(pool)
    relay = OutboxRelay(pool, lambda: safe_producer(bootstrap, "reliability-relay"),
                        name="outage", topic=topic, source="/dhr/reliability",
                        batch_size=25, idle_poll_seconds=0.02, max_backoff_seconds=1.0)
    relay_task = asyncio.create_task(relay.run())
    try:
        before = await append_events(store, streams=5, per_stream=10, prefix="before")

        async def drained() -> bool:
            assert not relay_task.done(), "the relay stopped"
            return await relay.backlog() == 0

        await eventually(drained, timeout=30)

        await asyncio.to_thread(private_kafka.stop)
        try:
            during = await append_events(store, streams=5, per_stream=10, prefix="during")
            await asyncio.sleep(3)  # several failed attempts, with backoff
            assert not relay_task.done(), "the relay gave up while the broker was down"
            assert await relay.backlog() == len(during), "events vanished from the backlog"
        finally:
            await asyncio.to_thread(private_kafka.start)
            await asyncio.to_thread(private_kafka.wait_ready, 120)

        after = await append_events(store, streams=5, per_stream=10, prefix="after")
        await eventually(drained, timeout=60)
    finally:
        relay.stop()
        await asyncio.wait_for(relay_task, timeout=30)
        await pool.close()

    records = await read_whole_topic(bootstrap, topic)
    copies = Counter(event_ids_on(records))
    assert set(copies) == {str(event_id) for event_id in [*before, *during, *after]}
    assert_each_stream_in_order_ignoring_redeliveries(records)
