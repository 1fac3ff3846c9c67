"""The outbox relay killed mid-batch: nothing is lost, and a consumer applies each event once."""

from __future__ import annotations

import random
import signal
import uuid
from collections import Counter

import asyncpg
from reliability_support import (
    RELAY_SCRIPT,
    SCHEMA,
    Launch,
    append_events,
    applications_per_message,
    assert_each_stream_in_order_ignoring_redeliveries,
    consumer_group_lag,
    event_ids_on,
    open_platform_pool,
    read_whole_topic,
)

from dhr_contracts.topics import dead_letter_topic
from dhr_platform.consumers import ConsumerRuntime, Delivery, safe_broker
from dhr_platform.eventstore import EventStore
from dhr_platform.outbox import OutboxRelay
from support.kafka import create_topics, eventually, unique_topic

STREAMS = 20
EVENTS_PER_STREAM = 30
EVENTS = STREAMS * EVENTS_PER_STREAM
BATCH_SIZE = 20
DIE_AFTER_BATCHES = 3


def relay_observer(pool: asyncpg.Pool, topic: str) -> OutboxRelay:
    """A relay object used only to read the child relay's cursor and backlog; it never runs."""

    def no_producer():  # type: ignore[no-untyped-def]
        raise AssertionError("the observer does not publish")

    return OutboxRelay(pool, no_producer, name="reliability", topic=topic, source="/dhr/reliability")


async def record_effect(connection: asyncpg.Connection, delivery: Delivery) -> None:
    await connection.execute("INSERT INTO effects (message_id) VALUES ($1)", delivery.message_id)


async def test_a_relay_killed_mid_batch_and_restarted_loses_nothing_and_the_consumer_applies_each_event_once(
    fresh_database: str, kafka_bootstrap: str, launch: Launch
) -> None:
    topic = unique_topic("reliability.relay")
    await create_topics(kafka_bootstrap, topic, dead_letter_topic(topic))
    pool = await open_platform_pool(fresh_database)
    try:
        appended = await append_events(EventStore(pool), STREAMS, EVENTS_PER_STREAM)
        in_commit_order = [str(row["event_id"]) for row in await pool.fetch(
            "SELECT event_id FROM events ORDER BY tx_id, global_position")]
        relay = relay_observer(pool, topic)
        arguments = [fresh_database, SCHEMA, kafka_bootstrap, topic, str(BATCH_SIZE)]

        # 1. Dies by its own hand on its third batch, acknowledged by Kafka but not saved.
        first = launch(RELAY_SCRIPT, [*arguments, "--die-after-batches", str(DIE_AFTER_BATCHES)])
        assert await first.exit_code() == -signal.SIGKILL, first.output()
        saved = (DIE_AFTER_BATCHES - 1) * BATCH_SIZE
        assert await relay.backlog() == EVENTS - saved, "the cursor moved past the unsaved batch"
        published_but_not_saved = in_commit_order[saved:saved + BATCH_SIZE]

        # 2. Killed by the test at a random moment while it publishes.
        second = launch(RELAY_SCRIPT, arguments)
        kill_below = random.randint(BATCH_SIZE * 10, EVENTS - saved - BATCH_SIZE * 2)

        async def published_enough() -> bool:
            assert second.is_running(), second.output()
            return await relay.backlog() <= kill_below

        await eventually(published_enough, timeout=60, interval=0.005)
        second.kill()
        left_by_second = await relay.backlog()
        assert 0 < left_by_second < EVENTS - saved, "the second relay was not killed mid-way"

        # 3. Restarted, it finishes the backlog and stops cleanly.
        third = launch(RELAY_SCRIPT, arguments)

        async def drained() -> bool:
            assert third.is_running(), third.output()
            return await relay.backlog() == 0

        await eventually(drained, timeout=60)
        assert await third.stop() == 0, third.output()
    finally:
        await pool.close()

    records = await read_whole_topic(kafka_bootstrap, topic)
    copies = Counter(event_ids_on(records))
    assert set(copies) == {str(event_id) for event_id in appended}, "an event never reached Kafka"
    assert all(copies[event_id] >= 2 for event_id in published_but_not_saved), (
        "the batch acknowledged before the crash was not published again: the window was missed"
    )
    assert_each_stream_in_order_ignoring_redeliveries(records)

    await assert_a_consumer_applies_each_event_exactly_once(
        fresh_database, kafka_bootstrap, topic, expected={str(event_id) for event_id in appended}
    )


async def assert_a_consumer_applies_each_event_exactly_once(
    database_url: str, bootstrap: str, topic: str, expected: set[str]
) -> None:
    pool = await open_platform_pool(database_url, schema=f"{SCHEMA}_consumer")
    await pool.execute("CREATE TABLE effects (message_id text NOT NULL)")  # no key: doubles show
    broker = safe_broker(bootstrap, "reliability-consumer")
    runtime = ConsumerRuntime(broker, pool)
    group = f"reliability-{uuid.uuid4().hex[:8]}"
    runtime.subscribe(topic, group, record_effect)
    await broker.start()
    try:
        async def consumed_everything() -> bool:
            return await consumer_group_lag(bootstrap, group, topic) == 0

        await eventually(consumed_everything, timeout=60, interval=0.5)
    finally:
        await broker.stop()
    try:
        applications = await applications_per_message(pool)
    finally:
        await pool.close()
    assert set(applications) == expected
    assert {message: n for message, n in applications.items() if n != 1} == {}
    assert sum(applications.values()) == len(expected) == runtime.applied
