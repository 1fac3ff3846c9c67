"""HTTP API of the panel service: commands on a review's panel, queries of it, deadline checks."""

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from dhr_contracts.access import Material
from dhr_panel import domain, model, policy
from dhr_panel.config import PanelSettings
from dhr_panel.projections import (
    PanelsProjection,
    load_panel,
    panel_view,
    panels_with_requests_to_flag,
    request_view,
    stream_id,
)
from dhr_platform.auth import CurrentPrincipal
from dhr_platform.commands import Aggregates, Decider, event_summary
from dhr_platform.disclosure import restricted
from dhr_platform.eventstore import ConcurrencyError, EventMetadata, EventStore
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
from dhr_platform.principal import Principal
from dhr_platform.service import ServiceRuntime

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]

DECIDER: Decider[model.Command, model.PanelState] = Decider(
    initial_state=domain.initial_state, decide=domain.decide, evolve=domain.evolve)
# The `panels` rows hold each panel's decider state: commands load from them.
PANELS = PanelsProjection()

DEADLINE_WATCHER = "panel:deadline-watcher"

# Bodies are the commands less what the path gives (review, request, meeting), what the server
# mints (new ids) and the policy in force (the quorum rule).
AddMemberBody: Any = request_body_model(model.AddMember, exclude={"review_id"})
RemoveMemberBody: Any = request_body_model(model.RemoveMember, exclude={"review_id"})
TermsOfReferenceBody: Any = request_body_model(model.IssueTermsOfReference, exclude={"review_id"})
RequestInformationBody: Any = request_body_model(
    model.RequestInformation, exclude={"review_id", "request_id"})
SubmitInformationBody: Any = request_body_model(
    model.SubmitInformation, exclude={"review_id", "request_id"})
ReturnInformationBody: Any = request_body_model(
    model.ReturnInformation, exclude={"review_id", "request_id"})
ScheduleMeetingBody: Any = request_body_model(
    model.ScheduleMeeting, exclude={"review_id", "meeting_id"})
HoldMeetingBody: Any = request_body_model(
    model.HoldMeeting, exclude={"review_id", "meeting_id", "quorum_min_agencies",
                                "quorum_requires_chair"})
MinutesBody: Any = request_body_model(model.RecordMinutes, exclude={"review_id", "meeting_id"})
DecisionBody: Any = request_body_model(
    model.RecordDecision, exclude={"review_id", "meeting_id", "decision_id"})
ActionBody: Any = request_body_model(
    model.AssignAction, exclude={"review_id", "meeting_id", "action_id"})
ReportDraftBody: Any = request_body_model(model.ShareReportDraft, exclude={"review_id"})
ReportAgreementBody: Any = request_body_model(model.AgreeReport, exclude={"review_id"})



@dataclass
class PanelApi:
    """The handlers' dependencies, given by the composition root. The store is looked up when a
    request comes, because routes are declared before the runtime has connected."""

    runtime: ServiceRuntime
    settings: PanelSettings
    clock: Clock

    @property
    def store(self) -> EventStore:
        return self.runtime.store

    @property
    def panels(self) -> Aggregates[model.Command, model.PanelState]:
        return Aggregates(self.store, DECIDER, PANELS)

    def today(self) -> date:
        return self.clock().date()


async def run_deadline_checks(api: PanelApi, review_ids: list[UUID] | None = None
                              ) -> list[dict[str, Any]]:
    """Record overdue information requests as of the clock's date, once per due date.

    Each panel is checked in its own transaction; a panel changed meanwhile (a concurrency
    clash) is left to the next round.
    """
    as_of = api.today()
    if review_ids is None:
        review_ids = await panels_with_requests_to_flag(api.store.pool, as_of)
    recorded: list[dict[str, Any]] = []
    for review_id in review_ids:
        metadata = EventMetadata(subject=str(review_id), actor=DEADLINE_WATCHER)
        command = model.DetectOverdueRequests(review_id=review_id, as_of=as_of)
        try:
            async with api.store.pool.acquire() as connection, connection.transaction():
                events = await api.panels.handle(connection, stream_id(review_id), command,
                                                 metadata)
        except ConcurrencyError:
            log.info("panel %s changed during the deadline check; next round", review_id)
            continue
        recorded += [{"review_id": str(review_id), **event.data} for event in events]
    return recorded


def location_of(answer: dict[str, Any]) -> dict[str, str]:
    return {"Location": answer["location"]}


def panel_not_open(review_id: UUID) -> Problem:
    """The one answer for a panel that is not open and for one the caller may not see."""
    return Problem(404, f"No panel is open for review {review_id}.", title="Panel not open",
                   field="review_id")


def request_not_found(request_id: UUID) -> model.InformationRequestNotFound:
    """The decider's own answer for a missing request, also given for another agency's."""
    return model.InformationRequestNotFound(f"No information request {request_id} on this "
                                            "panel.", "request_id")


async def authorise_command(api: PanelApi, principal: Principal, review_id: UUID,
                            request_id: UUID | None, action: str) -> None:
    """Refuse a command the principal may not run on this panel: 403 for the wrong role, and
    the 404 of a missing panel (or request) for one they may not see (the role was checked by
    the route's dependency)."""
    found = await load_panel(api.store.pool, review_id)
    panel = None if found is None else found[0]
    if action == policy.SUBMIT_INFORMATION and request_id is not None:
        if panel is not None and policy.manages(principal, panel):
            return  # a missing request is the decider's 404
        request = None if panel is None else panel.request(request_id)
        if panel is None or request is None or not policy.may_submit(principal, panel, request):
            raise request_not_found(request_id)
        return
    if panel is None or not policy.manages(principal, panel):
        raise panel_not_open(review_id)


def build_router(api: PanelApi) -> APIRouter:
    router = APIRouter(tags=["panels"])

    async def execute(request: Request, review_id: UUID, command: model.Command, *,
                      principal: Principal, idempotency_key: str | None, if_match: str | None,
                      correlation_id: UUID | None, traceparent: str | None,
                      created: dict[str, str] | None = None) -> JSONResponse:
        metadata = EventMetadata.for_request(str(review_id), principal, correlation_id,
                                             traceparent)
        expected = parse_if_match(if_match)

        async def transaction(connection: Any) -> tuple[int, dict[str, Any]]:
            outcome = await api.panels.execute(connection, stream_id(review_id), command,
                                               metadata, expected)
            body: dict[str, Any] = {"review_id": str(review_id), "version": outcome.version,
                                    "events": outcome.event_types}
            body.update(created or {})
            return (201 if created else 200), body

        return await run_command(request, api.store.pool, idempotency_key, transaction,
                                 headers_for=location_of if created else None)

    def command_route(path: str, body_model: Any, build: Callable[..., model.Command],
                      summary: str, *, mints: str | None = None,
                      location: Callable[[UUID, str], str] | None = None,
                      action: str = policy.MANAGE_PANEL) -> None:
        """A POST under /panels/{review_id}/...; `mints` names an id the server gives the new
        thing (returned in the body, with a Location header); `action` is what the policy
        checks."""

        async def endpoint(request: Request, review_id: UUID, body: body_model,
                           principal: CurrentPrincipal,
                           idempotency_key: IdempotencyKey = None, if_match: IfMatch = None,
                           correlation_id: CorrelationId = None,
                           traceparent: TraceParent = None) -> JSONResponse:
            fields = dict(body.model_dump())
            for name, value in request.path_params.items():
                if name != "review_id":
                    fields[name] = _path_id(name, value)
            await authorise_command(api, principal, review_id, fields.get("request_id"), action)
            created = None
            if mints is not None:
                minted = str(uuid.uuid4())
                fields[mints] = minted
                created = {mints: minted,
                           "location": location(review_id, minted) if location else ""}
            command = build(review_id=review_id, **fields)
            return await execute(request, review_id, command, principal=principal,
                                 idempotency_key=idempotency_key, if_match=if_match,
                                 correlation_id=correlation_id, traceparent=traceparent,
                                 created=created)

        router.add_api_route(f"/panels/{{review_id}}/{path}", endpoint, methods=["POST"],
                             status_code=201 if mints else 200, summary=summary,
                             dependencies=[policy.PERMISSIONS.requires(action)],
                             name=path.replace("/", "_").replace("-", "_").replace("{", "")
                             .replace("}", ""))

    def hold_meeting(**fields: Any) -> model.Command:
        return model.HoldMeeting(quorum_min_agencies=api.settings.panel_quorum_min_agencies,
                                 quorum_requires_chair=api.settings.panel_quorum_requires_chair,
                                 **fields)

    command_route("members", AddMemberBody, model.AddMember,
                  "An agency joins the panel (sector and role)")
    command_route("member-departures", RemoveMemberBody, model.RemoveMember,
                  "An agency leaves the panel")
    command_route("terms-of-reference", TermsOfReferenceBody, model.IssueTermsOfReference,
                  "Issue a new version of the terms of reference")
    command_route("requests", RequestInformationBody, model.RequestInformation,
                  "Ask an agency for a scoping return, chronology, IMR or short report",
                  mints="request_id",
                  location=lambda review, minted: f"/panels/{review}/requests/{minted}")
    command_route("requests/{request_id}/submission", SubmitInformationBody,
                  model.SubmitInformation, "Record an agency's submission (by the agency itself, "
                  "the review manager or the Chair)", action=policy.SUBMIT_INFORMATION)
    command_route("requests/{request_id}/return", ReturnInformationBody,
                  model.ReturnInformation, "Return a submission for more work, with a new due date")
    command_route("meetings", ScheduleMeetingBody, model.ScheduleMeeting,
                  "Schedule a panel meeting with its agenda", mints="meeting_id",
                  location=lambda review, minted: f"/panels/{review}/meetings/{minted}")
    command_route("meetings/{meeting_id}/held", HoldMeetingBody, hold_meeting,
                  "Record a meeting as held, with attendance; quorum is judged by the rule in force")
    command_route("meetings/{meeting_id}/minutes", MinutesBody, model.RecordMinutes,
                  "Record or revise a held meeting's minutes")
    command_route("meetings/{meeting_id}/decisions", DecisionBody, model.RecordDecision,
                  "Record a decision of a quorate meeting", mints="decision_id",
                  location=lambda review, minted: f"/panels/{review}")
    command_route("meetings/{meeting_id}/actions", ActionBody, model.AssignAction,
                  "Give an action from a held meeting to an agency", mints="action_id",
                  location=lambda review, minted: f"/panels/{review}")
    command_route("report-drafts", ReportDraftBody, model.ShareReportDraft,
                  "Share a new draft of the overview report with the panel")
    command_route("report-agreement", ReportAgreementBody, model.AgreeReport,
                  "The panel agrees the latest draft: ReviewReportAgreed is published")

    async def found(principal: Principal, review_id: UUID) -> tuple[model.PanelState, int]:
        panel = await load_panel(api.store.pool, review_id)
        if panel is None or not panel[0].open or not policy.may_see(principal, panel[0]):
            raise panel_not_open(review_id)
        return panel

    @router.get("/panels/{review_id}", summary="One panel: members and balance, warnings, Chair, "
                "terms of reference, requests (an agency sees only its own), meetings, report",
                dependencies=[policy.PERMISSIONS.requires(policy.READ_PANEL)])
    async def get_panel(review_id: UUID, principal: CurrentPrincipal,
                        as_of: Annotated[date | None, Query()] = None) -> JSONResponse:
        state, version = await found(principal, review_id)
        view = panel_view(state.model_copy(update={
            "requests": tuple(policy.visible_requests(principal, state))}),
            version, as_of or api.today())
        return JSONResponse(view, headers={"ETag": f'"{version}"'})

    @router.get("/panels/{review_id}/requests",
                summary="A panel's information requests (an agency sees only its own); each "
                "read is recorded as access to IMR material",
                dependencies=[policy.PERMISSIONS.requires(policy.READ_PANEL),
                              restricted(Material.IMR)])
    async def list_requests(
        review_id: UUID,
        principal: CurrentPrincipal,
        status: model.RequestStatus | None = None,
        agency: Annotated[str | None, Query(max_length=200)] = None,
        overdue: bool | None = None,
        as_of: Annotated[date | None, Query()] = None,
    ) -> dict[str, Any]:
        state, _ = await found(principal, review_id)
        today = as_of or api.today()
        items = [request_view(r, today) for r in policy.visible_requests(principal, state)
                 if (status is None or r.status is status)
                 and (agency is None or r.agency.casefold() == agency.strip().casefold())
                 and (overdue is None or r.overdue_on(today) == overdue)]
        return {"review_id": str(review_id), "as_of": today.isoformat(), "items": items}

    @router.get("/panels/{review_id}/events", summary="The panel's own event history, in order",
                dependencies=[policy.PERMISSIONS.requires(policy.READ_PANEL_HISTORY)])
    async def history(review_id: UUID, principal: CurrentPrincipal) -> dict[str, Any]:
        await found(principal, review_id)
        events = await api.store.read_stream(stream_id(review_id))
        if not events:
            raise panel_not_open(review_id)
        return {"review_id": str(review_id), "events": [event_summary(e) for e in events]}

    @router.post("/panels/{review_id}/deadline-checks",
                 summary="Record this panel's overdue information requests now",
                 dependencies=[policy.PERMISSIONS.requires(policy.MANAGE_PANEL)])
    async def check_one(review_id: UUID, principal: CurrentPrincipal) -> dict[str, Any]:
        await authorise_command(api, principal, review_id, None, policy.MANAGE_PANEL)
        recorded = await run_deadline_checks(api, [review_id])
        return {"as_of": api.today().isoformat(), "overdue_recorded": recorded}

    @router.post("/deadline-checks",
                 summary="Record every panel's overdue information requests now (operators)",
                 dependencies=[policy.PERMISSIONS.requires(policy.CHECK_EVERY_DEADLINE)])
    async def check_all() -> dict[str, Any]:
        recorded = await run_deadline_checks(api)
        return {"as_of": api.today().isoformat(), "overdue_recorded": recorded}

    return router


def _path_id(name: str, value: str) -> UUID:
    try:
        return UUID(value)
    except ValueError:
        raise Problem(404, f"No such {name.removesuffix('_id')} here: {name} is not an id.",
                      field=name) from None


ERROR_STATUSES: dict[type[Exception], int] = {
    model.InvalidCommand: 422,
    model.PanelNotOpen: 404,
    model.InformationRequestNotFound: 404,
    model.MeetingNotFound: 404,
    model.DomainError: 409,  # the panel's state does not allow the command now
}
