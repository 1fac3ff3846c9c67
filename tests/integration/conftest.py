"""Fixtures against the real PostgreSQL server and Kafka broker: a migrated platform schema and
each service running in process (its lifespan started) behind an httpx client.

Each service trusts the session's test token issuer, and its client sends by default a token of
the role that does most of that service's work (a Norfolk review manager; an oversight reader
for the oversight service); a test acting as someone else passes `token_issuer.headers(...)`."""

from __future__ import annotations

import json
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
from dhr_oversight import cli
from dhr_panel.__main__ import build_app as build_panel_app
from dhr_panel.__main__ import build_runtime as build_panel_runtime
from dhr_panel.config import PanelSettings
from dhr_platform.database import create_pool, migrate, platform_migrations
from dhr_platform.eventstore import EventStore
from dhr_platform.service import ServiceRuntime
from support.apps import serving
from support.tokens import ADMIN, OVERSIGHT, REVIEW_MANAGER_NORFOLK, TestIssuer

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
async def commissioning(fresh_database: str, kafka_bootstrap: str,
                        token_issuer: TestIssuer) -> AsyncIterator[RunningService]:
    settings = CommissioningSettings(database_url=fresh_database, kafka_bootstrap=kafka_bootstrap,
                                     environment="test", consumer_initial_backoff_seconds=0.01,
                                     consumer_max_attempts=2, **token_issuer.settings())
    runtime = build_runtime(settings, clock=lambda: NOW)
    app = build_app(settings, clock=lambda: NOW, runtime=runtime)
    async with serving(app, "commissioning", token_issuer.headers(REVIEW_MANAGER_NORFOLK)) as client:
        yield RunningService(client, runtime, token_issuer)


@pytest.fixture
async def learning(fresh_database: str, kafka_bootstrap: str,
                   token_issuer: TestIssuer) -> AsyncIterator[RunningService]:
    """The learning service on the real database and broker, with the clock fixed at NOW."""
    settings = LearningSettings(database_url=fresh_database, kafka_bootstrap=kafka_bootstrap,
                                environment="test", consumer_initial_backoff_seconds=0.01,
                                consumer_max_attempts=2, **token_issuer.settings())
    runtime = build_learning_runtime(settings)
    app = build_learning_app(settings, clock=lambda: NOW, runtime=runtime)
    async with serving(app, "learning", token_issuer.headers(REVIEW_MANAGER_NORFOLK)) as client:
        yield RunningService(client, runtime, token_issuer)


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
async def panel(fresh_database: str, kafka_bootstrap: str,
                token_issuer: TestIssuer) -> AsyncIterator[RunningPanel]:
    settings = PanelSettings(database_url=fresh_database, kafka_bootstrap=kafka_bootstrap,
                             environment="test", consumer_initial_backoff_seconds=0.01,
                             consumer_max_attempts=2, panel_deadline_check_seconds=3600,
                             **token_issuer.settings())
    clock = PanelClock(NOW)
    runtime = build_panel_runtime(settings, clock=clock)
    app = build_panel_app(settings, clock=clock, runtime=runtime)
    async with serving(app, "panel", token_issuer.headers(REVIEW_MANAGER_NORFOLK)) as client:
        yield RunningPanel(client, runtime, clock)


# --- recommendations service -------------------------------------------------------------------


@dataclass
class RunningRecommendations:
    client: httpx.AsyncClient
    runtime: ServiceRuntime
    clock: PanelClock
    settings: object


@pytest.fixture
async def recommendations(fresh_database: str, kafka_bootstrap: str,
                          token_issuer: TestIssuer) -> AsyncIterator[RunningRecommendations]:
    """The recommendations service on the real database and broker, with a movable clock."""
    from dhr_recommendations.__main__ import build_app as build_recommendations_app
    from dhr_recommendations.__main__ import build_runtime as build_recommendations_runtime
    from dhr_recommendations.config import RecommendationsSettings

    settings = RecommendationsSettings(
        database_url=fresh_database, kafka_bootstrap=kafka_bootstrap, environment="test",
        consumer_initial_backoff_seconds=0.01, consumer_max_attempts=2,
        recommendations_deadline_check_seconds=3600, **token_issuer.settings())
    clock = PanelClock(NOW)
    runtime = build_recommendations_runtime(settings, clock=clock)
    app = build_recommendations_app(settings, clock=clock, runtime=runtime)
    async with serving(app, "recommendations", token_issuer.headers(REVIEW_MANAGER_NORFOLK)) as client:
        yield RunningRecommendations(client, runtime, clock, settings)


# --- oversight service ---------------------------------------------------------------------

import asyncio  # noqa: E402 - appended section: its imports stay with it
import uuid  # noqa: E402

from aiokafka import AIOKafkaProducer  # noqa: E402

from dhr_contracts.envelope import Envelope  # noqa: E402
from dhr_oversight.__main__ import build_app as build_oversight_app  # noqa: E402
from dhr_oversight.__main__ import build_runtime as build_oversight_runtime  # noqa: E402
from dhr_oversight.config import OversightSettings  # noqa: E402
from dhr_oversight.keys import generate_seed  # noqa: E402


@dataclass
class RunningOversight:
    client: httpx.AsyncClient
    runtime: ServiceRuntime
    settings: OversightSettings
    tokens: TestIssuer

    @property
    def operator(self) -> dict[str, str]:
        """An operator's (admin) token: signing a checkpoint on demand is theirs."""
        return self.tokens.headers(ADMIN)

    async def publish(self, topic: str, *envelopes: Envelope) -> None:
        """Publish events as the services do: binary CloudEvents keyed by the review id."""
        producer = AIOKafkaProducer(bootstrap_servers=self.settings.kafka_bootstrap, acks="all")
        await producer.start()
        try:
            for envelope in envelopes:
                await producer.send_and_wait(topic, key=envelope.subject.encode(),
                                             value=envelope.kafka_value(),
                                             headers=envelope.kafka_headers())
        finally:
            await producer.stop()

    async def ledger_size(self) -> int:
        size: int = await self.runtime.pool.fetchval("SELECT count(*) FROM ledger")
        return size

    async def wait_for_ledger_size(self, size: int, timeout: float = 60.0) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while (current := await self.ledger_size()) < size:
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"the ledger holds {current} entries, not {size}")
            await asyncio.sleep(0.1)

    async def ledger_rows(self) -> list[dict[str, object]]:
        rows = await self.runtime.pool.fetch("SELECT * FROM ledger ORDER BY index")
        return [dict(row) for row in rows]


@pytest.fixture
def oversight_settings(fresh_database: str, kafka_bootstrap: str,
                       token_issuer: TestIssuer) -> OversightSettings:
    """Topics, consumer group and origin of the test's own, so tests never see each other's
    events; a fresh signing key; checkpoints on demand only unless a test overrides this."""
    run = uuid.uuid4().hex[:10]
    return OversightSettings(
        database_url=fresh_database, kafka_bootstrap=kafka_bootstrap, environment="test",
        consumer_initial_backoff_seconds=0.01, consumer_max_attempts=2,
        oversight_topics=(f"test.{run}.commissioning.events.v1", f"test.{run}.panel.events.v1"),
        oversight_consumer_group=f"oversight-ledger-{run}",
        oversight_origin=f"test.example/oversight-{run}",
        oversight_signing_key=generate_seed(),
        oversight_checkpoint_every_events=1_000_000, oversight_checkpoint_every_seconds=3600,
        oversight_checkpoint_poll_seconds=0.2, **token_issuer.settings(),
    )


@pytest.fixture
async def oversight(oversight_settings: OversightSettings,
                    token_issuer: TestIssuer) -> AsyncIterator[RunningOversight]:
    """The oversight service on the real database and broker, consuming the test's topics."""
    runtime = build_oversight_runtime(oversight_settings)
    app = build_oversight_app(oversight_settings, runtime=runtime)
    async with serving(app, "oversight", token_issuer.headers(OVERSIGHT)) as client:
        yield RunningOversight(client, runtime, oversight_settings, token_issuer)


@pytest.fixture
def dhr(oversight: RunningOversight, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]):  # type: ignore[no-untyped-def]
    """Run `dhr ...` in process with the service's configuration; (exit code, stdout)."""
    settings = oversight.settings
    assert settings.oversight_signing_key is not None
    environment = {
        "DHR_ENVIRONMENT": "test",
        "DHR_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "DHR_DATABASE_URL": settings.database_url,
        "DHR_OVERSIGHT_TOPICS": json.dumps(list(settings.oversight_topics)),
        "DHR_OVERSIGHT_ORIGIN": settings.oversight_origin,
        "DHR_OVERSIGHT_SIGNING_KEY": settings.oversight_signing_key.get_secret_value(),
    }
    for name, value in environment.items():
        monkeypatch.setenv(name, value)

    async def run(*argv: str) -> tuple[int, str]:
        capsys.readouterr()
        code = await asyncio.to_thread(cli.main, list(argv))  # it runs its own event loop
        return code, capsys.readouterr().out

    return run
