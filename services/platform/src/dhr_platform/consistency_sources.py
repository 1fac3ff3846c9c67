"""Reading what `dhr_platform.consistency.check` compares: event stores and topics.

Read the stores first, then the topics, then the ledger's consumer group offsets, then the
ledger: each source is then at least as recent as the one it is judged against, and what is in
flight between them counts as pending, not lost.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from dhr_platform.consistency import PublishedRecord, Store, StoredEvent
from dhr_platform.database import Connection

_SCHEMA_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
STALL_SECONDS = 60.0


class SourceError(Exception):
    """A store or topic could not be read."""


async def read_store(connection: Connection, schema: str, topic: str, *,
                     relay: str | None = None, review_id: str | None = None) -> Store:
    """The events of the service whose tables are in `schema` (only reads), each marked
    published or not by its relay's cursor (the relay is named after the schema by default)."""
    if not _SCHEMA_NAME.match(schema):
        raise ValueError(f"invalid schema name {schema!r}")
    rows = await connection.fetch(
        f"""SELECT e.event_id::text AS event_id, e.stream_id, e.stream_version, e.type,
                   e.metadata->>'subject' AS review_id,
                   e.metadata->>'causation_id' AS causation_id,
                   e.tx_id::text AS transaction,
                   coalesce((e.tx_id, e.global_position) <= (c.tx_id, c.global_position), false)
                     AS published
              FROM "{schema}".events e
              LEFT JOIN "{schema}".relay_cursor c ON c.relay = $1
             WHERE $2::text IS NULL OR e.metadata->>'subject' = $2""",
        relay or schema, review_id)
    return Store(schema, topic, [
        StoredEvent(row["event_id"], row["review_id"], row["stream_id"], row["stream_version"],
                    row["type"], row["causation_id"], row["transaction"], row["published"])
        for row in rows])


async def read_topic(bootstrap: str, topic: str, *, review_id: str | None = None,
                     stall_seconds: float = STALL_SECONDS) -> tuple[list[PublishedRecord], int]:
    """Every CloudEvent on `topic` up to its end offsets as they were when reading began, and how
    many records were not CloudEvents (the ledger dead-letters those). Gives up with SourceError
    when no record comes for `stall_seconds`."""
    partitions = [TopicPartition(topic, p) for p in await _partitions(bootstrap, topic)]
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                                enable_auto_commit=False, auto_offset_reset="earliest",
                                client_id="dhr-check")
    await consumer.start()
    records: list[PublishedRecord] = []
    malformed = 0
    try:
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        remaining = {tp for tp in partitions if ends[tp] > 0}
        last_progress = time.monotonic()
        while remaining:
            batch = await consumer.getmany(*remaining, timeout_ms=1000, max_records=5000)
            if batch:
                last_progress = time.monotonic()
            elif time.monotonic() - last_progress > stall_seconds:
                raise SourceError(f"no record came from {topic} for {stall_seconds:.0f}s")
            for tp, raw_records in batch.items():
                for raw in raw_records:
                    if raw.offset >= ends[tp]:
                        break
                    record = _published(raw)
                    if record is None:
                        malformed += 1
                    elif review_id is None or record.review_id == review_id:
                        records.append(record)
            for tp in list(remaining):
                if await consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
    finally:
        await consumer.stop()
    return records, malformed


async def _partitions(bootstrap: str, topic: str) -> list[int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="dhr-check")
    await admin.start()
    try:
        [description] = await admin.describe_topics([topic])
    finally:
        await admin.close()
    if description["error_code"] != 0:
        raise SourceError(f"cannot read topic {topic}: Kafka error {description['error_code']}")
    return sorted(partition["partition"] for partition in description["partitions"])


def _published(raw: Any) -> PublishedRecord | None:
    headers = {name: value.decode(errors="replace") for name, value in raw.headers or ()}
    try:
        return PublishedRecord(raw.topic, raw.partition, raw.offset, headers["ce_id"],
                               headers["ce_subject"], headers["ce_stream"],
                               int(headers["ce_streamversion"]))
    except (KeyError, ValueError):
        return None


async def committed_offsets(bootstrap: str, group: str) -> dict[tuple[str, int], int]:
    """The offsets `group` has committed, by (topic, partition)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="dhr-check")
    await admin.start()
    try:
        committed = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    return {(tp.topic, tp.partition): position.offset for tp, position in committed.items()
            if position.offset >= 0}


def mark_consumed(records: Sequence[PublishedRecord],
                  committed: Mapping[tuple[str, int], int]) -> list[PublishedRecord]:
    """The records, each `consumed` when the group committed past it."""
    return [PublishedRecord(r.topic, r.partition, r.offset, r.event_id, r.review_id, r.stream_id,
                            r.version, r.offset < committed.get((r.topic, r.partition), 0))
            for r in records]
