"""Turning stored events into CloudEvents envelopes for Kafka."""

from __future__ import annotations

from uuid import UUID

from dhr_contracts.envelope import Envelope
from dhr_platform.eventstore import RecordedEvent


def to_envelope(event: RecordedEvent, source: str) -> Envelope:
    """The published form of a stored event."""
    metadata = event.metadata
    causation = metadata.get("causation_id")
    return Envelope(
        id=event.event_id,
        source=source,
        type=event.type,
        subject=metadata["subject"],
        time=event.recorded_at,
        stream=event.stream_id,
        streamversion=event.stream_version,
        correlationid=UUID(metadata["correlation_id"]),
        causationid=None if causation is None else UUID(causation),
        actor=metadata["actor"],
        traceparent=metadata.get("traceparent"),
        datakeyid=metadata.get("data_key_id"),
        data=event.data,
    )
