"""The outbox relay through a PostgreSQL restart: it reconnects and publishes everything."""

from __future__ import annotations

import asyncio
from collections import Counter
from uuid import UUID

from reliability_support import (
    append_events,
    assert_each_stream_in_order_ignoring_redeliveries,
    event_ids_on,
    open_platform_pool,
    read_whole_topic,
)

from dhr_local.postgres import LocalPostgres
from dhr_platform.eventstore import EventStore
from dhr_platform.kafka import safe_producer
from dhr_platform.outbox import OutboxRelay
from support.kafka import create_topics, eventually, unique_topic

# Each restart is a fresh chance for the relay to meet a connection the server is cutting.
RESTARTS = 3


async def test_the_relay_recovers_from_a_database_restart_and_publishes_everything(
    private_database: str, private_postgres: LocalPostgres, kafka_bootstrap: str
) -> None:
    topic = unique_topic("reliability.database")
    await create_topics(kafka_bootstrap, topic)
    pool = await open_platform_pool(private_database)
    store = EventStore(pool)
    relay = OutboxRelay(pool, lambda: safe_producer(kafka_bootstrap, "reliability-relay"),
                        name="restart", topic=topic, source="/dhr/reliability",
                        batch_size=5, idle_poll_seconds=0.02, max_backoff_seconds=1.0)
    relay_task = asyncio.create_task(relay.run())
    appended: list[UUID] = []
    try:
        async def backlog_below(limit: int) -> bool:
            assert not relay_task.done(), "the relay stopped"
            return await relay.backlog() <= limit

        for restart in range(RESTARTS):
            appended += await append_events(store, streams=20, per_stream=10, prefix=f"round{restart}")
            await eventually(lambda: backlog_below(150), timeout=30, interval=0.005)
            # A fast shutdown, while the relay publishes, cuts every connection it holds (the
            # one with its advisory lock too) and rolls back whatever was in flight.
            await asyncio.to_thread(private_postgres.stop)
            try:
                await asyncio.sleep(1.5)  # failed attempts, with backoff
                assert not relay_task.done(), "the relay gave up while the database was down"
            finally:
                await asyncio.to_thread(private_postgres.start)

        appended += await append_events(store, streams=5, per_stream=10, prefix="after")
        await eventually(lambda: backlog_below(0), timeout=60)
    finally:
        relay.stop()
        await asyncio.wait_for(relay_task, timeout=30)
        await pool.close()

    records = await read_whole_topic(kafka_bootstrap, topic)
    copies = Counter(event_ids_on(records))
    assert set(copies) == {str(event_id) for event_id in appended}
    assert_each_stream_in_order_ignoring_redeliveries(records)
