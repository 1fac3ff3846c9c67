"""HTTP API of the learning service: commands on a review's learning, and queries across reviews."""

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from dhr_contracts.learning import LearningTheme
from dhr_learning import domain, policy
from dhr_learning.projections import (
    known_review,
    list_learning_points,
    load_learning,
    require_commissioned,
    review_not_known,
    stream_id,
)
from dhr_platform.auth import CurrentPrincipal
from dhr_platform.commands import Aggregates, Decider, event_summary
from dhr_platform.eventstore import EventMetadata, EventStore
from dhr_platform.http import (
    CorrelationId,
    IdempotencyKey,
    IfMatch,
    Offset,
    Problem,
    TraceParent,
    parse_if_match,
    request_body_model,
    run_command,
)
from dhr_platform.policy import forbidden
from dhr_platform.principal import Principal
from dhr_platform.service import ServiceRuntime

Clock = Callable[[], datetime]

# Bodies are the commands less what the path gives (review, event, point), the ids the server
# mints and the times it sets.
PlanLearningEventBody: Any = request_body_model(
    domain.PlanLearningEvent, exclude={"review_id", "learning_event_id"}, name="LearningEventPlan")
RescheduleBody: Any = request_body_model(
    domain.RescheduleLearningEvent, exclude={"review_id", "learning_event_id"})
CancelBody: Any = request_body_model(
    domain.CancelLearningEvent, exclude={"review_id", "learning_event_id"})
AcknowledgeBody: Any = request_body_model(
    domain.AcknowledgeGroundRules, exclude={"review_id", "learning_event_id", "acknowledged_at"},
    name="GroundRulesAcknowledgement")
HoldBody: Any = request_body_model(
    domain.HoldLearningEvent, exclude={"review_id", "learning_event_id"})
ContributionBody: Any = request_body_model(
    domain.RecordContribution, exclude={"review_id", "learning_event_id", "contribution_id"},
    name="Contribution")
LearningPointBody: Any = request_body_model(
    domain.RecordLearningPoint, exclude={"review_id", "learning_point_id"}, name="LearningPoint")
DisseminationBody: Any = request_body_model(
    domain.DisseminateLearningPoint,
    exclude={"review_id", "learning_point_id", "dissemination_id"}, name="Dissemination")


DECIDER: Decider[domain.Command, domain.LearningState] = Decider(
    initial_state=domain.initial_state, decide=domain.decide, evolve=domain.evolve)


class CommandAccepted(BaseModel):
    """What a command endpoint answers: the review, its learning's new version, the events
    recorded and, for a command that creates something, its id."""

    review_id: UUID
    version: int
    events: list[str]
    id: UUID | None = None


@dataclass
class LearningApi:
    """The handlers' dependencies, given by the composition root."""

    runtime: ServiceRuntime
    clock: Clock

    @property
    def store(self) -> EventStore:
        return self.runtime.store

    @property
    def learning(self) -> Aggregates[domain.Command, domain.LearningState]:
        return Aggregates(self.store, DECIDER)


@dataclass(frozen=True)
class _Call:
    """What every command takes besides its body: the caller and the headers."""

    principal: Principal
    idempotency_key: str | None
    if_match: str | None
    correlation_id: UUID | None
    traceparent: str | None


def learning_event_not_found(learning_event_id: UUID) -> domain.LearningEventNotFound:
    """The decider's own answer for a missing learning event, also given for one an agency does
    not take part in."""
    return domain.LearningEventNotFound(f"No learning event {learning_event_id} in this review.",
                                        "learning_event_id")


async def authorise(api: LearningApi, principal: Principal, review_id: UUID, action: str,
                    learning_event_id: UUID | None, fields: dict[str, Any]) -> None:
    """Refuse a command the principal may not run: 403 for another agency's name, the 404 of a
    missing review or learning event for one they may not see (the role was checked by the
    route's dependency)."""
    known = await known_review(api.store.pool, review_id)
    if action != policy.ACKNOWLEDGE and policy.manages(principal, known):
        return
    if action in (policy.ACKNOWLEDGE, policy.CONTRIBUTE) and learning_event_id is not None:
        found = None if known is None else await load_learning(api.store.pool, review_id)
        event = None if found is None else found[0].learning_event(learning_event_id)
        if event is None or not policy.takes_part(principal, event):
            raise learning_event_not_found(learning_event_id)
        if not principal.belongs_to(fields.get("agency")):
            raise forbidden(principal, f"{action} in another agency's name (agency must be "
                            "your organisation)")
        return
    raise review_not_known(review_id)


def build_router(api: LearningApi) -> APIRouter:
    router = APIRouter(tags=["learning"])

    async def execute(request: Request, review_id: UUID, command: domain.Command, call: _Call,
                      created: tuple[UUID, str] | None = None) -> JSONResponse:
        metadata = EventMetadata.for_request(str(review_id), call.principal,
                                             call.correlation_id, call.traceparent)
        expected = parse_if_match(call.if_match)

        async def transaction(connection: Any) -> tuple[int, dict[str, Any]]:
            await require_commissioned(connection, review_id)
            outcome = await api.learning.execute(connection, stream_id(review_id), command,
                                                 metadata, expected)
            body = CommandAccepted(review_id=review_id, version=outcome.version,
                                   events=outcome.event_types,
                                   id=None if created is None else created[0])
            return (201 if created else 200), body.model_dump(mode="json")

        location = None if created is None else created[1]
        return await run_command(request, api.store.pool, call.idempotency_key, transaction,
                                 headers_for=None if location is None
                                 else lambda _: {"Location": location})

    def command_route(path: str, body_model: Any, summary: str,
                      build: Callable[..., tuple[domain.Command, tuple[UUID, str] | None]],
                      action: str = policy.RUN_LEARNING) -> None:
        async def run(request: Request, review_id: UUID, body: BaseModel, call: _Call,
                      **ids: UUID) -> JSONResponse:
            fields = body.model_dump()
            await authorise(api, call.principal, review_id, action,
                            ids.get("learning_event_id"), fields)
            command, created = build(review_id=review_id, fields=fields, **ids)
            return await execute(request, review_id, command, call, created)

        # One signature per kind of path, so that FastAPI validates (422) and documents each id.
        endpoint: Callable[..., Any]
        if "{learning_event_id}" in path:
            async def on_learning_event(
                    request: Request, review_id: UUID, learning_event_id: UUID, body: body_model,
                    principal: CurrentPrincipal,
                    idempotency_key: IdempotencyKey = None, if_match: IfMatch = None,
                    correlation_id: CorrelationId = None,
                    traceparent: TraceParent = None) -> JSONResponse:
                call = _Call(principal, idempotency_key, if_match, correlation_id, traceparent)
                return await run(request, review_id, body, call,
                                 learning_event_id=learning_event_id)
            endpoint = on_learning_event
        elif "{learning_point_id}" in path:
            async def on_learning_point(
                    request: Request, review_id: UUID, learning_point_id: UUID, body: body_model,
                    principal: CurrentPrincipal,
                    idempotency_key: IdempotencyKey = None, if_match: IfMatch = None,
                    correlation_id: CorrelationId = None,
                    traceparent: TraceParent = None) -> JSONResponse:
                call = _Call(principal, idempotency_key, if_match, correlation_id, traceparent)
                return await run(request, review_id, body, call,
                                 learning_point_id=learning_point_id)
            endpoint = on_learning_point
        else:
            async def on_review(
                    request: Request, review_id: UUID, body: body_model,
                    principal: CurrentPrincipal,
                    idempotency_key: IdempotencyKey = None, if_match: IfMatch = None,
                    correlation_id: CorrelationId = None,
                    traceparent: TraceParent = None) -> JSONResponse:
                call = _Call(principal, idempotency_key, if_match, correlation_id, traceparent)
                return await run(request, review_id, body, call)
            endpoint = on_review
        creates = path.endswith(("learning-events", "contributions", "learning-points",
                                 "disseminations"))
        router.add_api_route(f"/reviews/{{review_id}}/{path}", endpoint, methods=["POST"],
                             response_model=CommandAccepted, summary=summary,
                             status_code=201 if creates else 200,
                             name=path.split("/")[-1].replace("-", "_"),
                             dependencies=[policy.PERMISSIONS.requires(action)])

    def events_path(review_id: UUID) -> str:
        return f"/reviews/{review_id}/learning-events"

    def plan(review_id: UUID, fields: dict[str, Any]) -> Any:
        new_id = uuid.uuid4()
        return (domain.PlanLearningEvent(review_id=review_id, learning_event_id=new_id, **fields),
                (new_id, f"{events_path(review_id)}/{new_id}"))

    def acknowledge(review_id: UUID, learning_event_id: UUID, fields: dict[str, Any]) -> Any:
        return (domain.AcknowledgeGroundRules(review_id=review_id,
                                              learning_event_id=learning_event_id,
                                              acknowledged_at=api.clock(), **fields), None)

    def contribute(review_id: UUID, learning_event_id: UUID, fields: dict[str, Any]) -> Any:
        new_id = uuid.uuid4()
        return (domain.RecordContribution(review_id=review_id, learning_event_id=learning_event_id,
                                          contribution_id=new_id, **fields),
                (new_id, f"{events_path(review_id)}/{learning_event_id}"))

    def record_point(review_id: UUID, fields: dict[str, Any]) -> Any:
        new_id = uuid.uuid4()
        return (domain.RecordLearningPoint(review_id=review_id, learning_point_id=new_id,
                                           **fields),
                (new_id, f"/reviews/{review_id}/learning"))

    def disseminate(review_id: UUID, learning_point_id: UUID, fields: dict[str, Any]) -> Any:
        new_id = uuid.uuid4()
        return (domain.DisseminateLearningPoint(review_id=review_id,
                                                learning_point_id=learning_point_id,
                                                dissemination_id=new_id, **fields),
                (new_id, f"/reviews/{review_id}/learning"))

    def on_event(command_type: Callable[..., domain.Command]) -> Callable[..., Any]:
        def build(review_id: UUID, learning_event_id: UUID, fields: dict[str, Any]) -> Any:
            return (command_type(review_id=review_id, learning_event_id=learning_event_id,
                                 **fields), None)
        return build

    command_route("learning-events", PlanLearningEventBody,
                  "Plan a learning event with blame-free ground rules", plan)
    command_route("learning-events/{learning_event_id}/rescheduling", RescheduleBody,
                  "Move a planned learning event to another date",
                  on_event(domain.RescheduleLearningEvent))
    command_route("learning-events/{learning_event_id}/cancellation", CancelBody,
                  "Cancel a planned learning event", on_event(domain.CancelLearningEvent))
    command_route("learning-events/{learning_event_id}/ground-rules-acknowledgements",
                  AcknowledgeBody, "An agency acknowledges the blame-free ground rules (itself: "
                  "with a token of that agency)", acknowledge, policy.ACKNOWLEDGE)
    command_route("learning-events/{learning_event_id}/held", HoldBody,
                  "Record the learning event as held, with the participating agencies",
                  on_event(domain.HoldLearningEvent))
    command_route("learning-events/{learning_event_id}/contributions", ContributionBody,
                  "Record a contribution attributed to a participating agency (by the review "
                  "manager, the Chair or that agency)", contribute, policy.CONTRIBUTE)
    command_route("learning-points", LearningPointBody,
                  "Record a learning point with themes and tags", record_point)
    command_route("learning-points/{learning_point_id}/disseminations", DisseminationBody,
                  "Record a briefing on a learning point issued to partners", disseminate)

    @router.get("/reviews/{review_id}/learning",
                summary="A review's learning: events, contributions, points, disseminations",
                dependencies=[policy.PERMISSIONS.requires(policy.READ_LEARNING)])
    async def get_learning(review_id: UUID, principal: CurrentPrincipal) -> JSONResponse:
        known = await known_review(api.store.pool, review_id)
        found = await load_learning(api.store.pool, review_id)
        if (known is None and found is None) or not policy.reads_all(principal, known):
            raise Problem(404, f"No review {review_id} is known to the learning service.",
                          title="Review not found")
        state, version = found if found is not None else (domain.initial_state(), 0)
        body = state.model_dump(mode="json")
        body["review_id"] = str(review_id)
        body["version"] = version
        body["review"] = None if known is None else {
            "csp_area": known["csp_area"],
            "commissioned_on": _iso(known["commissioned_on"]),
            "report_agreed_on": _iso(known["report_agreed_on"]),
        }
        return JSONResponse(body, headers={"ETag": f'"{version}"'})

    @router.get("/reviews/{review_id}/learning-events/{learning_event_id}",
                summary="One learning event with its acknowledgements and contributions",
                dependencies=[policy.PERMISSIONS.requires(policy.READ_LEARNING_EVENT)])
    async def get_learning_event(review_id: UUID, learning_event_id: UUID,
                                 principal: CurrentPrincipal) -> dict[str, Any]:
        known = await known_review(api.store.pool, review_id)
        found = await load_learning(api.store.pool, review_id)
        event = None if found is None else found[0].learning_event(learning_event_id)
        if event is None or not (policy.reads_all(principal, known)
                                 or policy.takes_part(principal, event)):
            raise Problem(404, f"No learning event {learning_event_id} in review {review_id}.",
                          title="Learning event not found")
        return event.model_dump(mode="json")

    @router.get("/reviews/{review_id}/learning/events",
                summary="The history of a review's learning, in order",
                dependencies=[policy.PERMISSIONS.requires(policy.READ_LEARNING)])
    async def history(review_id: UUID, principal: CurrentPrincipal) -> dict[str, Any]:
        known = await known_review(api.store.pool, review_id)
        events = await api.store.read_stream(stream_id(review_id))
        if not events or not policy.reads_all(principal, known):
            raise Problem(404, f"No learning recorded for review {review_id}.",
                          title="Learning not found")
        return {"review_id": str(review_id), "events": [event_summary(e) for e in events]}

    @router.get("/learning-points",
                summary="Learning points across reviews, by theme, tag, CSP area and period "
                "(the date each point was recorded), of the reviews the caller may read",
                dependencies=[policy.PERMISSIONS.requires(policy.SEARCH_LEARNING_POINTS)])
    async def learning_points(
        principal: CurrentPrincipal,
        theme: LearningTheme | None = None,
        tag: Annotated[str | None, Query(max_length=60)] = None,
        area: Annotated[str | None, Query(max_length=200, description="CSP area.")] = None,
        from_: Annotated[date | None, Query(alias="from",
                                            description="Recorded on or after.")] = None,
        to: Annotated[date | None, Query(description="Recorded on or before.")] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        offset: Offset = 0,
    ) -> dict[str, Any]:
        if from_ is not None and to is not None and to < from_:
            raise Problem(422, f"to ({to}) is before from ({from_}).", title="Invalid request",
                          field="to")
        normalised_tag = domain.normalise_tags([tag])[0] if tag and tag.strip() else None
        items, total = await list_learning_points(
            api.store.pool, theme=None if theme is None else theme.value, tag=normalised_tag,
            area=area, recorded_from=from_, recorded_to=to,
            visible=policy.visible_learning_points(principal), limit=limit, offset=offset)
        return {"total": total, "limit": limit, "offset": offset, "items": items}

    return router


def _iso(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


ERROR_STATUSES: dict[type[Exception], int] = {
    domain.InvalidCommand: 422,  # AttributionRefused included
    domain.ReviewNotKnown: 404,
    domain.LearningEventNotFound: 404,
    domain.LearningPointNotFound: 404,
    domain.DomainError: 409,  # the state does not allow the command now
}
