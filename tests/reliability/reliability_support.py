"""Helpers for reliability tests: child processes to kill, event streams, topic and group state."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections import defaultdict
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Protocol
from uuid import UUID

import asyncpg
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from dhr_platform.database import (
    DEFAULT_ACQUIRE_TIMEOUT_SECONDS,
    create_pool,
    migrate,
    platform_migrations,
)
from dhr_platform.eventstore import EventMetadata, EventStore, NewEvent
from support.kafka import headers_of, read_records

HERE = Path(__file__).parent
RELAY_SCRIPT = HERE / "relay_process.py"
CONSUMER_SCRIPT = HERE / "consumer_process.py"
SCHEMA = "reliability"
PARTITIONS = 3


class ChildProcess:
    """A helper script (or a service's `__main__.py`) run by this interpreter in a process of its
    own, with `environment` added to ours, its output in a file."""

    def __init__(self, script: Path, arguments: Iterable[str], log: Path,
                 environment: Mapping[str, str] | None = None) -> None:
        self.log = log
        with log.open("ab") as output:
            self.process = subprocess.Popen(
                [sys.executable, str(script), *arguments],
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                env={**os.environ, **(environment or {})},
            )

    @property
    def pid(self) -> int:
        return self.process.pid

    def is_running(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL, as a crash would, and reap it."""
        if self.is_running():
            os.kill(self.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    async def exit_code(self, timeout: float = 60.0) -> int:
        return await asyncio.to_thread(self.process.wait, timeout)

    async def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM (a clean shutdown) and the exit code."""
        if self.is_running():
            os.kill(self.pid, signal.SIGTERM)
        return await self.exit_code(timeout)

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


class Launch(Protocol):
    def __call__(self, script: Path, arguments: Iterable[str],
                 environment: Mapping[str, str] | None = None) -> ChildProcess: ...


async def open_platform_pool(url: str, schema: str = SCHEMA, max_size: int = 10,
                             acquire_timeout: float = DEFAULT_ACQUIRE_TIMEOUT_SECONDS
                             ) -> asyncpg.Pool:
    """A pool on `schema` of `url` with the platform's tables (events, relay_cursor, inbox)."""
    pool = await create_pool(url, schema, max_size=max_size, acquire_timeout=acquire_timeout)
    await migrate(pool, schema, [platform_migrations()])
    return pool


async def append_events(store: EventStore, streams: int, per_stream: int, prefix: str = "review"
                        ) -> list[UUID]:
    """Append `per_stream` events to each of `streams` streams, one transaction per event, the
    streams written concurrently; return the event ids."""
    appended: list[UUID] = []

    async def write(stream: str) -> None:
        for version in range(per_stream):
            event = NewEvent("dhr.reliability.Stepped.v1", {"step": version + 1})
            async with store.pool.acquire() as connection, connection.transaction():
                await store.append(connection, stream, version, [event],
                                   EventMetadata(subject=stream, actor="reliability-test"))
            appended.append(event.event_id)

    await asyncio.gather(*(write(f"{prefix}-{index}") for index in range(streams)))
    return appended


async def end_offsets(bootstrap: str, topic: str) -> dict[TopicPartition, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        return await consumer.end_offsets(
            [TopicPartition(topic, partition) for partition in range(PARTITIONS)]
        )
    finally:
        await consumer.stop()


async def read_whole_topic(bootstrap: str, topic: str) -> list[ConsumerRecord[Any, Any]]:
    """Every record on the topic, duplicates included."""
    size = sum((await end_offsets(bootstrap, topic)).values())
    records = await read_records(bootstrap, topic, expected=size, timeout=60)
    assert len(records) == size, f"read {len(records)} of the {size} records on {topic}"
    return records


def event_ids_on(records: list[ConsumerRecord[Any, Any]]) -> list[str]:
    return [headers_of(record)["ce_id"] for record in records]


def assert_each_stream_in_order_ignoring_redeliveries(records: list[ConsumerRecord[Any, Any]]
                                                      ) -> None:
    """Per stream, a record either repeats a version already seen or is the next one."""
    seen: dict[str, set[int]] = defaultdict(set)
    for record in sorted(records, key=lambda record: (record.partition, record.offset)):
        headers = headers_of(record)
        stream, version = headers["ce_stream"], int(headers["ce_streamversion"])
        if version in seen[stream]:
            continue
        assert version == len(seen[stream]) + 1, (
            f"{stream} version {version} at {record.partition}@{record.offset} "
            f"after versions 1..{len(seen[stream])}"
        )
        seen[stream].add(version)


async def consumer_group_lag(bootstrap: str, group: str, topic: str) -> int:
    """Records on the topic that the group has not committed past."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="reliability-lag")
    await admin.start()
    try:
        committed = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    lag = 0
    for partition, end in (await end_offsets(bootstrap, topic)).items():
        position = committed.get(partition)
        lag += end - (position.offset if position is not None and position.offset >= 0 else 0)
    return lag


async def applications_per_message(pool: asyncpg.Pool) -> dict[str, int]:
    rows = await pool.fetch("SELECT message_id, count(*) AS n FROM effects GROUP BY message_id")
    return {row["message_id"]: row["n"] for row in rows}


async def delete_every_topic(bootstrap: str, timeout: float = 60.0) -> None:
    """Delete every topic but Kafka's own, and wait until they are gone (their committed offsets
    go with them). Only ever on a broker the test session owns."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="reliability-reset")
    await admin.start()
    try:
        deadline = asyncio.get_running_loop().time() + timeout
        while topics := [t for t in await admin.list_topics() if not t.startswith("__")]:
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"topics not deleted within {timeout}s: {topics}")
            await admin.delete_topics(topics)
            await asyncio.sleep(0.5)
    finally:
        await admin.close()
