"""Kafka side of the learning service: what it needs to know of reviews from other services.

From the commissioning service: a review's CSP area and date of death (NotificationReceived),
that it is commissioned (ReviewCommissioned) and who chairs it (ChairAppointed, for access);
from the panel service: that the report was agreed
(ReviewReportAgreed). These are facts of other services, so they are kept in `known_reviews`, a
projection of foreign events, rather than restated as learning events. Every write is an
idempotent upsert and runs in the inbox's transaction: a redelivery has no second effect.
"""

from __future__ import annotations

from pydantic import ValidationError

from dhr_contracts.commissioning import ChairAppointed, NotificationReceived, ReviewCommissioned
from dhr_contracts.panel import ReviewReportAgreed
from dhr_contracts.registry import UnknownEventType, parse_payload
from dhr_learning.projections import (
    record_chair,
    record_commissioned,
    record_notified,
    record_report_agreed,
)
from dhr_platform.consumers import Delivery, Effect, PermanentFailure
from dhr_platform.database import Connection

FROM_COMMISSIONING = "learning-from-commissioning"
FROM_PANEL = "learning-from-panel"

_COMMISSIONING_TYPES = {NotificationReceived.event_type, ReviewCommissioned.event_type,
                        ChairAppointed.event_type}
_PANEL_TYPES = {ReviewReportAgreed.event_type}


def commissioning_effect() -> Effect:
    """Remember each review's area, date of death, commissioning and Chair; ignore the rest."""

    async def apply(connection: Connection, delivery: Delivery) -> None:
        envelope = delivery.envelope()
        if envelope.type not in _COMMISSIONING_TYPES:
            return
        match _payload(envelope.type, envelope.data):
            case NotificationReceived() as notified:
                await record_notified(connection, notified.review_id, notified.csp_area,
                                      notified.date_of_death)
            case ReviewCommissioned() as commissioned:
                await record_commissioned(connection, commissioned.review_id,
                                          commissioned.decided_on)
            case ChairAppointed() as appointed:
                await record_chair(connection, appointed.review_id, appointed.chair_subject)

    return apply


def panel_effect() -> Effect:
    """Mark a review's report as agreed; ignore the panel's other events."""

    async def apply(connection: Connection, delivery: Delivery) -> None:
        envelope = delivery.envelope()
        if envelope.type not in _PANEL_TYPES:
            return
        agreed = _payload(envelope.type, envelope.data)
        if isinstance(agreed, ReviewReportAgreed):
            await record_report_agreed(connection, agreed.review_id, agreed.agreed_on)

    return apply


def _payload(event_type: str, data: dict[str, object]) -> object:
    try:
        return parse_payload(event_type, dict(data))
    except (UnknownEventType, ValidationError) as error:
        # Name the offending fields only: the values may be personal data.
        fields = ("; ".join(".".join(str(p) for p in item["loc"]) for item in error.errors())
                  if isinstance(error, ValidationError) else "unknown event type")
        raise PermanentFailure(f"invalid {event_type}: {fields}") from error
