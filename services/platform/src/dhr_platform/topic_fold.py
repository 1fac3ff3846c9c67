"""A topic folded into read-model rows by worker processes: the fast path of a rebuild from
Kafka for projections whose rows depend on one stream's events alone (`FoldedProjection`).

A review's events share a key, hence a partition, so each stream's fold needs the records of one
partition only. The topic's partitions are shared out among forked worker processes
(dhr_platform.workers; one per partition up to twice the cores). Each reads its partitions from
their first offset to the end offset taken at the start with librdkafka, turns each record into
its payload straight from the record's JSON (no intermediate event or dict), folds it into its
stream's state with the projection's own `evolve`, and at the end writes each stream's rows as
CSV to a file of its own. The caller loads the files with COPY. Reading, parsing and folding
(nearly all the work) thus run on every core, and the database receives each row once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from enum import Enum
from pathlib import Path
from typing import Any, Protocol, cast, runtime_checkable

from confluent_kafka import Consumer
from confluent_kafka import TopicPartition as KafkaTopicPartition
from pydantic import BaseModel

from dhr_contracts.base import EventPayload
from dhr_contracts.envelope import HEADER_PREFIX
from dhr_contracts.registry import parse_payload_json
from dhr_platform.database import encode_json
from dhr_platform.eventstore import InlineProjection
from dhr_platform.kafka import KafkaConnection
from dhr_platform.workers import add_progress, in_workers

MAX_RECORDS = 20_000
"""Records taken from librdkafka at once."""
_LOG = logging.getLogger("dhr_platform.replay")
IN_PROCESS_BELOW = 20_000
"""Fewer records than this are folded in the calling process: starting workers would cost more."""
_TYPE, _STREAM, _VERSION = (HEADER_PREFIX + name for name in ("type", "stream", "streamversion"))


@runtime_checkable
class FoldedProjection(InlineProjection, Protocol):
    """A projection whose rows for a stream are a function of that stream's fold alone.

    `rows` gives, for one stream's final state and version, the rows of each of the
    projection's tables (as tuples in the order of `columns[table]`); the live `apply` path and
    the rebuild from a topic both take their rows from it, so the two cannot disagree."""

    columns: Mapping[str, Sequence[str]]

    def follows(self, stream_id: str) -> bool: ...

    def initial_state(self) -> Any: ...

    def evolve(self, state: Any, payload: EventPayload) -> Any: ...

    def rows(self, stream_id: str, state: Any, version: int
             ) -> Mapping[str, Sequence[tuple[Any, ...]]]: ...


@dataclass(frozen=True)
class PartitionRange:
    partition: int
    first: int
    end: int  # the offset after the last record when the replay began

    @property
    def records(self) -> int:
        return self.end - self.first


@dataclass(frozen=True)
class FoldJob:
    """The partitions one worker folds, and where its rows go."""

    number: int
    kafka: KafkaConnection
    topic: str
    partitions: tuple[PartitionRange, ...]
    projections: tuple[FoldedProjection, ...]
    spill_dir: str

    def spill(self, table: str) -> Path:
        return Path(self.spill_dir) / f"{table}-{self.number}.csv"


@dataclass
class FoldResult:
    records: int = 0
    events: int = 0  # CloudEvents among the records (the rest are skipped)
    rows: int = 0


def replay_consumer(kafka: KafkaConnection, name: str) -> Consumer:
    """A plain consumer of assigned partitions with large fetches: no group is joined and
    nothing is committed (the group id is required by the client, never used); librdkafka's
    own log lines go to this module's logger."""
    return Consumer({
        **kafka.librdkafka_options(), "group.id": f"dhr-replay-{uuid.uuid4()}",
        "client.id": name, "enable.auto.commit": False, "enable.auto.offset.store": False,
        "isolation.level": "read_committed", "fetch.max.bytes": 64 * 1024 * 1024,
        "max.partition.fetch.bytes": 16 * 1024 * 1024, "fetch.wait.max.ms": 100,
        "queued.max.messages.kbytes": 256 * 1024, "logger": _LOG,
    })


def partition_ranges(kafka: KafkaConnection, topic: str) -> list[PartitionRange]:
    """Every partition of `topic` that holds records, with its first and end offsets."""
    consumer = replay_consumer(kafka, "dhr-replay-offsets")
    try:
        metadata = consumer.list_topics(topic, timeout=30)
        ranges = []
        for partition in sorted(metadata.topics[topic].partitions):
            low, high = consumer.get_watermark_offsets(KafkaTopicPartition(topic, partition),
                                                       timeout=30)
            if high > low:
                ranges.append(PartitionRange(partition, low, high))
        return ranges
    finally:
        consumer.close()


def share_out(ranges: Sequence[PartitionRange], workers: int) -> list[list[PartitionRange]]:
    """The partitions in at most `workers` groups of about equal record counts."""
    groups: list[list[PartitionRange]] = [[] for _ in range(max(1, workers))]
    loads = [0] * len(groups)
    for part in sorted(ranges, key=lambda r: r.records, reverse=True):
        lightest = loads.index(min(loads))
        groups[lightest].append(part)
        loads[lightest] += part.records
    return [group for group in groups if group]


def records(consumer: Consumer, topic: str, partitions: Sequence[PartitionRange],
            on_batch: Callable[[int], None]
            ) -> Iterator[tuple[Sequence[tuple[str, bytes]], bytes, int]]:
    """(headers, value, offset) of every record of the assigned `partitions` up to their end
    offsets; `on_batch` hears how many each fetch gave."""
    ends = {part.partition: part.end for part in partitions}
    remaining = set(ends)
    while remaining:
        count = 0
        for message in consumer.consume(num_messages=MAX_RECORDS, timeout=0.5):
            error = message.error()
            if error is not None:
                if error.fatal():
                    raise RuntimeError(f"reading {topic} failed: {error}")
                continue  # the client retries by itself
            # A delivered record always has its coordinates.
            offset = cast(int, message.offset())
            if offset >= ends[cast(int, message.partition())]:
                continue
            count += 1
            yield (cast(Sequence[tuple[str, bytes]], message.headers() or ()),
                   message.value() or b"", offset)
        on_batch(count)
        # A partition is done once the next offset to fetch reaches its end (the last records
        # may be transaction markers, which are never delivered).
        keys = sorted(remaining)
        positions = consumer.position([KafkaTopicPartition(topic, p) for p in keys])
        for partition, position in zip(keys, positions, strict=True):
            if position.offset >= ends[partition]:
                remaining.discard(partition)


def fold(job: FoldJob, progress: Any) -> FoldResult:
    """Read the job's partitions, fold every followed stream and write the rows' CSV files."""
    result = FoldResult()
    projections = job.projections
    # Per stream (its id as the header's bytes), a [projection, state, version] cell for each
    # projection that follows it, made when the stream is first seen.
    streams: dict[bytes, list[list[Any]]] = {}

    def advance(count: int) -> None:
        result.records += count
        add_progress(progress, count)

    consumer = replay_consumer(job.kafka, f"dhr-replay-{job.number}")
    try:
        consumer.assign([KafkaTopicPartition(job.topic, part.partition, part.first)
                         for part in job.partitions])
        for headers, value, _ in records(consumer, job.topic, job.partitions, advance):
            attributes = dict(headers)
            stream = attributes.get(_STREAM)
            event_type = attributes.get(_TYPE)
            version_text = attributes.get(_VERSION)
            if stream is None or event_type is None or version_text is None:
                continue  # not a CloudEvent of this platform
            result.events += 1
            cells = streams.get(stream)
            if cells is None:
                stream_id = stream.decode()
                cells = streams[stream] = [[projection, projection.initial_state(), 0]
                                           for projection in projections
                                           if projection.follows(stream_id)]
            version = int(version_text)
            payload: EventPayload | None = None
            for cell in cells:
                if version <= cell[2]:
                    continue  # published twice: applied once
                if payload is None:
                    payload = parse_payload_json(event_type.decode(), value)
                cell[1] = cell[0].evolve(cell[1], payload)
                cell[2] = version
    finally:
        consumer.close()
    result.rows = write_rows(job, streams)
    return result


def write_rows(job: FoldJob, streams: Mapping[bytes, Sequence[Sequence[Any]]]) -> int:
    """Each stream's rows, as CSV in COPY's format, to the job's file for each table."""
    written = 0
    with contextlib.ExitStack() as files:
        spills = {table: files.enter_context(
            open(job.spill(table), "w", encoding="utf-8", buffering=1 << 20))
            for projection in job.projections for table in projection.tables}
        for stream, cells in streams.items():
            for projection, state, version in cells:
                if version == 0:
                    continue  # nothing of the stream was for this projection
                for table, rows in projection.rows(stream.decode(), state, version).items():
                    spills[table].writelines(csv_line(row) for row in rows)
                    written += len(rows)
    return written


def csv_line(row: Sequence[object]) -> str:
    """A row as COPY reads it in CSV format: NULL unquoted and empty, every other value quoted
    in its column type's text form (so an empty string stays one)."""
    return ",".join("" if value is None else '"' + _text(value).replace('"', '""') + '"'
                    for value in row) + "\n"


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, Enum):
        return _text(value.value)
    if isinstance(value, date):  # dates and datetimes
        return value.isoformat()
    if isinstance(value, dict | list | BaseModel):
        return encode_json(value)
    return str(value)


async def fold_topic(kafka: KafkaConnection, topic: str,
                     projections: Sequence[FoldedProjection], spill_dir: Path, workers: int,
                     on_total: Callable[[int], None], on_progress: Callable[[int], None]
                     ) -> list[tuple[FoldJob, FoldResult]]:
    """Fold every partition of `topic` with up to `workers` processes; answer each job (whose
    files hold its rows) with its counts."""
    ranges = await asyncio.to_thread(partition_ranges, kafka, topic)
    total = sum(part.records for part in ranges)
    on_total(total)
    groups = share_out(ranges, 1 if total < IN_PROCESS_BELOW else workers)
    jobs = [FoldJob(number, kafka, topic, tuple(group), tuple(projections), str(spill_dir))
            for number, group in enumerate(groups)]
    # The states of every stream stay alive to the end, so each collection of the cyclic
    # garbage collector walked more of them: a third of a worker's time. Folding makes no
    # reference cycles worth collecting.
    results = await in_workers(fold, jobs, on_progress, collect_garbage=False)
    return list(zip(jobs, results, strict=True))
