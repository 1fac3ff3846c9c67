"""`dhr rebuild`: the ledger and its read model rebuilt from the Kafka topics from offset 0.

The order is the ledger's own (ADR 0006): the live ledger is in the order its single appender
committed, which no re-reading of several partitions can reproduce by itself, so each entry keeps
its record's (topic, partition, offset). The rebuild re-reads every topic, re-derives each entry's
bytes from its record, puts the entries back in the recorded order, and then appends the events
the ledger did not have yet in a fixed order (event time, topic, partition, offset). Every entry
must hash as before and every stored checkpoint must still match its root, or nothing changes.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TextIO
from uuid import UUID

from dhr_oversight import storage
from dhr_oversight.config import OversightSettings
from dhr_oversight.history import scan_topics
from dhr_oversight.ledger import MerkleTree
from dhr_oversight.storage import LedgerEntry
from dhr_platform.database import Connection, create_pool, migrate, platform_migrations
from dhr_platform.progress import ProgressBar

SCHEMA = "oversight"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


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
                       progress: TextIO | None) -> dict[tuple[str, int, int], LedgerEntry]:
    """Every CloudEvent on the ledger's topics, by its coordinates."""
    entries: dict[tuple[str, int, int], LedgerEntry] = {}
    bar: ProgressBar | None = None

    def start_bar(total: int) -> None:
        nonlocal bar
        bar = ProgressBar(total, "records", stream=progress or sys.stderr)

    async for record in scan_topics(settings.kafka_bootstrap, settings.oversight_topics,
                                    on_total=start_bar):
        result.records += 1
        if bar is not None:
            bar.advance()
        try:
            entry = storage.entry_from_record(record.topic, record.partition, record.offset,
                                              list(record.headers), record.value or b"")
        except ValueError:
            result.not_cloudevents += 1  # the live consumer dead-letters these: never appended
            continue
        entries[entry.coordinates] = entry
    if bar is not None:
        bar.close()
    return entries


def order_entries(recorded: list[storage.RecordedPosition],
                  found: dict[tuple[str, int, int], LedgerEntry], topics: tuple[str, ...],
                  result: RebuildResult) -> list[LedgerEntry]:
    """The recorded entries in ledger order, then the new ones in the fixed order."""
    ordered: list[LedgerEntry] = []
    event_ids: set[UUID] = set()
    for position in recorded:
        entry = found.pop(position.coordinates, None)
        where = "{}/{}@{}".format(*position.coordinates)
        if entry is None:
            result.problems.append(f"ledger index {position.index}: record {where} is no longer "
                                   "on Kafka (or is not a CloudEvent any more)")
            continue
        if entry.leaf_hash != position.leaf_hash:
            result.problems.append(f"ledger index {position.index}: record {where} now hashes "
                                   "differently from what the ledger recorded")
            continue
        ordered.append(entry)
        event_ids.add(entry.event_id)
    result.kept_in_recorded_order = len(ordered)
    topic_rank = {topic: rank for rank, topic in enumerate(topics)}
    for entry in sorted(found.values(), key=lambda e: (
            e.time or _EPOCH, topic_rank.get(e.topic, len(topics)), e.partition, e.offset)):
        if entry.event_id in event_ids:
            result.duplicates += 1  # published twice: the first copy is the ledger's
            continue
        event_ids.add(entry.event_id)
        ordered.append(entry)
    result.newly_appended = len(ordered) - result.kept_in_recorded_order
    return ordered


async def rebuild_ledger(settings: OversightSettings, progress: TextIO | None = None
                         ) -> RebuildResult:
    """Rebuild the ledger and the review areas from the topics, in one transaction."""
    result = RebuildResult()
    pool = await create_pool(settings.database_url, SCHEMA)
    try:
        await migrate(pool, SCHEMA, [platform_migrations(), storage.MIGRATIONS])
        async with pool.acquire() as connection, connection.transaction():
            # Appenders wait until the rebuilt ledger has committed (run it with the service
            # stopped all the same: its in-memory tree is not rebuilt here).
            await connection.execute("SELECT pg_advisory_xact_lock($1)", storage.APPEND_LOCK)
            recorded = await storage.recorded_positions(connection)
            found = await read_entries(settings, result, progress)
            entries = order_entries(recorded, found, settings.oversight_topics, result)
            if result.problems:
                raise RebuildError("; ".join(result.problems[:20]))
            tree = MerkleTree.from_leaf_hashes(entry.leaf_hash for entry in entries)
            for checkpoint in await storage.all_checkpoints(connection):
                if checkpoint.size > tree.size or tree.root(checkpoint.size) != checkpoint.root:
                    raise RebuildError(f"the rebuilt ledger does not match the signed checkpoint "
                                       f"of size {checkpoint.size}")
            await _write(connection, entries, recorded)
        result.entries = len(entries)
        result.root = tree.root()
        return result
    finally:
        await pool.close()


async def _write(connection: Connection, entries: list[LedgerEntry],
                 recorded: list[storage.RecordedPosition]) -> None:
    now = datetime.now(UTC)
    recorded_at = {position.coordinates: position.recorded_at for position in recorded}
    await connection.execute("TRUNCATE ledger, review_areas")
    await connection.copy_records_to_table(
        "ledger", schema_name=SCHEMA, columns=storage.LEDGER_COLUMNS,
        records=[(index, e.event_id, e.topic, e.partition, e.offset, e.review_id, e.type,
                  e.leaf_data, e.leaf_hash, recorded_at.get(e.coordinates, now))
                 for index, e in enumerate(entries)])
    areas: dict[str, str] = {}
    for entry in entries:  # the first notification of a review names its area, as when live
        if entry.csp_area is not None:
            areas.setdefault(entry.review_id, entry.csp_area)
    await connection.copy_records_to_table(
        "review_areas", schema_name=SCHEMA, columns=("review_id", "csp_area"),
        records=list(areas.items()))
