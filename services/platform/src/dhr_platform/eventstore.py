"""The event store: append with an expected version, read a stream, read everything in order."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Protocol, cast, runtime_checkable
from uuid import UUID, uuid4

import asyncpg
from opentelemetry.trace import NoOpTracer, Tracer

from dhr_platform.database import Connection
from dhr_platform.principal import Principal
from dhr_platform.sealing import Keyring, data_key_ids, needs_sealing, seal_data
from dhr_platform.telemetry import appending

_VERSION_SUFFIX = re.compile(r"\.v(\d+)$")


class ConcurrencyError(Exception):
    """The stream moved on since it was read: the command must be retried against fresh state."""

    def __init__(self, stream_id: str, expected_version: int, actual_version: int | None = None):
        self.stream_id = stream_id
        self.expected_version = expected_version
        self.actual_version = actual_version
        actual = "" if actual_version is None else f", it is at {actual_version}"
        super().__init__(
            f"stream {stream_id} was expected at version {expected_version}{actual}"
        )


def schema_version_of(event_type: str) -> int:
    """The version carried by a type name such as `dhr.commissioning.ChairAppointed.v1`."""
    match = _VERSION_SUFFIX.search(event_type)
    if not match:
        raise ValueError(f"event type {event_type!r} does not end in .v<N>")
    return int(match.group(1))


@dataclass(frozen=True)
class EventMetadata:
    """Who, why and in what context an event was written; travels as CloudEvents extensions.

    `actor` (CloudEvents `ce_actor`) is the token's subject for a command over HTTP, or the
    service or topic that caused it; the roles and organisation of an HTTP caller are kept
    beside it in the stored metadata (the published envelope is unchanged, ADR 0008).
    """

    subject: str
    actor: str
    correlation_id: UUID = field(default_factory=uuid4)
    causation_id: UUID | None = None
    traceparent: str | None = None
    actor_roles: tuple[str, ...] = ()
    actor_organisation: str | None = None
    data_key_id: UUID | None = None
    """The review data key that sealed the personal values in the events (set by the store)."""

    @classmethod
    def for_request(cls, subject: str, principal: Principal, correlation_id: UUID | None = None,
                    traceparent: str | None = None) -> EventMetadata:
        """Metadata of a command from an authenticated request: the actor is the token's
        principal, never a header the client chooses; a new correlation id when none given."""
        return cls(subject=subject, actor=principal.subject,
                   correlation_id=correlation_id or uuid4(), traceparent=traceparent,
                   actor_roles=principal.role_names, actor_organisation=principal.organisation)

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "subject": self.subject,
            "actor": self.actor,
            "correlation_id": str(self.correlation_id),
            "causation_id": None if self.causation_id is None else str(self.causation_id),
            "traceparent": self.traceparent,
        }
        if self.actor_roles or self.actor_organisation is not None:
            body["actor_roles"] = list(self.actor_roles)
            body["actor_organisation"] = self.actor_organisation
        if self.data_key_id is not None:
            body["data_key_id"] = str(self.data_key_id)
        return body


@dataclass(frozen=True)
class NewEvent:
    """An event about to be appended."""

    type: str
    data: dict[str, Any]
    event_id: UUID = field(default_factory=uuid4)


@dataclass(frozen=True)
class RecordedEvent:
    """An event as stored."""

    global_position: int
    stream_id: str
    stream_version: int
    event_id: UUID
    type: str
    schema_version: int
    data: dict[str, Any]
    metadata: dict[str, Any]
    recorded_at: datetime

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> RecordedEvent:
        return cls(
            global_position=row["global_position"],
            stream_id=row["stream_id"],
            stream_version=row["stream_version"],
            event_id=row["event_id"],
            type=row["type"],
            schema_version=row["schema_version"],
            data=row["data"],
            metadata=row["metadata"],
            recorded_at=row["recorded_at"],
        )


class InlineProjection(Protocol):
    """A read model updated in the same transaction as the append, so reads see their writes."""

    name: str
    tables: Sequence[str]

    async def apply(self, connection: Connection, event: RecordedEvent) -> None: ...


@runtime_checkable
class BatchProjection(Protocol):
    """A projection that can apply many events at once (one read and one write per batch)."""

    async def apply_batch(self, connection: Connection, events: Sequence[RecordedEvent]
                          ) -> None: ...


class SnapshotProjection(Protocol):
    """A projection whose row of a stream holds the stream's decider state and version, kept in
    the appending transaction: a snapshot at every version. A command loads its aggregate from
    it (one row, not every event) and hands the state back with the append, so the projection
    writes its new row without reading the old one again.

    Its `evolve` must be the decider's, and it keeps the state as stored (personal values
    sealed), so that the state it gives is the one folding the stream would give.
    """

    name: str

    async def load_state(self, connection: Connection, stream_id: str) -> tuple[Any, int] | None:
        """The stream's state and version, or None when it has no row (not created yet)."""
        ...

    async def apply_from(self, connection: Connection, state: Any, version: int,
                         events: Sequence[RecordedEvent]) -> None:
        """Apply one stream's new events to its state at `version`, read in this transaction."""
        ...


@dataclass(frozen=True)
class PriorState:
    """A stream's state and version before an append, as its snapshot projection gave them (or
    as folding the stream did) inside the appending transaction."""

    projection: str
    state: Any
    version: int


async def apply_all(connection: Connection, projections: Sequence[InlineProjection],
                    events: Sequence[RecordedEvent], prior: PriorState | None = None) -> None:
    """Apply events in order to each projection, in one batch where the projection can; the
    snapshot projection named by `prior` starts from the state it gives (events of one stream)."""
    for projection in projections:
        if prior is not None and projection.name == prior.projection:
            # Named by the Aggregates that loaded from it (no runtime Protocol check per command).
            await cast(SnapshotProjection, projection).apply_from(connection, prior.state,
                                                                  prior.version, events)
        elif isinstance(projection, BatchProjection):
            await projection.apply_batch(connection, events)
        else:
            for event in events:
                await projection.apply(connection, event)


EVENT_COLUMNS = (
    "global_position, stream_id, stream_version, event_id, type, schema_version,"
    " data, metadata, recorded_at"
)


class EventStore:
    """Append-only store of one service's events, in that service's schema."""

    def __init__(self, pool: asyncpg.Pool, projections: Sequence[InlineProjection] = (),
                 tracer: Tracer | None = None, on_append: Callable[[], None] | None = None,
                 keyring: Keyring | None = None):
        self.pool = pool
        # Seals the personal values of appended events with their review's data key (sealing.py).
        self.keyring = keyring
        self.projections = tuple(projections)
        self.tracer = tracer or NoOpTracer()
        # Told of every append (before its transaction commits): the outbox relay's wake-up.
        self.on_append = on_append

    async def append(
        self,
        connection: Connection,
        stream_id: str,
        expected_version: int,
        events: Sequence[NewEvent],
        metadata: EventMetadata,
        prior: PriorState | None = None,
    ) -> list[RecordedEvent]:
        """Append `events` after `expected_version` inside the caller's transaction, in a span
        whose trace context the events record (the relay's publish continues that trace).
        `prior`: the stream's state at `expected_version`, for its snapshot projection."""
        if not events:
            return await self._append(connection, stream_id, expected_version, events, metadata)
        with appending(self.tracer, events, metadata) as traced:
            return await self._append(connection, stream_id, expected_version, events, traced,
                                      prior)

    async def _append(
        self,
        connection: Connection,
        stream_id: str,
        expected_version: int,
        events: Sequence[NewEvent],
        metadata: EventMetadata,
        prior: PriorState | None = None,
    ) -> list[RecordedEvent]:
        """Append `events` after `expected_version` inside the caller's transaction.

        The insert must be the transaction's first write: its xid is then taken after every
        earlier version of the stream committed, which keeps each stream in order for the relay.
        One statement checks the version and inserts (a round trip fewer than a separate read):
        a stream not at `expected_version` gets nothing inserted, and a concurrent writer of the
        same versions fails on the unique (stream, version) key.
        """
        if not connection.is_in_transaction():
            raise RuntimeError("append needs a transaction that the caller commits")
        if not events:
            return []
        events, metadata = await self._sealed(connection, events, metadata)
        versions = list(range(expected_version + 1, expected_version + 1 + len(events)))
        try:
            rows = await connection.fetch(
                f"""INSERT INTO events (stream_id, stream_version, event_id, type, schema_version,
                                       data, metadata)
                    SELECT $1, v, e, t, s, d::jsonb, $7::jsonb
                      FROM unnest($2::int[], $3::uuid[], $4::text[], $5::int[], $6::text[])
                           WITH ORDINALITY AS u(v, e, t, s, d, n)
                     WHERE (SELECT coalesce(max(stream_version), 0) FROM events
                             WHERE stream_id = $1) = $8
                     ORDER BY n
                    RETURNING {EVENT_COLUMNS}""",
                stream_id,
                versions,
                [event.event_id for event in events],
                [event.type for event in events],
                [schema_version_of(event.type) for event in events],
                [json.dumps(event.data) for event in events],
                metadata.as_json(),
                expected_version,
            )
        except asyncpg.UniqueViolationError as error:
            if error.constraint_name == "events_stream_version_unique":
                raise ConcurrencyError(stream_id, expected_version) from error
            raise
        if not rows:
            actual = await self.stream_version(stream_id, connection)
            raise ConcurrencyError(stream_id, expected_version, actual)
        if self.on_append is not None:
            self.on_append()
        recorded = sorted((RecordedEvent.from_row(row) for row in rows),
                          key=lambda event: event.stream_version)
        await apply_all(connection, self.projections, recorded, prior)
        return recorded

    async def _sealed(self, connection: Connection, events: Sequence[NewEvent],
                      metadata: EventMetadata) -> tuple[Sequence[NewEvent], EventMetadata]:
        """The events with their personal values sealed by the review's (the subject's) data
        key, and the metadata naming that key. Raises PersonalDataErased when the review's
        personal data was erased and an event would record some."""
        if self.keyring is None:
            return events, metadata
        if any(needs_sealing(event.type, event.data) for event in events):
            key = await self.keyring.sealing_key(connection, metadata.subject)
            events = [replace(event, data=seal_data(event.type, event.data, key))
                      for event in events]
        key_ids = set().union(*(data_key_ids(event.type, event.data) for event in events))
        if len(key_ids) == 1:
            metadata = replace(metadata, data_key_id=key_ids.pop())
        return events, metadata

    async def stream_version(
        self, stream_id: str, connection: Connection | None = None
    ) -> int:
        """The version of the stream's last event; 0 when it has none."""
        executor = connection or self.pool
        version = await executor.fetchval(
            "SELECT coalesce(max(stream_version), 0) FROM events WHERE stream_id = $1", stream_id
        )
        return int(version)

    async def read_stream(
        self,
        stream_id: str,
        from_version: int = 1,
        connection: Connection | None = None,
    ) -> list[RecordedEvent]:
        """Every event of one stream from `from_version`, in stream order."""
        executor = connection or self.pool
        rows = await executor.fetch(
            f"""SELECT {EVENT_COLUMNS} FROM events
                 WHERE stream_id = $1 AND stream_version >= $2
                 ORDER BY stream_version""",
            stream_id,
            from_version,
        )
        return [RecordedEvent.from_row(row) for row in rows]

    async def read_all(
        self,
        after_position: int = 0,
        limit: int = 1000,
        connection: Connection | None = None,
    ) -> list[RecordedEvent]:
        """Committed events after a global position, in global position order.

        Positions are assigned at insert, not at commit: a reader that tails this while writers
        are busy can miss a late commit. Use it for replays (rebuilds, exports); the relay
        reads in commit order instead.
        """
        executor = connection or self.pool
        rows = await executor.fetch(
            f"""SELECT {EVENT_COLUMNS} FROM events
                 WHERE global_position > $1 ORDER BY global_position LIMIT $2""",
            after_position,
            limit,
        )
        return [RecordedEvent.from_row(row) for row in rows]

    async def count(self) -> int:
        return int(await self.pool.fetchval("SELECT count(*) FROM events"))
