"""A service's runtime: pool, migrations, topics, outbox relay and consumers, started and
stopped in order by the composition root."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from dhr_contracts.topics import dead_letter_topic
from dhr_platform.consumers import ConsumerRuntime, Effect, RetryPolicy, safe_broker
from dhr_platform.database import (
    DatabaseConnection,
    MigrationSource,
    create_pool,
    migrate,
    ping,
    platform_migrations,
)
from dhr_platform.eventstore import EventStore, InlineProjection
from dhr_platform.kafka import KafkaConnection, ensure_topics, kafka_reachable, safe_producer
from dhr_platform.metrics import MetricsSampler
from dhr_platform.outbox import OutboxRelay
from dhr_platform.sealing import Keyring
from dhr_platform.settings import PlatformSettings
from dhr_platform.telemetry import Telemetry

log = logging.getLogger(__name__)

# How long each step of a stop may wait for work that should already be finishing.
STOP_STEP_SECONDS = 10.0


@dataclass(frozen=True)
class Subscription:
    """A topic this service reacts to, the consumer group, and the effect (built once the
    runtime's store exists)."""

    topic: str
    consumer: str
    effect: Callable[[ServiceRuntime], Effect]
    event_types: frozenset[str] | None = None
    """The CloudEvents types the effect acts on (others are passed over); None: every record."""
    dead_letter_value: Callable[[bytes], bytes] | None = None
    """What a parked message's dead-letter copy holds; None: the value as it came."""


BackgroundTask = Callable[["ServiceRuntime"], Coroutine[Any, Any, None]]


def every(seconds: float, work: Callable[[ServiceRuntime], Awaitable[object]]) -> BackgroundTask:
    """A background task that runs `work` every `seconds`, logging (not dying on) its errors."""

    async def loop(runtime: ServiceRuntime) -> None:
        while True:
            try:
                await work(runtime)
            except Exception:  # a failed round is retried at the next one
                log.exception("background task %s failed; retrying in %.0fs",
                              getattr(work, "__name__", work), seconds)
            await asyncio.sleep(seconds)

    return loop


@dataclass
class ServiceSpec:
    """What makes one service: its name (also its schema), its topic, migrations, read models
    and subscriptions."""

    name: str
    topic: str
    migrations: Sequence[MigrationSource] = ()
    projections: Sequence[InlineProjection] = ()
    subscriptions: Sequence[Subscription] = ()
    permanent_errors: tuple[type[BaseException], ...] = ()
    run_relay: bool = True
    extra_topics: Sequence[str] = field(default_factory=tuple)
    background: Sequence[BackgroundTask] = ()
    """Long-running work started after everything else (e.g. a deadline watcher), cancelled
    first on stop."""

    @property
    def source(self) -> str:
        return f"/dhr/{self.name}"


class ServiceRuntime:
    """Owns the I/O of one service process; nothing connects until `start`."""

    # What runs the subscriptions; a composition root may give another before `start` (the
    # reliability tests give one that crashes between an effect's commit and its offset's).
    consumer_runtime_factory: Callable[..., ConsumerRuntime] = ConsumerRuntime

    def __init__(self, spec: ServiceSpec, settings: PlatformSettings):
        self.spec = spec
        self.settings = settings
        # The review data keys: seal personal values on append, open them in responses.
        self.keyring = Keyring(settings.key_encryption_keys())
        self._pool: asyncpg.Pool | None = None
        self._store: EventStore | None = None
        self.relay: OutboxRelay | None = None
        self.consumers: ConsumerRuntime | None = None
        self._relay_task: asyncio.Task[None] | None = None
        self._background: list[asyncio.Task[None]] = []
        self.telemetry: Telemetry | None = None
        """Built from the settings at start unless given before (then its giver shuts it down)."""
        self._owns_telemetry = False
        self.metrics_sampler: MetricsSampler | None = None
        self._kafka: KafkaConnection | None = None
        self.started = False
        self.stopped = False

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError("the service runtime has not started")
        return self._pool

    @property
    def kafka(self) -> KafkaConnection:
        """How this process reaches Kafka, as the settings said at start."""
        if self._kafka is None:
            raise RuntimeError("the service runtime has not started")
        return self._kafka

    @property
    def store(self) -> EventStore:
        if self._store is None:
            raise RuntimeError("the service runtime has not started")
        return self._store

    async def start(self) -> None:
        settings, spec = self.settings, self.spec
        settings.refuse_development_defaults()
        self.stopped = False
        database = DatabaseConnection.from_settings(settings)
        kafka = self._kafka = KafkaConnection.from_settings(settings)
        log.info("%s: PostgreSQL %s; Kafka %s", spec.name, database.describe(), kafka.describe())
        if self.telemetry is None:
            self.telemetry = Telemetry.from_settings(settings, f"dhr-{spec.name}")
            self._owns_telemetry = True
        telemetry = self.telemetry
        self._pool = await create_pool(database, spec.name,
                                       max_size=settings.database_pool_size,
                                       acquire_timeout=settings.database_acquire_timeout_seconds)
        applied = await migrate(self.pool, spec.name, [platform_migrations(), *spec.migrations])
        if applied:
            log.info("%s: applied migrations %s", spec.name, applied)
        self._store = EventStore(self.pool, spec.projections, tracer=telemetry.tracer,
                                 keyring=self.keyring)
        topics = [spec.topic, *spec.extra_topics]
        topics += [dead_letter_topic(s.topic) for s in spec.subscriptions]
        topics += [s.topic for s in spec.subscriptions]
        await ensure_topics(kafka, topics,
                            partitions=settings.topic_partitions,
                            replication_factor=settings.topic_replication_factor)
        if spec.run_relay:
            self.relay = OutboxRelay(
                self.pool,
                lambda: safe_producer(kafka, f"dhr-{spec.name}-relay"),
                name=spec.name, topic=spec.topic, source=spec.source,
                batch_size=settings.relay_batch_size,
                idle_poll_seconds=settings.relay_idle_poll_seconds,
                max_backoff_seconds=settings.relay_max_backoff_seconds,
                tracer=telemetry.tracer,
                drain_seconds=settings.shutdown_drain_seconds,
            )
            self.store.on_append = self.relay.wake
            self._relay_task = asyncio.create_task(self.relay.run(), name=f"{spec.name}-relay")
        if spec.subscriptions:
            broker = safe_broker(kafka, f"dhr-{spec.name}")
            self.consumers = self.consumer_runtime_factory(
                broker, self.pool,
                RetryPolicy(settings.consumer_max_attempts,
                            settings.consumer_initial_backoff_seconds,
                            settings.consumer_max_backoff_seconds),
                spec.permanent_errors,
                telemetry,
                batch_size=settings.consumer_batch_size,
                batch_wait_ms=settings.consumer_batch_wait_ms,
                concurrency=settings.consumer_concurrency,
            )
            for subscription in spec.subscriptions:
                self.consumers.subscribe(subscription.topic, subscription.consumer,
                                         subscription.effect(self), subscription.event_types,
                                         subscription.dead_letter_value)
            await broker.start()
        for work in spec.background:
            self._background.append(asyncio.create_task(work(self)))
        self.metrics_sampler = MetricsSampler(
            telemetry.metrics, self.pool, kafka,
            client_id=f"dhr-{spec.name}-metrics", relay=spec.name if spec.run_relay else None,
            subscriptions=[(s.topic, s.consumer) for s in spec.subscriptions])
        self._background.append(asyncio.create_task(
            self.metrics_sampler.run(settings.metrics_sample_seconds), name=f"{spec.name}-metrics"))
        self.started = True

    async def stop(self) -> None:
        """Finish in-flight work, then close: background work and consumers first (their
        in-flight messages are applied and their offsets committed), then the relay once it has
        published what is committed, then the pool; telemetry is flushed last."""
        for task in self._background:
            task.cancel()
        if self._background:
            # Bounded: a task that ignored its cancellation must not keep the consumers running.
            await asyncio.wait(self._background, timeout=STOP_STEP_SECONDS)
            self._background.clear()
        if self.metrics_sampler is not None:
            await self.metrics_sampler.close()
        if self.consumers is not None:
            await self.consumers.broker.stop()
        if self.relay is not None and self._relay_task is not None:
            self.relay.stop()
            # The relay bounds its own drain; this bounds a relay stuck in Kafka or PostgreSQL.
            done, _ = await asyncio.wait({self._relay_task},
                                         timeout=self.settings.shutdown_drain_seconds
                                         + STOP_STEP_SECONDS)
            if not done:
                log.warning("%s: the relay did not stop in time", self.spec.name)
                self._relay_task.cancel()
                await self.relay.close()
        if self._pool is not None:
            try:
                await asyncio.wait_for(self._pool.close(), STOP_STEP_SECONDS)
            except TimeoutError:
                log.warning("%s: database connections still in use at stop; closing them",
                            self.spec.name)
                self._pool.terminate()
        if self._owns_telemetry and self.telemetry is not None:
            await asyncio.to_thread(self.telemetry.shutdown)
            self.telemetry, self._owns_telemetry = None, False
        self.stopped = True

    async def refresh_metrics(self) -> None:
        """Sample the outbox backlog and consumer lag now (before a scrape of /metrics)."""
        if self.metrics_sampler is not None:
            await self.metrics_sampler.sample()

    def readiness_checks(self) -> dict[str, Callable[[], Awaitable[bool]]]:
        async def database() -> bool:
            return bool(await ping(self.pool) == 1)

        async def kafka() -> bool:
            return await kafka_reachable(self.kafka)

        return {"database": database, "kafka": kafka}
