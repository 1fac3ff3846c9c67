"""Benchmarks of the platform and the commissioning service on the real broker and database.

Run with `make bench`. Uses DHR_KAFKA_BOOTSTRAP / DHR_DATABASE_URL when given, otherwise starts
a private Kafka broker and PostgreSQL server in a temporary directory and stops them at the end.
Every figure is printed on a line of its own as `figure: <name> <value> <unit>`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
from aiokafka import AIOKafkaConsumer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_commands import bench_commands
from bench.bench_ledger_rebuild import bench_ledger_rebuild
from bench.bench_library import bench_library
from bench.bench_propagation import bench_propagation
from bench.bench_replay import bench_replay
from bench.bench_verify import bench_verify
from bench.service_processes import running
from dhr_commissioning.__main__ import build_app, build_runtime
from dhr_commissioning.config import CommissioningSettings
from dhr_local.kafka import LocalKafka
from dhr_local.postgres import LocalPostgres, create_database
from dhr_local.process import free_port
from dhr_platform.database import create_pool, migrate, platform_migrations
from dhr_platform.eventstore import EventMetadata, EventStore, NewEvent
from dhr_platform.kafka import ensure_topics, safe_producer
from dhr_platform.outbox import OutboxRelay
from support.tokens import REVIEW_MANAGER_NORFOLK, TestIssuer


def figure(name: str, value: float, unit: str) -> None:
    print(f"figure: {name} {value:.1f} {unit}", flush=True)


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


@contextlib.contextmanager
def infrastructure() -> Iterator[tuple[str, str]]:
    bootstrap = os.environ.get("DHR_KAFKA_BOOTSTRAP")
    database = os.environ.get("DHR_DATABASE_URL")
    state = Path(tempfile.mkdtemp(prefix="dhr-bench-"))
    state.chmod(0o755)
    kafka = postgres = None
    try:
        if not bootstrap:
            kafka = LocalKafka(state / "kafka", port=free_port(), controller_port=free_port())
            kafka.start()
        if not database:
            postgres = LocalPostgres(state / "postgres", port=free_port())
            postgres.start()
            database = postgres.url
        if kafka is not None:
            kafka.wait_ready()
            bootstrap = kafka.bootstrap
        assert bootstrap and database
        yield bootstrap, database
    finally:
        if kafka is not None:
            kafka.stop()
        if postgres is not None:
            postgres.stop()
        shutil.rmtree(state, ignore_errors=True)


@contextlib.asynccontextmanager
async def store_on(database_url: str) -> AsyncIterator[EventStore]:
    url = await asyncio.to_thread(create_database, database_url, f"bench_{uuid.uuid4().hex[:8]}")
    pool = await create_pool(url, "bench", max_size=20)
    await migrate(pool, "bench", [platform_migrations()])
    try:
        yield EventStore(pool)
    finally:
        await pool.close()


async def bench_append(database_url: str, writers: int = 8, per_writer: int = 500) -> None:
    """Single-event append transactions from concurrent writers, each on its own stream."""
    async with store_on(database_url) as store:
        latencies: list[float] = []

        async def writer(index: int) -> None:
            for version in range(per_writer):
                started = time.perf_counter()
                async with store.pool.acquire() as connection, connection.transaction():
                    await store.append(connection, f"bench-{index}", version,
                                       [NewEvent("dhr.bench.Appended.v1", {"n": version})],
                                       EventMetadata(subject=f"bench-{index}", actor="bench"))
                latencies.append(time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(*(writer(i) for i in range(writers)))
        elapsed = time.perf_counter() - started
        figure("event_store_append_throughput", writers * per_writer / elapsed, "events/s")
        figure("event_store_append_latency_p50", percentile(latencies, 0.50) * 1000, "ms")
        figure("event_store_append_latency_p99", percentile(latencies, 0.99) * 1000, "ms")


async def bench_relay(database_url: str, bootstrap: str, events: int = 20_000) -> None:
    """Drain a backlog of committed events to Kafka; then the append-to-Kafka latency."""
    async with store_on(database_url) as store:
        topic = f"bench.relay.{uuid.uuid4().hex[:8]}"
        await ensure_topics(bootstrap, [topic], partitions=3, replication_factor=1)
        for start in range(0, events, 1000):
            async with store.pool.acquire() as connection, connection.transaction():
                for stream in range(start, start + 1000, 10):
                    await store.append(connection, f"review-{stream}", 0,
                                       [NewEvent("dhr.bench.Appended.v1", {"n": n}) for n in range(10)],
                                       EventMetadata(subject=f"review-{stream}", actor="bench"))
        relay = OutboxRelay(store.pool, lambda: safe_producer(bootstrap, "bench-relay"),
                            name="bench", topic=topic, source="/dhr/bench", batch_size=1000,
                            idle_poll_seconds=0.005)
        started = time.perf_counter()
        while await relay.publish_pending():
            pass
        elapsed = time.perf_counter() - started
        figure("outbox_relay_drain_throughput", events / elapsed, "events/s")

        consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="latest",
                                    group_id=None)
        await consumer.start()
        await consumer.seek_to_end()
        relay_task = asyncio.create_task(relay.run())
        latencies: list[float] = []
        try:
            for index in range(200):
                stream = f"latency-{index}"
                started = time.perf_counter()
                async with store.pool.acquire() as connection, connection.transaction():
                    await store.append(connection, stream, 0, [NewEvent("dhr.bench.Appended.v1", {})],
                                       EventMetadata(subject=stream, actor="bench"))
                while True:
                    record = await asyncio.wait_for(consumer.getone(), timeout=10)
                    if record.key == stream.encode():
                        break
                latencies.append(time.perf_counter() - started)
        finally:
            relay.stop()
            await relay_task
            await consumer.stop()
        figure("commit_to_kafka_latency_p50", percentile(latencies, 0.50) * 1000, "ms")
        figure("commit_to_kafka_latency_p99", percentile(latencies, 0.99) * 1000, "ms")


async def bench_http(database_url: str, bootstrap: str, requests: int = 1000, clients: int = 8) -> None:
    """POST /reviews through the full HTTP stack (bearer token, validation, decider, append,
    read model)."""
    url = await asyncio.to_thread(create_database, database_url, f"bench_{uuid.uuid4().hex[:8]}")
    tokens = TestIssuer(Path(tempfile.mkdtemp(prefix="dhr-bench-issuer-")))
    settings = CommissioningSettings(database_url=url, kafka_bootstrap=bootstrap, environment="test",
                                     **tokens.settings())
    now = datetime(2026, 3, 2, tzinfo=UTC)
    runtime = build_runtime(settings, clock=lambda: now)
    app = build_app(settings, clock=lambda: now, runtime=runtime)
    body = {"notifying_agency": "Police", "date_of_death": "2026-02-10",
            "csp_learned_on": "2026-02-12", "csp_area": "Norfolk", "victim_age": 40,
            "suspect_relationship": "relative", "circumstances": "homicide",
            "prior_agency_contact": "yes"}
    latencies: list[float] = []
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench",
                                     headers=tokens.headers(REVIEW_MANAGER_NORFOLK)) as client:
            async def client_loop(count: int) -> None:
                for _ in range(count):
                    started = time.perf_counter()
                    response = await client.post("/reviews", json=body)
                    assert response.status_code == 201, response.text
                    latencies.append(time.perf_counter() - started)

            started = time.perf_counter()
            await asyncio.gather(*(client_loop(requests // clients) for _ in range(clients)))
            elapsed = time.perf_counter() - started
    figure("http_notify_death_throughput", len(latencies) / elapsed, "requests/s")
    figure("http_notify_death_latency_p50", statistics.median(latencies) * 1000, "ms")
    figure("http_notify_death_latency_p99", percentile(latencies, 0.99) * 1000, "ms")


async def bench_service_processes(bootstrap: str, database_url: str) -> None:
    """The commissioning and panel services as processes: propagation between them, then
    commands on commissioning alone (the panel stopped, so that it does not compete for the
    cores); each one's peak RSS over what it took part in."""
    url = await asyncio.to_thread(create_database, database_url, f"bench_{uuid.uuid4().hex[:8]}")
    with tempfile.TemporaryDirectory(prefix="dhr-bench-logs-") as logs:
        async with running(["commissioning", "panel"], url, bootstrap, Path(logs)) as fleet:
            await bench_propagation(fleet, url)
            fleet.stop("panel")
            await bench_commands(database_url, fleet["commissioning"])


async def main(bootstrap: str, database_url: str) -> None:
    await bench_append(database_url)
    await bench_relay(database_url, bootstrap)
    await bench_http(database_url, bootstrap)
    await bench_service_processes(bootstrap, database_url)
    await bench_library(database_url)
    await bench_ledger_rebuild(bootstrap, database_url)
    await bench_replay(bootstrap, database_url)


if __name__ == "__main__":
    with infrastructure() as (kafka_bootstrap, postgres_url):
        asyncio.run(main(kafka_bootstrap, postgres_url))
    bench_verify()  # the oversight bundle verifier needs no servers
