"""HTTP API of family and friends' involvement: commands on a review's family record and the
query of it, under `/panels/{review_id}/family`.

The panel's composition root mounts `build_family_router(runtime, clock)` and adds
`FAMILY_ERROR_STATUSES` to the app's error statuses. The family record is its own stream
(`family-<review_id>`), independent of the panel's: a review id is enough to start one.
"""

# No `from __future__ import annotations`: FastAPI must see the body models of the routes
# built in closures as objects, not as names it cannot resolve.

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from dhr_contracts.access import Material
from dhr_panel import family, policy
from dhr_panel.family_projections import family_stream_id, family_view, load_family
from dhr_panel.projections import load_panel
from dhr_platform.auth import CurrentPrincipal
from dhr_platform.commands import Aggregates, Decider, event_summary
from dhr_platform.disclosure import restricted
from dhr_platform.eventstore import EventMetadata
from dhr_platform.http import (
    CorrelationId,
    IdempotencyKey,
    IfMatch,
    Problem,
    TraceParent,
    parse_if_match,
    request_body_model,
    run_command,
)
from dhr_platform.principal import Principal, Role
from dhr_platform.service import ServiceRuntime

Clock = Callable[[], datetime]

FAMILY_DECIDER: Decider[family.Command, family.FamilyState] = Decider(
    initial_state=family.initial_state, decide=family.decide, evolve=family.evolve)

# Bodies are the commands less what the path gives (review, person, offer) and what the server
# sets (the time of receipt).
_SERVER_SET = {"review_id", "recorded_at"}
_FROM_PERSON_PATH = _SERVER_SET | {"person_id"}
_FROM_OFFER_PATH = _SERVER_SET | {"offer_number"}

FamilyMemberBody: Any = request_body_model(family.RecordFamilyMember, exclude=_FROM_PERSON_PATH,
                                           name="FamilyMember")
ApproachBody: Any = request_body_model(family.RecordApproach, exclude=_FROM_PERSON_PATH,
                                       name="FamilyApproach")
ConsentBody: Any = request_body_model(family.RecordConsent, exclude=_FROM_PERSON_PATH,
                                      name="FamilyConsent")
ContributionBody: Any = request_body_model(family.RecordContribution, exclude=_FROM_PERSON_PATH,
                                           name="FamilyContribution")
AdvocacyOfferBody: Any = request_body_model(family.OfferAdvocacy, exclude=_FROM_PERSON_PATH,
                                            name="FamilyAdvocacyOffer")
AdvocacyAcceptanceBody: Any = request_body_model(family.AcceptAdvocacy, exclude=_FROM_OFFER_PATH,
                                                 name="FamilyAdvocacyAcceptance")
AdvocacyDeclineBody: Any = request_body_model(family.DeclineAdvocacy, exclude=_FROM_OFFER_PATH,
                                              name="FamilyAdvocacyDecline")
ChildVoiceBody: Any = request_body_model(family.RecordChildVoice, exclude=_SERVER_SET,
                                         name="FamilyChildVoice")
DraftSharingBody: Any = request_body_model(family.ShareDraftReport, exclude=_SERVER_SET,
                                           name="FamilyDraftReportSharing")
TermsConsultationBody: Any = request_body_model(
    family.ConsultOnTermsOfReference, exclude=_SERVER_SET,
    name="FamilyTermsOfReferenceConsultation")
AttendanceBody: Any = request_body_model(family.RecordPanelMeetingAttendance,
                                         exclude=_SERVER_SET, name="FamilyPanelMeetingAttendance")
SupportBody: Any = request_body_model(family.OfferSupportAfterCompletion, exclude=_SERVER_SET,
                                      name="FamilySupportAfterCompletion")

OfferNumber = Annotated[int, Path(ge=1, le=1000, description="Number of the advocacy offer.")]


class FamilyCommandAccepted(BaseModel):
    """What a family command answers: the review, the family stream's new version, the events."""

    review_id: UUID
    version: int
    events: list[str]
    person_id: UUID | None = None


async def manages_review(runtime: ServiceRuntime, principal: Principal, review_id: UUID) -> bool:
    """Whether the principal is the review manager of the review's area or its Chair, as far as
    this service knows the review (its panel, or the area the commissioning service told)."""
    found = await load_panel(runtime.store.pool, review_id)
    if found is not None:
        return policy.manages(principal, found[0])
    area = await runtime.store.pool.fetchval(
        "SELECT csp_area FROM commissioning_review_areas WHERE review_id = $1", review_id)
    return policy.manages_review(principal, area, None)


def build_family_router(runtime: ServiceRuntime, clock: Clock) -> APIRouter:
    """Routes of the family record. The store is looked up per request: the routes are built
    before the runtime has connected."""
    router = APIRouter(prefix="/panels/{review_id}/family", tags=["family"])

    def records() -> Aggregates[family.Command, family.FamilyState]:
        return Aggregates(runtime.store, FAMILY_DECIDER)

    def family_not_found(review_id: UUID) -> Problem:
        return Problem(404, f"No family record for review {review_id}.",
                       title="Family record not found")

    async def may_read(principal: Principal, review_id: UUID) -> None:
        if not (principal.has(Role.OVERSIGHT_READER)
                or await manages_review(runtime, principal, review_id)):
            raise family_not_found(review_id)

    async def execute(request: Request, review_id: UUID, command: family.Command, *,
                      principal: Principal, idempotency_key: str | None, if_match: str | None,
                      correlation_id: UUID | None, traceparent: str | None,
                      person_id: UUID | None = None, created: bool = False) -> JSONResponse:
        if not await manages_review(runtime, principal, review_id):
            raise Problem(404, f"No review {review_id} is known here: the panel service learns "
                          "of reviews from the commissioning service.", title="Review not found",
                          field="review_id")
        metadata = EventMetadata.for_request(str(review_id), principal, correlation_id,
                                             traceparent)
        expected = parse_if_match(if_match)
        stream = family_stream_id(review_id)

        async def transaction(connection: Any) -> tuple[int, dict[str, Any]]:
            outcome = await records().execute(connection, stream, command, metadata, expected)
            body = FamilyCommandAccepted(review_id=review_id, version=outcome.version,
                                         events=outcome.event_types,
                                         person_id=person_id)
            return (201 if created else 200), body.model_dump(mode="json")

        return await run_command(
            request, runtime.store.pool, idempotency_key, transaction,
            headers_for=(lambda answer: {"Location": f"/panels/{answer['review_id']}/family"})
            if created else None)

    records_family = [policy.PERMISSIONS.requires(policy.RECORD_FAMILY)]
    reads_family = [policy.PERMISSIONS.requires(policy.READ_FAMILY)]

    @router.post("/people", status_code=201, response_model=FamilyCommandAccepted,
                 dependencies=records_family,
                 summary="Record a family member or friend and their relationship to the victim")
    async def record_family_member(
            request: Request, review_id: UUID, body: FamilyMemberBody,
            principal: CurrentPrincipal,
            idempotency_key: IdempotencyKey = None, if_match: IfMatch = None,
            correlation_id: CorrelationId = None, traceparent: TraceParent = None) -> JSONResponse:
        person_id = uuid.uuid4()
        command = family.RecordFamilyMember(review_id=review_id, recorded_at=clock(),
                                            person_id=person_id, **body.model_dump())
        return await execute(request, review_id, command, principal=principal,
                             idempotency_key=idempotency_key, if_match=if_match,
                             correlation_id=correlation_id, traceparent=traceparent,
                             person_id=person_id, created=True)

    def person_route(path: str, body_model: Any, command_type: type[family.Command],
                     summary: str) -> None:
        async def endpoint(request: Request, review_id: UUID, person_id: UUID, body: body_model,
                           principal: CurrentPrincipal,
                           idempotency_key: IdempotencyKey = None, if_match: IfMatch = None,
                           correlation_id: CorrelationId = None,
                           traceparent: TraceParent = None) -> JSONResponse:
            command = command_type.model_validate({
                "review_id": review_id, "recorded_at": clock(), "person_id": person_id,
                **body.model_dump()})
            return await execute(request, review_id, command, principal=principal,
                                 idempotency_key=idempotency_key, if_match=if_match,
                                 correlation_id=correlation_id, traceparent=traceparent,
                                 person_id=person_id)

        router.add_api_route(f"/people/{{person_id}}/{path}", endpoint, methods=["POST"],
                             response_model=FamilyCommandAccepted, summary=summary,
                             dependencies=records_family,
                             name=f"family_{path.replace('-', '_')}")

    def offer_route(path: str, body_model: Any, command_type: type[family.Command],
                    summary: str) -> None:
        async def endpoint(request: Request, review_id: UUID, offer_number: OfferNumber,
                           body: body_model, principal: CurrentPrincipal,
                           idempotency_key: IdempotencyKey = None, if_match: IfMatch = None,
                           correlation_id: CorrelationId = None,
                           traceparent: TraceParent = None) -> JSONResponse:
            command = command_type.model_validate({
                "review_id": review_id, "recorded_at": clock(), "offer_number": offer_number,
                **body.model_dump()})
            return await execute(request, review_id, command, principal=principal,
                                 idempotency_key=idempotency_key, if_match=if_match,
                                 correlation_id=correlation_id, traceparent=traceparent)

        router.add_api_route(f"/advocacy-offers/{{offer_number}}/{path}", endpoint,
                             methods=["POST"], response_model=FamilyCommandAccepted,
                             dependencies=records_family,
                             summary=summary, name=f"family_advocacy_{path}")

    def family_route(path: str, body_model: Any, command_type: type[family.Command],
                     summary: str) -> None:
        async def endpoint(request: Request, review_id: UUID, body: body_model,
                           principal: CurrentPrincipal,
                           idempotency_key: IdempotencyKey = None, if_match: IfMatch = None,
                           correlation_id: CorrelationId = None,
                           traceparent: TraceParent = None) -> JSONResponse:
            command = command_type(review_id=review_id, recorded_at=clock(), **body.model_dump())
            return await execute(request, review_id, command, principal=principal,
                                 idempotency_key=idempotency_key, if_match=if_match,
                                 correlation_id=correlation_id, traceparent=traceparent)

        router.add_api_route(f"/{path}", endpoint, methods=["POST"],
                             response_model=FamilyCommandAccepted, summary=summary,
                             dependencies=records_family,
                             name=f"family_{path.replace('-', '_')}")

    person_route("approaches", ApproachBody, family.RecordApproach,
                 "Record an approach and its outcome (a re-approach is always possible)")
    person_route("consent", ConsentBody, family.RecordConsent,
                 "Record the person's consent and preferences (the latest replaces the earlier)")
    person_route("contributions", ContributionBody, family.RecordContribution,
                 "Record a contribution (the person's latest approach must have been agreed)")
    person_route("advocacy-offers", AdvocacyOfferBody, family.OfferAdvocacy,
                 "Offer specialist advocacy (e.g. AAFDA, National Homicide Service)")
    offer_route("acceptance", AdvocacyAcceptanceBody, family.AcceptAdvocacy,
                "Record that an advocacy offer was accepted")
    offer_route("decline", AdvocacyDeclineBody, family.DeclineAdvocacy,
                "Record that an advocacy offer was declined")
    family_route("children", ChildVoiceBody, family.RecordChildVoice,
                 "Record how a child's voice was heard, or why it was not sought")
    family_route("draft-report-sharings", DraftSharingBody, family.ShareDraftReport,
                 "Record that a draft report was shared with the family")
    family_route("terms-of-reference-consultations", TermsConsultationBody,
                 family.ConsultOnTermsOfReference,
                 "Record that the family was consulted on the terms of reference")
    family_route("panel-meeting-attendances", AttendanceBody,
                 family.RecordPanelMeetingAttendance,
                 "Record that the family attended a panel meeting")
    family_route("support-after-completion", SupportBody, family.OfferSupportAfterCompletion,
                 "Record that support after completion was offered to the family")

    # What the family, friends and children told the review: each read is recorded.
    reads_testimony = [*reads_family, restricted(Material.FAMILY_TESTIMONY)]

    @router.get("", summary="The review's family involvement, with the five process facts",
                dependencies=reads_testimony)
    async def get_family(review_id: UUID, principal: CurrentPrincipal) -> JSONResponse:
        await may_read(principal, review_id)
        found = await load_family(runtime.store.pool, review_id)
        if found is None:
            raise family_not_found(review_id)
        state, version = found
        return JSONResponse(family_view(review_id, state, version),
                            headers={"ETag": f'"{version}"'})

    @router.get("/events", summary="The family record's own event history, in order",
                dependencies=reads_testimony)
    async def family_history(review_id: UUID, principal: CurrentPrincipal) -> dict[str, Any]:
        await may_read(principal, review_id)
        events = await runtime.store.read_stream(family_stream_id(review_id))
        if not events:
            raise family_not_found(review_id)
        return {"review_id": str(review_id), "events": [event_summary(e) for e in events]}

    return router


FAMILY_ERROR_STATUSES: dict[type[Exception], int] = {
    family.InvalidFamilyCommand: 422,
    family.FamilyRecordNotFound: 404,
    family.PersonNotRecorded: 404,
    family.AdvocacyOfferNotFound: 404,
    family.DomainError: 409,  # the family record's state does not allow the command now
}
