"""Kafka side of the recommendations service.

- `recommendations-from-panel` on the panel topic: `ReviewReportAgreed` records one
  recommendation per agreed recommendation. Its id is UUID v5 of the review id and the number, so
  a redelivery (or a replay of the topic) records nothing twice: the inbox skips the message, and
  the decider would not record an id twice anyway.
- `recommendations-from-commissioning` on the commissioning topic: `NotificationReceived` is
  remembered for its CSP area only (ADR 0004), which is copied onto `RecommendationRecorded`.

Other event types are ignored; an invalid message of a handled type is dead-lettered.
"""

from __future__ import annotations

import uuid
from typing import Any
from uuid import UUID

from pydantic import ValidationError

from dhr_contracts.commissioning import NotificationReceived
from dhr_contracts.envelope import Envelope
from dhr_contracts.panel import ReviewReportAgreed
from dhr_contracts.recommendations import RecommendationSource
from dhr_contracts.registry import UnknownEventType, parse_payload
from dhr_platform.commands import Aggregates
from dhr_platform.consumers import Delivery, Effect, PermanentFailure
from dhr_platform.database import Connection
from dhr_platform.eventstore import EventMetadata, EventStore
from dhr_recommendations import model
from dhr_recommendations.api import DECIDER, RecommendationsApi, known_area
from dhr_recommendations.model import AddresseeInput
from dhr_recommendations.projections import stream_id

FROM_PANEL = "recommendations-from-panel"
FROM_COMMISSIONING = "recommendations-from-commissioning"

# Fixed namespace for recommendation ids derived from a report: never change it.
REPORT_RECOMMENDATION_NAMESPACE = UUID("5b0c5d3e-6f1a-4c59-9a57-2d0f3f4b8e61")


def recommendation_id_of(review_id: UUID, number: int) -> UUID:
    """The id of recommendation `number` of a review's agreed report (deterministic)."""
    return uuid.uuid5(REPORT_RECOMMENDATION_NAMESPACE, f"{review_id}/{number}")


def _parse(envelope: Envelope) -> Any:
    try:
        return parse_payload(envelope.type, envelope.data)
    except (ValidationError, UnknownEventType) as error:
        raise PermanentFailure(f"invalid {envelope.type}: {_fields(error)}") from error


def panel_effect(api: RecommendationsApi) -> Effect:
    """Record the recommendations of an agreed report."""

    async def react(connection: Connection, delivery: Delivery) -> None:
        envelope = delivery.envelope()
        if envelope.type != ReviewReportAgreed.event_type:
            return
        report: ReviewReportAgreed = _parse(envelope)
        recommendations = Aggregates(api.store, DECIDER)
        area = await known_area(connection, report.review_id)
        metadata = _metadata(envelope, str(report.review_id))
        for agreed in report.recommendations:
            recommendation_id = recommendation_id_of(report.review_id, agreed.number)
            command = api.record_command(
                recommendation_id=recommendation_id, review_id=report.review_id,
                source=RecommendationSource.REVIEW_REPORT, number=agreed.number, text=agreed.text,
                level=agreed.level, addressees=tuple(
                    AddresseeInput(name=name) for name in agreed.addressee_agencies),
                csp_area=area, issued_on=report.agreed_on)
            try:
                await recommendations.handle(connection, stream_id(recommendation_id), command,
                                             metadata)
            except model.DomainError as error:
                field = f" ({error.field})" if error.field else ""
                raise PermanentFailure(
                    f"recommendation {agreed.number} refused{field}: {error.message}") from error

    return react


def commissioning_effect(store: EventStore) -> Effect:
    """Remember each review's CSP area."""

    async def react(connection: Connection, delivery: Delivery) -> None:
        envelope = delivery.envelope()
        if envelope.type != NotificationReceived.event_type:
            return
        notification: NotificationReceived = _parse(envelope)
        await connection.execute(
            """INSERT INTO commissioning_review_areas (review_id, csp_area) VALUES ($1, $2)
               ON CONFLICT (review_id) DO UPDATE SET csp_area = excluded.csp_area""",
            notification.review_id, notification.csp_area)

    return react


def _metadata(envelope: Envelope, subject: str) -> EventMetadata:
    return EventMetadata(subject=subject, actor=envelope.source,
                         correlation_id=envelope.correlationid, causation_id=envelope.id,
                         traceparent=envelope.traceparent)


def _fields(error: Exception) -> str:
    """Name the offending fields without echoing their values."""
    if isinstance(error, ValidationError):
        return "; ".join(
            f"{'.'.join(str(p) for p in item['loc']) or 'body'}: {item['msg']}"
            for item in error.errors(include_input=False))
    return str(error)
