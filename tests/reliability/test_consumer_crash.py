"""A consumer killed mid-batch and restarted: every message applied, none applied twice."""

from __future__ import annotations

import random
import signal
import uuid

import asyncpg
from reliability_support import (
    CONSUMER_SCRIPT,
    SCHEMA,
    Launch,
    applications_per_message,
    consumer_group_lag,
    open_platform_pool,
)

from dhr_contracts.topics import dead_letter_topic
from dhr_platform.consumers import DEFAULT_CONCURRENCY
from dhr_platform.kafka import safe_producer
from support.kafka import create_topics, eventually, unique_topic

MESSAGES = 300
DIE_AFTER_MESSAGES = 40


async def publish_messages(bootstrap: str, topic: str) -> set[str]:
    producer = safe_producer(bootstrap, "reliability-test")
    await producer.start()
    ids = [str(uuid.uuid4()) for _ in range(MESSAGES)]
    try:
        for index, message_id in enumerate(ids):
            await producer.send(topic, f"message {index}".encode(), key=f"review-{index % 17}".encode(),
                                headers=[("ce_id", message_id.encode())])
        await producer.flush()
    finally:
        await producer.stop()
    return set(ids)


async def applied(pool: asyncpg.Pool) -> int:
    return int(await pool.fetchval("SELECT count(*) FROM effects"))


async def test_a_consumer_killed_mid_batch_and_restarted_applies_every_message_exactly_once(
    fresh_database: str, kafka_bootstrap: str, launch: Launch
) -> None:
    topic = unique_topic("reliability.consume")
    await create_topics(kafka_bootstrap, topic, dead_letter_topic(topic))
    sent = await publish_messages(kafka_bootstrap, topic)
    group = f"reliability-{uuid.uuid4().hex[:8]}"
    arguments = [fresh_database, SCHEMA, kafka_bootstrap, topic, group]
    pool = await open_platform_pool(fresh_database)
    try:
        await pool.execute("CREATE TABLE effects (message_id text NOT NULL)")  # no key: doubles show
        await pool.execute("CREATE TABLE deliveries (message_id text NOT NULL, applied boolean NOT NULL)")

        # 1. Dies by its own hand after an effect committed and before its offset was committed.
        first = launch(CONSUMER_SCRIPT, [*arguments, "--die-after-messages", str(DIE_AFTER_MESSAGES)])
        assert await first.exit_code() == -signal.SIGKILL, first.output()
        # Records of other keys applied concurrently may have committed too; none past those.
        assert DIE_AFTER_MESSAGES <= await applied(pool) < DIE_AFTER_MESSAGES + DEFAULT_CONCURRENCY

        # 2. Killed by the test at a random moment while it consumes.
        second = launch(CONSUMER_SCRIPT, arguments)
        kill_at = random.randint(DIE_AFTER_MESSAGES + 20, MESSAGES - 60)

        async def applied_enough() -> bool:
            assert second.is_running(), second.output()
            return await applied(pool) >= kill_at

        await eventually(applied_enough, timeout=60, interval=0.005)
        second.kill()
        assert await applied(pool) < MESSAGES, "the second consumer was not killed mid-way"

        # 3. Restarted, it consumes the rest and stops cleanly.
        third = launch(CONSUMER_SCRIPT, arguments)

        async def caught_up() -> bool:
            assert third.is_running(), third.output()
            return await consumer_group_lag(kafka_bootstrap, group, topic) == 0

        await eventually(caught_up, timeout=90, interval=0.5)
        assert await third.stop() == 0, third.output()

        applications = await applications_per_message(pool)
        refused = await pool.fetchval("SELECT count(*) FROM deliveries WHERE NOT applied")
    finally:
        await pool.close()

    assert set(applications) == sent, "a message was never applied"
    assert {message: n for message, n in applications.items() if n != 1} == {}
    assert refused >= 1, "no message was delivered again, so the inbox was never put to the test"
