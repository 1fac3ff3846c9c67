"""Running a decider's command against the event store: load, decide, append."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from dhr_contracts.base import EventPayload
from dhr_contracts.registry import parse_payload
from dhr_platform.database import Connection
from dhr_platform.eventstore import (
    ConcurrencyError,
    EventMetadata,
    EventStore,
    NewEvent,
    PriorState,
    RecordedEvent,
    SnapshotProjection,
)

Command = TypeVar("Command")
State = TypeVar("State")


@dataclass(frozen=True)
class Decider(Generic[Command, State]):
    """The three pure functions of an aggregate (DESIGN §4)."""

    initial_state: Callable[[], State]
    decide: Callable[[Command, State], Sequence[EventPayload]]
    evolve: Callable[[State, EventPayload], State]

    def fold(self, events: Sequence[EventPayload]) -> State:
        state = self.initial_state()
        for event in events:
            state = self.evolve(state, event)
        return state


def payload_of(event: RecordedEvent) -> EventPayload:
    """The typed payload of a stored event (old versions upcast)."""
    return parse_payload(event.type, event.data)


def new_event(payload: EventPayload) -> NewEvent:
    return NewEvent(type=payload.event_type, data=payload.model_dump(mode="json"))


class Aggregates(Generic[Command, State]):
    """Loads an aggregate's state from its stream and appends what its decider decides.

    With `snapshots` (one of the store's inline projections, keeping the decider's state of
    each stream) the state is read from the stream's row there rather than folded from its
    events, and the append hands the projection the state it started from.
    """

    def __init__(self, store: EventStore, decider: Decider[Command, State],
                 snapshots: SnapshotProjection | None = None):
        self.store = store
        self.decider = decider
        self.snapshots = snapshots

    async def load(
        self, stream_id: str, connection: Connection | None = None
    ) -> tuple[State, int]:
        """The current state and version of a stream (version 0: it does not exist)."""
        if self.snapshots is not None and connection is not None:
            found = await self.snapshots.load_state(connection, stream_id)
            if found is not None:
                return found
        events = await self.store.read_stream(stream_id, connection=connection)
        state = self.decider.fold([payload_of(event) for event in events])
        return state, (events[-1].stream_version if events else 0)

    def new(self) -> tuple[State, int]:
        """The state and version of a stream the caller has just named (a fresh id): nothing to
        read; the append still refuses it if the stream exists."""
        return self.decider.initial_state(), 0

    async def execute(
        self,
        connection: Connection,
        stream_id: str,
        command: Command,
        metadata: EventMetadata,
        expected_version: int | None = None,
        loaded: tuple[State, int] | None = None,
    ) -> CommandOutcome:
        """Decide on fresh state and append inside the caller's transaction.

        `expected_version` (from an If-Match header) makes a client's stale view a conflict;
        without it the version just read is expected, so a concurrent writer still conflicts.
        `loaded`: the state and version the caller read (`load`, `new`) in this transaction.
        """
        state, version = loaded if loaded is not None else await self.load(stream_id, connection)
        if expected_version is not None and expected_version != version:
            raise ConcurrencyError(stream_id, expected_version, version)
        payloads = self.decider.decide(command, state)
        prior = (None if self.snapshots is None
                 else PriorState(self.snapshots.name, state, version))
        recorded = await self.store.append(
            connection, stream_id, version, [new_event(p) for p in payloads], metadata, prior
        )
        return CommandOutcome(recorded, recorded[-1].stream_version if recorded else version)

    async def handle(
        self,
        connection: Connection,
        stream_id: str,
        command: Command,
        metadata: EventMetadata,
        expected_version: int | None = None,
        loaded: tuple[State, int] | None = None,
    ) -> list[RecordedEvent]:
        """`execute`, for callers that need only the events recorded."""
        outcome = await self.execute(connection, stream_id, command, metadata, expected_version,
                                     loaded)
        return outcome.recorded


@dataclass(frozen=True)
class CommandOutcome:
    """What a command did: the events it recorded (none when it changed nothing) and the
    stream's version afterwards."""

    recorded: list[RecordedEvent]
    version: int

    @property
    def event_types(self) -> list[str]:
        return [event.type for event in self.recorded]


def event_summary(event: RecordedEvent) -> dict[str, Any]:
    """How one event is shown in an API's event history."""
    return {
        "event_id": str(event.event_id),
        "type": event.type,
        "stream_version": event.stream_version,
        "recorded_at": event.recorded_at.isoformat(),
        "actor": event.metadata.get("actor"),
        "actor_roles": event.metadata.get("actor_roles"),
        "actor_organisation": event.metadata.get("actor_organisation"),
        "correlation_id": event.metadata.get("correlation_id"),
        "data": event.data,
    }
