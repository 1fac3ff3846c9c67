"""The broker and database the other integration tests rely on do what the services need."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic


async def _create_topic(bootstrap: str, topic: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)])
    finally:
        await admin.close()


async def _read_committed(bootstrap: str, topic: str, expected: int) -> list[bytes]:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"test-{uuid.uuid4().hex}",
        isolation_level="read_committed",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    values: list[bytes] = []
    try:
        async with asyncio.timeout(60):
            while len(values) < expected:
                batches = await consumer.getmany(timeout_ms=500)
                values += [record.value for records in batches.values() for record in records]
            # Give an aborted record that would wrongly be delivered a chance to show up.
            batches = await consumer.getmany(timeout_ms=1000)
            values += [record.value for records in batches.values() for record in records]
    finally:
        await consumer.stop()
    return values


async def test_a_transactional_produce_is_read_back_and_an_aborted_one_is_not(
    kafka_bootstrap: str,
) -> None:
    topic = f"test.local-infrastructure.{uuid.uuid4().hex}"
    await _create_topic(kafka_bootstrap, topic)
    producer = AIOKafkaProducer(
        bootstrap_servers=kafka_bootstrap,
        transactional_id=f"test-{uuid.uuid4().hex}",
        enable_idempotence=True,
    )
    await producer.start()
    try:
        async with producer.transaction():
            await producer.send_and_wait(topic, b"committed-1", key=b"review-1")
            await producer.send_and_wait(topic, b"committed-2", key=b"review-1")
        await producer.begin_transaction()
        await producer.send_and_wait(topic, b"aborted", key=b"review-1")
        await producer.abort_transaction()
    finally:
        await producer.stop()

    values = await _read_committed(kafka_bootstrap, topic, expected=2)

    assert values == [b"committed-1", b"committed-2"]


async def test_postgres_answers_and_exposes_transaction_ids_and_snapshots(
    fresh_database: str,
) -> None:
    connection = await asyncpg.connect(fresh_database)
    try:
        version = await connection.fetchval("select version()")
        async with connection.transaction():
            transaction_id = await connection.fetchval("select pg_current_xact_id()::text::bigint")
            snapshot_xmin = await connection.fetchval(
                "select pg_snapshot_xmin(pg_current_snapshot())::text::bigint"
            )
    finally:
        await connection.close()

    assert version.startswith("PostgreSQL")
    assert transaction_id > 0
    assert 0 < snapshot_xmin <= transaction_id
