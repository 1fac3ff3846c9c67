"""The reading half of `dhr rebuild`: every record of the ledger's topics turned into its entry,
by several processes at once.

Reading a record (librdkafka, through confluent-kafka) and deriving its leaf data
(`storage.record_leaf`, the function the live consumer uses) are both CPU-bound, so the records
are shared out among worker processes in equal shares of consecutive offsets (a partition may be
split between two workers, so that none waits for another at the end). Each worker reads its
ranges (plain consumer, no group, large fetches), derives every record's entry and writes the
entry's ledger row, all but the index and the recording time, in PostgreSQL's binary COPY layout
to a spill file of its own. What the parent needs to order, check and index the entries comes
back as one fixed-width record of bytes per entry (ENTRY), sorted by the worker: the rows' bytes
go to PostgreSQL straight from the spill files, and memory holds no envelope, leaf data or
Python object per entry, only 83 bytes.
"""

from __future__ import annotations

import asyncio
import gc
import hashlib
import mmap
import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

from confluent_kafka import TopicPartition as KafkaTopicPartition

from dhr_oversight.storage import record_leaf
from dhr_platform import topic_fold
from dhr_platform.kafka import KafkaConnection
from dhr_platform.topic_fold import replay_consumer
from dhr_platform.workers import add_progress, in_workers

MAX_RECORDS = 20_000
# Fewer records than this are read in the calling process: starting workers would cost more.
IN_PROCESS_BELOW = 20_000


# What the parent needs of each entry to order, check and load it, packed by the worker into one
# fixed-width record (ENTRY.size bytes) instead of a Python object: the records of a million
# entries cross the process boundary as a few bytes objects, and sorting them compares bytes.
# The first ORDER_KEY bytes sort in the rebuild's fixed order for new entries: event time (in
# microseconds since 1970, biased to sort unsigned), topic rank, partition, offset; bytes
# COORDINATES are (topic rank, partition, offset) alone.
ENTRY = struct.Struct(">QHIQ16s32sBQI")
ORDER_KEY = 22
COORDINATES = slice(8, 22)
EVENT_ID = slice(22, 38)
LEAF_HASH = slice(38, 70)
ROW = struct.Struct(">BQI")  # at offset 70: spill file number, position and length of the row
ROW_AT = 70
_TIME_BIAS = 1 << 63
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def time_key(moment: datetime) -> int:
    """`moment` as an unsigned number that sorts as the times do (a time without a zone is UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return _TIME_BIAS + (moment - _EPOCH) // _MICROSECOND


def coordinates_key(topic_rank: int, partition: int, offset: int) -> bytes:
    return ENTRY.pack(0, topic_rank, partition, offset, b"", b"", 0, 0, 0)[COORDINATES]


@dataclass(frozen=True)
class Share:
    """The partitions one worker reads: (topic rank, partition, first offset, end offset)."""

    number: int
    kafka: KafkaConnection
    topics: tuple[str, ...]
    partitions: tuple[tuple[int, int, int, int], ...]
    spill_path: str


@dataclass
class ShareResult:
    """What one worker read: its entries as ENTRY records sorted by their order key, and the
    review areas named by its notifications as (coordinates key, review id, CSP area)."""

    entries: bytes
    areas: list[tuple[bytes, str, str]]
    records: int
    not_cloudevents: int

    def __len__(self) -> int:
        return len(self.entries) // ENTRY.size


async def partition_ranges(kafka: KafkaConnection, topics: Iterable[str]
                           ) -> list[tuple[int, int, int, int]]:
    """(topic rank, partition, first offset, end offset) of every partition of `topics` that
    holds records, by the platform's replay (`dhr_platform.topic_fold.partition_ranges`)."""
    wanted = list(dict.fromkeys(topics))
    found = await asyncio.gather(*(asyncio.to_thread(topic_fold.partition_ranges, kafka, topic)
                                   for topic in wanted))
    return [(rank, part.partition, part.first, part.end)
            for rank, ranges in enumerate(found) for part in ranges]


def share_out(ranges: list[tuple[int, int, int, int]], workers: int
              ) -> list[list[tuple[int, int, int, int]]]:
    """The partitions' records in up to `workers` groups of equal counts: consecutive offset
    ranges, a partition split between two groups where a boundary falls, so that every worker
    has as much to do and none waits for another at the end."""
    parts = [part for part in ranges if part[3] > part[2]]
    total = sum(end - first for _, _, first, end in parts)
    if not total:
        return []
    size = -(-total // max(1, workers))  # records per group, rounded up
    groups: list[list[tuple[int, int, int, int]]] = [[]]
    room = size
    for rank, partition, first, end in parts:
        while first < end:
            if not room:
                groups.append([])
                room = size
            taken = min(room, end - first)
            groups[-1].append((rank, partition, first, first + taken))
            first += taken
            room -= taken
    return groups


_INT4 = struct.Struct(">ii")
_INT8 = struct.Struct(">iq")
_LENGTH = struct.Struct(">i")
_UUID_LENGTH = _LENGTH.pack(16)
_HASH_LENGTH = _LENGTH.pack(32)


def _text(value: bytes) -> bytes:
    return _LENGTH.pack(len(value)) + value


def topic_and_partition_fields(topic: str, partition: int) -> bytes:
    """The binary COPY fields `topic` and `partition` of a ledger row, the same for a partition."""
    return _text(topic.encode()) + _INT4.pack(4, partition)


def encode_row_middle(event_id: bytes, topic_and_partition: bytes, offset: int, review_id: str,
                      event_type: str, leaf_data: bytes, leaf_hash: bytes) -> bytes:
    """The binary COPY fields of a ledger row between `index` and `recorded_at`
    (storage.LEDGER_COLUMNS order): event_id (16 bytes), topic and partition (as given by
    `topic_and_partition_fields`), offset, review_id, type, leaf_data, leaf_hash."""
    review, kind = review_id.encode(), event_type.encode()
    length = _LENGTH.pack
    return b"".join((
        _UUID_LENGTH, event_id, topic_and_partition, _INT8.pack(8, offset),
        length(len(review)), review, length(len(kind)), kind,
        length(len(leaf_data)), leaf_data, _HASH_LENGTH, leaf_hash,
    ))


def _read_share(share: Share, progress: Any) -> ShareResult:
    leaf_prefix = hashlib.sha256(b"\x00")  # RFC 9162 leaf hash: SHA-256 over 0x00 and the data
    pack = ENTRY.pack
    number = share.number
    found: list[bytes] = []
    areas: list[tuple[bytes, str, str]] = []
    records = not_cloudevents = 0
    # librdkafka (confluent-kafka) rather than aiokafka here: it reads a record in about a third
    # of the time, and reading is half of a rebuild. Assigned partitions only: no group is joined
    # and nothing is committed (the group id is required by the client, never used).
    consumer = replay_consumer(share.kafka, f"dhr-oversight-rebuild-{share.number}")
    # The loop makes no reference cycles, but its batches of records, each tracked, would have
    # the collector run every few hundred records: a tenth of the time of a read.
    collecting = gc.isenabled()
    gc.disable()
    try:
        # Per partition: its rank, its end offset and its fixed row fields.
        partitions: dict[tuple[str, int], tuple[int, int, bytes]] = {
            (share.topics[rank], partition):
                (rank, end, topic_and_partition_fields(share.topics[rank], partition))
            for rank, partition, _, end in share.partitions}
        consumer.assign([KafkaTopicPartition(share.topics[rank], partition, first)
                         for rank, partition, first, _ in share.partitions])
        remaining = set(partitions)
        position = 0
        with open(share.spill_path, "wb", buffering=1 << 20) as spill:
            while remaining:
                count = 0
                for message in consumer.consume(num_messages=MAX_RECORDS, timeout=0.5):
                    error = message.error()
                    if error is not None:
                        if error.retriable() or not error.fatal():
                            continue  # the client retries by itself
                        raise RuntimeError(f"reading the topics failed: {error}")
                    # A delivered record always has its coordinates.
                    partition, offset = message.partition(), cast(int, message.offset())
                    rank, end, fields = partitions[(message.topic(), partition)]  # type: ignore[index]
                    if offset >= end:
                        continue
                    count += 1
                    try:
                        event_id, review_id, event_type, data, area, moment = record_leaf(
                            message.headers() or (), message.value() or b"")  # type: ignore[arg-type]
                    except ValueError:
                        not_cloudevents += 1  # the live consumer dead-letters these
                        continue
                    hashing = leaf_prefix.copy()  # cheaper than a new hash (OpenSSL fetch)
                    hashing.update(data)
                    digest = hashing.digest()
                    uuid = bytes.fromhex(event_id.replace("-", ""))
                    row = encode_row_middle(uuid, fields, offset, review_id, event_type, data,
                                            digest)
                    spill.write(row)
                    entry = pack(time_key(moment), rank, partition, offset, uuid, digest,
                                 number, position, len(row))
                    found.append(entry)
                    if area is not None:
                        areas.append((entry[COORDINATES], review_id, area))
                    position += len(row)
                records += count
                add_progress(progress, count)
                # A partition is done once the next offset to fetch reaches its end (the last
                # records may be transaction markers, which are never delivered).
                keys = list(remaining)
                positions = consumer.position([KafkaTopicPartition(topic, partition)
                                               for topic, partition in keys])
                finished = [KafkaTopicPartition(*key) for key, next_offset
                            in zip(keys, positions, strict=True)
                            if next_offset.offset >= partitions[key][1]]
                if finished:  # not to fetch the rest of a partition shared with another worker
                    consumer.pause(finished)
                    remaining.difference_update((tp.topic, tp.partition) for tp in finished)
    finally:
        consumer.close()
        if collecting:
            gc.enable()
    found.sort()  # here, in parallel: the parent merges sorted runs
    return ShareResult(b"".join(found), areas, records, not_cloudevents)


async def read_all(kafka: KafkaConnection | str, topics: tuple[str, ...], spill_dir: Path, workers: int,
                   on_total: Callable[[int], None], on_progress: Callable[[int], None]
                   ) -> list[ShareResult]:
    """Read every partition of `topics` with up to `workers` processes."""
    connection = KafkaConnection.of(kafka)
    ranges = await partition_ranges(connection, topics)
    total = sum(end - first for _, _, first, end in ranges)
    on_total(total)
    groups = share_out(ranges, 1 if total < IN_PROCESS_BELOW else max(1, workers))
    shares = [Share(number, connection, topics, tuple(group), str(spill_dir / f"rows-{number}.bin"))
              for number, group in enumerate(groups)]
    return await in_workers(_read_share, shares, on_progress)


class Spills:
    """The workers' spill files, mapped for reading rows back by (spill, position, length)."""

    def __init__(self, spill_dir: Path, count: int) -> None:
        self._files = [open(spill_dir / f"rows-{number}.bin", "rb")  # noqa: SIM115
                       for number in range(count)]
        self._maps = [mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) if f.seek(0, 2) else None
                      for f in self._files]

    def row(self, entry: bytes) -> bytes:
        """The spilled row of an ENTRY record."""
        spill, position, length = ROW.unpack_from(entry, ROW_AT)
        mapped = self._maps[spill]
        assert mapped is not None
        row: bytes = mapped[position:position + length]
        return row

    def close(self) -> None:
        for m in self._maps:
            if m is not None:
                m.close()
        for f in self._files:
            f.close()
