"""Kafka side of the panel service: the commissioning service's events open the panel.

`ReviewCommissioned` opens the panel; `ChairAppointed` records the Chair (opening the panel if it
came first); `NotificationReceived` is remembered only for its CSP area, which the panel is
opened with. Other event types on the topic are ignored. A redelivered event changes nothing:
the inbox skips it, and the decider would refuse to open or record anything twice anyway.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from dhr_contracts.commissioning import ChairAppointed, NotificationReceived, ReviewCommissioned
from dhr_contracts.envelope import Envelope
from dhr_contracts.panel import PanelOpenedBecause
from dhr_contracts.registry import UnknownEventType, parse_payload
from dhr_panel import model
from dhr_panel.api import DECIDER, PANELS
from dhr_panel.projections import stream_id
from dhr_platform.commands import Aggregates
from dhr_platform.consumers import Delivery, Effect, PermanentFailure
from dhr_platform.database import Connection
from dhr_platform.eventstore import EventMetadata, EventStore

FROM_COMMISSIONING = "panel-from-commissioning"

HANDLED_TYPES = frozenset({NotificationReceived.event_type, ReviewCommissioned.event_type,
                           ChairAppointed.event_type})


def commissioning_effect(store: EventStore) -> Effect:
    """Open the panel and record the Chair from the commissioning service's events."""
    panels = Aggregates(store, DECIDER, PANELS)

    async def react(connection: Connection, delivery: Delivery) -> None:
        envelope = delivery.envelope()
        if envelope.type not in HANDLED_TYPES:
            return
        try:
            payload: Any = parse_payload(envelope.type, envelope.data)
        except (ValidationError, UnknownEventType) as error:
            raise PermanentFailure(f"invalid {envelope.type}: {_fields(error)}") from error
        command: model.Command
        match payload:
            case NotificationReceived():
                await connection.execute(
                    """INSERT INTO commissioning_review_areas (review_id, csp_area)
                       VALUES ($1, $2) ON CONFLICT (review_id) DO UPDATE
                       SET csp_area = excluded.csp_area""",
                    payload.review_id, payload.csp_area)
                return
            case ReviewCommissioned():
                area = await connection.fetchval(
                    "SELECT csp_area FROM commissioning_review_areas WHERE review_id = $1",
                    payload.review_id)
                command = model.OpenPanel(
                    review_id=payload.review_id, opened_on=payload.decided_on,
                    opened_because=PanelOpenedBecause.REVIEW_COMMISSIONED,
                    csp_area=area, commissioned_on=payload.decided_on)
            case ChairAppointed():
                command = model.RecordChair(review_id=payload.review_id,
                                            appointed_on=payload.appointed_on,
                                            chair_name=payload.chair_name,
                                            chair_subject=payload.chair_subject)
            case _:
                return
        try:
            await panels.handle(connection, stream_id(payload.review_id), command,
                                _metadata(envelope, str(payload.review_id)))
        except model.DomainError as error:
            field = f" ({error.field})" if error.field else ""
            raise PermanentFailure(f"{envelope.type} refused{field}: {error.message}") from error

    return react


def _metadata(envelope: Envelope, subject: str) -> EventMetadata:
    return EventMetadata(subject=subject, actor=envelope.source,
                         correlation_id=envelope.correlationid, causation_id=envelope.id,
                         traceparent=envelope.traceparent)


def _fields(error: Exception) -> str:
    """Name the offending fields without echoing their values (they may be personal data)."""
    if isinstance(error, ValidationError):
        return "; ".join(
            f"{'.'.join(str(p) for p in item['loc']) or 'body'}: {item['msg']}"
            for item in error.errors(include_input=False))
    return str(error)
