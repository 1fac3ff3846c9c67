"""HTTP API of the recommendations service: direct entry, responses, claims, verifications,
correspondence, queries of recommendations and action plans, escalations and deadline checks."""

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse

from dhr_contracts.panel import RecommendationLevel
from dhr_contracts.recommendations import (
    AddresseeType,
    EscalationTarget,
    ImplementationStatus,
    ResponseStatus,
)
from dhr_platform.auth import CurrentPrincipal
from dhr_platform.commands import Aggregates, Decider, event_summary
from dhr_platform.database import Connection
from dhr_platform.eventstore import ConcurrencyError, EventMetadata, EventStore
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
from dhr_platform.principal import Principal, Role
from dhr_platform.service import ServiceRuntime
from dhr_recommendations import domain, model, policy
from dhr_recommendations.config import RecommendationsSettings
from dhr_recommendations.projections import (
    load_recommendation,
    recommendation_view,
    recommendations_with_deadlines_to_check,
    stream_id,
)

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]

DECIDER: Decider[model.Command, model.RecommendationState] = Decider(
    initial_state=domain.initial_state, decide=domain.decide, evolve=domain.evolve)

DEADLINE_WATCHER = "recommendations:deadline-watcher"

# Bodies are the commands less what the path gives, what the server mints and the policy in force.
RecordBody: Any = request_body_model(
    model.RecordRecommendation,
    exclude={"recommendation_id", "source", "response_due_days", "default_response_due_days"},
    name="RecordRecommendationRequest")
ResponseBody: Any = request_body_model(model.RecordResponse,
                                       exclude={"recommendation_id", "addressee_id"})
ClaimBody: Any = request_body_model(model.ClaimImplementation,
                                    exclude={"recommendation_id", "addressee_id"})
VerifyBody: Any = request_body_model(
    model.VerifyImplementation,
    exclude={"recommendation_id", "addressee_id", "reverification_months"})
CorrespondenceBody: Any = request_body_model(
    model.LogCorrespondence, exclude={"recommendation_id", "addressee_id", "entry_id"})


@dataclass
class RecommendationsApi:
    """The handlers' dependencies, given by the composition root; the store is looked up per
    request because routes are declared before the runtime has connected."""

    runtime: ServiceRuntime
    settings: RecommendationsSettings
    clock: Clock

    @property
    def store(self) -> EventStore:
        return self.runtime.store

    @property
    def recommendations(self) -> Aggregates[model.Command, model.RecommendationState]:
        return Aggregates(self.store, DECIDER)

    def today(self) -> date:
        return self.clock().date()

    def record_command(self, **fields: Any) -> model.RecordRecommendation:
        """A RecordRecommendation with the response-period policy in force."""
        return model.RecordRecommendation(
            response_due_days=dict(self.settings.recommendations_response_due_days_by_type),
            default_response_due_days=self.settings.recommendations_response_due_days, **fields)


async def known_area(connection: Connection, review_id: UUID) -> str | None:
    """The review's CSP area as the commissioning service told us (ADR 0004)."""
    area = await connection.fetchval(
        "SELECT csp_area FROM commissioning_review_areas WHERE review_id = $1", review_id)
    return None if area is None else str(area)


async def run_deadline_checks(api: RecommendationsApi,
                              recommendation_ids: list[UUID] | None = None
                              ) -> list[dict[str, Any]]:
    """Record overdue responses and actions (with escalations) and due re-verifications as of the
    clock's date, once per deadline; each recommendation in its own transaction, one changed
    meanwhile left to the next round."""
    as_of = api.today()
    if recommendation_ids is None:
        recommendation_ids = await recommendations_with_deadlines_to_check(api.store.pool, as_of)
    recorded: list[dict[str, Any]] = []
    for recommendation_id in recommendation_ids:
        try:
            async with api.store.pool.acquire() as connection, connection.transaction():
                found = await load_recommendation(connection, recommendation_id)
                if found is None:
                    continue
                metadata = EventMetadata(subject=str(found[0].review_id), actor=DEADLINE_WATCHER)
                events = await api.recommendations.handle(
                    connection, stream_id(recommendation_id),
                    model.CheckDeadlines(recommendation_id=recommendation_id, as_of=as_of),
                    metadata)
        except ConcurrencyError:
            log.info("recommendation %s changed during the deadline check; next round",
                     recommendation_id)
            continue
        recorded += [{"type": event.type, **event.data} for event in events]
    return recorded


def build_router(api: RecommendationsApi) -> APIRouter:
    router = APIRouter(tags=["recommendations"])

    async def found(principal: Principal, recommendation_id: UUID,
                    visible: Callable[[Principal, model.RecommendationState], bool] =
                    policy.may_see) -> tuple[model.RecommendationState, int]:
        """The recommendation, or the same 404 whether it is missing or not the caller's."""
        recommendation = await load_recommendation(api.store.pool, recommendation_id)
        if recommendation is None or not visible(principal, recommendation[0]):
            raise Problem(404, f"No recommendation {recommendation_id}.",
                          title="Recommendation not found", field="recommendation_id")
        return recommendation

    def reads_history(principal: Principal, state: model.RecommendationState) -> bool:
        return principal.has(Role.OVERSIGHT_READER) or policy.manages(principal, state)

    @router.post("/recommendations", status_code=201,
                 summary="Enter a recommendation directly; it is recorded with its SMART check",
                 dependencies=[policy.PERMISSIONS.requires(policy.ENTER)])
    async def record(request: Request, body: RecordBody, principal: CurrentPrincipal,
                     idempotency_key: IdempotencyKey = None,
                     correlation_id: CorrelationId = None,
                     traceparent: TraceParent = None) -> JSONResponse:
        recommendation_id = uuid.uuid4()
        fields = dict(body.model_dump())
        async with api.store.pool.acquire() as connection:
            area = await known_area(connection, fields["review_id"])
        # The area the commissioning service told wins over the body's; either must be the
        # review manager's own.
        fields["csp_area"] = area or fields.get("csp_area")
        if not principal.belongs_to(fields["csp_area"]):
            raise forbidden(principal, "enter a recommendation of another CSP area (or of a "
                            "review whose area is unknown: give csp_area)")
        metadata = EventMetadata.for_request(str(fields["review_id"]), principal,
                                             correlation_id, traceparent)

        async def transaction(connection: Connection) -> tuple[int, dict[str, Any]]:
            command = api.record_command(recommendation_id=recommendation_id, **fields)
            outcome = await api.recommendations.execute(
                connection, stream_id(recommendation_id), command, metadata)
            smart = outcome.recorded[0].data["smart"] if outcome.recorded else None
            return 201, {"recommendation_id": str(recommendation_id),
                         "location": f"/recommendations/{recommendation_id}",
                         "version": outcome.version, "events": outcome.event_types,
                         "smart": smart}

        return await run_command(request, api.store.pool, idempotency_key, transaction,
                                 headers_for=lambda answer: {"Location": answer["location"]})

    def addressee_route(path: str, body_model: Any, build: Callable[..., model.Command],
                        summary: str, action: str, *, mints: str | None = None) -> None:
        """A POST under /recommendations/{recommendation_id}/addressees/{addressee_id}/...;
        `action` is what the policy checks."""

        async def endpoint(request: Request, recommendation_id: UUID,
                           addressee_id: Annotated[str, Path(min_length=1, max_length=80)],
                           body: body_model, principal: CurrentPrincipal,
                           idempotency_key: IdempotencyKey = None, if_match: IfMatch = None,
                           correlation_id: CorrelationId = None,
                           traceparent: TraceParent = None) -> JSONResponse:
            state, _ = await found(principal, recommendation_id)
            addressee = state.addressee(addressee_id)  # the decider's 404 when there is none
            if not policy.may_act_for(principal, state, addressee, action):
                raise forbidden(principal, f"{action} for another addressee")
            fields = dict(body.model_dump())
            extra: dict[str, str] = {}
            if mints is not None:
                fields[mints] = extra[mints] = str(uuid.uuid4())
            command = build(recommendation_id=recommendation_id, addressee_id=addressee_id,
                            **fields)
            metadata = EventMetadata.for_request(str(state.review_id), principal,
                                                 correlation_id, traceparent)
            expected = parse_if_match(if_match)

            async def transaction(connection: Connection) -> tuple[int, dict[str, Any]]:
                outcome = await api.recommendations.execute(
                    connection, stream_id(recommendation_id), command, metadata, expected)
                return (201 if mints else 200), {
                    "recommendation_id": str(recommendation_id), "addressee_id": addressee_id,
                    "version": outcome.version, "events": outcome.event_types, **extra}

            return await run_command(request, api.store.pool, idempotency_key, transaction)

        router.add_api_route(
            f"/recommendations/{{recommendation_id}}/addressees/{{addressee_id}}/{path}",
            endpoint, methods=["POST"], status_code=201 if mints else 200, summary=summary,
            dependencies=[policy.PERMISSIONS.requires(action)],
            name=path.replace("-", "_"))

    def verify(**fields: Any) -> model.Command:
        return model.VerifyImplementation(
            reverification_months=api.settings.recommendations_reverification_months, **fields)

    addressee_route("responses", ResponseBody, model.RecordResponse,
                    "Record the addressee's response (legal moves only; a rejection needs a reason)",
                    policy.RESPOND)
    addressee_route("implementation-claims", ClaimBody, model.ClaimImplementation,
                    "Record the addressee's claimed progress (its claim, not the CSP's view)",
                    policy.RESPOND)
    addressee_route("verifications", VerifyBody, verify,
                    "Record the implementation status the CSP verified", policy.VERIFY)
    addressee_route("correspondence", CorrespondenceBody, model.LogCorrespondence,
                    "Log correspondence or evidence with the addressee", policy.CORRESPOND,
                    mints="entry_id")

    @router.get("/recommendations/{recommendation_id}",
                summary="One recommendation: SMART check, addressees with both status axes, "
                "NTSB-style status, history and correspondence",
                dependencies=[policy.PERMISSIONS.requires(policy.READ)])
    async def get_recommendation(recommendation_id: UUID, principal: CurrentPrincipal,
                                 as_of: Annotated[date | None, Query()] = None) -> JSONResponse:
        state, version = await found(principal, recommendation_id)
        return JSONResponse(recommendation_view(state, version, as_of or api.today()),
                            headers={"ETag": f'"{version}"'})

    @router.get("/recommendations/{recommendation_id}/events",
                summary="The recommendation's event history, in order",
                dependencies=[policy.PERMISSIONS.requires(policy.READ_HISTORY)])
    async def history(recommendation_id: UUID, principal: CurrentPrincipal) -> dict[str, Any]:
        await found(principal, recommendation_id, reads_history)
        events = await api.store.read_stream(stream_id(recommendation_id))
        if not events:
            raise Problem(404, f"No recommendation {recommendation_id}.",
                          title="Recommendation not found", field="recommendation_id")
        return {"recommendation_id": str(recommendation_id),
                "events": [event_summary(e) for e in events]}

    @router.get("/reviews/{review_id}/recommendations",
                summary="A review's recommendations, in report order",
                dependencies=[policy.PERMISSIONS.requires(policy.READ)])
    async def of_review(review_id: UUID, principal: CurrentPrincipal,
                        as_of: Annotated[date | None, Query()] = None) -> dict[str, Any]:
        today = as_of or api.today()
        arguments: list[Any] = [review_id]
        visible = policy.visible_recommendations(principal).where(arguments)
        rows = await api.store.pool.fetch(
            f"""SELECT version, state FROM recommendations r WHERE review_id = $1 AND {visible}
                ORDER BY number NULLS LAST, issued_on, recommendation_id""", *arguments)
        return {"review_id": str(review_id), "as_of": today.isoformat(), "items": [
            recommendation_view(model.RecommendationState.model_validate(row["state"]),
                                row["version"], today) for row in rows]}

    @router.get("/action-plans",
                summary="Action plans: one row per addressee of each recommendation, filtered",
                dependencies=[policy.PERMISSIONS.requires(policy.READ)])
    async def action_plans(
        principal: CurrentPrincipal,
        area: Annotated[str | None, Query(max_length=200, description="CSP area")] = None,
        addressee_type: AddresseeType | None = None,
        status: Annotated[str | None, Query(pattern="^(open|closed)$",
                                            description="open or closed (per addressee)")] = None,
        response_status: ResponseStatus | None = None,
        implementation_status: Annotated[ImplementationStatus | None, Query(
            description="The CSP's verified status where there is one, else the claim")] = None,
        level: RecommendationLevel | None = None,
        review_id: UUID | None = None,
        overdue: Annotated[bool | None, Query(description="Response or action overdue")] = None,
        as_of: Annotated[date | None, Query()] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 200,
        offset: Offset = 0,
    ) -> dict[str, Any]:
        today = as_of or api.today()
        arguments: list[Any] = [today]
        conditions = [policy.visible_addressee_rows(
            principal, area_column="r.csp_area", addressee_column="a.name").where(arguments)]

        def where(condition: str, value: Any) -> None:
            arguments.append(value)
            conditions.append(condition.replace("?", f"${len(arguments)}"))

        if area is not None:
            where("lower(r.csp_area) = lower(?)", area.strip())
        if addressee_type is not None:
            where("a.addressee_type = ?", addressee_type.value)
        if status is not None:
            where("a.open = ?", status == "open")
        if response_status is not None:
            where("a.response_status = ?", response_status.value)
        if implementation_status is not None:
            where("coalesce(a.implementation_verified, a.implementation_claimed) = ?",
                  implementation_status.value)
        if level is not None:
            where("r.level = ?", level.value)
        if review_id is not None:
            where("r.review_id = ?", review_id)
        overdue_sql = """(a.open AND ((a.response_status = 'awaiting_response'
                              AND a.response_due_on < $1)
                          OR (a.target_date < $1 AND a.implementation_claimed NOT IN
                              ('implemented', 'implemented_by_alternative_means', 'superseded',
                               'no_longer_applicable'))))"""
        if overdue is not None:
            conditions.append(overdue_sql if overdue else f"NOT {overdue_sql}")
        rows = await api.store.pool.fetch(
            f"""SELECT r.recommendation_id, r.review_id, r.number, r.csp_area, r.level, r.text,
                       r.themes, r.issued_on, r.smart_score, r.smart_flags,
                       a.addressee_id, a.name, a.addressee_type, a.response_status,
                       a.implementation_claimed, a.implementation_verified, a.response_due_on,
                       a.target_date, a.open, a.ntsb_status, a.verified_on, a.reverify_on,
                       {overdue_sql} AS overdue,
                       r.state -> 'addressees' AS addressees
                  FROM recommendation_addressees a
                  JOIN recommendations r USING (recommendation_id)
                 WHERE {' AND '.join(conditions)}
                 ORDER BY r.issued_on, r.review_id, r.number NULLS LAST, r.recommendation_id,
                          a.addressee_id
                 LIMIT {limit} OFFSET {offset}""", *arguments)
        return {"as_of": today.isoformat(), "items": [_action_plan_row(row) for row in rows]}

    @router.get("/escalations", summary="Escalated overdue deadlines, to the CSP or to oversight",
                dependencies=[policy.PERMISSIONS.requires(policy.READ)])
    async def escalations(
        principal: CurrentPrincipal,
        to: EscalationTarget | None = None,
        area: Annotated[str | None, Query(max_length=200)] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 200,
        offset: Offset = 0,
    ) -> dict[str, Any]:
        arguments: list[Any] = [None if to is None else to.value, area]
        visible = policy.visible_addressee_rows(
            principal, area_column="e.csp_area", addressee_column="a.name").where(arguments)
        rows = await api.store.pool.fetch(
            f"""SELECT e.*, a.name, a.addressee_type, a.ntsb_status, a.open
                  FROM recommendation_escalations e
                  LEFT JOIN recommendation_addressees a USING (recommendation_id, addressee_id)
                 WHERE ($1::text IS NULL OR e.escalated_to = $1)
                   AND ($2::text IS NULL OR lower(e.csp_area) = lower($2)) AND {visible}
                 ORDER BY e.escalated_on, e.recommendation_id, e.addressee_id, e.reason
                 LIMIT {limit} OFFSET {offset}""", *arguments)
        return {"to": None if to is None else to.value,
                "items": [_jsonable(dict(row)) for row in rows]}

    @router.post("/recommendations/{recommendation_id}/deadline-checks",
                 summary="Record this recommendation's overdue deadlines now",
                 dependencies=[policy.PERMISSIONS.requires(policy.CHECK_DEADLINES)])
    async def check_one(recommendation_id: UUID, principal: CurrentPrincipal) -> dict[str, Any]:
        await found(principal, recommendation_id, policy.manages)
        recorded = await run_deadline_checks(api, [recommendation_id])
        return {"as_of": api.today().isoformat(), "recorded": recorded}

    @router.post("/deadline-checks",
                 summary="Record every recommendation's overdue deadlines now (operators)",
                 dependencies=[policy.PERMISSIONS.requires(policy.CHECK_EVERY_DEADLINE)])
    async def check_all() -> dict[str, Any]:
        recorded = await run_deadline_checks(api)
        return {"as_of": api.today().isoformat(), "recorded": recorded}

    return router


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    return {key: (str(value) if isinstance(value, UUID | date) else value)
            for key, value in row.items()}


def _action_plan_row(row: Any) -> dict[str, Any]:
    fields = dict(row)
    addressees: list[dict[str, Any]] = fields.pop("addressees") or []
    body = _jsonable(fields)
    mine: dict[str, Any] = next((a for a in addressees if a.get("addressee_id") == row["addressee_id"]), {})
    body["action_plan"] = mine.get("action_plan")
    body["correspondence_entries"] = len(mine.get("correspondence", []))
    return body


ERROR_STATUSES: dict[type[Exception], int] = {
    model.InvalidCommand: 422,
    model.RecommendationNotFound: 404,
    model.AddresseeNotFound: 404,
    model.IllegalTransition: 409,
    model.DomainError: 409,
}
