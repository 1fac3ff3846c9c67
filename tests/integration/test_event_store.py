"""The event store against the real PostgreSQL server."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from dhr_platform.database import migrate, platform_migrations
from dhr_platform.eventstore import ConcurrencyError, EventMetadata, EventStore, NewEvent

META = EventMetadata(subject="review-1", actor="test")


def events(*names: str) -> list[NewEvent]:
    return [NewEvent(type=f"dhr.test.{name}.v1", data={"name": name}) for name in names]


async def append(store: EventStore, stream: str, expected: int, *names: str):
    async with store.pool.acquire() as connection, connection.transaction():
        return await store.append(connection, stream, expected, events(*names), META)


async def test_appended_events_are_read_back_in_stream_order(store: EventStore) -> None:
    await append(store, "s-1", 0, "Opened", "Named")
    await append(store, "s-1", 2, "Closed")

    stream = await store.read_stream("s-1")

    assert [e.type for e in stream] == ["dhr.test.Opened.v1", "dhr.test.Named.v1", "dhr.test.Closed.v1"]
    assert [e.stream_version for e in stream] == [1, 2, 3]
    assert stream[0].data == {"name": "Opened"}
    assert stream[0].schema_version == 1
    assert stream[0].metadata["actor"] == "test"
    assert await store.stream_version("s-1") == 3


async def test_an_append_with_a_stale_expected_version_is_a_concurrency_error(store: EventStore) -> None:
    await append(store, "s-2", 0, "Opened")

    with pytest.raises(ConcurrencyError):
        await append(store, "s-2", 0, "OpenedAgain")
    with pytest.raises(ConcurrencyError):
        await append(store, "s-2", 5, "FromTheFuture")

    assert [e.data["name"] for e in await store.read_stream("s-2")] == ["Opened"]


async def test_concurrent_appends_to_one_stream_let_exactly_one_win(store: EventStore) -> None:
    await append(store, "s-3", 0, "Opened")

    results = await asyncio.gather(
        *(append(store, "s-3", 1, f"Writer{i}") for i in range(8)), return_exceptions=True
    )

    winners = [r for r in results if not isinstance(r, BaseException)]
    losers = [r for r in results if isinstance(r, BaseException)]
    assert len(winners) == 1
    assert all(isinstance(r, ConcurrencyError) for r in losers)
    assert await store.stream_version("s-3") == 2


async def test_read_all_returns_every_stream_in_global_order(store: EventStore) -> None:
    await append(store, "a", 0, "A1")
    await append(store, "b", 0, "B1")
    await append(store, "a", 1, "A2")

    everything = await store.read_all(0)
    later = await store.read_all(everything[0].global_position)

    assert [e.data["name"] for e in everything] == ["A1", "B1", "A2"]
    assert [e.data["name"] for e in later] == ["B1", "A2"]


async def test_the_event_insert_records_the_writing_transaction(store: EventStore) -> None:
    async with store.pool.acquire() as connection, connection.transaction():
        await store.append(connection, "s-4", 0, events("Opened"), META)
        own = await connection.fetchval("SELECT pg_current_xact_id()::text")
        stored = await connection.fetchval("SELECT tx_id::text FROM events WHERE stream_id = 's-4'")
    assert stored == own


async def test_append_outside_a_transaction_is_refused(store: EventStore) -> None:
    async with store.pool.acquire() as connection:
        with pytest.raises(RuntimeError):
            await store.append(connection, "s-5", 0, events("Opened"), META)
    assert await store.read_stream("s-5") == []


async def test_migrations_apply_once(platform_pool: asyncpg.Pool) -> None:
    again = await migrate(platform_pool, "platform_test", [platform_migrations()])
    assert again == []
    applied = await platform_pool.fetch("SELECT name FROM schema_migrations ORDER BY version")
    assert [row["name"] for row in applied] == ["0001_event_store.sql", "0002_keyring.sql"]
