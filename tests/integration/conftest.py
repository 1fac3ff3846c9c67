"""Fixtures for tests against the real PostgreSQL server: a migrated platform schema."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from dhr_platform.database import create_pool, migrate, platform_migrations
from dhr_platform.eventstore import EventStore

SCHEMA = "platform_test"


@pytest.fixture
async def platform_pool(fresh_database: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(fresh_database, SCHEMA, max_size=20)
    await migrate(pool, SCHEMA, [platform_migrations()])
    try:
        yield pool
    finally:
        await pool.close()


@pytest.fixture
def store(platform_pool: asyncpg.Pool) -> EventStore:
    return EventStore(platform_pool)
