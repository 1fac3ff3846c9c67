"""One trace from an HTTP command through PostgreSQL, the outbox relay and Kafka to every consumer,
and nothing personal in it: commissioning, panel and learning on the real broker and database,
each recording its spans into one in-memory exporter."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from commissioning_support import NOW, notification
from fastapi import FastAPI
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from dhr_commissioning.__main__ import build_app as build_commissioning_app
from dhr_commissioning.__main__ import build_runtime as build_commissioning_runtime
from dhr_commissioning.config import CommissioningSettings
from dhr_contracts.topics import COMMISSIONING_EVENTS, PANEL_EVENTS
from dhr_learning.__main__ import build_app as build_learning_app
from dhr_learning.__main__ import build_runtime as build_learning_runtime
from dhr_learning.config import LearningSettings
from dhr_learning.consumers import FROM_PANEL
from dhr_panel.__main__ import build_app as build_panel_app
from dhr_panel.__main__ import build_runtime as build_panel_runtime
from dhr_panel.config import PanelSettings
from dhr_panel.consumers import FROM_COMMISSIONING
from dhr_platform.logs import JsonFormatter
from dhr_platform.service import ServiceRuntime
from dhr_platform.telemetry import Telemetry
from support.kafka import eventually
from support.tokens import TestIssuer

CLIENT_TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CLIENT_TRACEPARENT = f"00-{CLIENT_TRACE_ID}-00f067aa0ba902b7-01"
# Attributes that would carry SQL with its parameters, URLs with review ids or search terms, or
# record keys.
UNSAFE_ATTRIBUTES = ("db.query", "db.statement", "url.path", "url.query", "url.full",
                     "http.target", "http.url", "messaging.kafka.message.key",
                     "messaging.kafka.message_key")


@dataclass
class TracedFlow:
    """What one commissioned review left behind: its id, the values it carried, every span and
    every log line written meanwhile."""

    review_id: str
    personal_values: list[str]
    spans: list[ReadableSpan]
    log_lines: list[str]
    panel_stored_traceparent: str


@contextlib.asynccontextmanager
async def serving(app: FastAPI, runtime: ServiceRuntime, telemetry: Telemetry,
                  headers: dict[str, str]) -> AsyncIterator[httpx.AsyncClient]:
    runtime.telemetry = telemetry
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://service",
                                     headers=headers) as client:
            yield client


@contextlib.contextmanager
def json_logs() -> Iterator[io.StringIO]:
    """Every log line of the test as the services' JSON formatter writes it."""
    output = io.StringIO()
    handler = logging.StreamHandler(output)
    handler.setFormatter(JsonFormatter("test"))
    root = logging.getLogger()
    previous_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield output
    finally:
        root.removeHandler(handler)
        root.setLevel(previous_level)


def _telemetry(service: str, exporter: InMemorySpanExporter) -> Telemetry:
    return Telemetry.create(service, span_processors=[SimpleSpanProcessor(exporter)])


@pytest.fixture
async def traced_flow(fresh_database: str, kafka_bootstrap: str,
                      token_issuer: TestIssuer) -> TracedFlow:
    """Notify a death and commission the review over HTTP, then wait until learning has
    consumed the panel's `PanelOpened` that the commissioning opened."""
    common: dict[str, Any] = {"database_url": fresh_database, "kafka_bootstrap": kafka_bootstrap,
                              "environment": "test", "consumer_initial_backoff_seconds": 0.01,
                              "relay_idle_poll_seconds": 0.02, **token_issuer.settings()}
    exporter = InMemorySpanExporter()
    commissioning_settings = CommissioningSettings(**common)
    panel_settings = PanelSettings(**common, panel_deadline_check_seconds=3600)
    learning_settings = LearningSettings(**common)
    commissioning_runtime = build_commissioning_runtime(commissioning_settings, clock=lambda: NOW)
    panel_runtime = build_panel_runtime(panel_settings, clock=lambda: NOW)
    learning_runtime = build_learning_runtime(learning_settings)
    marker = uuid.uuid4().hex[:8]
    # Free-text values unique to this test, so that finding one in a span means it leaked.
    agency, area = f"Constabulary {marker}", f"Area {marker}"
    manager = token_issuer.headers(role="review_manager", organisation=area)
    rationale = f"Statutory criteria met, reasons {marker}."
    idempotency_key = f"agency-case-{marker}"
    telemetries = [_telemetry(name, exporter) for name in ("commissioning", "panel", "learning")]
    with json_logs() as logs:
        async with (
            serving(build_commissioning_app(commissioning_settings, clock=lambda: NOW,
                                            runtime=commissioning_runtime),
                    commissioning_runtime, telemetries[0], manager) as commissioning,
            serving(build_panel_app(panel_settings, clock=lambda: NOW, runtime=panel_runtime),
                    panel_runtime, telemetries[1], manager),
            serving(build_learning_app(learning_settings, clock=lambda: NOW,
                                       runtime=learning_runtime),
                    learning_runtime, telemetries[2], manager),
        ):
            created = await commissioning.post(
                "/reviews", json=notification(notifying_agency=agency, csp_area=area),
                headers={"Idempotency-Key": idempotency_key})
            assert created.status_code == 201, created.text
            review_id = created.json()["review_id"]
            decided = await commissioning.post(
                f"/reviews/{review_id}/decision-to-commission",
                json={"decided_on": "2026-03-01", "rationale": rationale},
                headers={"traceparent": CLIENT_TRACEPARENT})
            assert decided.status_code == 200, decided.text

            async def learning_consumed_panel_opened() -> bool:
                return any(
                    span.kind is SpanKind.CONSUMER
                    and span.resource.attributes["service.name"] == "learning"
                    and span.attributes.get("messaging.consumer.group.name") == FROM_PANEL
                    and span.attributes.get("cloudevents.event_type") == "dhr.panel.PanelOpened.v1"
                    and span.context.trace_id == int(CLIENT_TRACE_ID, 16)
                    for span in exporter.get_finished_spans())

            await eventually(learning_consumed_panel_opened, timeout=60)
            stored = await panel_runtime.pool.fetchval(
                "SELECT metadata->>'traceparent' FROM events WHERE type = $1 AND data->>'review_id' = $2",
                "dhr.panel.PanelOpened.v1", review_id)
            spans = list(exporter.get_finished_spans())
    for telemetry in telemetries:
        telemetry.shutdown()
    return TracedFlow(review_id, [agency, area, rationale, idempotency_key], spans,
                      logs.getvalue().splitlines(), stored)


def _one(spans: Sequence[ReadableSpan], service: str, kind: SpanKind, **attributes: Any
         ) -> ReadableSpan:
    found = [span for span in spans
             if span.resource.attributes["service.name"] == service and span.kind is kind
             and span.context.trace_id == int(CLIENT_TRACE_ID, 16)
             and all(span.attributes.get(name) == value for name, value in attributes.items())]
    assert len(found) == 1, (service, kind, attributes, [s.name for s in found])
    return found[0]


def _child_of(child: ReadableSpan, parent: ReadableSpan) -> None:
    assert child.parent is not None, f"{child.name} has no parent"
    assert child.parent.span_id == parent.context.span_id, f"{child.name} is not under {parent.name}"
    assert child.context.trace_id == parent.context.trace_id


def _attribute_values(span: ReadableSpan) -> list[str]:
    values: list[str] = []
    for value in (span.attributes or {}).values():
        values.extend(str(item) for item in value) if isinstance(value, (list, tuple)) \
            else values.append(str(value))
    return values


async def test_a_command_is_one_trace_through_the_outbox_and_kafka_to_every_consuming_service(
    traced_flow: TracedFlow,
) -> None:
    spans = traced_flow.spans
    command = _one(spans, "commissioning", SpanKind.SERVER,
                   **{"http.route": "/reviews/{review_id}/decision-to-commission"})
    assert command.name == "POST /reviews/{review_id}/decision-to-commission"
    assert command.parent is not None and command.parent.span_id == int("00f067aa0ba902b7", 16)
    append = _one(spans, "commissioning", SpanKind.CLIENT)
    assert "dhr.commissioning.ReviewCommissioned.v1" in append.attributes["dhr.event.types"]
    _child_of(append, command)
    publish = _one(spans, "commissioning", SpanKind.PRODUCER,
                   **{"cloudevents.event_type": "dhr.commissioning.ReviewCommissioned.v1"})
    assert publish.attributes["messaging.destination.name"] == COMMISSIONING_EVENTS
    _child_of(publish, append)

    panel_consumes = _one(spans, "panel", SpanKind.CONSUMER,
                          **{"cloudevents.event_type": "dhr.commissioning.ReviewCommissioned.v1",
                             "messaging.consumer.group.name": FROM_COMMISSIONING})
    _child_of(panel_consumes, publish)
    panel_append = _one(spans, "panel", SpanKind.CLIENT)
    assert panel_append.attributes["dhr.event.types"] == ("dhr.panel.PanelOpened.v1",)
    _child_of(panel_append, panel_consumes)
    panel_publish = _one(spans, "panel", SpanKind.PRODUCER,
                         **{"cloudevents.event_type": "dhr.panel.PanelOpened.v1"})
    assert panel_publish.attributes["messaging.destination.name"] == PANEL_EVENTS
    _child_of(panel_publish, panel_append)
    learning_consumes = _one(spans, "learning", SpanKind.CONSUMER,
                             **{"cloudevents.event_type": "dhr.panel.PanelOpened.v1",
                                "messaging.consumer.group.name": FROM_PANEL})
    _child_of(learning_consumes, panel_publish)

    # The event records the trace context of the write that made it (its ce_traceparent).
    trace_id, span_id = traced_flow.panel_stored_traceparent.split("-")[1:3]
    assert (int(trace_id, 16), int(span_id, 16)) == (panel_append.context.trace_id,
                                                     panel_append.context.span_id)


async def test_spans_and_logs_hold_no_record_key_payload_or_sql_parameter(
    traced_flow: TracedFlow,
) -> None:
    forbidden = [traced_flow.review_id, *traced_flow.personal_values]
    assert traced_flow.spans
    for span in traced_flow.spans:
        recorded_raw = [name for name in span.attributes or {} if name.startswith(UNSAFE_ATTRIBUTES)]
        assert not recorded_raw, (span.name, recorded_raw)
        text = " ".join([span.name, *_attribute_values(span)])
        for value in forbidden:
            assert value not in text, f"{value!r} in span {span.name}: {span.attributes}"
        for event in span.events:
            assert not any(value in str(event.attributes) for value in forbidden)

    lines = [line for line in traced_flow.log_lines if line.strip()]
    entries = [json.loads(line) for line in lines]  # one JSON object per line
    # The services' lines, not the test client's (httpx logs the URLs it requests).
    lines = [line for line, entry in zip(lines, entries, strict=True)
             if not entry["logger"].startswith("httpx")]
    assert lines
    for line in lines:
        for value in forbidden:
            assert value not in line, f"{value!r} in log line {line}"
    command = _one(traced_flow.spans, "commissioning", SpanKind.SERVER,
                   **{"http.route": "/reviews/{review_id}/decision-to-commission"})
    access = [entry for entry in entries if entry.get("http_route")
              == "/reviews/{review_id}/decision-to-commission"]
    assert len(access) == 1
    assert access[0]["trace_id"] == CLIENT_TRACE_ID
    assert access[0]["span_id"] == format(command.context.span_id, "016x")
    assert access[0]["status_code"] == 200
