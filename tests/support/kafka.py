"""Helpers for tests that read real Kafka topics."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord

from dhr_platform.kafka import ensure_topics


def unique_topic(prefix: str = "test") -> str:
    return f"{prefix}.{uuid.uuid4().hex[:12]}"


async def create_topics(bootstrap: str, *topics: str, partitions: int = 3) -> None:
    await ensure_topics(bootstrap, topics, partitions=partitions, replication_factor=1)


async def read_records(
    bootstrap: str, topic: str, *, expected: int, timeout: float = 30.0,
    key: bytes | None = None,
) -> list[ConsumerRecord[Any, Any]]:
    """Read a topic from the beginning with a plain aiokafka consumer until `expected` records
    (of `key` alone, when given) arrived or the timeout passed, then return what arrived."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        isolation_level="read_committed",
    )
    await consumer.start()
    records: list[ConsumerRecord[Any, Any]] = []
    deadline = time.monotonic() + timeout
    try:
        while len(records) < expected and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            for partition_records in batch.values():
                records.extend(record for record in partition_records
                               if key is None or record.key == key)
    finally:
        await consumer.stop()
    return records


async def eventually(condition, *, timeout: float = 30.0, interval: float = 0.1) -> None:
    """Wait until an async condition holds; fail with its last value if it never does."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = await condition()
        if last:
            return
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s (last value: {last!r})")


def headers_of(record: ConsumerRecord[Any, Any]) -> dict[str, str]:
    return {name: value.decode() for name, value in record.headers}


def is_access_event(record: ConsumerRecord[Any, Any]) -> bool:
    """A record of a read of restricted material (dhr_platform.disclosure), which shares the
    review's key with the review's own events."""
    return headers_of(record)["ce_type"].endswith(".RestrictedMaterialRead.v1")
