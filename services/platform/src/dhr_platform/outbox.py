"""The outbox relay: publishes committed events to Kafka in commit order, never skipping one."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass

import asyncpg
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from opentelemetry.trace import NoOpTracer, Tracer

from dhr_platform.database import Connection
from dhr_platform.envelopes import to_envelope
from dhr_platform.eventstore import EVENT_COLUMNS, RecordedEvent
from dhr_platform.telemetry import PublishSpans

log = logging.getLogger(__name__)

# Only transactions older than every open one are certain: a row below the snapshot's xmin is
# committed (or rolled back, and then invisible). Rows of a transaction still open, or that
# committed after ours began, wait for the next pass instead of being skipped for ever.
_NEXT_BATCH = f"""
SELECT tx_id::text AS tx_text, {EVENT_COLUMNS}
  FROM events
 WHERE (tx_id, global_position) > ($1::text::xid8, $2::bigint)
   AND tx_id < pg_snapshot_xmin(pg_current_snapshot())
 ORDER BY tx_id, global_position
 LIMIT $3
"""


# After a wake-up the relay polls after 2 ms (the appending transaction has a few statements
# left before it commits), then after 2, 4, 8 ms... until it publishes or reaches its idle interval.
WOKEN_FIRST_PAUSE_SECONDS = 0.002


@dataclass(frozen=True)
class RelayCursor:
    tx_id: str
    global_position: int


START = RelayCursor("0", 0)


class OutboxRelay:
    """Publishes a service's events to its topic, at least once, in commit order.

    One relay per service publishes at a time (a PostgreSQL advisory lock elects it); the
    cursor moves only after Kafka acknowledged the whole batch, so a crash republishes and
    consumers deduplicate by event id.

    When idle it polls every `idle_poll_seconds`; `wake()` (called by the event store of the
    same process on every append) makes it look again within milliseconds instead. The append
    rings before its transaction commits, so the relay then polls a few times at growing
    pauses (2, 2, 4, 8 ms...) until it finds the events or the idle interval is reached. Writers
    in other processes are found by the idle poll. A NOTIFY from the writing transaction would
    wake every replica, but PostgreSQL serialises the commits of notifying transactions (ADR
    0009).
    """

    def __init__(
        self,
        pool: asyncpg.Pool,
        producer_factory: Callable[[], AIOKafkaProducer],
        *,
        name: str,
        topic: str,
        source: str,
        batch_size: int = 500,
        idle_poll_seconds: float = 0.05,
        max_backoff_seconds: float = 5.0,
        tracer: Tracer | None = None,
        drain_seconds: float = 10.0,
    ):
        self.pool = pool
        self.producer_factory = producer_factory
        self.name = name
        self.topic = topic
        self.source = source
        self.batch_size = batch_size
        self.idle_poll_seconds = idle_poll_seconds
        self.max_backoff_seconds = max_backoff_seconds
        self.tracer = tracer or NoOpTracer()
        self.drain_seconds = drain_seconds
        self.published = 0
        self._producer: AIOKafkaProducer | None = None
        self._stopping = asyncio.Event()
        self._woken = asyncio.Event()
        self._leading = False
        self._leader_cursor: RelayCursor | None = None
        self._lock_key = int.from_bytes(
            hashlib.sha256(f"relay:{name}".encode()).digest()[:8], "big", signed=True
        )

    async def cursor(self) -> RelayCursor:
        row = await self.pool.fetchrow(
            "SELECT tx_id::text AS tx_id, global_position FROM relay_cursor WHERE relay = $1",
            self.name,
        )
        return START if row is None else RelayCursor(row["tx_id"], row["global_position"])

    async def backlog(self) -> int:
        """Events committed but not yet published (for the outbox backlog metric)."""
        cursor = await self.cursor()
        return int(await self.pool.fetchval(
            "SELECT count(*) FROM events WHERE (tx_id, global_position) > ($1::text::xid8, $2)",
            cursor.tx_id, cursor.global_position,
        ))

    async def _save(self, cursor: RelayCursor) -> None:
        await self.pool.execute(
            """INSERT INTO relay_cursor (relay, tx_id, global_position)
               VALUES ($1, $2::text::xid8, $3)
               ON CONFLICT (relay) DO UPDATE
                 SET tx_id = excluded.tx_id, global_position = excluded.global_position,
                     updated_at = now()""",
            self.name, cursor.tx_id, cursor.global_position,
        )

    async def _next_batch(self, cursor: RelayCursor) -> tuple[list[RecordedEvent], RelayCursor]:
        rows = await self.pool.fetch(_NEXT_BATCH, cursor.tx_id, cursor.global_position,
                                     self.batch_size)
        if not rows:
            return [], cursor
        last = rows[-1]
        return [RecordedEvent.from_row(row) for row in rows], RelayCursor(
            last["tx_text"], last["global_position"]
        )

    async def _ensure_producer(self) -> AIOKafkaProducer:
        if self._producer is None:
            producer = self.producer_factory()
            try:
                await producer.start()
            except BaseException:
                await producer.stop()
                raise
            self._producer = producer
        return self._producer

    async def _drop_producer(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            try:
                await producer.stop()
            except Exception:
                log.debug("error while stopping a failed producer", exc_info=True)

    async def _publish(self, events: list[RecordedEvent]) -> None:
        producer = await self._ensure_producer()
        pending = []
        with PublishSpans(self.tracer, self.topic) as spans:
            for event in events:
                envelope = to_envelope(event, self.source)
                pending.append(await producer.send(
                    self.topic,
                    value=envelope.kafka_value(),
                    key=envelope.subject.encode(),
                    headers=spans.headers_for(envelope),
                ))
            await asyncio.gather(*pending)

    async def publish_pending(self) -> int:
        """Publish one batch if there is one; return how many events it held."""
        # While leader, nobody else moves the cursor: it is read once, then kept in memory.
        cursor = self._leader_cursor or await self.cursor()
        events, next_cursor = await self._next_batch(cursor)
        if events:
            await self._publish(events)
            await self._save(next_cursor)
            self.published += len(events)
        if self._leading:
            self._leader_cursor = next_cursor
        return len(events)

    async def run(self) -> None:
        """Publish until stopped; survive broker and database outages with backoff.

        Every error is retried: a relay that stopped would silently hold back the whole service's
        history, so the loop only ends on `stop()`.
        """
        backoff = 0.1
        while not self._stopping.is_set():
            try:
                async with self.pool.acquire() as leader:
                    if not await leader.fetchval("SELECT pg_try_advisory_lock($1)", self._lock_key):
                        await self._sleep(1.0)
                        continue
                    try:
                        self._leading = True
                        await self._publish_while_leader()
                    finally:
                        self._leading, self._leader_cursor = False, None
                        await self._release_leadership(leader)
                backoff = 0.1
            except Exception as error:  # every error: see the docstring
                expected = isinstance(error, (TimeoutError, KafkaError, OSError,
                                              asyncpg.PostgresError, asyncpg.InterfaceError))
                log.warning("outbox relay %s: %s: %s; retrying in %.1fs", self.name,
                            type(error).__name__, error, backoff, exc_info=not expected)
                await self._drop_producer()
                await self._sleep(backoff)
                backoff = min(backoff * 2, self.max_backoff_seconds)
        await self._drop_producer()

    async def _release_leadership(self, leader: Connection) -> None:
        """Unlock; if the session is broken, end it, which releases the lock just the same."""
        if leader.is_closed():
            return
        try:
            await leader.execute("SELECT pg_advisory_unlock($1)", self._lock_key)
        except Exception:  # a broken session's lock dies with it
            log.debug("outbox relay %s: unlock failed; terminating the session", self.name,
                      exc_info=True)
            leader.terminate()

    def wake(self) -> None:
        """Events were appended: look for them now rather than at the next idle poll."""
        self._woken.set()

    async def _publish_while_leader(self) -> None:
        pause = self.idle_poll_seconds
        while not self._stopping.is_set():
            self._woken.clear()  # a ring from here on may be for events this pass cannot see
            if await self.publish_pending() > 0:
                pause = self.idle_poll_seconds  # what rang is out; later appends ring again
                continue
            if await self._wait_for_wake(pause):
                # Rung by an append whose transaction commits a moment later: look again soon.
                pause = WOKEN_FIRST_PAUSE_SECONDS
                await self._sleep(pause)
            else:
                pause = min(pause * 2, self.idle_poll_seconds)
        await self._drain()

    async def _drain(self) -> None:
        """On stop, publish everything committed before letting go, so that a graceful
        shutdown leaves no backlog. Rows that wait only for another session's open transaction
        to end (see _NEXT_BATCH) are waited for, up to `drain_seconds`; what is left is
        published at the next start."""
        deadline = asyncio.get_running_loop().time() + self.drain_seconds
        while asyncio.get_running_loop().time() < deadline:
            if await self.publish_pending():
                continue
            if await self.backlog() == 0:
                return
            await asyncio.sleep(self.idle_poll_seconds)
        log.warning("outbox relay %s: stopping with %d events unpublished (an open transaction "
                    "holds them back); they are published at the next start", self.name,
                    await self.backlog())

    async def _wait_for_wake(self, seconds: float) -> bool:
        """Wait up to `seconds` for `wake()` (or `stop()`); True when woken."""
        waiters = [asyncio.ensure_future(self._woken.wait()),
                   asyncio.ensure_future(self._stopping.wait())]
        try:
            await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
        return self._woken.is_set()

    async def _sleep(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)
        except TimeoutError:
            pass

    def stop(self) -> None:
        """Stop once what is committed is published (the leader drains first)."""
        self._stopping.set()

    async def close(self) -> None:
        """Release the producer of a relay whose task was cancelled."""
        await self._drop_producer()
