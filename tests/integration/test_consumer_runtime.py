"""The consumer runtime against the real Kafka broker and PostgreSQL server."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer

from dhr_contracts.topics import dead_letter_topic
from dhr_platform import dead_letters
from dhr_platform.consumers import ConsumerRuntime, Delivery, PermanentFailure, RetryPolicy, safe_broker
from dhr_platform.eventstore import ConcurrencyError
from support.kafka import create_topics, eventually, headers_of, read_records, unique_topic


@pytest.fixture
async def effects_table(platform_pool: asyncpg.Pool) -> asyncpg.Pool:
    await platform_pool.execute("CREATE TABLE effects (message_id text, body text)")
    return platform_pool


async def record_effect(connection: asyncpg.Connection, delivery: Delivery) -> None:
    body = delivery.value.decode()
    if body == "poison":
        raise RuntimeError("this message can never be applied")
    if body == "malformed":
        raise PermanentFailure("malformed message")
    await connection.execute("INSERT INTO effects VALUES ($1, $2)", delivery.message_id, body)


@pytest.fixture
async def producer(kafka_bootstrap: str) -> AsyncIterator[AIOKafkaProducer]:
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    yield producer
    await producer.stop()


async def effects(pool: asyncpg.Pool) -> list[str]:
    return [row["body"] for row in await pool.fetch("SELECT body FROM effects ORDER BY body")]


async def test_a_redelivered_message_has_no_second_effect(effects_table: asyncpg.Pool) -> None:
    runtime = ConsumerRuntime(safe_broker("127.0.0.1:1", "unused"), effects_table)
    delivery = Delivery("t", 0, 7, b"k", b"once", {"ce_id": str(uuid.uuid4())})

    await runtime.process("c", delivery, record_effect)
    await runtime.process("c", delivery, record_effect)
    await runtime.process("c", Delivery("t", 1, 9, b"k", b"once", delivery.headers), record_effect)

    assert await effects(effects_table) == ["once"]
    assert runtime.applied == 1


async def test_a_poison_message_is_dead_lettered_after_the_retries_and_the_consumer_carries_on(
    effects_table: asyncpg.Pool, kafka_bootstrap: str, producer: AIOKafkaProducer
) -> None:
    topic = unique_topic("consume")
    await create_topics(kafka_bootstrap, topic, dead_letter_topic(topic), partitions=1)
    broker = safe_broker(kafka_bootstrap, "test-consumer")
    runtime = ConsumerRuntime(broker, effects_table, RetryPolicy(3, 0.01, 0.05))
    runtime.subscribe(topic, f"group-{uuid.uuid4().hex[:6]}", record_effect)
    for body in (b"first", b"poison", b"malformed", b"after"):
        await producer.send_and_wait(topic, body, key=b"review-1",
                                     headers=[("ce_id", str(uuid.uuid4()).encode())])
    await broker.start()
    try:
        async def applied():
            return await effects(effects_table) == ["after", "first"]

        await eventually(applied)
    finally:
        await broker.stop()

    parked = await read_records(kafka_bootstrap, dead_letter_topic(topic), expected=2)
    by_body = {record.value: headers_of(record) for record in parked}
    assert set(by_body) == {b"poison", b"malformed"}
    poison = by_body[b"poison"]
    assert poison["dlq_error_type"] == "RuntimeError"
    assert poison["dlq_error_message"] == "this message can never be applied"
    assert poison["dlq_attempts"] == "3"
    assert poison["dlq_original_topic"] == topic
    assert poison["dlq_original_offset"] == "1"
    assert "ce_id" in poison
    assert by_body[b"malformed"]["dlq_attempts"] == "1", "a permanent failure is not retried"
    assert runtime.dead_lettered == 2


async def test_a_new_consumer_group_reads_from_the_earliest_offset_and_deduplicates_by_event_id(
    effects_table: asyncpg.Pool, kafka_bootstrap: str, producer: AIOKafkaProducer
) -> None:
    topic = unique_topic("consume")
    await create_topics(kafka_bootstrap, topic, dead_letter_topic(topic))
    event_id = str(uuid.uuid4()).encode()
    for _ in range(3):  # the same event published three times, as a relay retry would
        await producer.send_and_wait(topic, b"same-event", key=b"review-2", headers=[("ce_id", event_id)])
    await producer.send_and_wait(topic, b"other-event", key=b"review-2",
                                 headers=[("ce_id", str(uuid.uuid4()).encode())])
    broker = safe_broker(kafka_bootstrap, "test-consumer")
    runtime = ConsumerRuntime(broker, effects_table)
    runtime.subscribe(topic, f"group-{uuid.uuid4().hex[:6]}", record_effect)
    await broker.start()
    try:
        async def both():
            return await effects(effects_table) == ["other-event", "same-event"]

        await eventually(both)
    finally:
        await broker.stop()
    assert runtime.applied == 2


async def test_an_unavailable_database_is_waited_out_and_never_parks_a_good_message(
    effects_table: asyncpg.Pool,
) -> None:
    runtime = ConsumerRuntime(safe_broker("127.0.0.1:1", "unused"), effects_table,
                              RetryPolicy(2, 0.001, 0.01))
    failures = iter([ConnectionRefusedError("database restarting")] * 5
                    + [asyncpg.exceptions.AdminShutdownError("terminating connection")] * 2)

    async def flaky(connection: asyncpg.Connection, delivery: Delivery) -> None:
        error = next(failures, None)
        if error is not None:
            raise error
        await record_effect(connection, delivery)

    await runtime.process("c", Delivery("t", 0, 1, b"k", b"survivor", {"ce_id": "m-1"}), flaky)

    assert await effects(effects_table) == ["survivor"]
    assert runtime.dead_lettered == 0


async def test_a_concurrency_clash_is_decided_again_at_once_not_parked(
    effects_table: asyncpg.Pool,
) -> None:
    runtime = ConsumerRuntime(safe_broker("127.0.0.1:1", "unused"), effects_table,
                              RetryPolicy(1, 5.0, 5.0))
    clashes = iter([ConcurrencyError("panel-1", 3, 4)] * 3)

    async def contended(connection: asyncpg.Connection, delivery: Delivery) -> None:
        clash = next(clashes, None)
        if clash is not None:
            raise clash
        await record_effect(connection, delivery)

    started = asyncio.get_running_loop().time()
    await runtime.process("c", Delivery("t", 0, 2, b"k", b"decided", {"ce_id": "m-2"}), contended)

    assert await effects(effects_table) == ["decided"]
    assert runtime.dead_lettered == 0
    assert asyncio.get_running_loop().time() - started < 1.0, "no backoff on a clash"


async def test_parked_messages_are_listed_and_replayed_once_the_cause_is_fixed(
    effects_table: asyncpg.Pool, kafka_bootstrap: str, producer: AIOKafkaProducer
) -> None:
    topic = unique_topic("replay")
    await create_topics(kafka_bootstrap, topic, dead_letter_topic(topic), partitions=1)
    group, other_group = f"group-{uuid.uuid4().hex[:6]}", f"other-{uuid.uuid4().hex[:6]}"
    fixed = False

    async def needs_a_fix(connection: asyncpg.Connection, delivery: Delivery) -> None:
        if delivery.value == b"needs-fix" and not fixed:
            raise PermanentFailure("cannot apply this yet")
        await record_effect(connection, delivery)

    broker = safe_broker(kafka_bootstrap, "test-replay")
    runtime = ConsumerRuntime(broker, effects_table, RetryPolicy(2, 0.01, 0.05))
    runtime.subscribe(topic, group, needs_a_fix)
    event_id = str(uuid.uuid4())
    await producer.send_and_wait(topic, b"needs-fix", key=b"review-1",
                                 headers=[("ce_id", event_id.encode()), ("ce_type", b"t.v1")])
    # Another service's consumer parked something on the same dead-letter topic: not ours.
    await producer.send_and_wait(dead_letter_topic(topic), b"theirs", key=b"review-2", headers=[
        ("ce_id", str(uuid.uuid4()).encode()), ("dlq_consumer", other_group.encode()),
        ("dlq_original_topic", topic.encode())])
    await broker.start()
    try:
        await eventually(lambda: _parked(kafka_bootstrap, topic, group, expected=1))
        listed, _ = await dead_letters.read_dead_letters(
            kafka_bootstrap, "svc", [dead_letter_topic(topic)], [group])
        assert [(letter.event_id, letter.value, letter.header("dlq_error_type"))
                for letter in listed] == [(event_id, b"needs-fix", "PermanentFailure")]
        assert await effects(effects_table) == []

        fixed = True
        replayed = await dead_letters.replay(kafka_bootstrap, "svc", [dead_letter_topic(topic)],
                                             [group])

        assert [letter.event_id for letter in replayed] == [event_id]

        async def applied() -> bool:
            return await effects(effects_table) == ["needs-fix"]
        await eventually(applied)
    finally:
        await broker.stop()
    republished = [r for r in await read_records(kafka_bootstrap, topic, expected=2)
                   if r.value == b"needs-fix"]
    assert len(republished) == 2 and republished[1].key == b"review-1"
    headers = headers_of(republished[1])
    assert headers["ce_id"] == event_id and headers["ce_type"] == "t.v1"
    assert headers["dlq_replayed_from"] == f"{dead_letter_topic(topic)}/0@1"  # after theirs
    assert not any(name.startswith("dlq_") and name != "dlq_replayed_from" for name in headers)
    # Dealt with: nothing pending, and replaying again republishes nothing.
    pending, _ = await dead_letters.read_dead_letters(
        kafka_bootstrap, "svc", [dead_letter_topic(topic)], [group])
    assert pending == []
    assert await dead_letters.replay(kafka_bootstrap, "svc", [dead_letter_topic(topic)],
                                     [group]) == []
    everything, _ = await dead_letters.read_dead_letters(
        kafka_bootstrap, "svc", [dead_letter_topic(topic)], [group], pending_only=False)
    assert [letter.event_id for letter in everything] == [event_id]


async def _parked(bootstrap: str, topic: str, group: str, *, expected: int) -> bool:
    found, _ = await dead_letters.read_dead_letters(bootstrap, "svc", [dead_letter_topic(topic)],
                                                    [group], pending_only=False)
    return len(found) == expected
