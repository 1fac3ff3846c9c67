"""Kafka side of the commissioning service: death notifications from agency case systems, and
the panel's agreement of the review report."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import datetime

from pydantic import ValidationError

from dhr_commissioning import domain
from dhr_commissioning.api import DECIDER, REVIEWS, NotifyDeathBody
from dhr_commissioning.config import CommissioningSettings
from dhr_commissioning.projections import stream_id
from dhr_contracts.commissioning import NotificationReceived
from dhr_contracts.panel import ReviewReportAgreed
from dhr_contracts.registry import parse_payload
from dhr_platform.commands import Aggregates
from dhr_platform.consumers import Delivery, Effect, PermanentFailure
from dhr_platform.database import Connection
from dhr_platform.eventstore import EventMetadata, EventStore

INTAKE_CONSUMER = "commissioning-intake"
PANEL_CONSUMER = "commissioning-from-panel"

# Review ids of notifications that arrive over Kafka are derived from the message id, so the
# same notification can never open two reviews, whatever happens to the inbox.
INTAKE_NAMESPACE = uuid.UUID("5d3c1a8e-6f0b-4f6e-9a57-2f1c1a0b7d11")


def review_id_for(message_id: str) -> uuid.UUID:
    return uuid.uuid5(INTAKE_NAMESPACE, message_id)


PERSONAL_FIELDS = NotificationReceived.personal_fields()
"""What a notification on the intake topic may not hold: on Kafka it would stay in plain text."""


def without_personal_data(value: bytes) -> bytes:
    """A refused intake message as its dead-letter copy holds it: without the names it carried
    (a message that is not a JSON object is kept as it is: nothing in it is known as a name)."""
    try:
        raw = json.loads(value)
    except ValueError:
        return value
    if not isinstance(raw, dict) or not PERSONAL_FIELDS & raw.keys():
        return value
    kept = {name: field for name, field in raw.items() if name not in PERSONAL_FIELDS}
    return json.dumps(kept, ensure_ascii=False, separators=(",", ":")).encode()


def intake_effect(store: EventStore, settings: CommissioningSettings,
                  clock: Callable[[], datetime]) -> Effect:
    """Validate a notification exactly as the HTTP intake does, then open the review case."""
    reviews = Aggregates(store, DECIDER, REVIEWS)

    async def receive(connection: Connection, delivery: Delivery) -> None:
        try:
            raw = json.loads(delivery.value)
            named = sorted(PERSONAL_FIELDS & raw.keys()) if isinstance(raw, dict) else []
            if named:
                raise PermanentFailure(
                    f"names are not taken from Kafka ({', '.join(named)}): send them over "
                    "HTTPS (POST /reviews); the dead-letter copy leaves them out")
            body = NotifyDeathBody.model_validate(raw)
        except (ValueError, ValidationError) as error:
            raise PermanentFailure(f"invalid death notification: {_fields(error)}") from error
        review_id = review_id_for(delivery.message_id)
        command = domain.ReceiveNotification(
            review_id=review_id, received_at=clock(),
            decision_due_months=settings.decision_due_months, **body.model_dump())
        actor = delivery.headers.get("ce_source") or f"kafka:{delivery.topic}"
        metadata = EventMetadata(
            subject=str(review_id), actor=actor,
            correlation_id=_uuid_or_new(delivery.headers.get("ce_correlationid")),
            causation_id=_uuid_or_none(delivery.headers.get("ce_id")),
            traceparent=delivery.headers.get("traceparent") or delivery.headers.get("ce_traceparent"),
        )
        try:
            await reviews.handle(connection, stream_id(review_id), command, metadata)
        except domain.DomainError as error:
            field = f" ({error.field})" if error.field else ""
            raise PermanentFailure(f"notification refused{field}: {error.message}") from error

    return receive


def report_agreed_effect(store: EventStore) -> Effect:
    """Record on the review case that the panel agreed its report; other panel events are not
    ours. A redelivery records nothing twice: the inbox skips it, and the decider records a
    report version only once."""
    reviews = Aggregates(store, DECIDER, REVIEWS)

    async def record(connection: Connection, delivery: Delivery) -> None:
        envelope = delivery.envelope()
        if envelope.type != ReviewReportAgreed.event_type:
            return
        try:
            payload = parse_payload(envelope.type, envelope.data)
        except ValidationError as error:
            raise PermanentFailure(f"invalid {envelope.type}: {_fields(error)}") from error
        assert isinstance(payload, ReviewReportAgreed)
        command = domain.RecordReportAgreed(
            review_id=payload.review_id, agreed_on=payload.agreed_on,
            report_version=payload.report_version,
            recommendation_count=len(payload.recommendations), panel_event_id=envelope.id)
        metadata = EventMetadata(
            subject=str(payload.review_id), actor=envelope.actor or envelope.source,
            correlation_id=envelope.correlationid, causation_id=envelope.id,
            traceparent=envelope.traceparent or delivery.headers.get("traceparent"))
        try:
            await reviews.handle(connection, stream_id(payload.review_id), command, metadata)
        except domain.DomainError as error:
            field = f" ({error.field})" if error.field else ""
            raise PermanentFailure(f"report agreement refused{field}: {error.message}") from error

    return record


def _fields(error: Exception) -> str:
    """Name the offending fields without echoing their values (they may be personal data)."""
    if isinstance(error, ValidationError):
        return "; ".join(
            f"{'.'.join(str(p) for p in item['loc']) or 'body'}: {item['msg']}"
            for item in error.errors(include_input=False)
        )
    return "the message is not valid JSON"


def _uuid_or_none(value: str | None) -> uuid.UUID | None:
    try:
        return None if value is None else uuid.UUID(value)
    except ValueError:
        return None


def _uuid_or_new(value: str | None) -> uuid.UUID:
    return _uuid_or_none(value) or uuid.uuid4()
