"""Consumer runtime on faststream: effects applied once, acknowledged after they commit.

Each message is applied inside one PostgreSQL transaction that also records its id in the
inbox; the offset is committed only after that transaction commits (never faststream's default
ack-first mode), so a crash redelivers and the inbox makes the second delivery a no-op. A
message that keeps failing goes to `<topic>.dlq` with the error in its headers.

Records are taken in batches (whatever has arrived, up to `batch_size`). Order is kept where
it means something, per record key (the review id, DESIGN §6): the records of one key are
applied one after the other in offset order, while different keys are applied side by side, up
to `concurrency` at a time. The offsets are committed once for the batch, after every record of
it was applied (or parked), so a busy topic pays neither a broker round trip per message nor one
message's database round trips behind another's.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from faststream.security import (
    BaseSecurity,
    SASLPlaintext,
    SASLScram256,
    SASLScram512,
)

from dhr_contracts.envelope import Envelope
from dhr_contracts.topics import dead_letter_topic
from dhr_platform.database import Connection
from dhr_platform.eventstore import ConcurrencyError
from dhr_platform.kafka import KafkaConnection
from dhr_platform.telemetry import Telemetry, consuming

log = logging.getLogger(__name__)

MAX_ERROR_HEADER_CHARS = 1000
MAX_IMMEDIATE_RETRIES_ON_CLASH = 20
DEFAULT_CONCURRENCY = 8

# Failures of the surroundings, not of the message: retried until they pass.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.InternalClientError,
    asyncpg.exceptions.SerializationError,
    asyncpg.exceptions.DeadlockDetectedError,
)


class PermanentFailure(Exception):
    """Retrying cannot help: the message itself is malformed or invalid."""


@dataclass(frozen=True)
class Delivery:
    """One Kafka record as a consumer's effect sees it."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_record(cls, record: Any) -> Delivery:
        headers = {name: raw.decode(errors="replace") for name, raw in record.headers or ()}
        return cls(record.topic, record.partition, record.offset, record.key,
                   record.value or b"", headers)

    @property
    def message_id(self) -> str:
        """The CloudEvents id when there is one, else the record's coordinates (stable on
        redelivery)."""
        return self.headers.get("ce_id") or f"{self.topic}/{self.partition}/{self.offset}"

    def envelope(self) -> Envelope:
        """The CloudEvent carried in binary content mode; a malformed one is permanent."""
        try:
            return Envelope.from_kafka(
                [(name, value.encode()) for name, value in self.headers.items()], self.value
            )
        except ValueError as error:
            raise PermanentFailure(f"not a valid CloudEvent: {error}") from error


Effect = Callable[[Connection, Delivery], Awaitable[None]]


class _AlreadyApplied(Exception):
    """A concurrent delivery of the same message committed first."""


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 5
    initial_backoff_seconds: float = 0.2
    max_backoff_seconds: float = 5.0

    def backoff(self, attempt: int) -> float:
        delay: float = self.initial_backoff_seconds * 2.0 ** (attempt - 1)
        return min(delay, self.max_backoff_seconds)


class ConsumerRuntime:
    """Subscribes effects to topics with inbox deduplication, retries and a dead-letter topic."""

    def __init__(
        self,
        broker: KafkaBroker,
        pool: asyncpg.Pool,
        retry: RetryPolicy | None = None,
        permanent_errors: tuple[type[BaseException], ...] = (),
        telemetry: Telemetry | None = None,
        batch_size: int = 100,
        batch_wait_ms: int = 20,
        concurrency: int = DEFAULT_CONCURRENCY,
    ):
        self.broker = broker
        self.pool = pool
        self.retry = retry or RetryPolicy()
        self.batch_size = batch_size
        self.batch_wait_ms = batch_wait_ms
        self.concurrency = concurrency
        self.permanent_errors: tuple[type[BaseException], ...] = (PermanentFailure, *permanent_errors)
        self.applied = 0
        self.dead_lettered = 0
        self._dead_letter_values: dict[str, Callable[[bytes], bytes]] = {}
        self.telemetry = telemetry or Telemetry.disabled()
        self.passed_over = 0

    def subscribe(self, topic: str, consumer: str, effect: Effect,
                  event_types: Collection[str] | None = None,
                  dead_letter_value: Callable[[bytes], bytes] | None = None) -> None:
        """Apply `effect` to every message of `topic`, as consumer group `consumer`.

        With `event_types`, CloudEvents of other types are passed over without a transaction
        (the effect would ignore them; they need no inbox row, since they have no effect).
        Records without a `ce_type` still go to the effect, which parks what it cannot read.
        `dead_letter_value` gives what a parked message's dead-letter copy holds (by default
        the message's value as it came).
        """
        if dead_letter_value is not None:
            self._dead_letter_values[consumer] = dead_letter_value
        subscriber = self.broker.subscriber(
            topic,
            group_id=consumer,
            auto_offset_reset="earliest",  # a new group reads the history from the start
            # Commit after the whole batch's effects; on error seek every partition back to its
            # first record of the batch (what was applied is then skipped by the inbox).
            ack_policy=AckPolicy.NACK_ON_ERROR,
            batch=True,
            max_records=self.batch_size,
            # getmany returns as soon as records are there; when none came within the wait,
            # faststream sleeps as long again, so the wait bounds an idle consumer's latency.
            batch_timeout_ms=self.batch_wait_ms,
        )

        async def handle(message: KafkaMessage) -> None:
            records = message.raw_message
            batch = records if isinstance(records, tuple) else (records,)
            deliveries = [Delivery.from_record(record) for record in batch]
            wanted = [delivery for delivery in deliveries
                      if event_types is None or delivery.headers.get("ce_type") is None
                      or delivery.headers["ce_type"] in event_types]
            self.passed_over += len(deliveries) - len(wanted)
            await self.process_batch(consumer, wanted, effect)

        subscriber(handle)

    async def process_batch(self, consumer: str, deliveries: Sequence[Delivery],
                            effect: Effect) -> None:
        """Apply a batch: each key's records in offset order, different keys concurrently."""
        by_key: dict[tuple[str, int, bytes | None], list[Delivery]] = {}
        for delivery in deliveries:
            by_key.setdefault((delivery.topic, delivery.partition, delivery.key), []).append(delivery)
        slots = asyncio.Semaphore(self.concurrency)

        async def in_order(records: list[Delivery]) -> None:
            async with slots:
                for delivery in records:
                    with consuming(self.telemetry.tracer, consumer, delivery):
                        await self.process(consumer, delivery, effect)

        # A failure (a dead letter that could not be published) cancels the rest of the batch,
        # which is then redelivered from its first records.
        async with asyncio.TaskGroup() as group:
            for records in by_key.values():
                group.create_task(in_order(records))

    async def process(self, consumer: str, delivery: Delivery, effect: Effect) -> None:
        """Apply once, retrying failures; dead-letter what keeps failing.

        An unavailable database (or a conflicting concurrent write) says nothing about the
        message: those are retried until they pass, holding the partition in order, and never
        park a good message. Other errors get `max_attempts` tries, then the dead-letter topic.
        """
        attempt = 0
        waits = 0
        clashes = 0
        while True:
            try:
                if await self._apply_once(consumer, delivery, effect):
                    self.applied += 1
                    self.telemetry.metrics.record_applied(consumer, delivery.topic,
                                                          delivery.headers.get("ce_time"))
                return
            except self.permanent_errors as error:
                await self._dead_letter(consumer, delivery, error, attempt + 1)
                return
            except ConcurrencyError:
                # Another writer moved the stream between our read and our append: decide again
                # on fresh state at once (a little jitter spreads competing retries apart).
                clashes += 1
                if clashes <= MAX_IMMEDIATE_RETRIES_ON_CLASH:
                    await asyncio.sleep(random.uniform(0, 0.01))  # noqa: S311 - jitter only
                    continue
                clashes = 0
                waits += 1
                await asyncio.sleep(self.retry.backoff(min(waits, 16)))
            except TRANSIENT_ERRORS as error:
                waits += 1
                delay = self.retry.backoff(min(waits, 16))
                log.warning("consumer %s: %s at %s/%s@%s; waiting %.1fs for it to pass",
                            consumer, type(error).__name__, delivery.topic, delivery.partition,
                            delivery.offset, delay)
                await asyncio.sleep(delay)
            except Exception as error:  # every other failure is retried, then parked
                attempt += 1
                if attempt >= self.retry.max_attempts:
                    await self._dead_letter(consumer, delivery, error, attempt)
                    return
                delay = self.retry.backoff(attempt)
                log.warning("consumer %s: %s at %s/%s@%s, attempt %d, retrying in %.1fs",
                            consumer, type(error).__name__, delivery.topic, delivery.partition,
                            delivery.offset, attempt, delay)
                await asyncio.sleep(delay)

    async def _apply_once(self, consumer: str, delivery: Delivery, effect: Effect) -> bool:
        try:
            async with self.pool.acquire() as connection, connection.transaction():
                # Check, effect, then record: the effect's event insert stays the transaction's
                # first write (the relay's ordering depends on it); the inbox's primary key still
                # refuses a concurrent duplicate, whose transaction then rolls back whole.
                seen = await connection.fetchval(
                    "SELECT true FROM inbox WHERE consumer = $1 AND message_id = $2",
                    consumer, delivery.message_id,
                )
                if seen:
                    return False
                await effect(connection, delivery)
                recorded = await connection.fetchval(
                    "INSERT INTO inbox (consumer, message_id) VALUES ($1, $2)"
                    " ON CONFLICT DO NOTHING RETURNING true",
                    consumer, delivery.message_id,
                )
                if not recorded:
                    raise _AlreadyApplied
        except _AlreadyApplied:
            return False
        return True

    async def _dead_letter(
        self, consumer: str, delivery: Delivery, error: BaseException, attempts: int
    ) -> None:
        headers = dict(delivery.headers)
        headers.update({
            "dlq_consumer": consumer,
            "dlq_original_topic": delivery.topic,
            "dlq_original_partition": str(delivery.partition),
            "dlq_original_offset": str(delivery.offset),
            "dlq_error_type": type(error).__name__,
            "dlq_error_message": str(error)[:MAX_ERROR_HEADER_CHARS],
            "dlq_attempts": str(attempts),
            "dlq_failed_at": datetime.now(UTC).isoformat(),
        })
        # If this publish fails the handler raises, the offset is not committed and the message
        # comes back: it is parked or applied, never dropped.
        value = self._dead_letter_values.get(consumer, _as_it_came)(delivery.value)
        await self.broker.publish(
            value, topic=dead_letter_topic(delivery.topic), key=delivery.key, headers=headers,
        )
        self.dead_lettered += 1
        self.telemetry.metrics.record_dead_letter(consumer, delivery.topic)
        log.error("consumer %s: parked %s/%s@%s on %s after %d attempt(s): %s",
                  consumer, delivery.topic, delivery.partition, delivery.offset,
                  dead_letter_topic(delivery.topic), attempts, type(error).__name__)


def _as_it_came(value: bytes) -> bytes:
    return value


def safe_broker(kafka: KafkaConnection | str, client_id: str) -> KafkaBroker:
    """A faststream broker whose producer (used for dead letters) is idempotent with acks=all."""
    connection = KafkaConnection.of(kafka)
    return KafkaBroker(
        connection.bootstrap,
        security=broker_security(connection),
        client_id=client_id,
        acks="all",
        enable_idempotence=True,
        graceful_timeout=15.0,
        # A plain logger, so its lines go through the service's handlers (JSON), not to stdout.
        logger=logging.getLogger("faststream.kafka"),
    )


_SASL_SECURITY: dict[str | None, type[SASLPlaintext | SASLScram256 | SASLScram512]] = {
    "PLAIN": SASLPlaintext, "SCRAM-SHA-256": SASLScram256, "SCRAM-SHA-512": SASLScram512}


def broker_security(connection: KafkaConnection) -> BaseSecurity | None:
    """The connection's TLS and SASL in faststream's terms (it passes them on to aiokafka)."""
    context = connection.ssl_context()
    if connection.uses_sasl:
        security = _SASL_SECURITY[connection.sasl_mechanism]
        return security(connection.username or "", connection.plain_password(),
                        ssl_context=context, use_ssl=connection.uses_tls)
    if context is not None:
        return BaseSecurity(ssl_context=context, use_ssl=True)
    return None
