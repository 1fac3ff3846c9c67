"""Fixtures against the real PostgreSQL server and Kafka broker: a migrated platform schema and
each service running in process (its lifespan started) behind an httpx client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg
import httpx
import pytest
from commissioning_support import NOW, RunningService

from dhr_commissioning.__main__ import build_app, build_runtime
from dhr_commissioning.config import CommissioningSettings
from dhr_learning.__main__ import build_app as build_learning_app
from dhr_learning.__main__ import build_runtime as build_learning_runtime
from dhr_learning.config import LearningSettings
from dhr_panel.__main__ import build_app as build_panel_app
from dhr_panel.__main__ import build_runtime as build_panel_runtime
from dhr_panel.config import PanelSettings
from dhr_platform.database import create_pool, migrate, platform_migrations
from dhr_platform.eventstore import EventStore
from dhr_platform.service import ServiceRuntime

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


@pytest.fixture
async def commissioning(fresh_database: str, kafka_bootstrap: str) -> AsyncIterator[RunningService]:
    settings = CommissioningSettings(database_url=fresh_database, kafka_bootstrap=kafka_bootstrap,
                                     environment="test", consumer_initial_backoff_seconds=0.01,
                                     consumer_max_attempts=2)
    runtime = build_runtime(settings, clock=lambda: NOW)
    app = build_app(settings, clock=lambda: NOW, runtime=runtime)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://commissioning") as client:
            yield RunningService(client, runtime)


@pytest.fixture
async def learning(fresh_database: str, kafka_bootstrap: str) -> AsyncIterator[RunningService]:
    """The learning service on the real database and broker, with the clock fixed at NOW."""
    settings = LearningSettings(database_url=fresh_database, kafka_bootstrap=kafka_bootstrap,
                                environment="test", consumer_initial_backoff_seconds=0.01,
                                consumer_max_attempts=2)
    runtime = build_learning_runtime(settings)
    app = build_learning_app(settings, clock=lambda: NOW, runtime=runtime)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://learning") as client:
            yield RunningService(client, runtime)


# --- panel service -------------------------------------------------------------------------


class PanelClock:
    """A clock the test moves forward, for deadline checks."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass
class RunningPanel:
    client: httpx.AsyncClient
    runtime: ServiceRuntime
    clock: PanelClock


@pytest.fixture
async def panel(fresh_database: str, kafka_bootstrap: str) -> AsyncIterator[RunningPanel]:
    settings = PanelSettings(database_url=fresh_database, kafka_bootstrap=kafka_bootstrap,
                             environment="test", consumer_initial_backoff_seconds=0.01,
                             consumer_max_attempts=2, panel_deadline_check_seconds=3600)
    clock = PanelClock(NOW)
    runtime = build_panel_runtime(settings, clock=clock)
    app = build_panel_app(settings, clock=clock, runtime=runtime)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://panel") as client:
            yield RunningPanel(client, runtime, clock)
