"""What the decider property tests share: their settings, the run of one command against a
decider, and an event's way through the event store and Kafka.

Each `tests/unit/<service>/test_<service>_decider_properties.py` drives a decider with a
`hypothesis.stateful.RuleBasedStateMachine` built on `DeciderMachine`: every accepted command's
events are folded into the state, every refused one must raise the domain's error and record
nothing, and after every step the state must equal the fold of the whole history, and the read
model, kept as a projection keeps it from the events read back through the event store and Kafka,
must read back as the same state. `--hypothesis-show-statistics` shows which commands each run
accepted and refused, and how far the aggregate got.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any, Generic, TypeVar
from uuid import UUID, uuid5

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine
from pydantic import BaseModel

from dhr_contracts.base import EventPayload
from dhr_contracts.envelope import Envelope
from dhr_contracts.errors import DomainError
from dhr_contracts.registry import parse_payload
from dhr_platform.commands import Decider, new_event, payload_of
from dhr_platform.envelopes import to_envelope
from dhr_platform.eventstore import RecordedEvent

Item = TypeVar("Item")
State = TypeVar("State", bound=BaseModel)
Command = TypeVar("Command", bound=BaseModel)

# Deterministic by default: `derandomize=True` seeds each machine from a hash of its test, so every
# run, in CI and on a laptop, tries the same command sequences. A red build then always means the
# code changed, never an unlucky draw, and the failure it prints replays exactly anywhere.
# (`database=None` alone would only stop saving failures between runs: the draws would still be
# random and CI could fail on a change that did not cause it. derandomize implies database=None.)
# No deadline and no too_slow health check: this runs on a shared 2-core machine whose timing
# says nothing about the deciders. To search further than CI does, set DHR_HYPOTHESIS_EXPLORE=1:
# random draws, ten times the examples, and failures kept in .hypothesis/ to replay.
_EXPLORE = bool(os.environ.get("DHR_HYPOTHESIS_EXPLORE"))


def decider_settings(max_examples: int, stateful_step_count: int = 30) -> settings:
    """Settings for one decider's state machine (see the note above on determinism)."""
    if _EXPLORE:
        return settings(max_examples=max_examples * 10, stateful_step_count=stateful_step_count,
                        deadline=None, suppress_health_check=[HealthCheck.too_slow])
    return settings(max_examples=max_examples, stateful_step_count=stateful_step_count,
                    derandomize=True, deadline=None, print_blob=True,
                    suppress_health_check=[HealthCheck.too_slow])


# Which existing thing (a meeting, a request, a person...) a command names; UNKNOWN names one
# that does not exist (see DeciderMachine.pick).
UNKNOWN = 4
WHICH = st.sampled_from(range(UNKNOWN + 1))


# ---------------------------------------------------------------------- through the event store

_NAMESPACE = UUID("0d1b7c52-52c4-4c43-9d55-3a0a7c1f5e90")
_RECORDED_AT = datetime(2026, 1, 1, tzinfo=UTC)


def over_the_wire(payload: EventPayload, *, stream_id: str, subject: str, version: int,
                  source: str) -> EventPayload:
    """The payload after the way every event takes: serialised for the event store
    (`new_event`), kept as JSON (jsonb), published as a CloudEvent in Kafka binary mode, received,
    and parsed back by its type name (`parse_payload`, upcasting included). Also parsed straight
    from the store, as the projections and `Aggregates.load` do; both must agree."""
    new = new_event(payload)
    assert new.type == payload.event_type
    stored = RecordedEvent(
        global_position=version, stream_id=stream_id, stream_version=version,
        event_id=uuid5(_NAMESPACE, f"{stream_id}/{version}"), type=new.type,
        schema_version=1, data=json.loads(json.dumps(new.data)),
        metadata={"subject": subject, "actor": "property-test",
                  "correlation_id": str(uuid5(_NAMESPACE, stream_id)), "causation_id": None},
        recorded_at=_RECORDED_AT)
    from_store = payload_of(stored)
    envelope = to_envelope(stored, source)
    received = Envelope.from_kafka(envelope.kafka_headers(), envelope.kafka_value())
    assert received == envelope, "the CloudEvent changed on its way through Kafka"
    assert (received.stream, received.streamversion, received.subject) == (stream_id, version,
                                                                          subject)
    from_kafka = parse_payload(received.type, received.data)
    assert from_kafka == from_store, "Kafka and the event store disagree on the event"
    return from_kafka


# ------------------------------------------------------------------------------- the base machine


class DeciderMachine(RuleBasedStateMachine, Generic[Command, State]):
    """A decider under test: its history, the state evolved event by event, and the read model
    a projection would keep, which must always agree with the fold of the history.

    Subclasses set the decider (its `initial_state`, `decide` and `evolve`), the domain's error
    class, the stream, and call `attempt` or `refuse` from their rules; `check_step` lets them
    assert the domain's own rules about each accepted step.
    """

    decider: Decider[Command, State]
    domain_error: type[DomainError] = DomainError
    source: str = "/dhr/test"
    start: date = date(2025, 1, 1)

    def __init__(self) -> None:
        super().__init__()
        self.history: list[EventPayload] = []
        self.state: State = self.decider.initial_state()
        # The read model as a projection keeps it: evolved one received event at a time from
        # the JSON it stored for the previous event.
        self.read_model: dict[str, Any] = self.state.model_dump(mode="json")
        self.clock = type(self).start

    def day(self, offset: int) -> date:
        """A date `offset` days from the latest date used so far, which it moves on to.

        Rules draw small offsets, mostly ahead and sometimes behind, so that commands come in
        the order of a real review most of the time (and reach its later stages) while dates
        out of order still come up."""
        day = self.clock + timedelta(days=offset)
        self.clock = max(self.clock, day)
        return day

    @staticmethod
    def pick(existing: Sequence[Item], which: int, pool: Sequence[Item]) -> Item:
        """One of `existing` (`which` drawn from `WHICH`), or, for the last value of `which` or
        when there is none, the first of `pool` that is not among them: an id the decider does
        not know. Rules that name something so reach it most of the time, and sometimes name
        what does not exist."""
        if existing and which < UNKNOWN:
            return existing[which % len(existing)]
        return next(item for item in pool if item not in existing)

    # Subclasses name the stream and its subject (the Kafka key).
    def stream(self) -> tuple[str, str]:
        raise NotImplementedError

    def attempt(self, command: Command) -> list[EventPayload] | None:
        """Run `command` against the current state: the events it recorded (already folded in),
        or None when the domain refused it, which must leave the state and history alone.

        Any exception but the domain's error fails the test: a decider refuses with its error,
        never with a crash (a ValidationError, a KeyError, an assertion)."""
        before, length = self.state, len(self.history)
        try:
            events = list(self.decider.decide(command, self.state))
        except self.domain_error as error:
            refusal: DomainError | None = error
        else:
            refusal = None
        if refusal is not None:
            assert isinstance(refusal.message, str) and refusal.message.strip()
            assert self.state is before and len(self.history) == length
            event(f"refused: {type(command).__name__} ({type(refusal).__name__})")
            return None
        for payload in events:
            assert isinstance(payload, EventPayload)
            self._record(payload)
        assert len(self.history) == length + len(events)  # the version moves by the events
        event(f"accepted: {type(command).__name__}" + ("" if events else " (nothing new)"))
        self.check_step(command, before, events, self.state)
        return events

    def refuse(self, command: Command, expected: type[DomainError] | None = None) -> None:
        """`command` must be refused (with `expected`, when given), recording nothing."""
        before, length = self.state, len(self.history)
        try:
            events = self.decider.decide(command, self.state)
        except self.domain_error as error:
            refusal: DomainError | None = error
        else:
            refusal = None
        assert refusal is not None, (
            f"{type(command).__name__} should be refused, but recorded {events}")
        if expected is not None:
            assert isinstance(refusal, expected), f"refused with {refusal!r}, not {expected}"
        assert self.state is before and len(self.history) == length
        event(f"refused: {type(command).__name__} ({type(refusal).__name__})")

    def check_step(self, command: Command, before: State, events: Sequence[EventPayload],
                   after: State) -> None:
        """The domain's own rules about one accepted step (override)."""

    def _record(self, payload: EventPayload) -> None:
        stream_id, subject = self.stream()
        version = len(self.history) + 1
        self.history.append(payload)
        self.state = self.decider.evolve(self.state, payload)
        received = over_the_wire(payload, stream_id=stream_id, subject=subject, version=version,
                                 source=type(self).source)
        assert received == payload, f"{payload.event_type} lost information on its way: {received}"
        self.read_model = self.decider.evolve(
            type(self.state).model_validate(self.read_model), received).model_dump(mode="json")

    def check_folds(self) -> None:
        """The state equals the fold of the whole history, and the read model, evolved from its
        own JSON one received event at a time, reads back as the same state. (Each received
        event equals the one decided, checked as it is recorded, so the fold of the received
        history is the same fold.) Called by each subclass's invariant."""
        assert self.decider.fold(self.history) == self.state
        assert type(self.state).model_validate(self.read_model) == self.state
