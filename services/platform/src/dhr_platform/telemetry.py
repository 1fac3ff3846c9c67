"""OpenTelemetry for one service process: providers built from settings, and the spans of the
platform's four instrumentation points (HTTP request, event-store append, relay publish,
consumer handling) that carry one trace from a command through Kafka to every consumer.

What a span may hold: route templates, event types and ids, topics, partitions, offsets and
consumer groups. What it never holds: URL paths or queries, record keys (review ids), stream ids,
payloads, SQL parameters or exception messages (they can echo personal data), so spans can leave
the platform for any tracing backend.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from types import TracebackType
from typing import TYPE_CHECKING

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ParentBased
from opentelemetry.trace import Span, SpanKind, StatusCode, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.util.types import AttributeValue
from prometheus_client import CollectorRegistry
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dhr_platform.metrics import PlatformMetrics

if TYPE_CHECKING:
    from dhr_contracts.envelope import Envelope
    from dhr_platform.consumers import Delivery
    from dhr_platform.eventstore import EventMetadata, NewEvent
    from dhr_platform.settings import ObservabilitySettings

log = logging.getLogger(__name__)

INSTRUMENTATION_SCOPE = "dhr_platform"
# Only W3C trace context crosses process boundaries: baggage could carry anything into Kafka.
_PROPAGATOR = TraceContextTextMapPropagator()
_TRACE_HEADERS = ("traceparent", "tracestate")


@dataclass
class Telemetry:
    """A service's tracer and meter, and what /metrics exposes; `shutdown` flushes both."""

    service_name: str
    tracer: Tracer
    metrics: PlatformMetrics
    registry: CollectorRegistry
    tracer_provider: TracerProvider | None = None
    meter_provider: MeterProvider | None = None
    _closed: bool = field(default=False, repr=False)

    @classmethod
    def create(
        cls,
        service_name: str,
        *,
        span_processors: Sequence[SpanProcessor] = (),
        metric_readers: Sequence[MetricReader] = (),
    ) -> Telemetry:
        """Telemetry whose spans go to `span_processors`, and whose metrics are on /metrics and
        in any other `metric_readers`.

        Without span processors no span is recorded, but each still gets its ids: they are
        propagated (a caller's sampling decision included) and written on the log lines.
        """
        from opentelemetry.exporter.prometheus import PrometheusMetricReader

        resource = Resource.create({"service.name": service_name, "service.namespace": "dhr"})
        sampler = None if span_processors else ParentBased(ALWAYS_OFF)
        tracer_provider = TracerProvider(sampler=sampler, resource=resource, shutdown_on_exit=False)
        for processor in span_processors:
            tracer_provider.add_span_processor(processor)
        tracer = tracer_provider.get_tracer(INSTRUMENTATION_SCOPE)
        # A registry per service, not prometheus_client's global one: several services can run
        # in one process (the tests do), and each /metrics shows its own.
        registry = CollectorRegistry(auto_describe=True)
        prometheus = PrometheusMetricReader(registry=registry, scope_info_enabled=False)
        meter_provider = MeterProvider(metric_readers=[prometheus, *metric_readers],
                                       resource=resource, shutdown_on_exit=False)
        metrics = PlatformMetrics(meter_provider.get_meter(INSTRUMENTATION_SCOPE))
        return cls(service_name, tracer, metrics, registry, tracer_provider, meter_provider)

    @classmethod
    def from_settings(cls, settings: ObservabilitySettings, default_service_name: str) -> Telemetry:
        """OTLP/HTTP export of spans and metrics when an endpoint is configured; else spans are
        not recorded (their ids still propagate and reach the logs) and metrics are only on
        /metrics."""
        service_name = settings.otel_service_name or default_service_name
        if not settings.otel_endpoint:
            return cls.create(service_name)
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        base = settings.otel_endpoint.rstrip("/")
        telemetry = cls.create(
            service_name,
            span_processors=[BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{base}/v1/traces"))],
            metric_readers=[PeriodicExportingMetricReader(
                OTLPMetricExporter(endpoint=f"{base}/v1/metrics"),
                export_interval_millis=settings.otel_metrics_export_seconds * 1000)],
        )
        log.info("exporting traces and metrics over OTLP/HTTP to %s as %s", base, service_name)
        return telemetry

    @classmethod
    def disabled(cls) -> Telemetry:
        """No recording at all; what platform parts use when not given telemetry."""
        from opentelemetry.metrics import NoOpMeterProvider

        return cls("unknown", trace.NoOpTracer(),
                   PlatformMetrics(NoOpMeterProvider().get_meter(INSTRUMENTATION_SCOPE)),
                   CollectorRegistry())

    def shutdown(self) -> None:
        """Export what is buffered, then stop the exporters (once)."""
        if self._closed:
            return
        self._closed = True
        for provider in (self.tracer_provider, self.meter_provider):
            if provider is None:
                continue
            try:
                provider.shutdown()
            except Exception:  # telemetry must never fail a shutdown
                log.warning("telemetry shutdown failed", exc_info=True)


# --- Trace context in W3C form ---------------------------------------------------------------


def current_traceparent() -> str | None:
    """The W3C traceparent of the current span, or None outside any trace."""
    if not trace.get_current_span().get_span_context().is_valid:
        return None
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return carrier.get("traceparent")


def context_from(headers: Mapping[str, str]) -> Context:
    """The trace context carried by HTTP or Kafka headers (empty when there is none)."""
    return _PROPAGATOR.extract({name: headers[name] for name in _TRACE_HEADERS if name in headers})


def context_of_delivery(delivery: Delivery) -> Context:
    """A record's trace context: the plain `traceparent` header (the publishing span), else the
    CloudEvents `ce_traceparent` extension (the write that recorded the event)."""
    headers = dict(delivery.headers)
    if "traceparent" not in headers and "ce_traceparent" in headers:
        headers["traceparent"] = headers["ce_traceparent"]
    return context_from(headers)


def mark_failed(span: Span, error: BaseException) -> None:
    """Error status named by the exception's type only: its message may hold personal data."""
    span.set_attribute("error.type", type(error).__qualname__)
    span.set_status(StatusCode.ERROR, type(error).__qualname__)


# --- Instrumentation points ------------------------------------------------------------------


@contextmanager
def appending(tracer: Tracer, events: Sequence[NewEvent],
              metadata: EventMetadata) -> Iterator[EventMetadata]:
    """A span around an append; the events record its trace context, so that the relay's
    publish (and through it every consumer) continues this trace.

    Without a current trace the metadata keeps whatever trace context it was given.
    """
    attributes: dict[str, AttributeValue] = {
        "db.system.name": "postgresql",
        "db.operation.name": "INSERT",
        "db.collection.name": "events",
        "dhr.event.count": len(events),
        "dhr.event.types": sorted({event.type for event in events}),
    }
    with tracer.start_as_current_span("eventstore.append", kind=SpanKind.CLIENT,
                                      attributes=attributes, record_exception=False,
                                      set_status_on_exception=False) as span:
        traceparent = current_traceparent()
        try:
            yield metadata if traceparent is None else replace(metadata, traceparent=traceparent)
        except BaseException as error:
            mark_failed(span, error)
            raise


class PublishSpans:
    """One producer span per record of a relay batch, ended when Kafka acknowledged the batch.

    Each span is a child of the trace context the event was recorded with, and the record's
    plain `traceparent` header names the span, so a consumer's span is the publish's child; the
    `ce_traceparent` extension stays the recording write's, part of the immutable CloudEvent.
    """

    def __init__(self, tracer: Tracer, topic: str):
        self.tracer = tracer
        self.topic = topic
        self.spans: list[Span] = []

    def headers_for(self, envelope: Envelope) -> list[tuple[str, bytes]]:
        parent = context_from({} if envelope.traceparent is None
                              else {"traceparent": envelope.traceparent})
        span = self.tracer.start_span(
            f"send {self.topic}", context=parent, kind=SpanKind.PRODUCER,
            attributes={
                "messaging.system": "kafka",
                "messaging.operation.type": "send",
                "messaging.destination.name": self.topic,
                "messaging.message.id": str(envelope.id),
                "cloudevents.event_id": str(envelope.id),
                "cloudevents.event_type": envelope.type,
            },
        )
        self.spans.append(span)
        carrier: dict[str, str] = {}
        _PROPAGATOR.inject(carrier, context=trace.set_span_in_context(span))
        headers = [(name, value) for name, value in envelope.kafka_headers()
                   if name not in _TRACE_HEADERS]
        headers += [(name, value.encode()) for name, value in carrier.items()]
        return headers

    def __enter__(self) -> PublishSpans:
        return self

    def __exit__(self, error_type: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        for span in self.spans:
            if error is not None:
                mark_failed(span, error)
            span.end()


@contextmanager
def consuming(tracer: Tracer, consumer: str, delivery: Delivery) -> Iterator[Span]:
    """The consumer span of one record: a child of the span that published it."""
    attributes: dict[str, AttributeValue] = {
        "messaging.system": "kafka",
        "messaging.operation.type": "process",
        "messaging.destination.name": delivery.topic,
        "messaging.consumer.group.name": consumer,
        "messaging.destination.partition.id": str(delivery.partition),
        "messaging.kafka.offset": delivery.offset,
    }
    for header, attribute in (("ce_id", "cloudevents.event_id"),
                              ("ce_type", "cloudevents.event_type")):
        if header in delivery.headers:
            attributes[attribute] = delivery.headers[header]
    with tracer.start_as_current_span(
        f"process {delivery.topic}", context=context_of_delivery(delivery),
        kind=SpanKind.CONSUMER, attributes=attributes, record_exception=False,
        set_status_on_exception=False,
    ) as span:
        try:
            yield span
        except BaseException as error:
            mark_failed(span, error)
            raise


# --- HTTP -----------------------------------------------------------------------------------

COMMAND_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Probes and scrapes: polled every few seconds, worth neither a span nor an access log line.
QUIET_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
access_log = logging.getLogger("dhr_platform.access")


def _route_template(scope: Scope) -> str | None:
    route = scope.get("route")
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    return template if isinstance(template, str) else None


class RequestTelemetry:
    """ASGI middleware: a server span per request (a child of the caller's `traceparent`), the
    command latency histogram, and one access log line.

    Requests are named by their route template (`POST /reviews/{review_id}/chair`), never by
    their path or query, which hold review ids and search terms.
    """

    def __init__(self, app: ASGIApp, telemetry: Callable[[], Telemetry]):
        self.app = app
        self.telemetry = telemetry

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope.get("path") in QUIET_PATHS:
            await self.app(scope, receive, send)
            return
        telemetry = self.telemetry()
        method = str(scope.get("method", "GET"))
        headers = {name.decode("latin-1"): value.decode("latin-1")
                   for name, value in scope.get("headers") or () if name in (b"traceparent",
                                                                            b"tracestate")}
        status = 500
        started = time.perf_counter()

        async def send_and_note_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        with telemetry.tracer.start_as_current_span(
            method, context=context_from(headers), kind=SpanKind.SERVER,
            attributes={"http.request.method": method, "url.scheme": scope.get("scheme", "http")},
            record_exception=False, set_status_on_exception=False,
        ) as span:
            error: BaseException | None = None
            try:
                await self.app(scope, receive, send_and_note_status)
            except BaseException as raised:
                error = raised
                raise
            finally:
                route = _route_template(scope)
                seconds = time.perf_counter() - started
                span.set_attribute("http.response.status_code", status)
                if route is not None:
                    span.set_attribute("http.route", route)
                    span.update_name(f"{method} {route}")
                if error is not None:
                    mark_failed(span, error)
                elif status >= 500:
                    span.set_attribute("error.type", str(status))
                    span.set_status(StatusCode.ERROR)
                if method in COMMAND_METHODS:
                    telemetry.metrics.command_duration.record(seconds, {
                        "method": method, "route": route or "unmatched", "status_code": status})
                access_log.info("%s %s %d %.1fms", method, route or "(no route)", status,
                                seconds * 1000, extra={
                                    "http_method": method, "http_route": route,
                                    "status_code": status,
                                    "duration_ms": round(seconds * 1000, 1)})
