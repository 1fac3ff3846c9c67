"""The platform's metrics: what they are, how the ones only a query can tell are sampled, and
`/metrics` for Prometheus.

The instruments are OpenTelemetry's, recorded once and read twice: by the Prometheus reader that
`/metrics` renders and, when an OTLP endpoint is configured, by the periodic OTLP exporter.
Prometheus names (units appended, counters suffixed `_total`) are given in each description's
comment and in docs/operations.md.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from fastapi import APIRouter
from fastapi.responses import Response
from opentelemetry.metrics import Meter
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from dhr_platform.kafka import KafkaConnection

log = logging.getLogger(__name__)

COMMAND_SECONDS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
LAG_SECONDS_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
                       900.0, 3600.0)


class PlatformMetrics:
    """The instruments every service records."""

    def __init__(self, meter: Meter):
        # dhr_command_duration_seconds
        self.command_duration = meter.create_histogram(
            "dhr.command.duration", unit="s",
            description="Time to answer a command (an HTTP POST, PUT, PATCH or DELETE), by route "
            "template, method and status code.",
            explicit_bucket_boundaries_advisory=COMMAND_SECONDS_BUCKETS)
        # dhr_outbox_backlog_events
        self.outbox_backlog_events = meter.create_gauge(
            "dhr.outbox.backlog.events", unit="{event}",
            description="Events committed to the event store and not yet published to Kafka.")
        # dhr_outbox_oldest_event_age_seconds
        self.outbox_oldest_event_age = meter.create_gauge(
            "dhr.outbox.oldest_event.age", unit="s",
            description="How long the oldest unpublished event has waited (0 with no backlog).")
        # dhr_consumer_lag_messages
        self.consumer_lag = meter.create_gauge(
            "dhr.consumer.lag.messages", unit="{message}",
            description="Records on a topic that a consumer group has not yet committed, summed "
            "over the topic's partitions.")
        # dhr_projection_lag_seconds
        self.projection_lag = meter.create_histogram(
            "dhr.projection.lag", unit="s",
            description="From an event's recording by its service (the CloudEvents time) to its "
            "effect committing in this service's read models, per consumer group.",
            explicit_bucket_boundaries_advisory=LAG_SECONDS_BUCKETS)
        # dhr_dead_letters_total
        self.dead_letters = meter.create_counter(
            "dhr.dead_letters", unit="{message}",
            description="Records a consumer group parked on the dead-letter topic.")

    def record_applied(self, consumer: str, topic: str, event_time: str | None) -> None:
        """A consumer applied a record: how far behind its source the read model now is."""
        if event_time is None:
            return
        try:
            recorded = datetime.fromisoformat(event_time)
        except ValueError:
            return
        if recorded.tzinfo is None:
            recorded = recorded.replace(tzinfo=UTC)
        lag = max(0.0, (datetime.now(UTC) - recorded).total_seconds())
        self.projection_lag.record(lag, {"consumer_group": consumer, "topic": topic})

    def record_dead_letter(self, consumer: str, topic: str) -> None:
        self.dead_letters.add(1, {"consumer_group": consumer, "topic": topic})


class MetricsSampler:
    """Samples the outbox backlog (from PostgreSQL) and consumer lag (from Kafka) into gauges,
    every so often and before each scrape of /metrics (at most once a second)."""

    def __init__(
        self,
        metrics: PlatformMetrics,
        pool: asyncpg.Pool,
        kafka: KafkaConnection | str,
        *,
        client_id: str,
        relay: str | None,
        subscriptions: Sequence[tuple[str, str]],
        min_interval_seconds: float = 1.0,
        timeout_seconds: float = 10.0,
    ):
        self.metrics = metrics
        self.pool = pool
        self.kafka = kafka
        self.client_id = client_id
        self.relay = relay
        self.subscriptions = tuple(subscriptions)
        self.min_interval_seconds = min_interval_seconds
        self.timeout_seconds = timeout_seconds
        self._lock = asyncio.Lock()
        self._last = float("-inf")
        self._kafka: _KafkaOffsets | None = None

    async def sample(self) -> None:
        """Refresh the gauges; a failure is logged and leaves the last values in place."""
        async with self._lock:
            if time.monotonic() - self._last < self.min_interval_seconds:
                return
            try:
                await asyncio.wait_for(self._sample(), self.timeout_seconds)
                self._last = time.monotonic()
            except Exception as error:  # metrics must never take the service down
                log.warning("metrics sampling failed: %s", type(error).__name__,
                            exc_info=log.isEnabledFor(logging.DEBUG))
                await self._close_kafka()

    async def run(self, every_seconds: float) -> None:
        while True:
            await self.sample()
            await asyncio.sleep(every_seconds)

    async def close(self) -> None:
        await self._close_kafka()

    async def _sample(self) -> None:
        if self.relay is not None:
            events, oldest_age = await self._outbox_backlog()
            self.metrics.outbox_backlog_events.set(events)
            self.metrics.outbox_oldest_event_age.set(oldest_age)
        if self.subscriptions:
            if self._kafka is None:
                self._kafka = await _KafkaOffsets.start(self.kafka, self.client_id)
            for topic, group in self.subscriptions:
                lag = await self._kafka.lag(topic, group)
                self.metrics.consumer_lag.set(lag, {"consumer_group": group, "topic": topic})

    async def _outbox_backlog(self) -> tuple[int, float]:
        # The relay's cursor, then what lies after it in commit order (as OutboxRelay reads).
        cursor = await self.pool.fetchrow(
            "SELECT tx_id::text AS tx_id, global_position FROM relay_cursor WHERE relay = $1",
            self.relay)
        tx_id, position = ("0", 0) if cursor is None else (cursor["tx_id"],
                                                           cursor["global_position"])
        row = await self.pool.fetchrow(
            """SELECT count(*) AS events,
                      coalesce(extract(epoch FROM clock_timestamp() - min(recorded_at)), 0)::float8
                        AS oldest_age
                 FROM events WHERE (tx_id, global_position) > ($1::text::xid8, $2)""",
            tx_id, position)
        assert row is not None  # an aggregate always returns its one row
        return int(row["events"]), max(0.0, float(row["oldest_age"]))

    async def _close_kafka(self) -> None:
        kafka, self._kafka = self._kafka, None
        if kafka is not None:
            await kafka.close()


class _KafkaOffsets:
    """End offsets (from a consumer without a group) and a group's committed offsets (from the
    admin client): their difference is the group's lag."""

    def __init__(self, admin: AIOKafkaAdminClient, consumer: AIOKafkaConsumer):
        self.admin = admin
        self.consumer = consumer

    @classmethod
    async def start(cls, kafka: KafkaConnection | str, client_id: str) -> _KafkaOffsets:
        connection = KafkaConnection.of(kafka)
        admin = AIOKafkaAdminClient(**connection.client_options(), client_id=client_id)
        consumer = AIOKafkaConsumer(**connection.client_options(), client_id=client_id,
                                    group_id=None, enable_auto_commit=False)
        try:
            await admin.start()
            await consumer.start()
        except BaseException:
            await consumer.stop()
            await admin.close()
            raise
        return cls(admin, consumer)

    async def lag(self, topic: str, group: str) -> int:
        described = await self.admin.describe_topics([topic])
        partitions = [TopicPartition(topic, p["partition"])
                      for entry in described for p in entry.get("partitions", ())]
        if not partitions:
            return 0
        ends = await self.consumer.end_offsets(partitions)
        committed = await self.admin.list_consumer_group_offsets(group, partitions=partitions)
        total = 0
        for partition in partitions:
            done = committed.get(partition)
            # No commit yet: the group starts from the beginning (auto_offset_reset=earliest).
            offset = done.offset if done is not None and done.offset >= 0 else 0
            total += max(0, ends.get(partition, 0) - offset)
        return total

    async def close(self) -> None:
        try:
            await self.consumer.stop()
        finally:
            await self.admin.close()


def metrics_router(registry: Callable[[], CollectorRegistry],
                   refresh: Callable[[], Awaitable[None]]) -> APIRouter:
    """`GET /metrics` in the Prometheus text format, sampled fresh for each scrape."""
    router = APIRouter(tags=["health"])

    @router.get("/metrics", summary="Metrics in the Prometheus exposition format",
                response_class=Response)
    async def prometheus_metrics() -> Response:
        await refresh()
        return Response(generate_latest(registry()), media_type=CONTENT_TYPE_LATEST)

    return router
