"""The reference for command throughput: the same review case on the Python `eventsourcing`
library (PyPI `eventsourcing`, PostgreSQL persistence through psycopg 3 with its C speedups).

The aggregate keeps the commissioning decider's own state and folds the decider's own events
with its `evolve`; a command loads the aggregate through the library's repository (every stored
event read and replayed, no cache or snapshot, as our service does), decides with the same
`decide`, and saves the new events through the library's application recorder, whose
notification log is its equivalent of our outbox. So the two differ only in what the libraries
do around the same domain work.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate

from dhr_commissioning import domain
from dhr_contracts.base import EventPayload
from dhr_contracts.registry import parse_payload


class ReviewCase(Aggregate):
    """A review case whose state is the commissioning decider's."""

    class Opened(Aggregate.Created):
        payload_type: str
        payload: dict[str, Any]

    class Recorded(Aggregate.Event):
        payload_type: str
        payload: dict[str, Any]

        def apply(self, aggregate: Any) -> None:
            aggregate.state = domain.evolve(aggregate.state,
                                            parse_payload(self.payload_type, self.payload))

    def __init__(self, payload_type: str, payload: dict[str, Any]) -> None:
        self.state = domain.evolve(domain.initial_state(), parse_payload(payload_type, payload))

    def record(self, payload: EventPayload) -> None:
        self.trigger_event(self.Recorded, payload_type=payload.event_type,
                           payload=payload.model_dump(mode="json"))


class ReviewCases(Application[UUID]):
    """Load, decide, save: one database transaction per save, as the library does it."""

    def open(self, command: domain.ReceiveNotification) -> None:
        first, *rest = domain.decide(command, domain.initial_state())
        case = ReviewCase._create(ReviewCase.Opened, id=command.review_id,
                                  payload_type=first.event_type,
                                  payload=first.model_dump(mode="json"))
        for payload in rest:
            case.record(payload)
        self.save(case)

    def execute(self, command: domain.Command) -> None:
        case: ReviewCase = self.repository.get(command.review_id)
        for payload in domain.decide(command, case.state):
            case.record(payload)
        self.save(case)


def environment(host: str, port: int, user: str, database: str, pool_size: int) -> dict[str, str]:
    """The library's settings for its PostgreSQL persistence, one pooled connection per thread."""
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_HOST": host,
        "POSTGRES_PORT": str(port),
        "POSTGRES_USER": user,
        "POSTGRES_PASSWORD": "",
        "POSTGRES_DBNAME": database,
        "POSTGRES_POOL_SIZE": str(pool_size),
        "POSTGRES_MAX_OVERFLOW": "0",
    }
