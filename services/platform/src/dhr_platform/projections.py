"""Projection runner: read models kept in step with the store and rebuilt on demand, from the
store or from the service's Kafka topic (when the database was lost, or to check one against the
other)."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import tempfile
from collections.abc import AsyncIterator, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import TextIO, cast
from uuid import UUID

import asyncpg
from confluent_kafka import Consumer
from confluent_kafka import TopicPartition as KafkaTopicPartition

from dhr_contracts.envelope import HEADER_PREFIX
from dhr_platform.database import Connection, indexes_set_aside
from dhr_platform.eventstore import (
    EventStore,
    InlineProjection,
    RecordedEvent,
    apply_all,
    schema_version_of,
)
from dhr_platform.kafka import KafkaConnection
from dhr_platform.progress import Progress
from dhr_platform.topic_fold import (
    FoldedProjection,
    fold_topic,
    partition_ranges,
    records,
    replay_consumer,
)

_PREFIXED = len(HEADER_PREFIX)
REPLAY_BATCH = 5000
"""Events applied at once in a rebuild: a batch projection reads and writes each batch's rows
in one round trip each."""
FOLD_WORKERS = 2 * (os.cpu_count() or 1)
"""Processes folding a topic at most (one per partition up to this): a few more than the cores,
so that unequal partitions still keep every core busy."""


async def _replay(store: EventStore, projections: Sequence[InlineProjection] | None,
                  total: int | None, batches: AsyncIterator[list[RecordedEvent]] | None,
                  batch_size: int, progress: TextIO | None) -> int:
    """Empty the projections' tables and apply every event of `batches` (the store's own events
    when None) into them, in one transaction that locks the tables first: a write that commits
    meanwhile waits for the rebuild and then applies its own event on top, so nothing is lost or
    doubled."""
    chosen = _chosen(store, projections)
    async with store.pool.acquire() as connection, connection.transaction():
        await _empty(connection, chosen)
        if batches is None:
            total = int(await connection.fetchval("SELECT count(*) FROM events"))
            batches = _store_batches(store, connection, batch_size)
        bar = Progress(progress)
        bar.start(total or 0)
        replayed = 0
        async for events in batches:
            await apply_all(connection, chosen, events)
            replayed += len(events)
            bar.advance_to(replayed)
        bar.close()
    return replayed


def _chosen(store: EventStore, projections: Sequence[InlineProjection] | None
            ) -> tuple[InlineProjection, ...]:
    return tuple(store.projections if projections is None else projections)


async def _empty(connection: Connection, projections: Sequence[InlineProjection]) -> None:
    """Lock the projections' tables for the rest of the transaction and empty them."""
    tables = [table for projection in projections for table in projection.tables]
    if tables:
        await connection.execute(f"LOCK TABLE {', '.join(tables)} IN ACCESS EXCLUSIVE MODE")
        await connection.execute(f"TRUNCATE {', '.join(tables)}")


async def _store_batches(store: EventStore, connection: Connection, batch_size: int
                         ) -> AsyncIterator[list[RecordedEvent]]:
    position = 0
    while events := await store.read_all(position, batch_size, connection=connection):
        yield events
        position = events[-1].global_position


async def rebuild(
    store: EventStore,
    projections: Sequence[InlineProjection] | None = None,
    *,
    batch_size: int = REPLAY_BATCH,
    progress: TextIO | None = None,
) -> int:
    """Empty the projections' tables and replay every event of the store into them; return
    the count."""
    return await _replay(store, projections, None, None, batch_size, progress)


async def rebuild_from_topic(
    store: EventStore,
    kafka: KafkaConnection | str,
    topic: str,
    projections: Sequence[InlineProjection] | None = None,
    *,
    batch_size: int = REPLAY_BATCH,
    progress: TextIO | None = None,
    workers: int = FOLD_WORKERS,
) -> int:
    """Empty the projections' tables and replay the service's topic into them, from each
    partition's first offset to its end when the replay began; return the count of events.

    A review's events share a key, hence a partition, so each stream comes in its order; the
    order across streams does not matter to a projection. Records that are not CloudEvents of
    this platform are skipped. When every projection is a `FoldedProjection`, worker processes
    fold the partitions (dhr_platform.topic_fold) and the rows go in with COPY.
    """
    chosen = _chosen(store, projections)
    if chosen and all(isinstance(projection, FoldedProjection) for projection in chosen):
        return await _fold_rebuild(store, KafkaConnection.of(kafka), topic,
                                   cast(tuple[FoldedProjection, ...], chosen), workers, progress)
    reader = TopicReader(KafkaConnection.of(kafka), topic)
    total = await asyncio.to_thread(reader.open)
    try:
        return await _replay(store, projections, total, reader.batches(batch_size), batch_size,
                             progress)
    finally:
        reader.close()


async def _fold_rebuild(store: EventStore, kafka: KafkaConnection, topic: str,
                        projections: tuple[FoldedProjection, ...], workers: int,
                        progress: TextIO | None) -> int:
    bar = Progress(progress)
    async with store.pool.acquire() as connection, connection.transaction():
        await _empty(connection, projections)
        with tempfile.TemporaryDirectory(prefix="dhr-replay-") as spill_dir:
            folded = await fold_topic(kafka, topic, projections, Path(spill_dir), workers,
                                      bar.start, bar.advance_to)
            bar.close()
            for projection in projections:
                for table in projection.tables:
                    async with indexes_set_aside(connection, table):
                        for job, _ in folded:
                            await connection.copy_to_table(
                                table, source=job.spill(table),
                                columns=list(projection.columns[table]), format="csv",
                                freeze=True)  # emptied in this transaction: no later hint writes
    return sum(result.events for _, result in folded)


class TopicReader:
    """Every record of a topic as stored events, read with librdkafka (a record costs a third
    of aiokafka's time) in a thread, so that reading overlaps the database writes."""

    def __init__(self, kafka: KafkaConnection, topic: str):
        self.kafka = kafka
        self.topic = topic
        self.consumer: Consumer | None = None
        self.records: Iterator[tuple[Sequence[tuple[str, bytes]], bytes, int]] = iter(())
        self.exhausted = False

    def open(self) -> int:
        """Assign every partition from its first offset; answer how many records there are."""
        ranges = partition_ranges(self.kafka, self.topic)
        self.consumer = replay_consumer(self.kafka, "dhr-replay")
        self.consumer.assign([KafkaTopicPartition(self.topic, part.partition, part.first)
                              for part in ranges])
        self.records = records(self.consumer, self.topic, ranges, lambda count: None)
        return sum(part.records for part in ranges)

    def _read(self, count: int) -> list[RecordedEvent]:
        events: list[RecordedEvent] = []
        taken = 0
        for headers, value, offset in itertools.islice(self.records, count):
            taken += 1
            event = event_of_record(headers, value, offset)
            if event is not None:
                events.append(event)
        self.exhausted = taken < count
        return events

    async def batches(self, count: int) -> AsyncIterator[list[RecordedEvent]]:
        reading = asyncio.create_task(asyncio.to_thread(self._read, count))
        try:
            while True:
                events = await reading
                if self.exhausted:
                    if events:
                        yield events
                    return
                reading = asyncio.create_task(asyncio.to_thread(self._read, count))
                if events:
                    yield events
        finally:
            reading.cancel()
            await asyncio.gather(reading, return_exceptions=True)

    def close(self) -> None:
        if self.consumer is not None:
            self.consumer.close()


def event_of_record(headers: Sequence[tuple[str, bytes | None]], value: bytes | None,
                    offset: int) -> RecordedEvent | None:
    """A Kafka record of a platform topic as the stored event it was published from (None
    when it is not one: no CloudEvent headers)."""
    attributes = {name[_PREFIXED:]: raw.decode() for name, raw in headers
                  if name[:_PREFIXED] == HEADER_PREFIX and raw is not None}
    try:
        event_type = attributes["type"]
        metadata: dict[str, object] = {
            "subject": attributes["subject"], "actor": attributes["actor"],
            "correlation_id": attributes["correlationid"],
            "causation_id": attributes.get("causationid"),
            "traceparent": attributes.get("traceparent"),
        }
        if "datakeyid" in attributes:
            metadata["data_key_id"] = attributes["datakeyid"]
        return RecordedEvent(
            global_position=offset, stream_id=attributes["stream"],
            stream_version=int(attributes["streamversion"]), event_id=UUID(attributes["id"]),
            type=event_type, schema_version=schema_version_of(event_type),
            data=json.loads(value or b"null"), metadata=metadata,
            recorded_at=datetime.fromisoformat(attributes["time"]))
    except (KeyError, ValueError):
        return None


async def table_checksum(connection: Connection | asyncpg.Pool, table: str,
                         order_by: str) -> str:
    """A digest of a table's rows, to compare a rebuilt read model with the live one."""
    return str(await connection.fetchval(
        f"SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY {order_by}), '')) FROM {table} t"
    ))
