"""The delivery worker: sends due deliveries as signed CloudEvents and records every attempt.

Ordering: per subscription and review, only the oldest pending delivery is ever due (the claim's
NOT EXISTS), so a later event of a review waits while an earlier one is retrying. Deliveries of
different reviews or subscriptions go in parallel.

Claims are leases, not locks held open: a short transaction marks the claimed rows
`leased_until` and commits, the HTTP request runs outside any transaction, and a second short
transaction records the outcome. An open transaction during a slow request would hold back every
relay on the server (they publish only below the oldest open transaction, ADR 0002). A worker
that dies mid-request leaves a lease that expires; the delivery is then sent again, so receivers
see each event at least once and deduplicate on its id.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import asyncpg
import httpx

from dhr_integration.config import IntegrationSettings
from dhr_integration.domain import RetryPolicy, next_attempt_after_failure
from dhr_integration.signatures import SIGNATURE_HEADER, signature_header
from dhr_platform.service import ServiceRuntime

log = logging.getLogger(__name__)

CLOUDEVENTS_JSON = "application/cloudevents+json"
USER_AGENT = "dhr-integration/1.0 (webhooks; see docs/integration.md)"
LEASE_MARGIN_SECONDS = 30.0
MAX_ERROR_CHARS = 500


@dataclass(frozen=True)
class DueDelivery:
    """A claimed delivery, with what it takes to send it."""

    delivery_id: UUID
    subscription_id: UUID
    event_id: UUID
    replay_id: UUID | None
    attempts: int
    url: str
    secret: str
    cloudevent: dict[str, Any]

    @property
    def body(self) -> bytes:
        """The request body: the CloudEvent as compact JSON with sorted keys, the same bytes on
        every attempt and every replay."""
        return json.dumps(self.cloudevent, sort_keys=True, separators=(",", ":"),
                          ensure_ascii=False).encode()

    def headers(self, timestamp: int) -> dict[str, str]:
        body = self.body
        headers = {
            "Content-Type": CLOUDEVENTS_JSON,
            "User-Agent": USER_AGENT,
            SIGNATURE_HEADER: signature_header(self.secret, timestamp, body),
            "DHR-Event-Id": str(self.event_id),
            "DHR-Delivery-Id": str(self.delivery_id),
            "DHR-Subscription-Id": str(self.subscription_id),
            "DHR-Attempt": str(self.attempts + 1),
        }
        if self.replay_id is not None:
            headers["DHR-Redelivery"] = "true"
            headers["DHR-Replay-Id"] = str(self.replay_id)
        return headers


@dataclass(frozen=True)
class Outcome:
    """What one attempt came to."""

    started_at: datetime
    duration_ms: int
    status_code: int | None
    error: str | None

    @property
    def accepted(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


_CLAIM = """
WITH due AS (
    SELECT d.sequence
      FROM webhook_deliveries d
     WHERE d.status = 'pending' AND d.next_attempt_at <= now()
       AND (d.leased_until IS NULL OR d.leased_until <= now())
       AND NOT EXISTS (
           SELECT 1 FROM webhook_deliveries earlier
            WHERE earlier.subscription_id = d.subscription_id
              AND earlier.review_id = d.review_id
              AND earlier.status = 'pending'
              AND earlier.sequence < d.sequence)
     ORDER BY d.next_attempt_at, d.sequence
     LIMIT $1
     FOR UPDATE OF d SKIP LOCKED)
UPDATE webhook_deliveries d
   SET leased_until = now() + make_interval(secs => $2)
  FROM due, webhook_subscriptions s, agency_events e
 WHERE d.sequence = due.sequence
   AND s.subscription_id = d.subscription_id
   AND e.sequence = d.event_sequence
RETURNING d.delivery_id, d.subscription_id, d.event_id, d.replay_id, d.attempts, s.url, s.secret,
          e.cloudevent
"""


async def claim_due(pool: asyncpg.Pool, limit: int, lease_seconds: float) -> list[DueDelivery]:
    """Lease up to `limit` due deliveries, each the oldest pending one of its subscription and
    review."""
    async with pool.acquire() as connection, connection.transaction():
        rows = await connection.fetch(_CLAIM, limit, lease_seconds)
    return [DueDelivery(**dict(row)) for row in rows if row["secret"] is not None]


async def record_outcome(pool: asyncpg.Pool, due: DueDelivery, outcome: Outcome,
                         policy: RetryPolicy, jitter: float) -> str:
    """Record the attempt and move the delivery on: delivered, retried later, or failed once past
    its maximum age. Returns the delivery's status."""
    async with pool.acquire() as connection, connection.transaction():
        current = await connection.fetchrow(
            """SELECT attempts, created_at, status, now() AS now FROM webhook_deliveries
                WHERE delivery_id = $1 FOR UPDATE""", due.delivery_id)
        assert current is not None  # deliveries are never deleted
        attempt = current["attempts"] + 1
        await connection.execute(
            """INSERT INTO webhook_delivery_attempts (delivery_id, attempt, started_at,
                                                      duration_ms, status_code, error)
               VALUES ($1, $2, $3, $4, $5, $6)""",
            due.delivery_id, attempt, outcome.started_at, outcome.duration_ms,
            outcome.status_code, outcome.error)
        if current["status"] != "pending":
            # Cancelled meanwhile (subscription deleted), or sent by a worker whose lease this
            # one outlived: the attempt is logged, the status stays.
            await connection.execute(
                "UPDATE webhook_deliveries SET attempts = $2 WHERE delivery_id = $1",
                due.delivery_id, attempt)
            return str(current["status"])
        if outcome.accepted:
            await connection.execute(
                """UPDATE webhook_deliveries
                      SET status = 'delivered', attempts = $2, delivered_at = $3,
                          leased_until = NULL, last_status_code = $4, last_error = NULL
                    WHERE delivery_id = $1""",
                due.delivery_id, attempt, current["now"], outcome.status_code)
            return "delivered"
        retry_at = next_attempt_after_failure(policy, attempt, current["created_at"],
                                              current["now"], jitter)
        if retry_at is None:
            await connection.execute(
                """UPDATE webhook_deliveries
                      SET status = 'failed', attempts = $2, failed_at = $3, leased_until = NULL,
                          last_status_code = $4, last_error = $5
                    WHERE delivery_id = $1""",
                due.delivery_id, attempt, current["now"], outcome.status_code, outcome.error)
            log.warning("delivery %s of event %s to subscription %s failed after %d attempts",
                        due.delivery_id, due.event_id, due.subscription_id, attempt)
            return "failed"
        await connection.execute(
            """UPDATE webhook_deliveries
                  SET attempts = $2, next_attempt_at = $3, leased_until = NULL,
                      last_status_code = $4, last_error = $5
                WHERE delivery_id = $1""",
            due.delivery_id, attempt, retry_at, outcome.status_code, outcome.error)
        return "pending"


async def send(client: httpx.AsyncClient, due: DueDelivery, timeout_seconds: float) -> Outcome:
    """One HTTP POST of the delivery; the response body is never read (nor kept)."""
    timestamp = int(time.time())
    started_at = datetime.now(UTC)
    started = time.monotonic()
    status_code: int | None = None
    error: str | None = None
    try:
        async with asyncio.timeout(timeout_seconds):
            async with client.stream("POST", due.url, content=due.body,
                                     headers=due.headers(timestamp)) as response:
                status_code = response.status_code
        if not 200 <= status_code < 300:
            error = f"the receiver answered {status_code}"
    except TimeoutError:
        error = f"no answer within {timeout_seconds:g}s"
    except httpx.HTTPError as failure:
        error = f"{type(failure).__name__}: {failure}"[:MAX_ERROR_CHARS]
    duration_ms = int((time.monotonic() - started) * 1000)
    return Outcome(started_at, duration_ms, status_code, error)


class DeliveryWorker:
    """The background task that sends due deliveries, `concurrency` at a time."""

    def __init__(self, settings: IntegrationSettings):
        self.settings = settings
        self.policy = settings.retry_policy

    async def run(self, runtime: ServiceRuntime) -> None:
        settings = self.settings
        # No redirects: a target is the URL its subscription names, and nothing else.
        async with httpx.AsyncClient(follow_redirects=False,
                                     timeout=settings.webhook_timeout_seconds) as client:
            while True:
                try:
                    busy = await self.deliver_due(runtime.pool, client)
                except Exception:  # the database may be away: try again at the next round
                    log.exception("delivery round failed; retrying in %.1fs",
                                  settings.webhook_poll_seconds)
                    busy = False
                if not busy:
                    await asyncio.sleep(settings.webhook_poll_seconds)

    async def deliver_due(self, pool: asyncpg.Pool, client: httpx.AsyncClient) -> bool:
        """Send one round of due deliveries; True when the round was full (more may be due)."""
        settings = self.settings
        claimed = await claim_due(pool, settings.webhook_concurrency,
                                  settings.webhook_timeout_seconds + LEASE_MARGIN_SECONDS)

        async def deliver(due: DueDelivery) -> None:
            outcome = await send(client, due, settings.webhook_timeout_seconds)
            jitter = random.uniform(0.5, 1.0)  # noqa: S311 - spreads retries, not a secret
            await record_outcome(pool, due, outcome, self.policy, jitter)

        await asyncio.gather(*(deliver(due) for due in claimed))
        return len(claimed) >= settings.webhook_concurrency
