"""HTTP API of historic reviews: record one from a historic dataset (idempotently) and read it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from dhr_commissioning import historic, policy
from dhr_platform.auth import CurrentPrincipal
from dhr_platform.commands import Aggregates, Decider, payload_of
from dhr_platform.eventstore import EventMetadata
from dhr_platform.http import (
    CorrelationId,
    IdempotencyKey,
    Problem,
    TraceParent,
    request_body_model,
    run_command,
)
from dhr_platform.service import ServiceRuntime

Clock = Callable[[], datetime]

# The server derives the review id from the source reference and stamps the time of import.
HistoricReviewBody: Any = request_body_model(
    historic.RecordHistoricReview, exclude={"review_id", "imported_at"}, name="HistoricReview")

HISTORIC_DECIDER: Decider[historic.Command, historic.HistoricReviewState] = Decider(
    initial_state=historic.initial_state, decide=historic.decide, evolve=historic.evolve)


class HistoricReviewAccepted(BaseModel):
    """What recording answers: the review, its version and the events recorded (none when the
    same record was already there)."""

    review_id: UUID
    version: int
    events: list[str]


def _location(answer: dict[str, Any]) -> dict[str, str]:
    return {"Location": f"/historic-reviews/{answer['review_id']}"}


def build_historic_router(runtime: ServiceRuntime, clock: Clock) -> APIRouter:
    router = APIRouter(prefix="/historic-reviews", tags=["historic reviews"])

    @router.post("", status_code=201, response_model=HistoricReviewAccepted,
                 responses={200: {"description": "Already recorded with the same content: "
                                  "nothing new", "model": HistoricReviewAccepted},
                            409: {"description": "Already recorded with different content"}},
                 summary="Record a historic review from a historic dataset (DHRD); recording the "
                 "same record again adds nothing",
                 dependencies=[policy.PERMISSIONS.requires(policy.RECORD_HISTORIC)])
    async def record(request: Request, body: HistoricReviewBody, principal: CurrentPrincipal,
                     idempotency_key: IdempotencyKey = None,
                     correlation_id: CorrelationId = None,
                     traceparent: TraceParent = None) -> JSONResponse:
        fields = body.model_dump()
        review_id = historic.historic_review_id(fields["source"], fields["source_reference"])
        command = historic.RecordHistoricReview(review_id=review_id, imported_at=clock(), **fields)
        stream = historic.stream_id(review_id)
        metadata = EventMetadata.for_request(str(review_id), principal, correlation_id,
                                             traceparent)
        reviews = Aggregates(runtime.store, HISTORIC_DECIDER)

        async def transaction(connection: Any) -> tuple[int, dict[str, Any]]:
            outcome = await reviews.execute(connection, stream, command, metadata)
            answer = HistoricReviewAccepted(review_id=review_id, version=outcome.version,
                                            events=outcome.event_types)
            return (201 if outcome.recorded else 200), answer.model_dump(mode="json")

        return await run_command(request, runtime.store.pool, idempotency_key, transaction,
                                 headers_for=_location)

    @router.get("/{review_id}", summary="One historic review as recorded",
                dependencies=[policy.PERMISSIONS.requires(policy.READ_HISTORIC)])
    async def get_one(review_id: UUID) -> JSONResponse:
        events = await runtime.store.read_stream(historic.stream_id(review_id))
        state = historic.fold(payload_of(event) for event in events)
        if state.recorded is None:
            raise Problem(404, f"No historic review {review_id}.", title="Historic review not found")
        body = state.recorded.model_dump(mode="json")
        body["version"] = events[-1].stream_version
        return JSONResponse(body, headers={"ETag": f'"{events[-1].stream_version}"'})

    return router


HISTORIC_ERROR_STATUSES: dict[type[Exception], int] = {
    historic.InvalidHistoricReview: 422,
    historic.HistoricReviewNotFound: 404,
    historic.HistoricReviewConflict: 409,
}
