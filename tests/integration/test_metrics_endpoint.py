"""/metrics in the Prometheus format with plausible values after real commands: command latency,
outbox backlog, consumer lag, projection lag and dead letters, on the real broker and database."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
from aiokafka import AIOKafkaProducer
from commissioning_support import NOW, notification
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families

from dhr_commissioning.__main__ import build_app as build_commissioning_app
from dhr_commissioning.__main__ import build_runtime as build_commissioning_runtime
from dhr_commissioning.config import CommissioningSettings
from dhr_commissioning.consumers import INTAKE_CONSUMER
from dhr_contracts.topics import COMMISSIONING_EVENTS, INTAKE_NOTIFICATIONS
from dhr_learning.__main__ import build_app as build_learning_app
from dhr_learning.__main__ import build_runtime as build_learning_runtime
from dhr_learning.config import LearningSettings
from dhr_learning.consumers import FROM_COMMISSIONING
from support.kafka import eventually
from support.tokens import REVIEW_MANAGER_NORFOLK, TestIssuer

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@contextlib.asynccontextmanager
async def serving(app: FastAPI, name: str, headers: dict[str, str]
                  ) -> AsyncIterator[httpx.AsyncClient]:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=f"http://{name}",
                                     headers=headers) as client:
            yield client


async def scrape(client: httpx.AsyncClient) -> Samples:
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {(sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(response.text)
            for sample in family.samples}


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


async def test_metrics_shows_command_latency_backlog_lags_and_dead_letters(
    fresh_database: str, kafka_bootstrap: str, token_issuer: TestIssuer
) -> None:
    common: dict[str, Any] = {"database_url": fresh_database, "kafka_bootstrap": kafka_bootstrap,
                              "environment": "test", "consumer_initial_backoff_seconds": 0.01,
                              "relay_idle_poll_seconds": 0.02, **token_issuer.settings()}
    manager = token_issuer.headers(REVIEW_MANAGER_NORFOLK)
    commissioning_settings = CommissioningSettings(**common)
    learning_settings = LearningSettings(**common)
    commissioning_app = build_commissioning_app(
        commissioning_settings, clock=lambda: NOW,
        runtime=build_commissioning_runtime(commissioning_settings, clock=lambda: NOW))
    learning_app = build_learning_app(learning_settings, clock=lambda: NOW,
                                      runtime=build_learning_runtime(learning_settings))
    async with serving(commissioning_app, "commissioning", manager) as commissioning, \
            serving(learning_app, "learning", manager) as learning:
        for _ in range(3):
            created = await commissioning.post("/reviews", json=notification())
            assert created.status_code == 201, created.text
        refused = await commissioning.post("/reviews", json=notification(victim_age="old"))
        assert refused.status_code == 422
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
        await producer.start()
        try:
            await producer.send_and_wait(INTAKE_NOTIFICATIONS, b"not a notification", key=b"x")
        finally:
            await producer.stop()

        intake = {"consumer_group": INTAKE_CONSUMER, "topic": INTAKE_NOTIFICATIONS}
        from_commissioning = {"consumer_group": FROM_COMMISSIONING, "topic": COMMISSIONING_EVENTS}

        async def caught_up() -> bool:
            mine, theirs = await scrape(commissioning), await scrape(learning)
            return (value(mine, "dhr_dead_letters_total", **intake) == 1
                    and value(mine, "dhr_outbox_backlog_events") == 0
                    and value(mine, "dhr_consumer_lag_messages", **intake) == 0
                    and value(theirs, "dhr_consumer_lag_messages", **from_commissioning) == 0
                    and (value(theirs, "dhr_projection_lag_seconds_count",
                               **from_commissioning) or 0) >= 6)

        await eventually(caught_up, timeout=90, interval=0.5)
        mine, theirs = await scrape(commissioning), await scrape(learning)

        created_labels = {"method": "POST", "route": "/reviews", "status_code": "201"}
        assert value(mine, "dhr_command_duration_seconds_count", **created_labels) == 3
        total = value(mine, "dhr_command_duration_seconds_sum", **created_labels)
        assert total is not None and 0 < total < 3 * 10
        assert value(mine, "dhr_command_duration_seconds_count",
                     method="POST", route="/reviews", status_code="422") == 1
        assert value(mine, "dhr_outbox_oldest_event_age_seconds") == 0
        # Our six events (two per notification) were applied within a minute of being recorded;
        # the group may also have caught up with older events of the session's other tests.
        assert (value(theirs, "dhr_projection_lag_seconds_bucket", **from_commissioning,
                      le="60.0") or 0) >= 6
        assert value(theirs, "dhr_dead_letters_total", **from_commissioning) is None
        assert ("dhr_command_duration_seconds_count",
                frozenset({"method": "GET", "route": "/metrics", "status_code": "200"}.items())
                ) not in mine

        # A transaction left open elsewhere on the server holds publication back (ADR 0002):
        # the backlog and the age of its oldest event show it, then drain once it ends.
        blocker = await asyncpg.connect(fresh_database)
        try:
            async with blocker.transaction():
                await blocker.fetchval("SELECT pg_current_xact_id()")
                created = await commissioning.post("/reviews", json=notification())
                assert created.status_code == 201

                async def backlog_shown() -> bool:
                    samples = await scrape(commissioning)
                    age = value(samples, "dhr_outbox_oldest_event_age_seconds") or 0
                    return value(samples, "dhr_outbox_backlog_events") == 2 and 0 < age < 60

                await eventually(backlog_shown, timeout=30, interval=0.5)
        finally:
            await blocker.close()

        async def drained() -> bool:
            samples = await scrape(commissioning)
            return (value(samples, "dhr_outbox_backlog_events") == 0
                    and value(samples, "dhr_outbox_oldest_event_age_seconds") == 0)

        await eventually(drained, timeout=30, interval=0.5)
