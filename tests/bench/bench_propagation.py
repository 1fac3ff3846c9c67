"""Benchmark: end-to-end propagation from a command in commissioning to its effect in the panel
service, at 50 and 200 commands/s (goal: p99 under 250 ms at 200 commands/s).

The command is `POST /reviews/{id}/decision-to-commission`; its `ReviewCommissioned` goes
through the commissioning outbox relay to `dhr.commissioning.events.v1`, where the panel
service's consumer opens the review's panel (`PanelOpened`, inbox and `panels` read model in one
transaction). The effect is visible when the panel's read model has the row, which is what
`GET /panels/{id}` answers from, and its `PanelOpened` event, committed with it; a watcher reads
the panel's new events in commit order every 2 ms (so a latency is at most about 2 ms late, and
later still by however long the oldest transaction then open lasts). Latency runs from the
moment the command was due to be sent, so a server that falls behind is charged for it.

Both services run as a user runs them (`python -m dhr_<service>`, default settings, one
database with a schema each, the private or given Kafka), each as two replicas (the Helm chart's
default; DHR_BENCH_REPLICAS). Before each rate, the reviews are
notified and the benchmark waits until the panel service has consumed their notifications, as
it would have long before a decision. Sending is open-loop: command i leaves at start + i/rate
whether or not earlier ones were answered, each on a free keep-alive connection (a new one when
none is free, up to 64; beyond that a command waits for one, and the wait counts).

Run alone with `uv run python tests/bench/bench_propagation.py` (a private Kafka and PostgreSQL
are started unless DHR_KAFKA_BOOTSTRAP / DHR_DATABASE_URL are given); `make bench` runs it too.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_commands import closed_loop, decision, notification
from bench.service_processes import (
    Fleet,
    HttpConnection,
    Service,
    figure,
    percentile,
    running,
)
from dhr_local.postgres import create_database

RATES = (50, 200)
SECONDS_PER_RATE = 20
WATCH_INTERVAL_SECONDS = 0.002
MAX_CONNECTIONS = 64


async def notified_reviews(commissioning: Service, panel_db: asyncpg.Connection,
                           count: int) -> list[UUID]:
    """Notify `count` deaths and wait until the panel service has seen every notification."""
    today = datetime.now(UTC).date()
    _, _, answers = await closed_loop(
        commissioning, 16, [("POST", "/reviews", notification(i, today)) for i in range(count)])
    reviews = [UUID(answer["review_id"]) for answer in answers]
    deadline = time.monotonic() + 300
    while await panel_db.fetchval(
            "SELECT count(*) FROM commissioning_review_areas WHERE review_id = ANY($1::uuid[])",
            reviews) < count:
        if time.monotonic() > deadline:
            raise RuntimeError("the panel service did not consume the notifications in time")
        await asyncio.sleep(0.5)
    return reviews


# The panel's events in commit order after a cursor, as its outbox relay reads them: only rows of
# transactions older than every open one, so none is passed over by a later poll. Each poll costs
# an index range scan over what is new, however many reviews are still awaited (a query for the
# awaited reviews themselves would load the database more the further the services fall behind).
_COMMITTED_AFTER = """
SELECT tx_id::text AS tx_text, global_position, stream_id FROM events
 WHERE (tx_id, global_position) > ($1::text::xid8, $2::bigint)
   AND tx_id < pg_snapshot_xmin(pg_current_snapshot())
 ORDER BY tx_id, global_position
"""


async def watch(panel_db: asyncpg.Connection, due: dict[UUID, float], seen: dict[UUID, float],
                expected: int) -> None:
    """Note when each review's panel was first seen opened (its `PanelOpened`, committed with
    the `panels` row), until `expected` awaited reviews have been."""
    cursor = await panel_db.fetchrow(
        "SELECT coalesce(max(tx_id), '0')::text AS tx_text, coalesce(max(global_position), 0)"
        " AS global_position FROM events")
    assert cursor is not None
    after = (cursor["tx_text"], cursor["global_position"])
    while len(seen) < expected:
        rows = await panel_db.fetch(_COMMITTED_AFTER, *after)
        now = time.perf_counter()
        for row in rows:
            review = UUID(row["stream_id"].removeprefix("panel-"))
            if review in due and review not in seen:
                seen[review] = now
        if rows:
            after = (rows[-1]["tx_text"], rows[-1]["global_position"])
        await asyncio.sleep(WATCH_INTERVAL_SECONDS)


async def send_open_loop(commissioning: Service, reviews: list[UUID], rate: float,
                         due: dict[UUID, float]) -> list[float]:
    """Send one decision per review at `rate` a second, never waiting for answers; return how
    long each took to be answered (from when it was due).

    At most MAX_CONNECTIONS are open, as a client's connection pool would allow: when the
    service falls behind, commands wait for a connection (the wait counts in their latency)
    rather than opening thousands of sockets that would only slow the service further."""
    idle: list[HttpConnection] = []
    connections = asyncio.Semaphore(MAX_CONNECTIONS)
    opened = itertools.count()  # new connections go to the replicas in turn
    failures: list[str] = []
    answered: list[float] = []
    body = decision(datetime.now(UTC).date())

    async def send(review: UUID) -> None:
        headers = {**commissioning.headers, "Idempotency-Key": str(uuid.uuid4()),
                   "X-Actor": "bench"}
        path = f"/reviews/{review}/decision-to-commission"
        async with connections:
            connection = idle.pop() if idle else await HttpConnection.open(
                commissioning.port_for(next(opened)))
            try:
                status, answer = await connection.request("POST", path, body, headers)
            except (ConnectionError, asyncio.IncompleteReadError):
                # The server closes connections idle past its keep-alive timeout; the retry is
                # safe with the same Idempotency-Key.
                connection.close()
                connection = await HttpConnection.open(commissioning.port_for(next(opened)))
                status, answer = await connection.request("POST", path, body, headers)
            idle.append(connection)
        answered.append(time.perf_counter() - due[review])
        if status != 200:
            failures.append(f"{review}: {status} {answer}")

    started = time.perf_counter()
    tasks = []
    for index, review in enumerate(reviews):
        at = started + index / rate
        await asyncio.sleep(max(0.0, at - time.perf_counter()))
        due[review] = at
        tasks.append(asyncio.create_task(send(review)))
    await asyncio.gather(*tasks)
    for connection in idle:
        connection.close()
    if failures:
        raise RuntimeError(f"{len(failures)} commands failed, e.g. {failures[0]}")
    return answered


async def bench_propagation(fleet: Fleet, services_url: str) -> None:
    commissioning, panel = fleet["commissioning"], fleet["panel"]
    panel_db = await asyncpg.connect(services_url, server_settings={"search_path": "panel"})
    try:
        for rate in RATES:
            print(f"{rate} commands/s: load average {os.getloadavg()[0]:.1f}", flush=True)
            reviews = await notified_reviews(commissioning, panel_db, rate * SECONDS_PER_RATE)
            due: dict[UUID, float] = {}
            seen: dict[UUID, float] = {}
            watcher = asyncio.create_task(watch(panel_db, due, seen, len(reviews)))
            try:
                answered = await send_open_loop(commissioning, reviews, rate, due)
                await asyncio.wait_for(watcher, timeout=300)
            except TimeoutError:
                raise RuntimeError(f"only {len(seen)} of {len(reviews)} panels were open 300 s "
                                   f"after the last command at {rate} commands/s") from None
            finally:
                watcher.cancel()
            latencies = [seen[review] - due[review] for review in reviews]
            print(f"at {rate} commands/s the commands were answered in "
                  f"{percentile(answered, 0.5) * 1000:.1f} ms (p50), "
                  f"{percentile(answered, 0.99) * 1000:.1f} ms (p99)", flush=True)
            figure(f"e2e_p50_ms_{rate}rps", percentile(latencies, 0.50) * 1000, "ms")
            figure(f"e2e_p99_ms_{rate}rps", percentile(latencies, 0.99) * 1000, "ms")
        connection = await HttpConnection.open(panel.port_for(0))
        try:
            status, answer = await connection.request("GET", f"/panels/{reviews[-1]}",
                                                      headers=panel.headers)
        finally:
            connection.close()
        assert status == 200, (status, answer)  # the endpoint shows what the watcher saw
    finally:
        await panel_db.close()


async def main(bootstrap: str, database_url: str) -> None:
    name = f"bench_propagation_{uuid.uuid4().hex[:8]}"
    services_url = await asyncio.to_thread(create_database, database_url, name)
    with tempfile.TemporaryDirectory(prefix="dhr-bench-logs-") as logs:
        async with running(["commissioning", "panel"], services_url, bootstrap,
                           Path(logs)) as fleet:
            await bench_propagation(fleet, services_url)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from run import infrastructure

    with infrastructure() as (kafka_bootstrap, postgres_url):
        asyncio.run(main(kafka_bootstrap, postgres_url))
