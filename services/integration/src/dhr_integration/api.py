"""HTTP API of the integration service: an organisation's webhook subscriptions, their delivery
logs and replays."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from dhr_integration import policy, subscriptions
from dhr_integration.config import IntegrationSettings
from dhr_integration.domain import (
    EventKind,
    FieldError,
    filter_errors,
    organisation_key,
    target_url_errors,
)
from dhr_integration.signatures import new_secret
from dhr_platform.auth import CurrentPrincipal
from dhr_platform.database import Connection
from dhr_platform.http import IdempotencyKey, Offset, Problem, run_command
from dhr_platform.service import ServiceRuntime

ERROR_STATUSES: dict[type[Exception], int] = {}


async def caller_organisation(principal: CurrentPrincipal) -> str:
    """The organisation the caller acts for: its token's organisation claim.

    Every route takes the caller's organisation from here, so a subscription is only ever seen,
    stopped or replayed by its own organisation. The router already refused other roles; the
    check is repeated so that no route can use this without it.
    """
    policy.PERMISSIONS.require(principal, policy.MANAGE_WEBHOOKS)
    if principal.organisation is None or not principal.organisation.strip():
        raise Problem(403, "Your token names no organisation, so it has no webhook "
                      "subscriptions.", title="Forbidden")
    return " ".join(principal.organisation.split())


Organisation = Annotated[str, Depends(caller_organisation)]


class SubscriptionRequest(BaseModel):
    """A webhook subscription: where to send, and which of the organisation's events."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str = Field(min_length=1, max_length=2000,
                     description="Where deliveries are POSTed: an https:// URL (plain http to "
                     "127.0.0.1, localhost or [::1] in development only).")
    kinds: tuple[EventKind, ...] = Field(
        min_length=1, max_length=len(EventKind),
        description="The kinds of events wanted: notifications, information_requests, "
        "panel_actions, recommendations, deadlines.")
    event_types: tuple[Annotated[str, Field(max_length=200)], ...] = Field(
        default=(), max_length=50,
        description="Only these event types of the chosen kinds (e.g. "
        "`dhr.panel.InformationRequested.v1`); empty for every type of the kinds.")
    description: str | None = Field(default=None, max_length=200,
                                    description="A note for the organisation's own use.")


class ReplayRequest(BaseModel):
    """Where a replay starts: a time, or an event (inclusive)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    from_time: AwareDatetime | None = Field(
        default=None, description="Replay the events whose time is at or after this instant.")
    from_event_id: UUID | None = Field(
        default=None, description="Replay from this event (its CloudEvents id) on, in the "
        "order the events were received.")

    @model_validator(mode="after")
    def _one_starting_point(self) -> ReplayRequest:
        if (self.from_time is None) == (self.from_event_id is None):
            raise ValueError("give exactly one of from_time and from_event_id")
        return self


def invalid(errors: Sequence[FieldError]) -> Problem:
    """A 422 problem naming each refused field, shaped as the platform's validation problems."""
    summary = "; ".join(f"{error.field}: {error.message}" for error in errors)
    return Problem(422, f"Invalid request: {summary}", title="Invalid request",
                   errors=[{"field": error.field, "in": "body", "message": error.message,
                            "type": "value_error"} for error in errors])


def not_found(subscription_id: UUID) -> Problem:
    return Problem(404, f"No webhook subscription {subscription_id}.",
                   title="Webhook subscription not found", field="subscription_id")


def scoped_key(organisation: str, idempotency_key: str | None) -> str | None:
    """Idempotency keys are the caller's (run_command scopes them by the token's subject) and
    the organisation's: a subject acting for another organisation never replays its answer."""
    if idempotency_key is None:
        return None
    return f"{organisation_key(organisation)}\n{idempotency_key}"


@dataclass
class IntegrationApi:
    """The handlers' dependencies, given by the composition root; the pool is looked up per
    request because routes are declared before the runtime has connected."""

    runtime: ServiceRuntime
    settings: IntegrationSettings


def build_router(api: IntegrationApi) -> APIRouter:
    router = APIRouter(prefix="/webhook-subscriptions", tags=["webhooks"],
                       dependencies=[policy.PERMISSIONS.requires(policy.MANAGE_WEBHOOKS)])

    async def found(connection: Connection, organisation: str, subscription_id: UUID) -> Any:
        row = await subscriptions.find_subscription(connection, organisation, subscription_id)
        if row is None:
            raise not_found(subscription_id)
        return row

    @router.post("", status_code=201,
                 summary="Subscribe to the organisation's events by webhook; the signing secret "
                 "is in this answer only")
    async def subscribe(request: Request, body: SubscriptionRequest, organisation: Organisation,
                        idempotency_key: IdempotencyKey = None) -> JSONResponse:
        errors = target_url_errors(body.url, allow_loopback_http=api.settings.allow_loopback_http)
        errors += filter_errors(body.kinds, body.event_types)
        if errors:
            raise invalid(errors)
        subscription_id, secret = uuid.uuid4(), new_secret()

        async def transaction(connection: Connection) -> tuple[int, dict[str, Any]]:
            row = await subscriptions.create_subscription(
                connection, subscription_id=subscription_id, organisation=organisation,
                url=body.url, kinds=body.kinds, event_types=body.event_types,
                description=body.description, secret=secret)
            return 201, {**subscriptions.subscription_view(row), "secret": secret}

        return await run_command(request, api.runtime.pool,
                                 scoped_key(organisation, idempotency_key), transaction,
                                 headers_for=lambda answer: {"Location": answer["location"]})

    @router.get("", summary="The organisation's webhook subscriptions")
    async def list_all(organisation: Organisation) -> dict[str, Any]:
        async with api.runtime.pool.acquire() as connection:
            rows = await subscriptions.list_subscriptions(connection, organisation)
        return {"items": [subscriptions.subscription_view(row) for row in rows]}

    @router.get("/{subscription_id}",
                summary="One of the organisation's subscriptions, with its delivery counts")
    async def get_one(subscription_id: UUID, organisation: Organisation) -> dict[str, Any]:
        async with api.runtime.pool.acquire() as connection:
            row = await found(connection, organisation, subscription_id)
        return subscriptions.subscription_view(row)

    @router.delete("/{subscription_id}", status_code=204,
                   summary="Stop a subscription: pending deliveries are cancelled, the log kept")
    async def unsubscribe(subscription_id: UUID, organisation: Organisation) -> Response:
        async with api.runtime.pool.acquire() as connection, connection.transaction():
            if not await subscriptions.delete_subscription(connection, organisation,
                                                           subscription_id):
                raise not_found(subscription_id)
        return Response(status_code=204)

    @router.get("/{subscription_id}/deliveries",
                summary="The delivery log: each event sent, its attempts, status codes and times")
    async def deliveries(
        subscription_id: UUID,
        organisation: Organisation,
        status: Literal["pending", "delivered", "failed", "cancelled"] | None = None,
        replay_id: UUID | None = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        offset: Offset = 0,
    ) -> dict[str, Any]:
        async with api.runtime.pool.acquire() as connection:
            await found(connection, organisation, subscription_id)
            items = await subscriptions.delivery_log(
                connection, subscription_id, status=status, replay_id=replay_id, limit=limit,
                offset=offset)
        return {"subscription_id": str(subscription_id), "items": items}

    @router.post("/{subscription_id}/replays", status_code=202,
                 summary="Deliver again, from a time or an event on, every event the "
                 "subscription takes (marked as redeliveries, with their own ids)")
    async def replay(request: Request, subscription_id: UUID, body: ReplayRequest,
                     organisation: Organisation,
                     idempotency_key: IdempotencyKey = None) -> JSONResponse:
        replay_id = uuid.uuid4()

        async def transaction(connection: Connection) -> tuple[int, dict[str, Any]]:
            subscription = await found(connection, organisation, subscription_id)
            from_sequence = None
            if body.from_event_id is not None:
                from_sequence = await subscriptions.event_sequence_for(
                    connection, organisation, body.from_event_id)
                if from_sequence is None:
                    raise invalid([FieldError(
                        "from_event_id", "is not the id of an event that concerns the "
                        "organisation")])
            count = await subscriptions.replay(
                connection, subscription, replay_id, from_time=body.from_time,
                from_event_id=body.from_event_id, from_sequence=from_sequence)
            location = (f"{subscriptions.location_of(subscription_id)}/deliveries"
                        f"?replay_id={replay_id}")
            return 202, {"replay_id": str(replay_id), "subscription_id": str(subscription_id),
                         "deliveries": count, "location": location}

        return await run_command(request, api.runtime.pool,
                                 scoped_key(organisation, idempotency_key), transaction,
                                 headers_for=lambda answer: {"Location": answer["location"]})

    return router
