"""Projection runner: read models kept in step with the store and rebuilt from it on demand."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TextIO

import asyncpg

from dhr_platform.database import Connection
from dhr_platform.eventstore import EventStore, InlineProjection
from dhr_platform.progress import ProgressBar


async def rebuild(
    store: EventStore,
    projections: Sequence[InlineProjection] | None = None,
    *,
    batch_size: int = 1000,
    progress: TextIO | None = None,
) -> int:
    """Empty the projections' tables and replay every event into them; return the count.

    Runs in one transaction that locks the tables first: a write that commits meanwhile waits
    for the rebuild and then applies its own event on top, so nothing is lost or doubled.
    """
    chosen = tuple(store.projections if projections is None else projections)
    tables = [table for projection in chosen for table in projection.tables]
    async with store.pool.acquire() as connection, connection.transaction():
        if tables:
            await connection.execute(
                f"LOCK TABLE {', '.join(tables)} IN ACCESS EXCLUSIVE MODE"
            )
            await connection.execute(f"TRUNCATE {', '.join(tables)}")
        total = int(await connection.fetchval("SELECT count(*) FROM events"))
        bar = ProgressBar(total, stream=progress) if progress is not None else None
        replayed = 0
        position = 0
        while events := await store.read_all(position, batch_size, connection=connection):
            for event in events:
                for projection in chosen:
                    await projection.apply(connection, event)
            replayed += len(events)
            position = events[-1].global_position
            if bar is not None:
                bar.advance(len(events))
        if bar is not None:
            bar.close()
    return replayed


async def table_checksum(connection: Connection | asyncpg.Pool, table: str,
                         order_by: str) -> str:
    """A digest of a table's rows, to compare a rebuilt read model with the live one."""
    return str(await connection.fetchval(
        f"SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY {order_by}), '')) FROM {table} t"
    ))
