"""Benchmark: command throughput and latency of the commissioning service over HTTP, beside the
raw limit of the same PostgreSQL server and the Python `eventsourcing` library doing the same
work (goal at concurrency 16 and 64: at least 2x the library and at least half the raw limit).

The commissioning service runs as a user runs it (`python -m dhr_commissioning`: uvicorn on a
free port, default settings, its outbox relay publishing to Kafka), as two replicas like the Helm
chart's default (DHR_BENCH_REPLICAS), the clients' connections spread over them. Each of
`concurrency` clients sends its next request as soon as the last one was answered, over
keep-alive HTTP/1.1, and every request carries its own `Idempotency-Key`, as an agency system's
would. Two commands:

- the command that creates a stream: `POST /reviews` (notify a death), which validates, decides
  on empty state and appends two events (`NotificationReceived`, `EligibilityAssessed`);
- the load-decide-append on an existing stream: `POST /reviews/{id}/decision-to-commission` on
  a review notified by the first phase, which loads its state, decides and appends
  `ReviewCommissioned` with the expected version.

Both update the `reviews` read model and record the idempotency key in the same transaction;
the second loads the review from its `reviews` row (ADR 0016).
The `commands_*` figures are of the second command; `create_commands_*` of the first.

References, measured in the same run on the same server (each in a database of its own), and
each level in two rounds whose second runs the three in the reverse order, so that the other
users of the machine weigh on all three alike:

- `raw_insert_tx_per_s_c<N>`: the raw limit, N asyncpg connections each committing one
  transaction (BEGIN, one single-event INSERT into an events table like ours, COMMIT) after
  another;
- `eventsourcing_commands_per_s_c<N>`: `eventsourcing_reference.ReviewCases` on N threads
  (the library is synchronous), the same commands through the same decider: load the aggregate
  from its stored events, decide, save.

Run alone with `uv run python tests/bench/bench_commands.py` (a private Kafka and PostgreSQL
are started unless DHR_KAFKA_BOOTSTRAP / DHR_DATABASE_URL are given); `make bench` runs it too.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.eventsourcing_reference import ReviewCases, environment
from bench.service_processes import HttpConnection, Service, figure, percentile, running
from dhr_commissioning import domain
from dhr_local.postgres import create_database, drop_database
from dhr_platform.database import create_pool, migrate, platform_migrations

CONCURRENCY = (1, 16, 64)
RELATIONSHIPS = ("current_intimate_partner", "former_intimate_partner", "relative", "household_member")


def commands_at(concurrency: int) -> int:
    """Enough commands for steady figures within about ten seconds a phase on two cores (in two
    rounds of half as many)."""
    return 300 if concurrency == 1 else 2000


def notification(index: int, today: date) -> dict[str, Any]:
    return {
        "notifying_agency": "Norfolk Constabulary", "date_of_death": str(today - timedelta(10)),
        "csp_learned_on": str(today - timedelta(8)), "csp_area": "Norfolk",
        "victim_age": 18 + index % 70,
        "suspect_relationship": RELATIONSHIPS[index % len(RELATIONSHIPS)],
        "circumstances": "homicide", "prior_agency_contact": "yes",
    }


def decision(today: date) -> dict[str, Any]:
    return {"decided_on": str(today),
            "rationale": "The death meets the statutory criteria: a partner is suspected and "
                         "two agencies knew of the abuse."}


Request = tuple[str, str, dict[str, Any]]


async def closed_loop(service: Service, concurrency: int, requests: Sequence[Request]
                      ) -> tuple[float, list[float], list[Any]]:
    """Send the requests from `concurrency` clients, each waiting for its answer before its
    next request; return the elapsed seconds, every latency and every answer."""
    pending: Iterator[tuple[int, Request]] = iter(enumerate(requests))
    latencies: list[float] = []
    answers: list[Any] = [None] * len(requests)

    async def client(number: int) -> None:
        connection = await HttpConnection.open(service.port_for(number))
        try:
            for index, (method, path, body) in pending:
                started = time.perf_counter()
                status, answer = await connection.request(
                    method, path, body,
                    {**service.headers, "Idempotency-Key": str(uuid.uuid4()), "X-Actor": "bench"})
                latencies.append(time.perf_counter() - started)
                if status not in (200, 201):
                    raise RuntimeError(f"{method} {path}: {status} {answer}")
                answers[index] = answer
        finally:
            connection.close()

    started = time.perf_counter()
    await asyncio.gather(*(client(number) for number in range(concurrency)))
    return time.perf_counter() - started, latencies, answers


@dataclass
class Measured:
    """What one kind of work took, summed over the rounds of a concurrency level."""

    elapsed: float = 0.0
    latencies: list[float] = field(default_factory=list)
    cpu_seconds: float = 0.0

    def add(self, elapsed: float, latencies: list[float], cpu_seconds: float = 0.0) -> None:
        self.elapsed += elapsed
        self.latencies += latencies
        self.cpu_seconds += cpu_seconds


def report(prefix: str, concurrency: int, measured: Measured, unit: str = "commands/s") -> None:
    name = prefix.removesuffix("s")  # commands -> command
    figure(f"{prefix}_per_s_c{concurrency}", len(measured.latencies) / measured.elapsed, unit)
    figure(f"{name}_p50_ms_c{concurrency}", percentile(measured.latencies, 0.50) * 1000, "ms")
    figure(f"{name}_p99_ms_c{concurrency}", percentile(measured.latencies, 0.99) * 1000, "ms")


async def run_commissioning(service: Service, concurrency: int, count: int,
                            created: Measured, decided: Measured) -> None:
    """Notify `count` deaths, then commission each of those reviews; with the server's CPU time,
    which the other users of the machine disturb less than its throughput."""
    today = datetime.now(UTC).date()
    cpu = service.cpu_seconds()
    elapsed, latencies, answers = await closed_loop(
        service, concurrency, [("POST", "/reviews", notification(i, today)) for i in range(count)])
    created.add(elapsed, latencies, service.cpu_seconds() - cpu)
    reviews = [answer["review_id"] for answer in answers]
    cpu = service.cpu_seconds()
    elapsed, latencies, answers = await closed_loop(
        service, concurrency,
        [("POST", f"/reviews/{review}/decision-to-commission", decision(today))
         for review in reviews])
    assert all(answer["events"] == ["dhr.commissioning.ReviewCommissioned.v1"]
               for answer in answers), answers[:3]
    decided.add(elapsed, latencies, service.cpu_seconds() - cpu)


async def run_raw_inserts(database_url: str, concurrency: int, count: int,
                          inserted: Measured) -> None:
    """The raw limit: single-event insert transactions on dedicated connections."""
    name = f"bench_raw_{uuid.uuid4().hex[:8]}"
    url = await asyncio.to_thread(create_database, database_url, name)
    pool = await create_pool(url, "raw", max_size=2)
    await migrate(pool, "raw", [platform_migrations()])
    await pool.close()
    data = json.dumps(notification(0, date(2026, 3, 2)))
    metadata = json.dumps({"actor": "bench", "correlation_id": str(uuid.uuid4())})
    connections = [await asyncpg.connect(url, server_settings={"search_path": "raw"})
                   for _ in range(concurrency)]
    latencies: list[float] = []
    remaining = iter(range(count))

    async def writer(connection: asyncpg.Connection) -> None:
        for index in remaining:
            started = time.perf_counter()
            async with connection.transaction():
                await connection.execute(
                    """INSERT INTO events (stream_id, stream_version, event_id, type,
                                           schema_version, data, metadata)
                       VALUES ($1, 1, $2, 'dhr.bench.Inserted.v1', 1, $3::jsonb, $4::jsonb)""",
                    f"raw-{index}", uuid.uuid4(), data, metadata)
            latencies.append(time.perf_counter() - started)

    try:
        started = time.perf_counter()
        await asyncio.gather(*(writer(connection) for connection in connections))
        inserted.add(time.perf_counter() - started, latencies)
    finally:
        for connection in connections:
            await connection.close()
        await asyncio.to_thread(drop_database, database_url, name)


def _threaded(concurrency: int, work: Sequence[Callable[[], None]]) -> tuple[float, list[float]]:
    latencies: list[float] = []
    lock = threading.Lock()
    pending = iter(work)

    def worker() -> None:
        while True:
            with lock:
                task = next(pending, None)
            if task is None:
                return
            started = time.perf_counter()
            task()
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as executor:
        for future in [executor.submit(worker) for _ in range(concurrency)]:
            future.result()
    return time.perf_counter() - started, latencies


def run_eventsourcing(database_url: str, concurrency: int, count: int, created: Measured,
                      decided: Measured) -> None:
    """The same two commands through the eventsourcing library, on `concurrency` threads."""
    name = f"bench_es_{uuid.uuid4().hex[:8]}"
    create_database(database_url, name)
    server = urlsplit(database_url)
    app = ReviewCases(env=environment(server.hostname or "127.0.0.1", server.port or 5432,
                                      server.username or "postgres", name, concurrency))
    today = datetime.now(UTC).date()
    received_at = datetime.now(UTC)
    try:
        reviews = [uuid.uuid4() for _ in range(count)]
        notifications = [
            domain.ReceiveNotification(review_id=review, received_at=received_at,
                                       **notification(index, today))
            for index, review in enumerate(reviews)]
        created.add(*_threaded(
            concurrency, [lambda command=command: app.open(command) for command in notifications]))
        decisions = [domain.DecideToCommission(review_id=review, **decision(today))
                     for review in reviews]
        decided.add(*_threaded(
            concurrency, [lambda command=command: app.execute(command) for command in decisions]))
    finally:
        app.close()
        drop_database(database_url, name)


async def bench_level(database_url: str, commissioning: Service, concurrency: int) -> None:
    """One concurrency level in two rounds of half the commands, the second in the reverse
    order (service, raw limit, library; then library, raw limit, service), so that a change in
    how busy the machine's other users keep it weighs on all three alike."""
    share = commands_at(concurrency) // 2
    created, decided, inserted = Measured(), Measured(), Measured()
    library_created, library_decided = Measured(), Measured()
    steps: list[Callable[[], Awaitable[None]]] = [
        lambda: run_commissioning(commissioning, concurrency, share, created, decided),
        lambda: run_raw_inserts(database_url, concurrency, share, inserted),
        lambda: asyncio.to_thread(run_eventsourcing, database_url, concurrency, share,
                                  library_created, library_decided),
    ]
    for step in [*steps, *reversed(steps)]:
        await step()
    report("create_commands", concurrency, created)
    figure(f"create_command_server_cpu_ms_c{concurrency}",
           created.cpu_seconds * 1000 / len(created.latencies), "ms")
    report("commands", concurrency, decided)
    figure(f"command_server_cpu_ms_c{concurrency}",
           decided.cpu_seconds * 1000 / len(decided.latencies), "ms")
    figure(f"raw_insert_tx_per_s_c{concurrency}",
           len(inserted.latencies) / inserted.elapsed, "tx/s")
    figure(f"raw_insert_tx_p50_ms_c{concurrency}",
           percentile(inserted.latencies, 0.5) * 1000, "ms")
    report("eventsourcing_create_commands", concurrency, library_created)
    report("eventsourcing_commands", concurrency, library_decided)


async def bench_commands(database_url: str, commissioning: Service,
                         concurrency_levels: Sequence[int] = CONCURRENCY) -> None:
    """Every concurrency level, each after printing the load average."""
    for concurrency in concurrency_levels:
        print(f"concurrency {concurrency}: load average {os.getloadavg()[0]:.1f}", flush=True)
        await bench_level(database_url, commissioning, concurrency)


async def main(bootstrap: str, database_url: str) -> None:
    name = f"bench_commands_{uuid.uuid4().hex[:8]}"
    services_url = await asyncio.to_thread(create_database, database_url, name)
    with tempfile.TemporaryDirectory(prefix="dhr-bench-logs-") as logs:
        async with running(["commissioning"], services_url, bootstrap, Path(logs)) as fleet:
            await bench_commands(database_url, fleet["commissioning"])


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from run import infrastructure

    with infrastructure() as (kafka_bootstrap, postgres_url):
        asyncio.run(main(kafka_bootstrap, postgres_url))
