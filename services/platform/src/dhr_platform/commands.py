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
    RecordedEvent,
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
    """Loads an aggregate's state from its stream and appends what its decider decides."""

    def __init__(self, store: EventStore, decider: Decider[Command, State]):
        self.store = store
        self.decider = decider

    async def load(
        self, stream_id: str, connection: Connection | None = None
    ) -> tuple[State, int]:
        """The current state and version of a stream (version 0: it does not exist)."""
        events = await self.store.read_stream(stream_id, connection=connection)
        state = self.decider.fold([payload_of(event) for event in events])
        return state, (events[-1].stream_version if events else 0)

    async def execute(
        self,
        connection: Connection,
        stream_id: str,
        command: Command,
        metadata: EventMetadata,
        expected_version: int | None = None,
    ) -> CommandOutcome:
        """Decide on fresh state and append inside the caller's transaction.

        `expected_version` (from an If-Match header) makes a client's stale view a conflict;
        without it the version just read is expected, so a concurrent writer still conflicts.
        """
        state, version = await self.load(stream_id, connection)
        if expected_version is not None and expected_version != version:
            raise ConcurrencyError(stream_id, expected_version, version)
        payloads = self.decider.decide(command, state)
        recorded = await self.store.append(
            connection, stream_id, version, [new_event(p) for p in payloads], metadata
        )
        return CommandOutcome(recorded, recorded[-1].stream_version if recorded else version)

    async def handle(
        self,
        connection: Connection,
        stream_id: str,
        command: Command,
        metadata: EventMetadata,
        expected_version: int | None = None,
    ) -> list[RecordedEvent]:
        """`execute`, for callers that need only the events recorded."""
        outcome = await self.execute(connection, stream_id, command, metadata, expected_version)
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
