"""HTTP API of the commissioning service: commands on review cases and queries of them."""


import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from dhr_commissioning import domain, policy
from dhr_commissioning.config import CommissioningSettings
from dhr_commissioning.projections import (
    ReviewsProjection,
    list_reviews,
    load_review,
    review_view,
    stream_id,
)
from dhr_contracts.commissioning import PersonalDataErased
from dhr_platform.auth import CurrentPrincipal
from dhr_platform.commands import Aggregates, Decider, event_summary, new_event
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
from dhr_platform.principal import Principal
from dhr_platform.service import ServiceRuntime

Clock = Callable[[], datetime]

# Bodies are the commands less what the path gives (the review) and what the server sets
# (the time of receipt and the deadline policy in force).
NotifyDeathBody: Any = request_body_model(
    domain.ReceiveNotification, exclude={"review_id", "received_at", "decision_due_months"},
    name="DeathNotification")
DecideToCommissionBody = request_body_model(
    domain.DecideToCommission, exclude={"review_id", "completion_due_months"})
DecideNotToCommissionBody = request_body_model(domain.DecideNotToCommission, exclude={"review_id"})
HomeOfficeNotifiedBody = request_body_model(domain.RecordHomeOfficeNotified, exclude={"review_id"})
FamilyInformedBody = request_body_model(domain.RecordFamilyInformed, exclude={"review_id"})
AppointChairBody = request_body_model(domain.AppointChair, exclude={"review_id"})
PauseReviewBody = request_body_model(domain.PauseReview, exclude={"review_id"})
ResumeReviewBody = request_body_model(domain.ResumeReview, exclude={"review_id"})
LinkParallelReviewBody = request_body_model(domain.LinkParallelReview, exclude={"review_id"})
SignOffReportBody = request_body_model(domain.SignOffReport, exclude={"review_id"})
SubmitToHomeOfficeBody = request_body_model(domain.SubmitToHomeOffice, exclude={"review_id"})
QualityAssuranceOutcomeBody: Any = request_body_model(
    domain.RecordQualityAssuranceOutcome, exclude={"review_id", "submission_number"})
PublishReportBody = request_body_model(domain.PublishReport, exclude={"review_id"})
ReportDeliveryBody = request_body_model(domain.RecordReportDelivery, exclude={"review_id"})



class ErasePersonalDataBody(BaseModel):
    """Why the review's personal data is erased: the legal basis or the request it answers."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    reason: str = Field(min_length=1, max_length=2000, description="Why (the legal basis or "
                        "request); it is recorded in clear, so it must not hold personal data.")


class CommandAccepted(BaseModel):
    """What a command endpoint answers: the review, its new version and the events recorded."""

    review_id: UUID
    version: int
    events: list[str]


@dataclass
class CommissioningApi:
    """The handlers' dependencies, given by the composition root. The store is looked up when a
    request comes, because routes are declared before the runtime has connected."""

    runtime: ServiceRuntime
    settings: CommissioningSettings
    clock: Clock

    @property
    def store(self) -> EventStore:
        return self.runtime.store

    @property
    def reviews(self) -> Aggregates[domain.Command, domain.ReviewState]:
        return Aggregates(self.store, DECIDER, REVIEWS)


DECIDER: Decider[domain.Command, domain.ReviewState] = Decider(
    initial_state=domain.initial_state, decide=domain.decide, evolve=domain.evolve
)
# The `reviews` rows hold each review's decider state: commands load from them.
REVIEWS = ReviewsProjection()


def location_of_review(answer: dict[str, Any]) -> dict[str, str]:
    return {"Location": f"/reviews/{answer['review_id']}"}


def review_not_found(review_id: UUID) -> Problem:
    """The one answer for a review that does not exist and for one the caller may not see."""
    return Problem(404, f"No review {review_id}.", title="Review not found")


def build_router(api: CommissioningApi) -> APIRouter:
    router = APIRouter(prefix="/reviews", tags=["reviews"])

    async def visible_review(principal: Principal, review_id: UUID
                             ) -> tuple[domain.ReviewState, int]:
        found = await load_review(api.store.pool, review_id)
        if found is None or not policy.may_see(principal, found[0]):
            raise review_not_found(review_id)
        return found

    async def execute(
        request: Request,
        review_id: UUID,
        command: domain.Command,
        *,
        principal: Principal,
        idempotency_key: str | None,
        if_match: str | None = None,
        correlation_id: UUID | None = None,
        traceparent: str | None = None,
        created: bool = False,
    ) -> JSONResponse:
        metadata = EventMetadata.for_request(str(review_id), principal, correlation_id,
                                             traceparent)
        expected = parse_if_match(if_match)
        # The review's row is its state (a snapshot): read once, for the check and the decision.
        loaded = [api.reviews.new()] if created else []

        async def authorise(connection: Any) -> None:
            # A new review was checked against the notification's area and agency instead.
            if not created:
                found = await load_review(connection, review_id)
                if found is None or not policy.may_change(principal, found[0]):
                    raise review_not_found(review_id)
                loaded.append(found)

        async def transaction(connection: Any) -> tuple[int, dict[str, Any]]:
            outcome = await api.reviews.execute(connection, stream_id(review_id), command,
                                                metadata, expected, loaded[0])
            body = CommandAccepted(review_id=review_id, version=outcome.version,
                                   events=outcome.event_types)
            return (201 if created else 200), body.model_dump(mode="json")

        return await run_command(request, api.store.pool, idempotency_key, transaction,
                                 headers_for=location_of_review if created else None,
                                 authorise=authorise)

    @router.post("", status_code=201, response_model=CommandAccepted,
                 dependencies=[policy.PERMISSIONS.requires(policy.NOTIFY)],
                 summary="Notify a death: opens a review case and assesses eligibility")
    async def notify_death(request: Request, body: NotifyDeathBody, principal: CurrentPrincipal,
                           idempotency_key: IdempotencyKey = None,
                           correlation_id: CorrelationId = None,
                           traceparent: TraceParent = None) -> JSONResponse:
        policy.require_may_notify(principal, body.csp_area, body.notifying_agency)
        review_id = uuid.uuid4()
        command = domain.ReceiveNotification(
            review_id=review_id, received_at=api.clock(),
            decision_due_months=api.settings.decision_due_months, **body.model_dump())
        return await execute(request, review_id, command, principal=principal,
                             idempotency_key=idempotency_key, correlation_id=correlation_id,
                             traceparent=traceparent, created=True)

    def command_route(path: str, body_model: Any, build: Callable[..., domain.Command],
                      summary: str) -> None:
        async def endpoint(request: Request, review_id: UUID, body: body_model,
                           principal: CurrentPrincipal,
                           idempotency_key: IdempotencyKey = None, if_match: IfMatch = None,
                           correlation_id: CorrelationId = None,
                           traceparent: TraceParent = None) -> JSONResponse:
            command = build(review_id=review_id, **body.model_dump())
            return await execute(request, review_id, command, principal=principal,
                                 idempotency_key=idempotency_key, if_match=if_match,
                                 correlation_id=correlation_id, traceparent=traceparent)

        router.add_api_route(f"/{{review_id}}/{path}", endpoint, methods=["POST"],
                             response_model=CommandAccepted, summary=summary,
                             name=path.replace("-", "_"),
                             dependencies=[policy.PERMISSIONS.requires(policy.CHANGE_REVIEW)])

    command_route("decision-to-commission", DecideToCommissionBody,
                  lambda **fields: domain.DecideToCommission(
                      completion_due_months=api.settings.completion_due_months, **fields),
                  "Decide to commission a review, with the rationale")
    command_route("decision-not-to-commission", DecideNotToCommissionBody,
                  domain.DecideNotToCommission,
                  "Decide not to commission a review, with reasons for the Home Office")
    command_route("home-office-notification", HomeOfficeNotifiedBody,
                  domain.RecordHomeOfficeNotified, "Record that the Home Office was notified")
    command_route("family-notification", FamilyInformedBody, domain.RecordFamilyInformed,
                  "Record that the family was told of the decision")
    command_route("chair", AppointChairBody, domain.AppointChair,
                  "Appoint the independent Chair, who declares independence")
    command_route("pause", PauseReviewBody, domain.PauseReview, "Pause the review, with a reason")
    command_route("resume", ResumeReviewBody, domain.ResumeReview, "Resume a paused review")
    command_route("parallel-reviews", LinkParallelReviewBody, domain.LinkParallelReview,
                  "Link a parallel review or process")
    # From the report the panel agreed (recorded from its Kafka event) to publication.
    command_route("sign-off", SignOffReportBody, domain.SignOffReport,
                  "The CSP signs off the report the panel agreed")
    command_route("home-office-submissions", SubmitToHomeOfficeBody, domain.SubmitToHomeOffice,
                  "Submit the signed-off report to the Home Office Quality Assurance Panel, or "
                  "resubmit it after changes were required")
    command_route("publication", PublishReportBody, domain.PublishReport,
                  "Publish the approved, anonymised report")
    command_route("deliveries", ReportDeliveryBody, domain.RecordReportDelivery,
                  "Record a copy of the published report sent to the Domestic Abuse "
                  "Commissioner or the Secretary of State, with its SHA-256")

    @router.post("/{review_id}/home-office-submissions/{submission_number}/outcome",
                 response_model=CommandAccepted, name="quality_assurance_outcome",
                 dependencies=[policy.PERMISSIONS.requires(policy.CHANGE_REVIEW)],
                 summary="Record the Quality Assurance Panel's outcome of one submission")
    async def quality_assurance_outcome(
        request: Request, review_id: UUID,
        submission_number: Annotated[int, Path(ge=1, le=1000)],
        body: QualityAssuranceOutcomeBody, principal: CurrentPrincipal,
        idempotency_key: IdempotencyKey = None, if_match: IfMatch = None,
        correlation_id: CorrelationId = None, traceparent: TraceParent = None,
    ) -> JSONResponse:
        command = domain.RecordQualityAssuranceOutcome(
            review_id=review_id, submission_number=submission_number,
            **body.model_dump())
        return await execute(request, review_id, command, principal=principal,
                             idempotency_key=idempotency_key, if_match=if_match,
                             correlation_id=correlation_id, traceparent=traceparent)

    @router.post("/{review_id}/personal-data-erasure", response_model=CommandAccepted,
                 dependencies=[policy.PERMISSIONS.requires(policy.ERASE_PERSONAL_DATA)],
                 summary="Erase the review's personal data (crypto-shredding): its data key is "
                 "destroyed, so every personal value of the review reads as erased everywhere")
    async def erase_personal_data(
        request: Request, review_id: UUID, body: ErasePersonalDataBody,
        principal: CurrentPrincipal, idempotency_key: IdempotencyKey = None,
        correlation_id: CorrelationId = None, traceparent: TraceParent = None,
    ) -> JSONResponse:
        if await load_review(api.store.pool, review_id) is None:
            raise review_not_found(review_id)
        metadata = EventMetadata.for_request(str(review_id), principal, correlation_id,
                                             traceparent)

        async def transaction(connection: Any) -> tuple[int, dict[str, Any]]:
            stream = stream_id(review_id)
            version = await api.store.stream_version(stream, connection)
            # The key goes in the same transaction as the event that records it going.
            key_id = await api.runtime.keyring.erase(connection, str(review_id),
                                                     actor=principal.subject, reason=body.reason)
            erased = PersonalDataErased(review_id=review_id, erased_on=api.clock().date(),
                                        reason=body.reason, data_key_id=key_id)
            recorded = await api.store.append(connection, stream, version, [new_event(erased)],
                                              metadata)
            answer = CommandAccepted(review_id=review_id, version=recorded[-1].stream_version,
                                     events=[event.type for event in recorded])
            return 200, answer.model_dump(mode="json")

        return await run_command(request, api.store.pool, idempotency_key, transaction)

    @router.get("", summary="List the reviews the caller may see, filtered by status, area and "
                "overdue", dependencies=[policy.PERMISSIONS.requires(policy.READ_REVIEWS)])
    async def list_all(
        principal: CurrentPrincipal,
        status: domain.ReviewStatus | None = None,
        area: Annotated[str | None, Query(max_length=200)] = None,
        overdue: bool | None = None,
        as_of: Annotated[date | None, Query(description="Date deadlines are judged at.")] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        offset: Offset = 0,
    ) -> dict[str, Any]:
        today = as_of or api.clock().date()
        found, total = await list_reviews(
            api.store.pool, today=today, status=None if status is None else status.value,
            csp_area=area, overdue=overdue, visible=policy.visible_reviews(principal),
            limit=limit, offset=offset)
        return {"total": total, "limit": limit, "offset": offset,
                "items": [review_view(state, version, today) for state, version in found]}

    @router.get("/{review_id}", summary="One review with its state and deadlines",
                dependencies=[policy.PERMISSIONS.requires(policy.READ_REVIEWS)])
    async def get_one(review_id: UUID, principal: CurrentPrincipal,
                      as_of: Annotated[date | None, Query()] = None) -> JSONResponse:
        state, version = await visible_review(principal, review_id)
        return JSONResponse(review_view(state, version, as_of or api.clock().date()),
                            headers={"ETag": f'"{version}"'})

    @router.get("/{review_id}/events", summary="The review's own event history, in order",
                dependencies=[policy.PERMISSIONS.requires(policy.READ_REVIEWS)])
    async def history(review_id: UUID, principal: CurrentPrincipal) -> dict[str, Any]:
        await visible_review(principal, review_id)
        events = await api.store.read_stream(stream_id(review_id))
        if not events:
            raise review_not_found(review_id)
        return {"review_id": str(review_id), "events": [event_summary(e) for e in events]}

    return router


ERROR_STATUSES: dict[type[Exception], int] = {
    domain.InvalidCommand: 422,
    domain.ChairNotIndependent: 422,
    domain.ReportNotAnonymised: 422,
    domain.ReviewNotFound: 404,
    domain.SubmissionNotFound: 404,
    domain.DomainError: 409,  # the review's state does not allow the command now
}
