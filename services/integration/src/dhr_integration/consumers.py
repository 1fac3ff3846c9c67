"""Kafka side of the integration service: match each public event to the subscriptions it
concerns and record their deliveries.

One consumer group (`integration-matching`) reads the commissioning, panel and recommendations
topics. For each event it remembers the facts later events refer to (an information request's
agency, a recommendation's addressees, the agency that notified a death), works out which
organisations the event concerns (`domain.concern_of`), keeps the event if it concerns any, and
records one pending delivery per active subscription of those organisations whose filter takes
it. All of it runs in the inbox's transaction: a redelivered event makes no second delivery (and
`webhook_deliveries_once` would refuse one). The worker (`delivery.py`) sends them.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from dhr_contracts.envelope import Envelope
from dhr_contracts.registry import UnknownEventType, parse_payload
from dhr_integration import domain
from dhr_integration.domain import (
    ByAddressee,
    ByNotification,
    ByRequest,
    Concern,
    Fact,
    Named,
    NotifyingAgency,
    RecommendationAddressee,
    RequestAgency,
)
from dhr_platform.consumers import Delivery, Effect, PermanentFailure
from dhr_platform.database import Connection


def cloudevent_of(envelope: Envelope) -> dict[str, Any]:
    """The event in CloudEvents structured mode: its attributes and its data in one JSON object."""
    return envelope.model_dump(mode="json", exclude_none=True)


def matching_effect() -> Effect:
    """Record the deliveries an event makes; events that concern no agency are ignored."""

    async def match(connection: Connection, delivery: Delivery) -> None:
        envelope = delivery.envelope()
        kind = domain.KIND_OF_EVENT_TYPE.get(envelope.type)
        if kind is None:
            return
        payload = _parse(envelope)
        for fact in domain.facts_of(payload):
            await remember(connection, fact)
        concern = domain.concern_of(payload)
        if concern is None:
            return
        organisations = sorted({domain.organisation_key(name)
                                for name in await resolve(connection, concern)})
        if not organisations:
            return
        event_sequence = await connection.fetchval(
            """INSERT INTO agency_events (event_id, review_id, type, kind, organisation_keys,
                                          event_time, cloudevent, topic, kafka_partition,
                                          kafka_offset)
               VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8, $9, $10)
               ON CONFLICT (event_id) DO NOTHING RETURNING sequence""",
            envelope.id, envelope.subject, envelope.type, kind.value, organisations,
            envelope.time, cloudevent_of(envelope), delivery.topic, delivery.partition,
            delivery.offset)
        if event_sequence is None:
            return  # the same event came again by another way: already matched
        await connection.execute(
            """INSERT INTO webhook_deliveries (delivery_id, subscription_id, event_sequence,
                                               event_id, review_id)
               SELECT gen_random_uuid(), s.subscription_id, $1, $2, $3
                 FROM webhook_subscriptions s
                WHERE s.deleted_at IS NULL
                  AND s.organisation_key = ANY($4::text[])
                  AND $5 = ANY(s.kinds)
                  AND (cardinality(s.event_types) = 0 OR $6 = ANY(s.event_types))
                ORDER BY s.subscription_id""",
            event_sequence, envelope.id, envelope.subject, organisations, kind.value,
            envelope.type)

    return match


async def remember(connection: Connection, fact: Fact) -> None:
    """Keep a fact that later events refer to (an upsert: the latest event's word wins)."""
    match fact:
        case RequestAgency():
            await connection.execute(
                """INSERT INTO known_request_agencies (request_id, review_id, agency)
                   VALUES ($1, $2, $3)
                   ON CONFLICT (request_id) DO UPDATE SET agency = excluded.agency""",
                fact.request_id, fact.review_id, fact.agency)
        case RecommendationAddressee():
            await connection.execute(
                """INSERT INTO known_recommendation_addressees (recommendation_id, addressee_id,
                                                                name)
                   VALUES ($1, $2, $3)
                   ON CONFLICT (recommendation_id, addressee_id)
                   DO UPDATE SET name = excluded.name""",
                fact.recommendation_id, fact.addressee_id, fact.name)
        case NotifyingAgency():
            await connection.execute(
                """INSERT INTO known_notifying_agencies (review_id, agency) VALUES ($1, $2)
                   ON CONFLICT (review_id) DO UPDATE SET agency = excluded.agency""",
                fact.review_id, fact.agency)


async def resolve(connection: Connection, concern: Concern) -> list[str]:
    """The names of the organisations an event concerns; none when the fact it refers to was
    never seen (the earlier event precedes it on the same topic and partition, so only a topic
    trimmed of its history can cause that)."""
    match concern:
        case Named():
            return list(concern.organisations)
        case ByRequest():
            agency = await connection.fetchval(
                "SELECT agency FROM known_request_agencies WHERE request_id = $1",
                concern.request_id)
        case ByAddressee():
            agency = await connection.fetchval(
                """SELECT name FROM known_recommendation_addressees
                    WHERE recommendation_id = $1 AND addressee_id = $2""",
                concern.recommendation_id, concern.addressee_id)
        case ByNotification():
            agency = await connection.fetchval(
                "SELECT agency FROM known_notifying_agencies WHERE review_id = $1",
                concern.review_id)
    return [] if agency is None else [str(agency)]


def _parse(envelope: Envelope) -> Any:
    try:
        return parse_payload(envelope.type, dict(envelope.data))
    except (ValidationError, UnknownEventType) as error:
        # Name the offending fields only: the values may be personal data.
        fields = ("; ".join(".".join(str(p) for p in item["loc"]) for item in error.errors())
                  if isinstance(error, ValidationError) else "unknown event type")
        raise PermanentFailure(f"invalid {envelope.type}: {fields}") from error

