"""The ledger's tables: appending an event once, in total order, and reading entries back."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from dhr_contracts.commissioning import NotificationReceived
from dhr_contracts.envelope import Envelope
from dhr_oversight.fastleaf import fast_leaf
from dhr_oversight.ledger import event_leaf_data, leaf_hash
from dhr_platform.database import Connection, MigrationSource

MIGRATIONS = MigrationSource("oversight", Path(__file__).parent / "migrations")

# One appender at a time, across every task and every replica: the ledger is totally ordered and
# its index gap-free. Held to the end of the appending transaction (pg_advisory_xact_lock), so
# the next appender reads the last index only once the previous one has committed.
APPEND_LOCK = int.from_bytes(hashlib.sha256(b"dhr-oversight-ledger-append").digest()[:8], "big",
                             signed=True)

LEDGER_COLUMNS = ("index", "event_id", "topic", "partition", "offset", "review_id", "type",
                  "leaf_data", "leaf_hash", "recorded_at")


@dataclass(frozen=True)
class LedgerEntry:
    """One event as the ledger records it, before it has an index."""

    event_id: UUID
    topic: str
    partition: int
    offset: int
    review_id: str
    type: str
    leaf_data: bytes
    leaf_hash: bytes
    csp_area: str | None = None
    time: datetime | None = None

    @property
    def coordinates(self) -> tuple[str, int, int]:
        return (self.topic, self.partition, self.offset)


def envelope_json(envelope: Envelope) -> dict[str, Any]:
    """The CloudEvents JSON form of an event, as the ledger hashes it."""
    return envelope.model_dump(mode="json", exclude_none=True)


RecordLeaf = tuple[str, str, str, bytes, str | None, datetime]


def record_leaf(headers: Sequence[tuple[str, bytes]], value: bytes) -> RecordLeaf:
    """(event id, review id, type, leaf data, CSP area, time) of one Kafka record (binary
    CloudEvent); ValueError when it is none.

    The live consumer (through `entry_from_record`) and `dhr rebuild` both derive the leaf data
    here, so they hash the same bytes: by the fast path when it vouches for the record (see
    dhr_oversight.fastleaf), otherwise by the reference path (pydantic, then RFC 8785).
    """
    fast = fast_leaf(headers, value)
    if fast is not None:
        event_id, review_id, event_type, payload, data, time = fast
    else:
        envelope = Envelope.from_kafka(list(headers), value)
        data = event_leaf_data(envelope_json(envelope))
        event_id, review_id, event_type, payload, time = (
            str(envelope.id), envelope.subject, envelope.type, envelope.data, envelope.time)
    area = None
    if event_type == NotificationReceived.event_type:
        raw_area = payload.get("csp_area")
        area = raw_area if isinstance(raw_area, str) and raw_area else None
    return event_id, review_id, event_type, data, area, time


def entry_from_record(topic: str, partition: int, offset: int,
                      headers: Sequence[tuple[str, bytes]], value: bytes) -> LedgerEntry:
    """The ledger entry of one Kafka record (binary CloudEvent); ValueError when it is none."""
    event_id, review_id, event_type, data, area, time = record_leaf(headers, value)
    return LedgerEntry(
        event_id=UUID(event_id), topic=topic, partition=partition, offset=offset,
        review_id=review_id, type=event_type, leaf_data=data, leaf_hash=leaf_hash(data),
        csp_area=area, time=time,
    )


async def append_entry(connection: Connection, entry: LedgerEntry) -> int | None:
    """Append `entry` at the end of the ledger and return its index; None when the event is
    there already. Call inside the transaction that also records the inbox."""
    await connection.execute("SELECT pg_advisory_xact_lock($1)", APPEND_LOCK)
    if await connection.fetchval("SELECT true FROM ledger WHERE event_id = $1", entry.event_id):
        return None
    index: int = await connection.fetchval(
        "SELECT coalesce(max(index) + 1, 0) FROM ledger")
    await connection.execute(
        'INSERT INTO ledger (index, event_id, topic, partition, "offset", review_id, type,'
        " leaf_data, leaf_hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        index, entry.event_id, entry.topic, entry.partition, entry.offset, entry.review_id,
        entry.type, entry.leaf_data, entry.leaf_hash,
    )
    await record_area(connection, entry)
    return index


async def record_area(connection: Connection, entry: LedgerEntry) -> None:
    if entry.csp_area is not None:
        await connection.execute(
            "INSERT INTO review_areas (review_id, csp_area) VALUES ($1, $2)"
            " ON CONFLICT (review_id) DO NOTHING", entry.review_id, entry.csp_area)


async def ledger_size(connection: Connection) -> int:
    size: int = await connection.fetchval("SELECT coalesce(max(index) + 1, 0) FROM ledger")
    return size


async def leaf_hashes_from(connection: Connection, start: int) -> list[bytes]:
    """The leaf hashes from index `start` to the end, in order."""
    rows = await connection.fetch(
        "SELECT leaf_hash FROM ledger WHERE index >= $1 ORDER BY index", start)
    return [bytes(row["leaf_hash"]) for row in rows]


@dataclass(frozen=True)
class StoredEntry:
    """A ledger row."""

    index: int
    event_id: UUID
    topic: str
    partition: int
    offset: int
    review_id: str
    type: str
    leaf_data: bytes
    leaf_hash: bytes
    recorded_at: datetime

    def event(self) -> dict[str, Any]:
        """The CloudEvent (JSON form) that this entry hashes."""
        value: dict[str, Any] = json.loads(self.leaf_data)
        return value


def _stored(row: Any) -> StoredEntry:
    return StoredEntry(
        index=row["index"], event_id=row["event_id"], topic=row["topic"],
        partition=row["partition"], offset=row["offset"], review_id=row["review_id"],
        type=row["type"], leaf_data=bytes(row["leaf_data"]), leaf_hash=bytes(row["leaf_hash"]),
        recorded_at=row["recorded_at"],
    )


_SELECT = ('SELECT index, event_id, topic, partition, "offset", review_id, type, leaf_data,'
           " leaf_hash, recorded_at FROM ledger")


async def entry_by_event_id(connection: Connection, event_id: UUID) -> StoredEntry | None:
    row = await connection.fetchrow(f"{_SELECT} WHERE event_id = $1", event_id)
    return None if row is None else _stored(row)


async def entries_of_review(connection: Connection, review_id: str) -> list[StoredEntry]:
    rows = await connection.fetch(f"{_SELECT} WHERE review_id = $1 ORDER BY index", review_id)
    return [_stored(row) for row in rows]


async def entries_of_area(connection: Connection, area: str) -> list[StoredEntry]:
    rows = await connection.fetch(
        f"{_SELECT} WHERE review_id IN (SELECT review_id FROM review_areas WHERE csp_area = $1)"
        " ORDER BY index", area)
    return [_stored(row) for row in rows]


async def all_entries(connection: Connection) -> list[StoredEntry]:
    rows = await connection.fetch(f"{_SELECT} ORDER BY index")
    return [_stored(row) for row in rows]


async def entries_of_types(connection: Connection, types: Iterable[str],
                           type_pattern: str | None = None) -> list[StoredEntry]:
    """Entries whose type is one of `types` or matches the SQL LIKE `type_pattern`."""
    rows = await connection.fetch(
        f"{_SELECT} WHERE type = ANY($1::text[]) OR ($2::text IS NOT NULL AND type LIKE $2)"
        " ORDER BY index", list(types), type_pattern)
    return [_stored(row) for row in rows]


@dataclass(slots=True)
class RecordedPosition:
    """Where a ledger entry came from, and what it hashed: the ledger order, for rebuilds."""

    index: int
    coordinates: tuple[str, int, int]
    leaf_hash: bytes
    recorded_at: datetime


async def recorded_positions(connection: Connection) -> list[RecordedPosition]:
    """Every entry's Kafka coordinates, in ledger order."""
    rows = await connection.fetch(
        'SELECT index, topic, partition, "offset", leaf_hash, recorded_at FROM ledger'
        " ORDER BY index")
    return [RecordedPosition(index, (topic, partition, offset), bytes(digest), recorded_at)
            for index, topic, partition, offset, digest, recorded_at in rows]


# --- checkpoints -----------------------------------------------------------------------------


@dataclass(frozen=True)
class StoredCheckpoint:
    size: int
    root: bytes
    note: str
    issued_at: datetime
    published_at: datetime | None


def _checkpoint(row: Any) -> StoredCheckpoint:
    return StoredCheckpoint(row["size"], bytes(row["root"]), row["note"], row["issued_at"],
                            row["published_at"])


_SELECT_CHECKPOINT = "SELECT size, root, note, issued_at, published_at FROM checkpoints"


async def latest_checkpoint(connection: Connection) -> StoredCheckpoint | None:
    row = await connection.fetchrow(f"{_SELECT_CHECKPOINT} ORDER BY size DESC LIMIT 1")
    return None if row is None else _checkpoint(row)


async def checkpoint_of_size(connection: Connection, size: int) -> StoredCheckpoint | None:
    row = await connection.fetchrow(f"{_SELECT_CHECKPOINT} WHERE size = $1", size)
    return None if row is None else _checkpoint(row)


async def all_checkpoints(connection: Connection) -> list[StoredCheckpoint]:
    rows = await connection.fetch(f"{_SELECT_CHECKPOINT} ORDER BY size")
    return [_checkpoint(row) for row in rows]


async def store_checkpoint(connection: Connection, size: int, root: bytes, note: str) -> bool:
    """Store a checkpoint; False when one of that size exists already (it is kept)."""
    stored = await connection.fetchval(
        "INSERT INTO checkpoints (size, root, note) VALUES ($1, $2, $3)"
        " ON CONFLICT (size) DO NOTHING RETURNING true", size, root, note)
    return bool(stored)


async def unpublished_checkpoints(connection: Connection) -> list[StoredCheckpoint]:
    rows = await connection.fetch(
        f"{_SELECT_CHECKPOINT} WHERE published_at IS NULL ORDER BY size")
    return [_checkpoint(row) for row in rows]


async def mark_published(connection: Connection, size: int) -> None:
    await connection.execute("UPDATE checkpoints SET published_at = now() WHERE size = $1", size)
