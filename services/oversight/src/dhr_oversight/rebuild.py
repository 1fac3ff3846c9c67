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
    migrate,
    platform_migrations,
)
from dhr_platform.kafka import KafkaConnection
from dhr_platform.progress import ProgressBar

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
    bar: ProgressBar | None = None

    def start_bar(total: int) -> None:
        nonlocal bar
        bar = ProgressBar(total, "records", stream=progress or sys.stderr)

    def advance(done: int) -> None:
        if bar is not None and done > bar.done:
            bar.advance(done - bar.done)

    shares = await read_all(KafkaConnection.from_settings(settings), settings.oversight_topics,
                            spill_dir,
                            workers, start_bar, advance)
    for share in shares:
        result.records += share.records
        result.not_cloudevents += share.not_cloudevents  # dead-lettered live: never appended
    if bar is not None:
        advance(result.records)
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
                    indexes = await _load(connection, entries, recorded, spills)
                finally:
                    spills.close()
                # The tree is built while PostgreSQL builds the indexes.
                building = asyncio.ensure_future(asyncio.to_thread(
                    MerkleTree.from_leaf_hashes, [entry[LEAF_HASH] for entry in entries]))
                try:
                    await _index(connection, indexes, areas)
                finally:
                    tree = await building
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


Definitions = tuple[list[tuple[str, str]], list[tuple[str, str]]]


async def _load(connection: Connection, entries: list[bytes],
                recorded: Sequence[storage.RecordedPosition], spills: Spills) -> Definitions:
    """Empty the tables, drop the ledger's indexes and load its rows; return the definitions of
    its (unique and primary key constraints, other indexes) for `_index`."""
    await connection.execute("TRUNCATE ledger, review_areas")
    # Loading first and building each index once, by sorting, is several times faster than
    # maintaining five indexes row by row; the definitions come back exactly as they were.
    await connection.execute("SET LOCAL maintenance_work_mem = '1GB'")
    constraints = [(row["name"], row["definition"]) for row in await connection.fetch(
        "SELECT conname AS name, pg_get_constraintdef(oid) AS definition FROM pg_constraint"
        " WHERE conrelid = 'ledger'::regclass AND contype IN ('p', 'u') ORDER BY conname")]
    indexes = [(row["name"], row["definition"]) for row in await connection.fetch(
        "SELECT c.relname AS name, pg_get_indexdef(i.indexrelid) AS definition"
        " FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
        " WHERE i.indrelid = 'ledger'::regclass AND NOT EXISTS"
        " (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid) ORDER BY c.relname")]
    for name, _ in constraints:
        await connection.execute(f"ALTER TABLE ledger DROP CONSTRAINT {_name(name)}")
    for name, _ in indexes:
        await connection.execute(f"DROP INDEX {_name(name)}")
    await connection.copy_to_table("ledger", schema_name=SCHEMA, columns=storage.LEDGER_COLUMNS,
                                   format="binary", freeze=True,
                                   source=_binary_rows(entries, recorded, spills))
    return constraints, indexes


async def _index(connection: Connection, definitions: Definitions, areas: dict[str, str]) -> None:
    """Put the ledger's constraints and indexes back, then load the review areas."""
    constraints, indexes = definitions
    for name, definition in constraints:
        await connection.execute(f"ALTER TABLE ledger ADD CONSTRAINT {_name(name)} {definition}")
    for _, definition in indexes:
        await connection.execute(definition)
    await connection.copy_records_to_table(
        "review_areas", schema_name=SCHEMA, columns=("review_id", "csp_area"),
        records=list(areas.items()))


def _name(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'
