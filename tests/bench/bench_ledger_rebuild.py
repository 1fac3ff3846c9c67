"""Benchmark: `dhr rebuild` of the oversight ledger from 1,000,000 events on Kafka (goal ≥ 30,000
events/s).

Run alone with `uv run python tests/bench/bench_ledger_rebuild.py [EVENTS]` (a private Kafka and
PostgreSQL are started unless DHR_KAFKA_BOOTSTRAP / DHR_DATABASE_URL are given); `make bench` runs
it inside its own infrastructure. Setup, not timed: four fresh service topics of three partitions
receive EVENTS realistic CloudEvents in binary mode, ~20 per review over 50,000 reviews. Timed:
`rebuild_ledger` (what `dhr rebuild` runs) from offset zero into an empty ledger, then again
against the ledger it wrote (every entry checked against its recorded coordinates and hash).
Checked and printed: the tree size, and the root against one computed independently from the
produced events in the rebuild's documented order (event time, topic, partition, offset).
Prints `figure: ledger_rebuild_events_per_s <value> events/s` and
`figure: ledger_rebuild_verify_events_per_s <value> events/s`.
"""

from __future__ import annotations

import asyncio
import io
import os
import random
import sys
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.structs import RecordMetadata

from dhr_contracts.envelope import Envelope
from dhr_local.postgres import create_database
from dhr_oversight.config import SERVICE_EVENT_TOPICS, OversightSettings
from dhr_oversight.ledger import event_leaf_data, leaf_hash, root_from_leaf_hashes
from dhr_oversight.rebuild import rebuild_ledger
from dhr_platform.kafka import ensure_topics

REVIEWS = 50_000
START = datetime(2024, 1, 8, 9, 0, tzinfo=UTC)

# Per service: event types in the order a review goes through them, with a payload builder.
AREAS = ("Leeds", "York", "Norfolk", "Bristol", "Camden", "Cardiff", "Kent", "Cumbria")
AGENCIES = ("West Yorkshire Police", "Leeds Teaching Hospitals NHS Trust", "Adult Social Care",
            "Probation Service", "Leeds Women's Aid", "GP practice")


def _cipher(rng: random.Random, size: int) -> str:
    return "ciphertext:v1:" + rng.randbytes(size).hex()


def _payload(service: str, step: int, review_id: str, rng: random.Random) -> tuple[str, dict[str, Any]]:
    """A realistic payload for the review's `step`-th event of `service`."""
    base: dict[str, Any] = {"review_id": review_id}
    day = f"2024-{1 + step % 12:02d}-{1 + rng.randrange(28):02d}"
    if service == "commissioning":
        kind = ("NotificationReceived", "EligibilityAssessed", "ReviewCommissioned", "ChairAppointed",
                "ReviewPaused", "ReviewResumed")[step % 6]
        if kind == "NotificationReceived":
            base.update(received_at=f"{day}T10:15:00Z", notifying_agency=rng.choice(AGENCIES),
                        date_of_death=day, csp_learned_on=day, csp_area=rng.choice(AREAS),
                        victim_age=rng.randrange(16, 90), suspect_relationship="intimate_partner",
                        circumstances="homicide", prior_agency_contact="yes",
                        victim_name=_cipher(rng, 24), suspect_name=_cipher(rng, 24),
                        decision_due_months=1, decision_due_on=day)
        else:
            base.update(decided_on=day, note=_cipher(rng, 40), decision_due_on=day,
                        completion_due_on=day)
    elif service == "panel":
        kind = ("MemberAdded", "MeetingScheduled", "MeetingHeld", "ChronologyRequested",
                "ChronologyReceived", "MemberAdded")[step % 6]
        base.update(agency=rng.choice(AGENCIES), member_id=str(uuid.UUID(int=rng.getrandbits(128))),
                    role="panel member", on=day, minutes=_cipher(rng, 64))
    elif service == "learning":
        kind = ("ThemeIdentified", "DraftSubmitted", "QualityAssured", "ReportPublished")[step % 4]
        base.update(theme=rng.choice(("coercive control", "risk assessment", "information sharing")),
                    summary="Agencies did not share what they knew about the escalation of "
                            "controlling behaviour in the months before the death.",
                    version=step, on=day)
    else:
        kind = ("RecommendationMade", "ResponseReceived", "ActionCompleted", "ActionOverdue")[step % 4]
        base.update(recommendation_id=str(uuid.UUID(int=rng.getrandbits(128))),
                    agency=rng.choice(AGENCIES), due_on=day, status="open",
                    text="Train frontline staff to recognise and record coercive control.")
    return f"dhr.{service}.{kind}.v1", base


def review_ids(seed: int = 6) -> list[str]:
    rng = random.Random(seed)
    return [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(REVIEWS)]


def realistic_events(first: int, count: int, reviews: list[str]) -> list[tuple[str, Envelope]]:
    """Events number `first` to `first + count - 1` as (service, envelope): the n-th event is the
    (n // REVIEWS)-th of review n % REVIEWS, on one of the four services."""
    rng = random.Random(first)
    services = ("commissioning", "panel", "learning", "recommendations")
    events = []
    for number in range(first, first + count):
        review_id = reviews[number % REVIEWS]
        step = number // REVIEWS
        service = services[(step + number) % 4] if step else "commissioning"
        event_type, data = _payload(service, step, review_id, rng)
        moment = START + timedelta(days=(number % REVIEWS) // 200, hours=step,
                                   microseconds=rng.randrange(60_000_000))
        events.append((service, Envelope(
            id=uuid.UUID(int=rng.getrandbits(128), version=4), source=f"/dhr/{service}",
            type=event_type, subject=review_id, time=moment, stream=f"{service}-{review_id}",
            streamversion=step + 1, correlationid=uuid.UUID(int=rng.getrandbits(128), version=4),
            causationid=uuid.UUID(int=rng.getrandbits(128), version=4) if step else None,
            actor=f"user:{rng.choice(('review-manager-leeds', 'chair-17', 'csp-officer-3'))}",
            traceparent=f"00-{rng.getrandbits(128):032x}-{rng.getrandbits(64):016x}-01",
            data=data)))
    return events


_REVIEWS = review_ids()
Keyed = tuple[datetime, int, int, int, bytes]  # time, topic rank, partition, offset, leaf hash
CHUNK = 10_000


async def _send_share(bootstrap: str, topics: dict[str, str], count: int, share: int,
                      shares: int) -> list[Keyed]:
    """Publish every `shares`-th chunk of events from chunk number `share`; each one keyed for
    the rebuild's documented order, with its leaf hash computed by the reference path (the
    pydantic JSON form, pure-Python RFC 8785), not the rebuild's."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, client_id=f"bench-ledger-{share}",
                                acks=1, linger_ms=50, max_batch_size=1 << 20,
                                max_request_size=4 << 20)
    await producer.start()
    rank = {topic: position for position, topic in enumerate(topics.values())}
    keyed: list[Keyed] = []
    sent: list[tuple[asyncio.Future[RecordMetadata], datetime, int, bytes]] = []
    try:
        for first in range(share * CHUNK, count, shares * CHUNK):
            sending = []
            for service, event in realistic_events(first, min(CHUNK, count - first), _REVIEWS):
                topic = topics[service]
                future = await producer.send(topic, event.kafka_value(),
                                             key=event.subject.encode(),
                                             headers=event.kafka_headers())
                expected = leaf_hash(event_leaf_data(event.model_dump(mode="json",
                                                                      exclude_none=True)))
                sending.append((future, event.time, rank[topic], expected))
            # The previous chunk is acknowledged by now: no stall between chunks.
            for future, moment, topic_rank, expected in sent:
                metadata = await future
                keyed.append((moment, topic_rank, metadata.partition, metadata.offset, expected))
            sent = sending
        await producer.flush()
        for future, moment, topic_rank, expected in sent:
            metadata = await future
            keyed.append((moment, topic_rank, metadata.partition, metadata.offset, expected))
    finally:
        await producer.stop()
    return keyed


def send_share(bootstrap: str, topics: dict[str, str], count: int, share: int,
               shares: int) -> list[Keyed]:
    return asyncio.run(_send_share(bootstrap, topics, count, share, shares))


async def produce(bootstrap: str, topics: dict[str, str], count: int, shares: int = 2) -> bytes:
    """Publish `count` events from `shares` processes; return the root of their ledger in the
    rebuild's documented order, computed here independently (level-by-level MTH)."""
    loop = asyncio.get_running_loop()
    with ProcessPoolExecutor(shares) as pool:
        parts = await asyncio.gather(*(
            loop.run_in_executor(pool, send_share, bootstrap, topics, count, share, shares)
            for share in range(shares)))
    keyed = sorted(entry for part in parts for entry in part)
    return root_from_leaf_hashes([entry[-1] for entry in keyed])


def figure(name: str, value: float, unit: str) -> None:
    print(f"figure: {name} {value:.1f} {unit}", flush=True)


async def bench_ledger_rebuild(bootstrap: str, database_url: str, count: int = 1_000_000) -> None:
    suffix = uuid.uuid4().hex[:8]
    topics = {topic.split(".")[1]: f"{topic}.bench-{suffix}" for topic in SERVICE_EVENT_TOPICS}
    await ensure_topics(bootstrap, topics.values(), partitions=3, replication_factor=1)
    url = await asyncio.to_thread(create_database, database_url, f"bench_ledger_{suffix}")
    settings = OversightSettings(database_url=url, kafka_bootstrap=bootstrap, environment="test",
                                 oversight_topics=tuple(topics.values()))
    started = time.perf_counter()
    expected_root = await produce(bootstrap, topics, count)
    print(f"produced {count} events on {len(topics)} topics in "
          f"{time.perf_counter() - started:.1f} s", flush=True)

    quiet = io.StringIO()  # the progress bar's lines
    for case, name in (("empty ledger", "ledger_rebuild_events_per_s"),
                       ("verify against the existing ledger",
                        "ledger_rebuild_verify_events_per_s")):
        load = os.getloadavg()[0]
        started = time.perf_counter()
        result = await rebuild_ledger(settings, progress=quiet)
        elapsed = time.perf_counter() - started
        print(f"rebuild ({case}): {result.entries} entries from {result.records} records "
              f"({result.kept_in_recorded_order} kept in recorded order, "
              f"{result.newly_appended} new) in {elapsed:.1f} s, root {result.root.hex()}, "
              f"independent root {expected_root.hex()}, load average {load:.2f} before",
              flush=True)
        assert result.entries == count, f"tree size {result.entries}, not {count}"
        assert result.root == expected_root, "the rebuilt root differs from the independent one"
        figure(name, count / elapsed, "events/s")


def main() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from run import infrastructure

    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    with infrastructure() as (bootstrap, database_url):
        asyncio.run(bench_ledger_rebuild(bootstrap, database_url, count))


if __name__ == "__main__":
    main()
