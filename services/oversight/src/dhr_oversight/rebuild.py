"""`dhr rebuild`: the ledger and its read model rebuilt from the Kafka topics from offset 0.

The order is the ledger's own (ADR 0006): the live ledger is in the order its single appender
committed, which no re-reading of several partitions can reproduce by itself, so each entry keeps
its record's (topic, partition, offset). The rebuild re-reads every topic, re-derives each entry's
bytes from its record, puts the entries back in the recorded order, and then appends the events
the ledger did not have yet in a fixed order (event time, topic, partition, offset). Every entry
must hash as before and every stored checkpoint must still match its root, or nothing changes.

For speed (a million events in about half a minute on two cores; docs/performance.md): worker
processes read equal shares of the records and derive the entries (dhr_oversight.rebuild_reader),
handing back each entry as a fixed-width record of bytes that sorts in the fixed order, so that
ordering a million entries merges sorted runs of bytes instead of unpickling and comparing
objects. The rows go in with one binary COPY FREEZE (the table was truncated in this transaction,
so an abort discards the new rows whole, and frozen rows spare the index builds and later readers
their visibility checks); the ledger's indexes and unique constraints are dropped for the load
and rebuilt after it in the same transaction (by PostgreSQL's parallel index build), and the
tree is built in a thread meanwhile. A failure anywhere rolls the one transaction back.
"""

from __future__ import annotations

import asyncio
import os
import struct
import sys
import tempfile
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TextIO

from dhr_oversight import storage
from dhr_oversight.config import OversightSettings
from dhr_oversight.ledger import MerkleTree
from dhr_oversight.rebuild_reader import (
    COORDINATES,
    ENTRY,
    EVENT_ID,
    LEAF_HASH,
    ShareResult,
    Spills,
    coordinates_key,
    read_all,
)
from dhr_platform.database import (
    Connection,
    DatabaseConnection,
    create_pool,
    indexes_set_aside,
    migrate,
    platform_migrations,
)
from dhr_platform.kafka import KafkaConnection
from dhr_platform.progress import Progress

SCHEMA = "oversight"
WORKERS = min(4, os.cpu_count() or 1)


class RebuildError(Exception):
    """The topics no longer hold what the ledger recorded: the ledger is left as it was."""


@dataclass
class RebuildResult:
    records: int = 0
    entries: int = 0
    kept_in_recorded_order: int = 0
    newly_appended: int = 0
    not_cloudevents: int = 0
    duplicates: int = 0
    root: bytes = b""
    problems: list[str] = field(default_factory=list)


async def read_entries(settings: OversightSettings, result: RebuildResult,
                       progress: TextIO | None, spill_dir: Path,
                       workers: int = WORKERS) -> list[ShareResult]:
    """Every CloudEvent on the ledger's topics, read by `workers` processes into `spill_dir`."""
    bar = Progress(progress or sys.stderr, "records")
    shares = await read_all(KafkaConnection.from_settings(settings), settings.oversight_topics,
                            spill_dir, workers, bar.start, bar.advance_to)
    for share in shares:
        result.records += share.records
        result.not_cloudevents += share.not_cloudevents  # dead-lettered live: never appended
    bar.advance_to(result.records)
    bar.close()
    return shares


def order_entries(recorded: Sequence[storage.RecordedPosition], shares: list[ShareResult],
                  topics: tuple[str, ...], result: RebuildResult) -> list[bytes]:
    """The recorded entries in ledger order, then the new ones in the fixed order (ENTRY
    records, see dhr_oversight.rebuild_reader)."""
    ordered: list[bytes] = []
    event_ids: set[bytes] = set()
    rank = {topic: number for number, topic in enumerate(topics)}
    size = ENTRY.size
    found: list[bytes] = []
    for share in shares:
        packed = share.entries
        found += [packed[start:start + size] for start in range(0, len(packed), size)]
    if recorded:
        by_coordinates = {entry[COORDINATES]: entry for entry in found}
        for position in recorded:
            topic, partition, offset = position.coordinates
            entry = (by_coordinates.pop(coordinates_key(rank[topic], partition, offset), None)
                     if topic in rank and partition >= 0 and offset >= 0 else None)
            where = f"{topic}/{partition}@{offset}"
            if entry is None:
                result.problems.append(f"ledger index {position.index}: record {where} is no "
                                       "longer on Kafka (or is not a CloudEvent any more)")
                continue
            if entry[LEAF_HASH] != position.leaf_hash:
                result.problems.append(f"ledger index {position.index}: record {where} now "
                                       "hashes differently from what the ledger recorded")
                continue
            ordered.append(entry)
            event_ids.add(entry[EVENT_ID])
        found = list(by_coordinates.values())
    result.kept_in_recorded_order = len(ordered)
    # The records sort by (event time, topic rank, partition, offset), the fixed order of new
    # entries; each worker sorted its own, so this merges a few sorted runs.
    found.sort()
    for entry in found:
        event_id = entry[EVENT_ID]
        if event_id in event_ids:
            result.duplicates += 1  # published twice: the first copy is the ledger's
            continue
        event_ids.add(event_id)
        ordered.append(entry)
    result.newly_appended = len(ordered) - result.kept_in_recorded_order
    return ordered


def review_areas(entries: list[bytes], shares: list[ShareResult]) -> dict[str, str]:
    """The CSP area of each review: the first notification of a review in ledger order names
    it, as when live."""
    named = {coordinates: (review_id, area) for share in shares
             for coordinates, review_id, area in share.areas}
    areas: dict[str, str] = {}
    if named:
        for entry in entries:
            found = named.get(entry[COORDINATES])
            if found is not None:
                areas.setdefault(*found)
    return areas


async def rebuild_ledger(settings: OversightSettings, progress: TextIO | None = None,
                         workers: int = WORKERS) -> RebuildResult:
    """Rebuild the ledger and the review areas from the topics, in one transaction."""
    result = RebuildResult()
    pool = await create_pool(DatabaseConnection.from_settings(settings), SCHEMA)
    try:
        await migrate(pool, SCHEMA, [platform_migrations(), storage.MIGRATIONS])
        with tempfile.TemporaryDirectory(prefix="dhr-rebuild-") as spill_dir:
            async with pool.acquire() as connection, connection.transaction():
                # Appenders wait until the rebuilt ledger has committed (run it with the service
                # stopped all the same: its in-memory tree is not rebuilt here).
                await connection.execute("SELECT pg_advisory_xact_lock($1)", storage.APPEND_LOCK)
                recorded = await storage.recorded_positions(connection)
                shares = await read_entries(settings, result, progress, Path(spill_dir), workers)
                entries = order_entries(recorded, shares, settings.oversight_topics, result)
                if result.problems:
                    raise RebuildError("; ".join(result.problems[:20]))
                areas = review_areas(entries, shares)
                spills = Spills(Path(spill_dir), len(shares))
                del shares
                try:
                    tree = await _load(connection, entries, recorded, spills, areas)
                finally:
                    spills.close()
                for checkpoint in await storage.all_checkpoints(connection):
                    if checkpoint.size > tree.size or tree.root(checkpoint.size) != checkpoint.root:
                        raise RebuildError(f"the rebuilt ledger does not match the signed "
                                           f"checkpoint of size {checkpoint.size}")
        result.entries = len(entries)
        result.root = tree.root()
        return result
    finally:
        await pool.close()


_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
_COPY_TRAILER = struct.pack(">h", -1)
_ROW_START = struct.Struct(">hiq")  # field count, then the index (bigint)
_TIMESTAMP = struct.Struct(">iq")
_POSTGRES_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def _timestamp_field(moment: datetime) -> bytes:
    return _TIMESTAMP.pack(8, (moment - _POSTGRES_EPOCH) // _MICROSECOND)


async def _binary_rows(entries: list[bytes], recorded: Sequence[storage.RecordedPosition],
                       spills: Spills) -> AsyncIterator[bytes]:
    """The ledger rows in PostgreSQL's binary COPY format: index, the spilled fields, and the
    recording time (kept for recorded entries, which come first in recorded order)."""
    fields = len(storage.LEDGER_COLUMNS)
    now = _timestamp_field(datetime.now(UTC))
    row = spills.row
    start = _ROW_START.pack
    chunk: list[bytes] = [_COPY_HEADER]
    size = 0
    kept = len(recorded)
    for index, entry in enumerate(entries):
        spilled = row(entry)
        chunk.append(start(fields, 8, index))
        chunk.append(spilled)
        chunk.append(_timestamp_field(recorded[index].recorded_at) if index < kept else now)
        size += len(spilled)
        if size >= 4 << 20:
            yield b"".join(chunk)
            chunk, size = [], 0
            await asyncio.sleep(0)  # let the socket move on
    chunk.append(_COPY_TRAILER)
    yield b"".join(chunk)


async def _load(connection: Connection, entries: list[bytes],
                recorded: Sequence[storage.RecordedPosition], spills: Spills,
                areas: dict[str, str]) -> MerkleTree:
    """Empty the tables and load the ledger's rows and the review areas; answer the tree of the
    entries, built while PostgreSQL builds the ledger's indexes after the load."""
    await connection.execute("TRUNCATE ledger, review_areas")
    building: asyncio.Future[MerkleTree] | None = None
    try:
        # A million rows' index keys outgrow 256 MB split among a parallel build's workers.
        async with indexes_set_aside(connection, "ledger", maintenance_work_mem="1GB"):
            await connection.copy_to_table(
                "ledger", schema_name=SCHEMA, columns=storage.LEDGER_COLUMNS, format="binary",
                freeze=True, source=_binary_rows(entries, recorded, spills))
            # Built while PostgreSQL builds the indexes, as this block ends.
            building = asyncio.ensure_future(asyncio.to_thread(
                MerkleTree.from_leaf_hashes, [entry[LEAF_HASH] for entry in entries]))
        await connection.copy_records_to_table(
            "review_areas", schema_name=SCHEMA, columns=("review_id", "csp_area"),
            records=list(areas.items()))
    finally:
        tree = None if building is None else await building
    assert tree is not None
    return tree


