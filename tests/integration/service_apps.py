"""Each service running in process on the real PostgreSQL server and Kafka broker, with objects
made beforehand that operations can name (a Norfolk review, its panel and learning record, a
recommendation, ledger entries, a webhook subscription): for the tests that send every operation
of every service generated or hostile input (test_openapi_conformance, test_hostile_input)."""

from __future__ import annotations

import importlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer
from commissioning_support import NOW, notification
from fastapi import FastAPI
from webhook_support import settings_for_test

from dhr_commissioning.__main__ import build_app as build_commissioning_app
from dhr_commissioning.config import CommissioningSettings
from dhr_contracts.commissioning import (
    ChairAppointed,
    ChairIndependenceDeclaration,
    EligibilityOutcome,
    NotificationReceived,
    ReviewCommissioned,
)
from dhr_contracts.envelope import Envelope
from dhr_contracts.topics import COMMISSIONING_EVENTS
from dhr_integration.__main__ import build_app as build_integration_app
from dhr_learning.__main__ import build_app as build_learning_app
from dhr_learning.config import LearningSettings
from dhr_oversight.__main__ import build_app as build_oversight_app
from dhr_oversight.config import OversightSettings
from dhr_oversight.keys import generate_seed
from dhr_panel.__main__ import build_app as build_panel_app
from dhr_panel.config import PanelSettings
from dhr_platform.auth import api_routes
from dhr_platform.principal import Role
from dhr_recommendations.__main__ import build_app as build_recommendations_app
from dhr_recommendations.config import RecommendationsSettings
from support.kafka import eventually
from support.tokens import TestIssuer

SERVICES = ("commissioning", "panel", "learning", "recommendations", "oversight", "integration")

# Who calls an operation: the first of these whom its policy allows. Organisations match the
# objects made beforehand (a Norfolk review, the Norfolk Constabulary's subscription).
CALLERS: list[tuple[Role, str, str]] = [
    (Role.REVIEW_MANAGER, "Norfolk", "rm-norfolk"),
    (Role.OVERSIGHT_READER, "Home Office", "ho-reader"),
    (Role.ADMIN, "DHR operations", "ops-admin"),
    (Role.AGENCY_LEAD, "Norfolk Constabulary", "lead-police"),
    (Role.AGENCY_SYSTEM, "Norfolk Constabulary", "system-police"),
]
ADMIN_CALLER, POLICE_LEAD_CALLER = 2, 3

# What a request over HTTP can store, per service: the events it causes (an HTTP caller's
# metadata has its roles; consumers' events do not) and the other rows the API writes. The event
# table is also the outbox (ADR 0002), so an unchanged count means nothing will be published.
STORED_BY_REQUESTS = {
    # Commands' events; reads of restricted material are recorded too (access-<review> streams),
    # and a refused request may not write, but a served read must.
    "events": "SELECT count(*) FROM events WHERE metadata ? 'actor_roles'"
              " AND stream_id NOT LIKE 'access-%'",
    "idempotency_keys": "SELECT count(*) FROM idempotency_keys",
}
STORED_BY_SERVICE = {
    "oversight": {"checkpoints": "SELECT count(*) FROM checkpoints"},
    "integration": {"webhook_subscriptions": "SELECT count(*) FROM webhook_subscriptions",
                    "webhook_replays": "SELECT count(*) FROM webhook_replays"},
}


@dataclass
class ServiceUnderTest:
    """A running service: its app, a client without a token, and the objects made for it."""

    name: str
    app: FastAPI
    client: httpx.AsyncClient
    tokens: TestIssuer
    known: dict[str, str] = field(default_factory=dict)

    def headers(self, caller: int = 0) -> dict[str, str]:
        role, organisation, subject = CALLERS[caller]
        return self.tokens.headers(role=role.value, organisation=organisation, subject=subject)

    def caller_of(self, method: str, path: str) -> dict[str, str]:
        """A token of the first caller whom the route's policy allows."""
        table = importlib.import_module(f"dhr_{self.name}.policy").PERMISSIONS.table
        guards = api_routes(self.app.routes)[f"{method.upper()} {path}"]
        roles = set(Role)
        for action in guards.actions:
            roles &= table[action]
        chosen = next((index for index, c in enumerate(CALLERS) if c[0] in roles), None)
        return {} if chosen is None else self.headers(chosen)

    def document(self) -> dict[str, Any]:
        return self.app.openapi()

    async def stored(self) -> dict[str, int]:
        """How many rows requests have written, table by table."""
        queries = {**STORED_BY_REQUESTS, **STORED_BY_SERVICE.get(self.name, {})}
        async with self.app.state.runtime.pool.acquire() as connection:
            return {table: await connection.fetchval(query) for table, query in queries.items()}

    async def tables(self) -> list[str]:
        """The service's tables, to see that they are all still there."""
        async with self.app.state.runtime.pool.acquire() as connection:
            rows = await connection.fetch(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
                "ORDER BY tablename")
        return [row["tablename"] for row in rows]


@asynccontextmanager
async def running_service(name: str, database_url: str, kafka_bootstrap: str,
                          tokens: TestIssuer) -> AsyncIterator[ServiceUnderTest]:
    """The service started (its lifespan), with its objects made; stopped after."""
    app, prepare = _build(name, database_url, kafka_bootstrap, tokens)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url=f"http://{name}") as client:
            service = ServiceUnderTest(name, app, client, tokens)
            service.known = await prepare(service, kafka_bootstrap)
            yield service


# --- objects made beforehand ------------------------------------------------------------------

CHAIR_SUBJECT = "chair-alex"
# The oversight service under test reads this topic only, never the services' real ones.
OVERSIGHT_TOPIC = f"test.{uuid.uuid4().hex[:10]}.commissioning.events.v1"


async def created(service: ServiceUnderTest, path: str, body: dict[str, Any],
                  caller: int = 0) -> dict[str, Any]:
    response = await service.client.post(path, json=body, headers=service.headers(caller))
    assert response.status_code in (200, 201), response.text
    answer: dict[str, Any] = response.json()
    return answer


async def a_commissioned_review_on_kafka(bootstrap: str, topic: str = COMMISSIONING_EVENTS
                                         ) -> str:
    """A Norfolk review notified, commissioned and given its Chair, as the commissioning service
    publishes them (the panel and learning services open theirs from these)."""
    review_id = uuid.uuid4()
    payloads = [
        NotificationReceived(
            review_id=review_id, received_at=datetime(2026, 2, 13, 9, tzinfo=UTC),
            notifying_agency="Norfolk Constabulary", date_of_death=date(2026, 2, 10),
            csp_learned_on=date(2026, 2, 12), csp_area="Norfolk", victim_age=34,
            suspect_relationship="current_intimate_partner", circumstances="homicide",
            prior_agency_contact="yes", decision_due_months=1, decision_due_on=date(2026, 3, 12)),
        ReviewCommissioned(
            review_id=review_id, decided_on=date(2026, 2, 20), rationale="Criteria met.",
            eligibility_outcome=EligibilityOutcome.ELIGIBLE,
            overrides_eligibility_assessment=False, decided_after_due_date=False,
            completion_due_months=6, completion_due_on=date(2026, 8, 20)),
        ChairAppointed(
            review_id=review_id, appointed_on=date(2026, 2, 25), chair_name="Alex Chair",
            declaration=ChairIndependenceDeclaration(line_management_of_involved_agency=False,
                                                     service_delivery_for_involved_agency=False),
            replaces_previous_chair=False, chair_subject=CHAIR_SUBJECT),
    ]
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for version, payload in enumerate(payloads, start=1):
            sent = Envelope(id=uuid.uuid4(), source="/dhr/commissioning", type=payload.event_type,
                            subject=str(review_id), time=datetime.now(UTC),
                            stream=f"review-{review_id}", streamversion=version,
                            correlationid=uuid.uuid4(), actor="test",
                            data=payload.model_dump(mode="json"))
            await producer.send_and_wait(topic, sent.kafka_value(), key=sent.subject.encode(),
                                         headers=sent.kafka_headers())
    finally:
        await producer.stop()
    return str(review_id)


async def until_found(service: ServiceUnderTest, path: str) -> None:
    async def found() -> bool:
        return (await service.client.get(path, headers=service.headers())).is_success

    await eventually(found)


async def prepare_commissioning(service: ServiceUnderTest, kafka: str) -> dict[str, str]:
    review_id = (await created(service, "/reviews", notification()))["review_id"]
    await created(service, f"/reviews/{review_id}/decision-to-commission",
                  {"decided_on": "2026-03-01", "rationale": "Criteria met."})
    return {"review_id": review_id}


async def prepare_panel(service: ServiceUnderTest, kafka: str) -> dict[str, str]:
    review_id = await a_commissioned_review_on_kafka(kafka)
    await until_found(service, f"/panels/{review_id}")
    return {"review_id": review_id}


async def prepare_learning(service: ServiceUnderTest, kafka: str) -> dict[str, str]:
    review_id = await a_commissioned_review_on_kafka(kafka)
    await until_found(service, f"/reviews/{review_id}/learning")
    return {"review_id": review_id}


async def prepare_recommendations(service: ServiceUnderTest, kafka: str) -> dict[str, str]:
    review_id = str(uuid.uuid4())
    answer = await created(service, "/recommendations", {
        "review_id": review_id, "csp_area": "Norfolk", "issued_on": "2026-03-02",
        "text": "Norfolk Constabulary to train every call handler in coercive control by 30 "
                "September 2026, evidenced by its training records.",
        "level": "local", "themes": ["training"], "tags": ["call handling"],
        "addressees": [{"name": "Norfolk Constabulary"}]})
    return {"review_id": review_id, "recommendation_id": answer["recommendation_id"],
            "addressee_id": "norfolk-constabulary", "area": "Norfolk"}


async def prepare_oversight(service: ServiceUnderTest, kafka: str) -> dict[str, str]:
    review_id = await a_commissioned_review_on_kafka(kafka, OVERSIGHT_TOPIC)
    await until_found(service, f"/reviews/{review_id}/history")
    checkpoint = await service.client.post("/checkpoints", headers=service.headers(ADMIN_CALLER))
    assert checkpoint.status_code == 201, checkpoint.text
    return {"review_id": review_id, "size": checkpoint.headers["X-Tree-Size"]}


async def prepare_integration(service: ServiceUnderTest, kafka: str) -> dict[str, str]:
    answer = await created(service, "/webhook-subscriptions", {
        "url": "https://cases.norfolk-constabulary.example/dhr", "kinds": ["deadlines"]},
        POLICE_LEAD_CALLER)
    return {"subscription_id": answer["subscription_id"]}


Prepare = Callable[[ServiceUnderTest, str], Awaitable[dict[str, str]]]


def _build(name: str, database_url: str, kafka: str, tokens: TestIssuer) -> tuple[FastAPI, Prepare]:
    settings: dict[str, Any] = {
        "database_url": database_url, "kafka_bootstrap": kafka, "environment": "test",
        "consumer_initial_backoff_seconds": 0.01, "consumer_max_attempts": 2,
        **tokens.settings()}
    if name == "commissioning":
        return (build_commissioning_app(CommissioningSettings(**settings), clock=lambda: NOW),
                prepare_commissioning)
    if name == "panel":
        return (build_panel_app(PanelSettings(**settings, panel_deadline_check_seconds=3600),
                                clock=lambda: NOW), prepare_panel)
    if name == "learning":
        return build_learning_app(LearningSettings(**settings), clock=lambda: NOW), prepare_learning
    if name == "recommendations":
        return (build_recommendations_app(
            RecommendationsSettings(**settings, recommendations_deadline_check_seconds=3600),
            clock=lambda: NOW), prepare_recommendations)
    if name == "oversight":
        run = uuid.uuid4().hex[:10]
        return (build_oversight_app(OversightSettings(
            **settings, oversight_topics=(OVERSIGHT_TOPIC,),
            oversight_consumer_group=f"oversight-ledger-{run}",
            oversight_origin=f"test.example/oversight-{run}",
            oversight_signing_key=generate_seed(), oversight_checkpoint_every_events=1_000_000,
            oversight_checkpoint_every_seconds=3600), clock=lambda: NOW), prepare_oversight)
    if name == "integration":
        return build_integration_app(settings_for_test(database_url, kafka, tokens)), \
            prepare_integration
    raise ValueError(name)
