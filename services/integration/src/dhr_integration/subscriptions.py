"""Subscriptions, their delivery logs and replays in PostgreSQL, and how the API shows them.

Every query is scoped to the calling organisation (`organisation_key`): an organisation sees and
changes its own subscriptions only, and another's look as if they did not exist.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from dhr_integration.domain import EventKind, organisation_key
from dhr_platform.database import Connection

DELIVERY_STATUSES = ("pending", "delivered", "failed", "cancelled")


def location_of(subscription_id: UUID | str) -> str:
    return f"/webhook-subscriptions/{subscription_id}"


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def subscription_view(row: Any) -> dict[str, Any]:
    """A subscription as the API shows it (never its secret, which is shown once, at creation)."""
    view: dict[str, Any] = {
        "subscription_id": str(row["subscription_id"]),
        "organisation": row["organisation"],
        "url": row["url"],
        "kinds": list(row["kinds"]),
        "event_types": list(row["event_types"]),
        "description": row["description"],
        "created_at": _iso(row["created_at"]),
        "location": location_of(row["subscription_id"]),
    }
    if "pending" in row:  # a Record looks up keys, like a mapping
        view["deliveries"] = {status: row[status] for status in DELIVERY_STATUSES}
    return view


async def create_subscription(connection: Connection, *, subscription_id: UUID,
                              organisation: str, url: str, kinds: Sequence[EventKind],
                              event_types: Sequence[str], description: str | None,
                              secret: str) -> Any:
    return await connection.fetchrow(
        """INSERT INTO webhook_subscriptions (subscription_id, organisation, organisation_key, url,
                                              kinds, event_types, description, secret)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING *""",
        subscription_id, organisation, organisation_key(organisation), url,
        [kind.value for kind in kinds], list(event_types), description, secret)


_WITH_COUNTS = """
SELECT s.*,
       count(*) FILTER (WHERE d.status = 'pending')   AS pending,
       count(*) FILTER (WHERE d.status = 'delivered') AS delivered,
       count(*) FILTER (WHERE d.status = 'failed')    AS failed,
       count(*) FILTER (WHERE d.status = 'cancelled') AS cancelled
  FROM webhook_subscriptions s
  LEFT JOIN webhook_deliveries d USING (subscription_id)
 WHERE s.organisation_key = $1 AND s.deleted_at IS NULL
"""


async def list_subscriptions(connection: Connection, organisation: str) -> list[Any]:
    return list(await connection.fetch(
        _WITH_COUNTS + " GROUP BY s.subscription_id ORDER BY s.created_at, s.subscription_id",
        organisation_key(organisation)))


async def find_subscription(connection: Connection, organisation: str,
                            subscription_id: UUID) -> Any:
    """The organisation's active subscription, or None (also when it is another's)."""
    return await connection.fetchrow(
        _WITH_COUNTS + " AND s.subscription_id = $2 GROUP BY s.subscription_id",
        organisation_key(organisation), subscription_id)


async def delete_subscription(connection: Connection, organisation: str,
                              subscription_id: UUID) -> bool:
    """Stop a subscription: its secret is erased and its pending deliveries cancelled; its
    delivery log stays for the record."""
    deleted = await connection.fetchval(
        """UPDATE webhook_subscriptions SET deleted_at = now(), secret = NULL
            WHERE subscription_id = $1 AND organisation_key = $2 AND deleted_at IS NULL
           RETURNING true""",
        subscription_id, organisation_key(organisation))
    if not deleted:
        return False
    await connection.execute(
        """UPDATE webhook_deliveries SET status = 'cancelled', leased_until = NULL
            WHERE subscription_id = $1 AND status = 'pending'""", subscription_id)
    return True


async def delivery_log(connection: Connection, subscription_id: UUID, *, status: str | None,
                       replay_id: UUID | None, limit: int, offset: int) -> list[dict[str, Any]]:
    """The subscription's deliveries, newest first, each with its attempts in order."""
    rows = await connection.fetch(
        """SELECT d.*, e.type AS event_type, e.event_time,
                  coalesce(jsonb_agg(jsonb_build_object(
                      'attempt', a.attempt, 'started_at', a.started_at,
                      'duration_ms', a.duration_ms, 'status_code', a.status_code,
                      'error', a.error) ORDER BY a.attempt)
                      FILTER (WHERE a.attempt IS NOT NULL), '[]'::jsonb) AS attempt_log
             FROM webhook_deliveries d
             JOIN agency_events e ON e.sequence = d.event_sequence
             LEFT JOIN webhook_delivery_attempts a USING (delivery_id)
            WHERE d.subscription_id = $1
              AND ($2::text IS NULL OR d.status = $2)
              AND ($3::uuid IS NULL OR d.replay_id = $3)
            GROUP BY d.sequence, e.sequence
            ORDER BY d.sequence DESC
            LIMIT $4 OFFSET $5""",
        subscription_id, status, replay_id, limit, offset)
    return [delivery_view(row) for row in rows]


def delivery_view(row: Any) -> dict[str, Any]:
    return {
        "delivery_id": str(row["delivery_id"]),
        "event_id": str(row["event_id"]),
        "event_type": row["event_type"],
        "event_time": _iso(row["event_time"]),
        "review_id": row["review_id"],
        "status": row["status"],
        "redelivery": row["replay_id"] is not None,
        "replay_id": None if row["replay_id"] is None else str(row["replay_id"]),
        "created_at": _iso(row["created_at"]),
        "attempts": row["attempts"],
        "next_attempt_at": _iso(row["next_attempt_at"]) if row["status"] == "pending" else None,
        "delivered_at": _iso(row["delivered_at"]),
        "failed_at": _iso(row["failed_at"]),
        "last_status_code": row["last_status_code"],
        "last_error": row["last_error"],
        "attempt_log": row["attempt_log"],
    }


async def event_sequence_for(connection: Connection, organisation: str,
                             event_id: UUID) -> int | None:
    """Where an event that concerns the organisation was received, or None if no such event."""
    sequence = await connection.fetchval(
        """SELECT sequence FROM agency_events
            WHERE event_id = $1 AND $2 = ANY(organisation_keys)""",
        event_id, organisation_key(organisation))
    return None if sequence is None else int(sequence)


async def replay(connection: Connection, subscription: Any, replay_id: UUID, *,
                 from_time: datetime | None, from_event_id: UUID | None,
                 from_sequence: int | None) -> int:
    """Deliver again every event the subscription takes, from a point on, in the order received.

    The new deliveries carry the replay's id (the receiver sees `DHR-Redelivery: true`) and the
    events' own ids, so a receiver that already has an event recognises it. They queue behind
    the subscription's pending deliveries of the same review.
    """
    await connection.execute(
        """INSERT INTO webhook_replays (replay_id, subscription_id, from_time, from_event_id,
                                        deliveries)
           VALUES ($1, $2, $3, $4, 0)""",
        replay_id, subscription["subscription_id"], from_time, from_event_id)
    count = await connection.fetchval(
        """WITH replayed AS (
               INSERT INTO webhook_deliveries (delivery_id, subscription_id, event_sequence,
                                               event_id, review_id, replay_id)
               SELECT gen_random_uuid(), $1, e.sequence, e.event_id, e.review_id, $2
                 FROM agency_events e
                WHERE $3 = ANY(e.organisation_keys)
                  AND e.kind = ANY($4::text[])
                  AND (cardinality($5::text[]) = 0 OR e.type = ANY($5::text[]))
                  AND ($6::bigint IS NULL OR e.sequence >= $6)
                  AND ($7::timestamptz IS NULL OR e.event_time >= $7)
                ORDER BY e.sequence
               RETURNING 1)
           SELECT count(*) FROM replayed""",
        subscription["subscription_id"], replay_id, subscription["organisation_key"],
        list(subscription["kinds"]), list(subscription["event_types"]), from_sequence, from_time)
    await connection.execute("UPDATE webhook_replays SET deliveries = $2 WHERE replay_id = $1",
                             replay_id, count)
    return int(count)
