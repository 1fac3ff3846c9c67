"""The commissioning, panel and oversight services together on a broker of the test's own, a
stream of HTTP commands that drives them, and the proof at the end that every event reached
every store, topic and the ledger once.

The commissioning service takes the commands; the panel opens a panel and records the Chair
from its events; the oversight ledger appends every event of both. Services run in this process
(`System.start`) or, for tests that SIGKILL them, as processes of their own
(`System.environment` gives such a process the same configuration).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import pytest
from api_client import ApiClient, in_process, over_http
from fastapi import FastAPI
from reliability_support import HERE, ChildProcess, Launch, consumer_group_lag

from dhr_commissioning.__main__ import build_app as build_commissioning_app
from dhr_commissioning.__main__ import build_runtime as build_commissioning_runtime
from dhr_commissioning.config import CommissioningSettings
from dhr_contracts.commissioning import ChairAppointed, ReviewCommissioned
from dhr_contracts.topics import COMMISSIONING_EVENTS, PANEL_EVENTS
from dhr_local.process import free_port
from dhr_oversight.__main__ import build_app as build_oversight_app
from dhr_oversight.__main__ import build_runtime as build_oversight_runtime
from dhr_oversight.check import StoreLocation, check_system
from dhr_oversight.config import LEDGER_CONSUMER, OversightSettings
from dhr_oversight.keys import generate_seed
from dhr_panel.__main__ import build_app as build_panel_app
from dhr_panel.__main__ import build_runtime as build_panel_runtime
from dhr_panel.config import PanelSettings
from dhr_panel.consumers import FROM_COMMISSIONING
from dhr_platform.consistency import ConsistencyReport, Reaction
from dhr_platform.consistency_sources import committed_offsets, read_topic
from dhr_platform.service import ServiceRuntime
from dhr_platform.settings import PlatformSettings

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
SERVICES = ("commissioning", "panel", "oversight")
LEDGER_TOPICS = (COMMISSIONING_EVENTS, PANEL_EVENTS)
# What the panel must do, once each, for every review commissioned and every Chair appointed.
PANEL_REACTIONS = (Reaction(ReviewCommissioned.event_type, "panel"),
                   Reaction(ChairAppointed.event_type, "panel"))
SERVICE_SCRIPT = HERE / "service_process.py"
# The consumer groups and the topics they read.
CONSUMERS = ((FROM_COMMISSIONING, (COMMISSIONING_EVENTS,)), (LEDGER_CONSUMER, LEDGER_TOPICS))


def clock() -> datetime:
    return NOW


def sizes(default: int, soak: int) -> list[Any]:
    """Stream sizes to parametrize a test with: `default` in `make test`, and `soak` (the size
    the issue asks for) as a soak test, run by `make soak`."""
    return [pytest.param(default, id=str(default), marks=pytest.mark.timeout(600)),
            pytest.param(soak, id=str(soak), marks=[pytest.mark.soak, pytest.mark.timeout(1800)])]


class Phases:
    """How long each phase of a test took; printed, so `pytest -rP` (or a failure) shows it."""

    def __init__(self) -> None:
        self.last = time.monotonic()
        self.seconds: dict[str, float] = {}

    def done(self, phase: str) -> None:
        now = time.monotonic()
        self.seconds[phase] = now - self.last
        self.last = now
        print(f"phase {phase}: {self.seconds[phase]:.1f}s")


@dataclass(frozen=True)
class Credentials:
    """How the services under test verify bearer tokens (settings for each service) and what
    every request carries (headers): none while the services require none (`credentials`)."""

    settings: Mapping[str, Any] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass
class RunningService:
    name: str
    app: FastAPI
    runtime: ServiceRuntime
    client: ApiClient
    lifespan: contextlib.AbstractAsyncContextManager[None]


@dataclass
class ServiceProcess:
    """A service run by its own composition root in a process of its own
    (`service_process.py`)."""

    name: str
    child: ChildProcess
    client: ApiClient


class System:
    """The services of one test on its database and broker; each started and stopped by the
    test, every one still running stopped at the end (`close`)."""

    def __init__(self, database_url: str, bootstrap: str, credentials: Credentials,
                 **overrides: Any) -> None:
        self.database_url = database_url
        self.bootstrap = bootstrap
        self.credentials = credentials
        self.overrides = {**credentials.settings, **overrides}
        self.signing_key = generate_seed()
        self.running: dict[str, RunningService] = {}
        self.processes: dict[str, ServiceProcess] = {}

    def settings(self, service: str) -> PlatformSettings:
        common: dict[str, Any] = {
            "database_url": self.database_url, "kafka_bootstrap": self.bootstrap,
            "environment": "test", "relay_idle_poll_seconds": 0.02,
            "relay_max_backoff_seconds": 1.0, "consumer_initial_backoff_seconds": 0.05,
            "consumer_max_backoff_seconds": 1.0, **self.overrides,
        }
        if service == "commissioning":
            return CommissioningSettings(**common)
        if service == "panel":
            return PanelSettings(**common, panel_deadline_check_seconds=3600)
        return OversightSettings(
            **common, oversight_topics=LEDGER_TOPICS, oversight_signing_key=self.signing_key,
            oversight_checkpoint_every_events=1_000_000, oversight_checkpoint_every_seconds=3600)

    def environment(self, service: str, port: int) -> dict[str, str]:
        """DHR_* variables that make a process of `service` (`service_process.py`, or
        `dhr-<service>`) the same service as `start` would run in this process."""
        settings = self.settings(service)
        names = {"database_url", "kafka_bootstrap", "environment", "relay_idle_poll_seconds",
                 "relay_max_backoff_seconds", "consumer_initial_backoff_seconds",
                 "consumer_max_backoff_seconds", *self.overrides}
        environment = {f"DHR_{name.upper()}": str(getattr(settings, name)) for name in names}
        environment["DHR_HTTP_PORT"] = str(port)
        if service == "panel":
            environment["DHR_PANEL_DEADLINE_CHECK_SECONDS"] = "3600"
        if service == "oversight":
            environment |= {"DHR_OVERSIGHT_TOPICS": '["' + '","'.join(LEDGER_TOPICS) + '"]',
                            "DHR_OVERSIGHT_SIGNING_KEY": self.signing_key,
                            "DHR_OVERSIGHT_CHECKPOINT_EVERY_EVENTS": "1000000",
                            "DHR_OVERSIGHT_CHECKPOINT_EVERY_SECONDS": "3600"}
        return environment

    def build(self, service: str) -> tuple[FastAPI, ServiceRuntime]:
        settings: Any = self.settings(service)
        if service == "commissioning":
            runtime = build_commissioning_runtime(settings, clock=clock)
            return build_commissioning_app(settings, clock=clock, runtime=runtime), runtime
        if service == "panel":
            runtime = build_panel_runtime(settings, clock=clock)
            return build_panel_app(settings, clock=clock, runtime=runtime), runtime
        oversight = build_oversight_runtime(settings, clock=clock)
        return build_oversight_app(settings, clock=clock, runtime=oversight), oversight

    async def start(self, service: str, instance: str | None = None) -> RunningService:
        """Start a service in this process (`instance` names a second replica of it)."""
        name = instance or service
        assert name not in self.running, f"{name} runs already"
        app, runtime = self.build(service)
        lifespan = app.router.lifespan_context(app)
        await lifespan.__aenter__()
        client = in_process(app, name, credentials=self.credentials.headers)
        running = RunningService(name, app, runtime, client, lifespan)
        self.running[name] = running
        return running

    async def stop(self, name: str) -> None:
        """A clean stop: in-flight work finishes, consumers leave their groups."""
        running = self.running.pop(name)
        await running.client.close()
        await running.lifespan.__aexit__(None, None, None)

    async def start_process(self, launch: Launch, service: str, *,
                            die_after_effects: int | None = None, timeout: float = 120.0
                            ) -> ServiceProcess:
        """Start panel or oversight as a process of its own (`service_process.py`), and wait
        until it is ready."""
        assert service not in self.processes, f"{service} runs already"
        port = free_port()
        dying = [] if die_after_effects is None else ["--die-after-effects", str(die_after_effects)]
        child = launch(SERVICE_SCRIPT, [service, *dying], self.environment(service, port))
        process = ServiceProcess(service, child, over_http(
            f"http://127.0.0.1:{port}", credentials=self.credentials.headers))
        self.processes[service] = process
        deadline = time.monotonic() + timeout
        while True:
            assert child.is_running(), f"{service} exited:\n{child.output()}"
            assert time.monotonic() < deadline, f"{service} not ready:\n{child.output()}"
            with contextlib.suppress(httpx.TransportError):
                if (await process.client.get("/readyz")).status_code == 200:
                    return process
            await asyncio.sleep(0.2)

    async def kill_process(self, service: str) -> None:
        """SIGKILL, as a crash would."""
        process = self.processes.pop(service)
        process.child.kill()
        await process.client.close()

    async def close(self) -> None:
        for name in list(self.running)[::-1]:
            await self.stop(name)
        for service in list(self.processes):
            process = self.processes.pop(service)
            await process.child.stop()
            await process.client.close()

    def client(self, name: str) -> ApiClient:
        if name in self.processes:
            return self.processes[name].client
        return self.running[name].client

    async def settle(self, timeout: float = 120.0) -> None:
        """Wait until every event is published and every consumer group has caught up."""
        await self._wait_until_nothing(self.in_flight, timeout)

    async def settle_publication(self, timeout: float = 120.0) -> None:
        """Wait until every event is published (whatever the consumers)."""
        await self._wait_until_nothing(self.unpublished, timeout)

    async def _wait_until_nothing(self, waiting_for: Callable[[asyncpg.Pool], Any],
                                  timeout: float) -> None:
        pool = await asyncpg.create_pool(self.database_url, min_size=1, max_size=2)
        try:
            deadline = time.monotonic() + timeout
            while (waiting := await waiting_for(pool)):
                if time.monotonic() > deadline:
                    raise AssertionError(f"still in flight after {timeout:.0f}s: {waiting}")
                await asyncio.sleep(0.5)
        finally:
            await pool.close()

    async def unpublished(self, pool: asyncpg.Pool) -> dict[str, int]:
        waiting = {f"unpublished in {schema}": await unpublished(pool, schema)
                   for schema in ("commissioning", "panel")}
        return {what: n for what, n in waiting.items() if n}

    async def in_flight(self, pool: asyncpg.Pool) -> dict[str, int]:
        waiting = await self.unpublished(pool)
        for group, topics in CONSUMERS:
            for topic in topics:
                if lag := await consumer_group_lag(self.bootstrap, group, topic):
                    waiting[f"lag of {group} on {topic}"] = lag
        return waiting

    async def settle_and_check(self, phases: Phases, timeout: float = 900.0
                               ) -> ConsistencyReport:
        """Wait until every event is published and consumed, then compare the stores, the
        topics and the ledger (`check`)."""
        await self.settle(timeout=timeout)
        phases.done("settle")
        report = await self.check()
        phases.done("check")
        return report

    async def check(self) -> ConsistencyReport:
        """The stores of commissioning and panel against their topics and the ledger."""
        settings = self.settings("oversight")
        assert isinstance(settings, OversightSettings)
        locations = [StoreLocation(service, topic, self.database_url)
                     for service, topic in zip(("commissioning", "panel"), LEDGER_TOPICS,
                                               strict=True)]
        return await check_system(settings, locations, reactions=PANEL_REACTIONS)


class HeldBack:
    """The consumers of some services held before their next commit, so that a backlog builds
    up behind them however fast they are: their inbox tables are locked against writes (reads,
    and so the services' GETs, go on) until `release`. A batch in flight waits meanwhile."""

    def __init__(self, connection: asyncpg.Connection, transaction: Any) -> None:
        self.connection = connection
        self.transaction = transaction

    @classmethod
    async def hold(cls, database_url: str, services: tuple[str, ...] = ("panel", "oversight")
                   ) -> HeldBack:
        connection = await asyncpg.connect(database_url)
        transaction = connection.transaction()
        await transaction.start()
        for service in services:
            await connection.execute(f'LOCK TABLE "{service}".inbox IN EXCLUSIVE MODE')
        return cls(connection, transaction)

    async def release(self) -> None:
        try:
            await self.transaction.rollback()
        finally:
            await self.connection.close()


async def wait_for_backlog(bootstrap: str, timeout: float = 120.0,
                           groups: tuple[str, ...] | None = None) -> dict[str, int]:
    """Wait until every consumer group (of `groups`, when given) has records left to process;
    answer each group's lag."""
    deadline = time.monotonic() + timeout
    while True:
        lags = {group: sum([await consumer_group_lag(bootstrap, group, topic)
                            for topic in topics]) for group, topics in CONSUMERS
                if groups is None or group in groups}
        if all(lags.values()):
            return lags
        assert time.monotonic() < deadline, f"no backlog built up in {timeout:.0f}s: {lags}"
        await asyncio.sleep(0.2)


async def effects_not_acknowledged(database_url: str, bootstrap: str) -> dict[str, int]:
    """Per consumer, the effects applied for records after its group's committed offsets: a
    crash came between the effect's commit and the offset's, so Kafka will deliver the record
    again (and the effect must not happen again)."""
    connection = await asyncpg.connect(database_url)
    try:
        ledger = await connection.fetch('SELECT topic, partition, "offset" FROM oversight.ledger')
        inbox = await connection.fetch("SELECT message_id FROM panel.inbox WHERE consumer = $1",
                                       FROM_COMMISSIONING)
    finally:
        await connection.close()
    committed = await committed_offsets(bootstrap, LEDGER_CONSUMER)
    ledger_count = sum(1 for row in ledger
                       if row["offset"] >= committed.get((row["topic"], row["partition"]), 0))
    committed = await committed_offsets(bootstrap, FROM_COMMISSIONING)
    records, _ = await read_topic(bootstrap, COMMISSIONING_EVENTS)
    where = {record.event_id: (record.topic, record.partition, record.offset)
             for record in reversed(records)}
    panel_count = 0
    for row in inbox:
        topic, partition, offset = where[row["message_id"]]
        panel_count += offset >= committed.get((topic, partition), 0)
    return {"oversight": ledger_count, "panel": panel_count}


async def unpublished(pool: asyncpg.Pool, schema: str) -> int:
    """Events of `schema` after its relay's cursor (all of them before its first batch)."""
    exists = await pool.fetchval("SELECT to_regclass($1) IS NOT NULL", f"{schema}.relay_cursor")
    if not exists:
        return 0
    return int(await pool.fetchval(
        f"""SELECT count(*) FROM "{schema}".events e
             WHERE NOT coalesce((e.tx_id, e.global_position) <= (
                 SELECT c.tx_id, c.global_position FROM "{schema}".relay_cursor c
                  WHERE c.relay = $1), false)""", schema))


async def assert_every_command_applied_once(database_url: str, stream: CommandStream) -> None:
    """Every review the stream created has exactly the events of its three commands, once each:
    none half-applied, none applied twice (even those retried after a 503), no stray review."""
    connection = await asyncpg.connect(database_url)
    try:
        rows = await connection.fetch(
            """SELECT stream_id, array_agg(type ORDER BY stream_version) AS types
                 FROM commissioning.events GROUP BY stream_id""")
    finally:
        await connection.close()
    histories = {row["stream_id"].removeprefix("review-"): list(row["types"]) for row in rows}
    assert sorted(histories) == sorted(stream.review_ids)
    wrong = {review: types for review, types in histories.items() if types != REVIEW_HISTORY}
    assert wrong == {}, f"{len(wrong)} reviews with another history than {REVIEW_HISTORY}"


def assert_consistent(report: ConsistencyReport, reviews: int) -> None:
    """Nothing lost, duplicated or out of order, nothing in flight, every review there."""
    assert report.ok, report.summary()
    assert report.pending_publication == report.pending_ledger == 0, report.summary()
    assert report.ledger_entries == report.stored_events, report.summary()
    assert len(report.reviews) == reviews, report.summary()


# --- the stream of commands ------------------------------------------------------------------

COMMANDS_PER_REVIEW = 3
REVIEW_HISTORY = ["dhr.commissioning.NotificationReceived.v1",
                  "dhr.commissioning.EligibilityAssessed.v1",
                  "dhr.commissioning.ReviewCommissioned.v1",
                  "dhr.commissioning.ChairAppointed.v1"]


# Every review in one CSP area, as one area's review manager would send them.
NOTIFICATION = {"notifying_agency": "Norfolk Constabulary", "date_of_death": "2026-02-10",
                "csp_learned_on": "2026-02-12", "csp_area": "Norfolk", "victim_age": 34,
                "suspect_relationship": "current_intimate_partner", "circumstances": "homicide",
                "prior_agency_contact": "yes"}


DECISION = {"decided_on": "2026-02-20", "rationale": "Statutory criteria met."}
CHAIR = {"appointed_on": "2026-02-25", "chair_name": "Alex Chair",
         "declaration": {"line_management_of_involved_agency": False,
                         "service_delivery_for_involved_agency": False}}


@dataclass
class Refusal:
    """A command answered 503: what it said, and how long it took to say it."""

    path: str
    response: httpx.Response
    seconds: float


@dataclass
class CommandStream:
    """Reviews notified, commissioned and given a Chair over HTTP, `concurrency` at a time.

    Each command carries an Idempotency-Key and is retried with it after a 503 (as the
    Retry-After header asks, at most `max_retry_wait` seconds later), so a command whose answer
    was lost is still recorded once. Any other failure, or a request that hangs, fails the test.
    """

    client: Callable[[], ApiClient]
    reviews: int
    concurrency: int = 8
    max_retry_wait: float = 1.0
    completed: int = 0
    review_ids: list[str] = field(default_factory=list)
    refusals: list[Refusal] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    pause_after: int | None = None
    _pause_moved: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def commands(self) -> int:
        return self.reviews * COMMANDS_PER_REVIEW

    def pause_at(self, completed: int | None) -> None:
        """Start no new review once `completed` commands were accepted (those under way finish),
        until moved on; None lets the stream run to its end. A test that must act while the
        stream still has commands to send pauses it there, whatever the machine's speed."""
        self.pause_after = completed
        self._pause_moved.set()

    async def _paused(self) -> None:
        while self.pause_after is not None and self.completed >= self.pause_after:
            self._pause_moved.clear()
            await self._pause_moved.wait()

    async def run(self) -> None:
        queue: asyncio.Queue[int] = asyncio.Queue()
        for index in range(self.reviews):
            queue.put_nowait(index)

        async def worker() -> None:
            while True:
                await self._paused()
                if queue.empty():
                    return
                await self.review(queue.get_nowait())

        await asyncio.gather(*(worker() for _ in range(self.concurrency)))

    async def review(self, index: int) -> None:
        created = await self.command(index, "notify", "/reviews", NOTIFICATION)
        review_id = created["review_id"]
        self.review_ids.append(review_id)
        await self.command(index, "decide", f"/reviews/{review_id}/decision-to-commission",
                           DECISION)
        await self.command(index, "chair", f"/reviews/{review_id}/chair", CHAIR)

    async def command(self, index: int, step: str, path: str, body: dict[str, Any]
                      ) -> dict[str, Any]:
        key = f"{self.run_id}-{index}-{step}"
        while True:
            started = time.monotonic()
            response = await self.client().post(path, body, idempotency_key=key)
            self.statuses[response.status_code] += 1
            if response.status_code in (200, 201):
                self.completed += 1
                return dict(response.json())
            assert response.status_code == 503, f"{path}: {response.status_code} {response.text}"
            self.refusals.append(Refusal(path, response, time.monotonic() - started))
            retry_after = float(response.headers.get("retry-after", "1"))
            await asyncio.sleep(min(retry_after, self.max_retry_wait))

    async def wait_for(self, completed: int, timeout: float = 300.0) -> None:
        """Until `completed` commands have been accepted."""
        deadline = time.monotonic() + timeout
        while self.completed < completed:
            assert time.monotonic() < deadline, f"{self.completed} commands after {timeout}s"
            await asyncio.sleep(0.05)
