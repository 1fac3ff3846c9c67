"""Helpers for tests of the integration service: a real HTTP receiver on a free port, events as
the services publish them, and the integration service running in process."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import uvicorn
from aiokafka import AIOKafkaProducer
from fastapi import FastAPI

from dhr_contracts import panel, recommendations
from dhr_contracts.base import EventPayload
from dhr_contracts.envelope import Envelope
from dhr_integration.__main__ import build_app, build_runtime
from dhr_integration.config import IntegrationSettings
from dhr_local.process import free_port
from dhr_platform.service import ServiceRuntime
from support.tokens import TestIssuer

# --- the receiver ---------------------------------------------------------------------------


@dataclass
class Received:
    """One request that reached the receiver, and what it answered."""

    headers: dict[str, str]
    body: bytes
    status: int

    @property
    def event(self) -> dict[str, Any]:
        event: dict[str, Any] = json.loads(self.body)
        return event

    @property
    def event_id(self) -> str:
        return str(self.event["id"])

    @property
    def accepted(self) -> bool:
        return 200 <= self.status < 300


@dataclass
class Receiver:
    """An agency's webhook endpoint: a real HTTP server on 127.0.0.1, answering what `answer`
    says (204 by default), that can be stopped and started again on the same port."""

    port: int = field(default_factory=free_port)
    answer: Callable[[Received], int] = lambda received: 204
    received: list[Received] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/dhr/webhooks"

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                received = Received({k.lower(): v for k, v in self.headers.items()}, body, 0)
                with receiver._lock:
                    received.status = receiver.answer(received)
                    receiver.received.append(received)
                self.send_response(received.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def accepted(self) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.accepted]

    def accepted_ids(self) -> list[str]:
        return [r.event_id for r in self.accepted()]

    async def wait_for(self, count: int, timeout: float = 30.0) -> list[Received]:
        """Wait until `count` deliveries were accepted; return them in arrival order."""
        deadline = time.monotonic() + timeout
        while len(accepted := self.accepted()) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(accepted)} deliveries accepted, not {count}: "
                                     f"{[r.event['type'] for r in accepted]}")
            await asyncio.sleep(0.05)
        return accepted


def signature_is_valid(secret: str, received: Received, tolerance: int = 300) -> bool:
    """Check DHR-Signature as a receiver would, independently of the service's own code."""
    pairs = [item.split("=", 1) for item in received.headers["dhr-signature"].split(",")]
    timestamp = int(dict(pairs)["t"])
    if abs(time.time() - timestamp) > tolerance:
        return False
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + received.body,
                        hashlib.sha256).hexdigest()
    return any(name == "v1" and hmac.compare_digest(value, expected) for name, value in pairs)


# --- events as the services publish them ------------------------------------------------------


def envelope(payload: EventPayload, *, source: str, stream: str, version: int,
             at: datetime | None = None) -> Envelope:
    review_id = str(payload.review_id)  # type: ignore[attr-defined]
    return Envelope(id=uuid.uuid4(), source=source, type=payload.event_type, subject=review_id,
                    time=at or datetime.now(UTC), stream=stream, streamversion=version,
                    correlationid=uuid.uuid4(), actor="test", data=payload.model_dump(mode="json"))


class PanelStream:
    """A review's panel events, numbered as the panel service numbers them."""

    def __init__(self, review_id: uuid.UUID | None = None):
        self.review_id = review_id or uuid.uuid4()
        self.version = 0

    def next(self, payload: EventPayload, at: datetime | None = None) -> Envelope:
        self.version += 1
        return envelope(payload, source="/dhr/panel", stream=f"panel-{self.review_id}",
                        version=self.version, at=at)

    def requested(self, agency: str, request_id: uuid.UUID | None = None,
                  at: datetime | None = None) -> Envelope:
        return self.next(panel.InformationRequested(
            review_id=self.review_id, request_id=request_id or uuid.uuid4(),
            kind=panel.InformationRequestKind.IMR, agency=agency, agency_is_panel_member=True,
            requested_on=date(2026, 3, 2), due_on=date(2026, 4, 2)), at)

    def submitted(self, request_id: uuid.UUID) -> Envelope:
        return self.next(panel.InformationSubmitted(
            review_id=self.review_id, request_id=request_id, submitted_on=date(2026, 3, 20),
            due_on=date(2026, 4, 2), late=False))

    def overdue(self, agency: str, request_id: uuid.UUID) -> Envelope:
        return self.next(panel.InformationRequestOverdue(
            review_id=self.review_id, request_id=request_id,
            kind=panel.InformationRequestKind.IMR, agency=agency, due_on=date(2026, 4, 2),
            detected_on=date(2026, 4, 3)))

    def action(self, agency: str) -> Envelope:
        return self.next(panel.PanelActionAssigned(
            review_id=self.review_id, meeting_id=uuid.uuid4(), action_id=uuid.uuid4(),
            text="Share the safeguarding referral policy.", owner_agency=agency,
            due_on=date(2026, 5, 1)))


def recommendation(review_id: uuid.UUID, addressees: dict[str, str]) -> Envelope:
    """RecommendationRecorded, addressed to {addressee_id: name}."""
    recommendation_id = uuid.uuid4()
    payload = recommendations.RecommendationRecorded(
        recommendation_id=recommendation_id, review_id=review_id,
        source=recommendations.RecommendationSource.REVIEW_REPORT, number=1,
        text="Norfolk Constabulary should train call handlers in coercive control by June 2027.",
        level=recommendations.RecommendationLevel.LOCAL,
        themes=(recommendations.RecommendationTheme.TRAINING,), tags=(),
        addressees=tuple(recommendations.Addressee(
            addressee_id=addressee_id, name=name,
            addressee_type=recommendations.AddresseeType.POLICE,
            response_due_on=date(2026, 6, 1)) for addressee_id, name in addressees.items()),
        issued_on=date(2026, 3, 2),
        smart=recommendations.SmartAssessment(score=100, findings=()))
    return envelope(payload, source="/dhr/recommendations",
                    stream=f"recommendation-{recommendation_id}", version=1)


def response(recorded: Envelope, addressee_id: str, version: int) -> Envelope:
    payload = recommendations.ResponseRecorded(
        recommendation_id=recorded.data["recommendation_id"], review_id=recorded.subject,
        addressee_id=addressee_id,
        previous_status=recommendations.ResponseStatus.AWAITING_RESPONSE,
        status=recommendations.ResponseStatus.ACCEPTED, recorded_on=date(2026, 4, 1))
    return envelope(payload, source="/dhr/recommendations", stream=recorded.stream,
                    version=version)


def correspondence(recorded: Envelope, addressee_id: str, version: int,
                   direction: recommendations.CorrespondenceDirection) -> Envelope:
    payload = recommendations.CorrespondenceLogged(
        recommendation_id=recorded.data["recommendation_id"], review_id=recorded.subject,
        addressee_id=addressee_id, entry_id=uuid.uuid4(), logged_on=date(2026, 4, 2),
        direction=direction, correspondent="Head of public protection",
        summary="Chased the response.")
    return envelope(payload, source="/dhr/recommendations", stream=recorded.stream,
                    version=version)


async def publish(bootstrap: str, topic: str, *envelopes: Envelope) -> None:
    """Publish as the relays do: binary CloudEvents keyed by the review id."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for event in envelopes:
            await producer.send_and_wait(topic, event.kafka_value(), key=event.subject.encode(),
                                         headers=event.kafka_headers())
    finally:
        await producer.stop()


# --- the integration service -----------------------------------------------------------------


def settings_for_test(database_url: str, kafka_bootstrap: str, tokens: TestIssuer,
                      **overrides: Any) -> IntegrationSettings:
    """Topics and a consumer group of the test's own, retries fast enough to watch, and trust
    in the test token issuer."""
    run = uuid.uuid4().hex[:10]
    values: dict[str, Any] = {
        **tokens.settings(),
        "database_url": database_url, "kafka_bootstrap": kafka_bootstrap, "environment": "test",
        "consumer_initial_backoff_seconds": 0.01, "consumer_max_attempts": 2,
        "integration_topics": (f"test.{run}.commissioning.events.v1",
                               f"test.{run}.panel.events.v1",
                               f"test.{run}.recommendations.events.v1"),
        "integration_consumer_group": f"integration-matching-{run}",
        "webhook_timeout_seconds": 2.0, "webhook_initial_backoff_seconds": 0.1,
        "webhook_max_backoff_seconds": 0.4, "webhook_max_age_seconds": 120.0,
        "webhook_poll_seconds": 0.05,
    }
    values.update(overrides)
    return IntegrationSettings(**values)


def organisation_slug(organisation: str | None) -> str:
    return "-".join((organisation or "none").lower().split())


@dataclass
class RunningIntegration:
    client: httpx.AsyncClient
    runtime: ServiceRuntime
    settings: IntegrationSettings
    tokens: TestIssuer

    def headers(self, organisation: str | None, role: str = "agency_system",
                **extra: str) -> dict[str, str]:
        """An organisation's bearer token (its case system's by default), and `extra` headers."""
        subject = f"{role}-{organisation_slug(organisation)}"
        return {**self.tokens.headers(role=role, organisation=organisation, subject=subject),
                **extra}

    @property
    def commissioning_topic(self) -> str:
        return self.settings.integration_topics[0]

    @property
    def panel_topic(self) -> str:
        return self.settings.integration_topics[1]

    @property
    def recommendations_topic(self) -> str:
        return self.settings.integration_topics[2]

    async def publish(self, topic: str, *envelopes: Envelope) -> None:
        await publish(self.settings.kafka_bootstrap, topic, *envelopes)

    async def subscribe(self, organisation: str, url: str, **body: Any) -> dict[str, Any]:
        body = {"url": url, "kinds": ["information_requests", "deadlines"], **body}
        response = await self.client.post("/webhook-subscriptions", json=body,
                                          headers=self.headers(organisation))
        assert response.status_code == 201, response.text
        subscription: dict[str, Any] = response.json()
        return subscription

    async def deliveries(self, organisation: str, subscription_id: str,
                         **query: Any) -> list[dict[str, Any]]:
        response = await self.client.get(f"/webhook-subscriptions/{subscription_id}/deliveries",
                                         params=query, headers=self.headers(organisation))
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["items"]
        return items

    async def matched(self, event_id: uuid.UUID | str) -> bool:
        """Whether the consumer has recorded the event (it concerns some organisation)."""
        found = await self.runtime.pool.fetchval(
            "SELECT true FROM agency_events WHERE event_id = $1", uuid.UUID(str(event_id)))
        return bool(found)

    async def consumed(self, event_id: uuid.UUID | str) -> bool:
        """Whether the consumer has applied the event (its inbox row is written)."""
        found = await self.runtime.pool.fetchval(
            "SELECT true FROM inbox WHERE consumer = $1 AND message_id = $2",
            self.settings.integration_consumer_group, str(event_id))
        return bool(found)


@asynccontextmanager
async def running_integration(settings: IntegrationSettings,
                              tokens: TestIssuer) -> AsyncIterator[RunningIntegration]:
    runtime = build_runtime(settings)
    app = build_app(settings, runtime=runtime)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://integration") as client:
            yield RunningIntegration(client, runtime, settings, tokens)


@asynccontextmanager
async def served(app: FastAPI, port: int) -> AsyncIterator[str]:
    """An app on a real socket (lifespan and all), as `make run` serves it; yields its URL."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    deadline = time.monotonic() + 120
    while not server.started:
        if task.done():
            task.result()
            raise AssertionError("the server stopped while starting")
        if time.monotonic() > deadline:
            raise AssertionError("the server did not start within 120s")
        await asyncio.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task

