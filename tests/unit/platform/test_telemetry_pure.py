"""Tracing, metrics and JSON logs of the platform without servers: spans into an in-memory
exporter, metrics rendered as Prometheus text."""

from __future__ import annotations

import io
import json
import logging
import threading
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar
from uuid import uuid4

import httpx
import pytest
from fastapi import APIRouter
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from prometheus_client import generate_latest

from dhr_contracts.envelope import Envelope
from dhr_platform.consumers import Delivery
from dhr_platform.eventstore import EventMetadata, NewEvent
from dhr_platform.http import create_app
from dhr_platform.logs import JsonFormatter, configure_logging
from dhr_platform.metrics import metrics_router
from dhr_platform.policy import Permissions
from dhr_platform.principal import Role
from dhr_platform.settings import PlatformSettings
from dhr_platform.telemetry import (
    PublishSpans,
    RequestTelemetry,
    Telemetry,
    appending,
    consuming,
    context_of_delivery,
)
from support.tokens import ADMIN, TestIssuer

CALLER_TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER = f"00-{CALLER_TRACE_ID}-00f067aa0ba902b7-01"
REVIEW_ID = "0b9f6f1e-1c1e-4c59-9b1c-3a4d5e6f7a8b"


PERMISSIONS = Permissions({"use things": set(Role)})


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def telemetry(exporter: InMemorySpanExporter) -> Iterator[Telemetry]:
    telemetry = Telemetry.create("test", span_processors=[SimpleSpanProcessor(exporter)])
    yield telemetry
    telemetry.shutdown()


@pytest.fixture
async def client(telemetry: Telemetry, token_issuer: TestIssuer
                 ) -> AsyncIterator[httpx.AsyncClient]:
    router = APIRouter(dependencies=[PERMISSIONS.requires("use things")])

    @router.post("/reviews/{review_id}/chair", status_code=201)
    async def appoint(review_id: str) -> dict[str, str]:
        return {"review_id": review_id}

    @router.get("/reviews/{review_id}")
    async def show(review_id: str) -> dict[str, str]:
        return {"review_id": review_id}

    @router.post("/reviews/{review_id}/boom")
    async def boom(review_id: str) -> None:
        raise ValueError(f"cannot handle {review_id}")

    async def refresh() -> None:
        return None

    app = create_app(title="test", version="1", description="test",
                     routers=[router, metrics_router(lambda: telemetry.registry, refresh)],
                     readiness={}, error_statuses={}, max_body_bytes=1024,
                     token_verifier=token_issuer.verifier())
    app.add_middleware(RequestTelemetry, telemetry=lambda: telemetry)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test",
                                 headers=token_issuer.headers(ADMIN)) as client:
        yield client


async def test_a_request_span_is_named_by_its_route_and_continues_the_callers_trace(
    client: httpx.AsyncClient, exporter: InMemorySpanExporter
) -> None:
    response = await client.post(f"/reviews/{REVIEW_ID}/chair?area=Norfolk",
                                 headers={"traceparent": CALLER})
    assert response.status_code == 201
    (span,) = exporter.get_finished_spans()
    assert span.name == "POST /reviews/{review_id}/chair"
    assert span.kind is SpanKind.SERVER
    assert span.context.trace_id == int(CALLER_TRACE_ID, 16)
    assert span.parent is not None and span.parent.span_id == int("00f067aa0ba902b7", 16)
    assert dict(span.attributes) == {"http.request.method": "POST", "url.scheme": "http",
                                     "http.route": "/reviews/{review_id}/chair",
                                     "http.response.status_code": 201}


async def test_commands_are_timed_by_route_and_queries_and_probes_are_not(
    client: httpx.AsyncClient, exporter: InMemorySpanExporter
) -> None:
    await client.post(f"/reviews/{REVIEW_ID}/chair")
    await client.get(f"/reviews/{REVIEW_ID}")
    await client.get("/healthz")
    metrics = (await client.get("/metrics")).text
    assert ('dhr_command_duration_seconds_count{method="POST",'
            'route="/reviews/{review_id}/chair",status_code="201"} 1.0') in metrics
    assert 'method="GET"' not in metrics
    assert REVIEW_ID not in metrics
    assert [span.name for span in exporter.get_finished_spans()] == [
        "POST /reviews/{review_id}/chair", "GET /reviews/{review_id}"]


async def test_a_failed_request_is_marked_by_the_error_type_alone(
    client: httpx.AsyncClient, exporter: InMemorySpanExporter
) -> None:
    response = await client.post(f"/reviews/{REVIEW_ID}/boom")
    assert response.status_code == 500
    (span,) = exporter.get_finished_spans()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == "ValueError"
    assert span.attributes["http.response.status_code"] == 500
    assert REVIEW_ID not in repr(span.to_json())


def test_an_append_in_a_trace_records_its_span_and_keeps_what_it_was_given_outside_one(
    telemetry: Telemetry, exporter: InMemorySpanExporter
) -> None:
    given = EventMetadata(subject=REVIEW_ID, actor="test", traceparent=CALLER)
    events = [NewEvent("dhr.test.Happened.v1", {"review_id": REVIEW_ID})]
    with appending(Telemetry.disabled().tracer, events, given) as untraced:
        assert untraced == given
    with appending(telemetry.tracer, events, given) as traced:
        pass
    (span,) = exporter.get_finished_spans()
    assert traced.traceparent is not None
    assert traced.traceparent.split("-")[1:3] == [f"{span.context.trace_id:032x}",
                                                 f"{span.context.span_id:016x}"]
    assert span.attributes["dhr.event.types"] == ("dhr.test.Happened.v1",)
    assert REVIEW_ID not in repr(span.to_json())


def _envelope(traceparent: str | None) -> Envelope:
    return Envelope(id=uuid4(), source="/dhr/test", type="dhr.test.Happened.v1",
                    subject=REVIEW_ID, time=datetime(2026, 3, 2, tzinfo=UTC), stream="s",
                    streamversion=1, correlationid=uuid4(), actor="test",
                    traceparent=traceparent, data={"review_id": REVIEW_ID})


def test_a_published_record_names_its_publish_span_and_keeps_the_recorded_ce_traceparent(
    telemetry: Telemetry, exporter: InMemorySpanExporter
) -> None:
    with PublishSpans(telemetry.tracer, "dhr.test.events.v1") as spans:
        headers = dict(spans.headers_for(_envelope(CALLER)))
    (span,) = exporter.get_finished_spans()
    assert span.kind is SpanKind.PRODUCER
    assert span.parent is not None and span.parent.span_id == int("00f067aa0ba902b7", 16)
    assert headers["ce_traceparent"] == CALLER.encode()
    assert headers["traceparent"] == (
        f"00-{CALLER_TRACE_ID}-{span.context.span_id:016x}-01".encode())
    assert REVIEW_ID not in repr(span.to_json())


def test_a_record_without_a_plain_traceparent_continues_its_ce_traceparent(
    telemetry: Telemetry, exporter: InMemorySpanExporter
) -> None:
    delivery = Delivery("dhr.test.events.v1", 2, 41, REVIEW_ID.encode(), b"{}",
                        {"ce_traceparent": CALLER, "ce_type": "dhr.test.Happened.v1"})
    assert context_of_delivery(delivery)
    with consuming(telemetry.tracer, "test-group", delivery):
        pass
    (span,) = exporter.get_finished_spans()
    assert span.kind is SpanKind.CONSUMER
    assert span.context.trace_id == int(CALLER_TRACE_ID, 16)
    assert span.attributes["messaging.consumer.group.name"] == "test-group"
    assert span.attributes["messaging.kafka.offset"] == 41
    assert REVIEW_ID not in repr(span.to_json())


def test_without_an_exporter_spans_are_not_recorded_but_their_ids_still_flow() -> None:
    telemetry = Telemetry.from_settings(PlatformSettings(), "dhr-test")
    try:
        with telemetry.tracer.start_as_current_span("request") as span:
            assert not span.is_recording()
            assert span.get_span_context().is_valid
    finally:
        telemetry.shutdown()


def test_log_lines_are_json_objects_with_the_current_trace_and_span_ids(
    telemetry: Telemetry
) -> None:
    output = io.StringIO()
    logger = logging.getLogger("test.json")
    handler = logging.StreamHandler(output)
    handler.setFormatter(JsonFormatter("dhr-test"))
    logger.addHandler(handler)
    try:
        with telemetry.tracer.start_as_current_span("work") as span:
            logger.warning("took %d ms", 12, extra={"duration_ms": 12})
        try:
            raise RuntimeError("failed")
        except RuntimeError:
            logger.exception("outside a trace")
    finally:
        logger.removeHandler(handler)
    first, second = (json.loads(line) for line in output.getvalue().splitlines())
    assert first["message"] == "took 12 ms" and first["level"] == "WARNING"
    assert first["service"] == "dhr-test" and first["duration_ms"] == 12
    assert first["trace_id"] == f"{span.get_span_context().trace_id:032x}"
    assert first["span_id"] == f"{span.get_span_context().span_id:016x}"
    assert "trace_id" not in second
    assert second["error_type"] == "RuntimeError" and "Traceback" in second["stack"]


def test_configured_logging_sends_every_logger_to_one_json_stream() -> None:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    output = io.StringIO()
    # As another configuration (uvicorn's, a library's dictConfig) may have left them.
    logging.getLogger("uvicorn.error").disabled = True
    logging.getLogger("faststream.kafka").setLevel(logging.ERROR)
    logging.getLogger("faststream").setLevel(logging.ERROR)
    try:
        configure_logging("dhr-test", stream=output)
        logging.getLogger("uvicorn.error").info("started")
        logging.getLogger("faststream.kafka").info("Received")
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
    lines = [json.loads(line) for line in output.getvalue().splitlines()]
    assert [(line["logger"], line["message"]) for line in lines] == [
        ("uvicorn.error", "started"), ("faststream.kafka", "Received")]


def test_the_platform_metrics_have_their_documented_prometheus_names() -> None:
    telemetry = Telemetry.create("dhr-test")
    metrics = telemetry.metrics
    metrics.command_duration.record(0.02, {"method": "POST", "route": "/r", "status_code": 201})
    metrics.outbox_backlog_events.set(3)
    metrics.outbox_oldest_event_age.set(1.5)
    metrics.consumer_lag.set(4, {"consumer_group": "g", "topic": "t"})
    metrics.record_applied("g", "t", datetime.now(UTC).isoformat())
    metrics.record_dead_letter("g", "t")
    names = {line.split("{")[0].split(" ")[0]
             for line in generate_latest(telemetry.registry).decode().splitlines()
             if line and not line.startswith("#")}
    telemetry.shutdown()
    assert {"dhr_command_duration_seconds_bucket", "dhr_outbox_backlog_events",
            "dhr_outbox_oldest_event_age_seconds", "dhr_consumer_lag_messages",
            "dhr_projection_lag_seconds_count", "dhr_dead_letters_total"} <= names


def test_the_opentelemetry_variables_configure_export_and_dhr_ones_win(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318")
    monkeypatch.setenv("OTEL_SERVICE_NAME", "commissioning-eu")
    settings = PlatformSettings()
    assert (settings.otel_endpoint, settings.otel_service_name) == ("http://collector:4318",
                                                                   "commissioning-eu")
    monkeypatch.setenv("DHR_OTEL_ENDPOINT", "https://otel.internal:4318")
    assert PlatformSettings().otel_endpoint == "https://otel.internal:4318"
    monkeypatch.setenv("DHR_OTEL_ENDPOINT", "collector:4317")
    with pytest.raises(ValueError, match="http"):
        PlatformSettings()


class _Collector(BaseHTTPRequestHandler):
    """A stand-in OTLP/HTTP receiver on the loopback interface: keeps what it is sent."""

    received: ClassVar[list[tuple[str, bytes]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((self.path, body))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_with_an_endpoint_spans_and_metrics_are_exported_over_otlp_http() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Collector.received.clear()
    try:
        settings = PlatformSettings(otel_endpoint=f"http://127.0.0.1:{server.server_port}/",
                                    otel_service_name="dhr-exported")
        telemetry = Telemetry.from_settings(settings, "dhr-test")
        with telemetry.tracer.start_as_current_span("work"):
            telemetry.metrics.record_dead_letter("g", "t")
        telemetry.shutdown()  # flushes both
    finally:
        server.shutdown()
        server.server_close()
    paths = {path for path, _ in _Collector.received}
    assert paths == {"/v1/traces", "/v1/metrics"}
    traces = ExportTraceServiceRequest.FromString(
        next(body for path, body in _Collector.received if path == "/v1/traces"))
    (resource_spans,) = traces.resource_spans
    service = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
    assert service["service.name"] == "dhr-exported"
    assert [span.name for scope in resource_spans.scope_spans for span in scope.spans] == ["work"]
    metrics = ExportMetricsServiceRequest.FromString(
        next(body for path, body in _Collector.received if path == "/v1/metrics"))
    names = {metric.name for rm in metrics.resource_metrics for sm in rm.scope_metrics
             for metric in sm.metrics}
    assert "dhr.dead_letters" in names
