"""Benchmark: a read model rebuilt from 1,000,000 events, from the event store and from Kafka
(goal from Kafka into PostgreSQL: ≥ 30,000 events/s).

Run alone with `uv run python tests/bench/bench_replay.py [EVENTS]` (a private Kafka and
PostgreSQL are started unless DHR_KAFKA_BOOTSTRAP / DHR_DATABASE_URL are given); `make bench` runs
it inside its own infrastructure. Setup, not timed: the commissioning service's event store
receives EVENTS events (in bulk), each review the whole life the decider gives a published review
(notification to delivery, personal values sealed as the store seals them), and the same events
go to a topic of their own, as the relay publishes them. Timed: `rebuild` of the `reviews` read
model from the store, then `rebuild_from_topic` from the topic (what `dhr-commissioning rebuild
[--from-kafka]` runs). Checked: one row per review, the same table from both.
Prints `figure: replay_store_events_per_s`, `figure: replay_kafka_events_per_s`,
`figure: peak_rss_mb_commissioning_replay` (the process that replays) and
`figure: peak_rss_mb_commissioning_replay_worker` (the largest of its worker processes).
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from confluent_kafka import Producer

from dhr_commissioning.__main__ import MIGRATIONS
from dhr_commissioning.projections import ReviewsProjection
from dhr_local.postgres import create_database
from dhr_platform.commands import new_event
from dhr_platform.database import create_pool, migrate, platform_migrations
from dhr_platform.envelopes import to_envelope
from dhr_platform.eventstore import EventStore, RecordedEvent, schema_version_of
from dhr_platform.kafka import ensure_topics
from dhr_platform.projections import rebuild, rebuild_from_topic, table_checksum
from dhr_platform.sealing import DataKey, seal_data

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit" / "commissioning"))
from commissioning_givens import REVIEW_ID, a_published_report

START = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)
CHUNK = 20_000


def template() -> list[tuple[str, str]]:
    """(type, data as JSON text) of a published review's events, its review id a placeholder."""
    events = [new_event(payload) for payload in a_published_report()]
    return [(event.type, json.dumps(event.data).replace(str(REVIEW_ID), "{review}"))
            for event in events]


def reviews_events(first_review: int, reviews: int, steps: list[tuple[str, str]]
                   ) -> list[RecordedEvent]:
    """The events of reviews number `first_review` onwards, as the store records them."""
    made = []
    for number in range(first_review, first_review + reviews):
        review_id = str(uuid.UUID(int=number + 1, version=4))
        key = DataKey(uuid.uuid4(), review_id, os.urandom(32))
        for version, (event_type, text) in enumerate(steps, start=1):
            data = seal_data(event_type, json.loads(text.replace("{review}", review_id)), key)
            made.append(RecordedEvent(
                global_position=0, stream_id=f"review-{review_id}", stream_version=version,
                event_id=uuid.uuid4(), type=event_type, schema_version=schema_version_of(event_type),
                data=data, recorded_at=START + timedelta(minutes=number, seconds=version),
                metadata={"subject": review_id, "actor": "rm-leeds",
                          "correlation_id": str(uuid.uuid4()), "causation_id": None,
                          "traceparent": None, "data_key_id": str(key.key_id)}))
    return made


def figure(name: str, value: float, unit: str) -> None:
    print(f"figure: {name} {value:.1f} {unit}", flush=True)


async def bench_replay(bootstrap: str, database_url: str, count: int = 1_000_000) -> None:
    suffix = uuid.uuid4().hex[:8]
    topic = f"dhr.commissioning.events.v1.bench-{suffix}"
    await ensure_topics(bootstrap, [topic], partitions=3, replication_factor=1)
    url = await asyncio.to_thread(create_database, database_url, f"bench_replay_{suffix}")
    pool = await create_pool(url, "commissioning", max_size=4)
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 50, "acks": 1,
                         "batch.size": 1 << 20, "queue.buffering.max.messages": 1_000_000})
    try:
        await migrate(pool, "commissioning", [platform_migrations(), MIGRATIONS])
        steps = template()
        reviews = count // len(steps)
        count = reviews * len(steps)
        started = time.perf_counter()
        per_chunk = max(1, CHUNK // len(steps))
        for first in range(0, reviews, per_chunk):
            events = reviews_events(first, min(per_chunk, reviews - first), steps)
            await pool.execute(
                """INSERT INTO events (stream_id, stream_version, event_id, type, schema_version,
                                       data, metadata, recorded_at)
                   SELECT s, v, e, t, n, d::jsonb, m::jsonb, r
                     FROM unnest($1::text[], $2::int[], $3::uuid[], $4::text[], $5::int[],
                                 $6::text[], $7::text[], $8::timestamptz[])
                          AS u(s, v, e, t, n, d, m, r)""",
                [e.stream_id for e in events], [e.stream_version for e in events],
                [e.event_id for e in events], [e.type for e in events],
                [e.schema_version for e in events], [json.dumps(e.data) for e in events],
                [json.dumps(e.metadata) for e in events], [e.recorded_at for e in events])
            for event in events:
                envelope = to_envelope(event, "/dhr/commissioning")
                while True:
                    try:
                        producer.produce(topic, envelope.kafka_value(),
                                         key=envelope.subject.encode(),
                                         headers=envelope.kafka_headers())
                        break
                    except BufferError:
                        producer.poll(0.1)
                producer.poll(0)
        producer.flush(120)
        print(f"stored and published {count} events of {reviews} reviews in "
              f"{time.perf_counter() - started:.1f} s", flush=True)

        store = EventStore(pool, [ReviewsProjection()])
        timings = {}
        checksums = {}
        for name, replay in (("replay_store_events_per_s", lambda: rebuild(store)),
                             ("replay_kafka_events_per_s",
                              lambda: rebuild_from_topic(store, bootstrap, topic))):
            load = os.getloadavg()[0]
            started = time.perf_counter()
            replayed = await replay()
            timings[name] = elapsed = time.perf_counter() - started
            rows = await pool.fetchval("SELECT count(*) FROM reviews")
            checksums[name] = await table_checksum(pool, "reviews", "review_id")
            print(f"{name}: {replayed} events into {rows} rows in {elapsed:.1f} s "
                  f"(load average {load:.2f} before)", flush=True)
            assert replayed == count, f"replayed {replayed}, not {count}"
            assert rows == reviews, f"{rows} rows, not {reviews}"
        assert len(set(checksums.values())) == 1, "the two rebuilds differ"
        for name, elapsed in timings.items():
            figure(name, count / elapsed, "events/s")
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        figure("peak_rss_mb_commissioning_replay", peak, "MB")
        # The largest of the processes that folded the topic (each holds its streams' states).
        workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        figure("peak_rss_mb_commissioning_replay_worker", workers, "MB")
    finally:
        await pool.close()


def main() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from run import infrastructure

    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    with infrastructure() as (bootstrap, database_url):
        asyncio.run(bench_replay(bootstrap, database_url, count))


if __name__ == "__main__":
    main()
