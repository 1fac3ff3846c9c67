"""`dhr check`: every service's event store against its Kafka topic against the ledger, per
review: events lost, duplicated or out of order (`dhr_platform.consistency`).

An operator's tool, run beside the services: it only reads each service's `events` and
`relay_cursor` tables (the platform's, no domain table), the topics and the ledger. Each
service's store is read from DHR_<SERVICE>_DATABASE_URL when set (as deployments give each
service its own credentials), else from DHR_DATABASE_URL, in the schema named after the service.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import asyncpg

from dhr_oversight.config import OversightSettings
from dhr_platform.consistency import ConsistencyReport, Ledger, LedgerRow, Reaction, Store, check
from dhr_platform.consistency_sources import (
    SourceError,
    committed_offsets,
    mark_consumed,
    read_store,
    read_topic,
)
from dhr_platform.database import Connection

LEDGER_SCHEMA = "oversight"


@dataclass(frozen=True)
class StoreLocation:
    """Where one service keeps its events (schema and relay named after the service) and the
    topic they are published to."""

    service: str
    topic: str
    database_url: str


def service_of_topic(topic: str) -> str:
    """`dhr.panel.events.v1` (or `<prefix>.panel.events.v1`) -> `panel`."""
    parts = topic.split(".")
    if len(parts) < 3 or parts[-2] != "events":
        raise ValueError(f"{topic} is not named <...>.<service>.events.<version>")
    return parts[-3]


def store_locations(settings: OversightSettings, services: Iterable[str] = (),
                    environ: dict[str, str] | None = None) -> list[StoreLocation]:
    """The stores of `services` (by default every service whose topic the ledger consumes)."""
    environ = dict(os.environ) if environ is None else environ
    topics = {service_of_topic(topic): topic for topic in settings.oversight_topics}
    chosen = list(services) or list(topics)
    return [StoreLocation(service, topics.get(service, f"dhr.{service}.events.v1"),
                          environ.get(f"DHR_{service.upper()}_DATABASE_URL",
                                      settings.database_url))
            for service in chosen]


async def read_ledger(connection: Connection, review_id: str | None = None) -> list[LedgerRow]:
    """Every ledger entry (or one review's) with its stream and version, read from the leaf."""
    rows = await connection.fetch(
        f"""SELECT index, event_id::text AS event_id, review_id, topic,
                   leaf ->> 'stream' AS stream_id, (leaf ->> 'streamversion')::int AS version
              FROM (SELECT *, convert_from(leaf_data, 'UTF8')::jsonb AS leaf
                      FROM "{LEDGER_SCHEMA}".ledger
                     WHERE $1::text IS NULL OR review_id = $1) AS entries
             ORDER BY index""", review_id)
    return [LedgerRow(row["index"], row["event_id"], row["review_id"], row["stream_id"],
                      row["version"], row["topic"]) for row in rows]


async def check_system(settings: OversightSettings, locations: Sequence[StoreLocation], *,
                       review_id: str | None = None, reactions: Iterable[Reaction] = (),
                       ) -> ConsistencyReport:
    """Read the stores, then the topics, then the ledger's committed offsets, then the ledger
    (each at least as recent as what it is judged against), and compare them."""
    stores: list[Store] = []
    for location in locations:
        connection = await asyncpg.connect(location.database_url)
        try:
            stores.append(await read_store(connection, location.service, location.topic,
                                           review_id=review_id))
        except asyncpg.UndefinedTableError as error:
            raise SourceError(f"no event store in schema {location.service}: {error}") from error
        finally:
            await connection.close()
    ledger_topics = frozenset(settings.oversight_topics)
    topics = {}
    not_cloudevents = 0
    for topic in dict.fromkeys([*(store.topic for store in stores), *ledger_topics]):
        topics[topic], malformed = await read_topic(settings.kafka_bootstrap, topic,
                                                    review_id=review_id)
        not_cloudevents += malformed
    committed = await committed_offsets(settings.kafka_bootstrap,
                                        settings.oversight_consumer_group)
    topics = {topic: mark_consumed(records, committed) for topic, records in topics.items()}
    connection = await asyncpg.connect(settings.database_url)
    try:
        rows = await read_ledger(connection, review_id)
    finally:
        await connection.close()
    ledger = Ledger(rows, ledger_topics, complete=review_id is None)
    report = check(stores, topics, ledger, reactions)
    report.not_cloudevents = not_cloudevents
    return report
