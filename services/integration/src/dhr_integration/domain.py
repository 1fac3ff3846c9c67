"""The rules of outbound integration, pure: which events concern which organisation, what a
subscription may ask for, and when a failed delivery is tried again.

An event concerns an organisation when the organisation is named in it as the agency asked for
information, the owner of a panel action, an addressee of a recommendation or the agency that
notified the death. Some events name the agency only through an earlier event (a submission names
its request, a response names its addressee by id), so the consumer remembers those facts
(`facts_of`) and resolves the references that `concern_of` returns.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from urllib.parse import urlsplit
from uuid import UUID

from dhr_contracts import commissioning, panel, recommendations
from dhr_contracts.base import EventPayload
from dhr_contracts.recommendations import CorrespondenceDirection


class EventKind(StrEnum):
    """What a subscription filters on: the kinds of events an agency may ask to be told of."""

    NOTIFICATIONS = "notifications"
    """The deaths the agency notified: received, eligibility assessed, decision to commission."""
    INFORMATION_REQUESTS = "information_requests"
    """Information the panel asks of the agency (scoping, chronology, IMR, short report)."""
    PANEL_ACTIONS = "panel_actions"
    """Actions from panel meetings owned by the agency."""
    RECOMMENDATIONS = "recommendations"
    """Recommendations addressed to the agency and their audit trail."""
    DEADLINES = "deadlines"
    """The agency's overdue requests, responses and actions, escalations and re-verifications."""


KIND_OF_EVENT_TYPE: Mapping[str, EventKind] = {
    commissioning.NotificationReceived.event_type: EventKind.NOTIFICATIONS,
    commissioning.EligibilityAssessed.event_type: EventKind.NOTIFICATIONS,
    commissioning.ReviewCommissioned.event_type: EventKind.NOTIFICATIONS,
    commissioning.DecidedNotToCommission.event_type: EventKind.NOTIFICATIONS,
    panel.InformationRequested.event_type: EventKind.INFORMATION_REQUESTS,
    panel.InformationSubmitted.event_type: EventKind.INFORMATION_REQUESTS,
    panel.InformationReturnedForMoreWork.event_type: EventKind.INFORMATION_REQUESTS,
    panel.PanelActionAssigned.event_type: EventKind.PANEL_ACTIONS,
    recommendations.RecommendationRecorded.event_type: EventKind.RECOMMENDATIONS,
    recommendations.ResponseRecorded.event_type: EventKind.RECOMMENDATIONS,
    recommendations.ImplementationClaimed.event_type: EventKind.RECOMMENDATIONS,
    recommendations.ImplementationVerified.event_type: EventKind.RECOMMENDATIONS,
    recommendations.CorrespondenceLogged.event_type: EventKind.RECOMMENDATIONS,
    panel.InformationRequestOverdue.event_type: EventKind.DEADLINES,
    recommendations.RecommendationResponseOverdue.event_type: EventKind.DEADLINES,
    recommendations.ActionOverdue.event_type: EventKind.DEADLINES,
    recommendations.RecommendationEscalated.event_type: EventKind.DEADLINES,
    recommendations.ReverificationDue.event_type: EventKind.DEADLINES,
}
"""Every event type that can concern an agency, and its kind; other events concern none."""


def event_types_of(kind: EventKind) -> tuple[str, ...]:
    """The event types of one kind, in a stable order."""
    return tuple(sorted(t for t, k in KIND_OF_EVENT_TYPE.items() if k is kind))


def organisation_key(name: str) -> str:
    """How organisation names compare: without regard to case, surrounding or repeated spaces."""
    return " ".join(name.split()).casefold()


# --- Whom an event concerns ---------------------------------------------------------------


@dataclass(frozen=True)
class Named:
    """The event names the organisations it concerns."""

    organisations: tuple[str, ...]


@dataclass(frozen=True)
class ByRequest:
    """The agency asked for information by an earlier InformationRequested."""

    request_id: UUID


@dataclass(frozen=True)
class ByAddressee:
    """The addressee of a recommendation, named by an earlier RecommendationRecorded."""

    recommendation_id: UUID
    addressee_id: str


@dataclass(frozen=True)
class ByNotification:
    """The agency that notified the death, named by an earlier NotificationReceived."""

    review_id: UUID


Concern = Named | ByRequest | ByAddressee | ByNotification


@dataclass(frozen=True)
class RequestAgency:
    """Remembered: the agency an information request is addressed to."""

    review_id: UUID
    request_id: UUID
    agency: str


@dataclass(frozen=True)
class RecommendationAddressee:
    """Remembered: the name of one addressee of a recommendation."""

    recommendation_id: UUID
    addressee_id: str
    name: str


@dataclass(frozen=True)
class NotifyingAgency:
    """Remembered: the agency that notified the death a review is about."""

    review_id: UUID
    agency: str


Fact = RequestAgency | RecommendationAddressee | NotifyingAgency


def facts_of(payload: EventPayload) -> tuple[Fact, ...]:
    """What to remember of an event so that later events of the same thing can be matched."""
    match payload:
        case commissioning.NotificationReceived():
            return (NotifyingAgency(payload.review_id, payload.notifying_agency),)
        case panel.InformationRequested():
            return (RequestAgency(payload.review_id, payload.request_id, payload.agency),)
        case recommendations.RecommendationRecorded():
            return tuple(RecommendationAddressee(payload.recommendation_id, a.addressee_id, a.name)
                         for a in payload.addressees)
    return ()


def concern_of(payload: EventPayload) -> Concern | None:
    """Whom the event concerns, or None when it concerns no agency.

    Correspondence marked internal is the CSP's own note about an addressee, not something said
    to it, so it is not sent to the addressee.
    """
    match payload:
        case commissioning.NotificationReceived():
            return Named((payload.notifying_agency,))
        case (commissioning.EligibilityAssessed() | commissioning.ReviewCommissioned()
              | commissioning.DecidedNotToCommission()):
            return ByNotification(payload.review_id)
        case panel.InformationRequested() | panel.InformationRequestOverdue():
            return Named((payload.agency,))
        case panel.InformationSubmitted() | panel.InformationReturnedForMoreWork():
            return ByRequest(payload.request_id)
        case panel.PanelActionAssigned():
            return Named((payload.owner_agency,))
        case recommendations.RecommendationRecorded():
            return Named(tuple(a.name for a in payload.addressees))
        case recommendations.CorrespondenceLogged():
            if payload.direction is CorrespondenceDirection.INTERNAL:
                return None
            return ByAddressee(payload.recommendation_id, payload.addressee_id)
        case (recommendations.ResponseRecorded() | recommendations.ImplementationClaimed()
              | recommendations.ImplementationVerified()
              | recommendations.RecommendationResponseOverdue() | recommendations.ActionOverdue()
              | recommendations.RecommendationEscalated() | recommendations.ReverificationDue()):
            return ByAddressee(payload.recommendation_id, payload.addressee_id)
    return None


# --- What a subscription may ask for --------------------------------------------------------

LOOPBACK_HOSTS = frozenset({"localhost"})


@dataclass(frozen=True)
class FieldError:
    """One refused field of a request, named as the client sent it."""

    field: str
    message: str


def target_url_errors(url: str, *, allow_loopback_http: bool) -> list[FieldError]:
    """Why a webhook target URL is refused (none when it is fine).

    Deliveries carry review data, so they go over TLS only; plain http is allowed to this machine
    (127.0.0.1, localhost, [::1]) in development and tests, where receivers run locally.
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        return [FieldError("url", f"is not a valid URL ({error})")]
    del port
    host = parts.hostname or ""
    if parts.scheme == "http":
        if not allow_loopback_http:
            return [FieldError("url", "must be an https:// URL")]
        if not _is_loopback(host):
            return [FieldError("url", "http:// is allowed for 127.0.0.1, localhost or [::1] "
                               "only (in development); use https://")]
    elif parts.scheme != "https":
        return [FieldError("url", "must be an https:// URL")]
    errors = []
    if not host:
        errors.append(FieldError("url", "must name a host"))
    if parts.username is not None or parts.password is not None:
        errors.append(FieldError("url", "must not carry credentials; deliveries are signed "
                                 "instead (DHR-Signature)"))
    if parts.fragment:
        errors.append(FieldError("url", "must not have a #fragment"))
    return errors


def _is_loopback(host: str) -> bool:
    if host.lower() in LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def filter_errors(kinds: Sequence[EventKind], event_types: Sequence[str]) -> list[FieldError]:
    """Why an event filter is refused: repeated kinds, or event types unknown or of no chosen kind."""
    errors = []
    if len(set(kinds)) != len(kinds):
        errors.append(FieldError("kinds", "must not repeat a kind"))
    if len(set(event_types)) != len(event_types):
        errors.append(FieldError("event_types", "must not repeat an event type"))
    for index, event_type in enumerate(event_types):
        kind = KIND_OF_EVENT_TYPE.get(event_type)
        if kind is None:
            errors.append(FieldError(f"event_types.{index}",
                                     "is not an event type that concerns an agency (see "
                                     "docs/integration.md)"))
        elif kind not in kinds:
            errors.append(FieldError(f"event_types.{index}",
                                     f"is of kind {kind.value!r}, which is not among the "
                                     "subscription's kinds"))
    return errors


# --- When to try again ----------------------------------------------------------------------


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff from `initial_backoff`, capped at `max_backoff`; a delivery still not
    accepted `max_age` after it was due is failed (and shown as failed, never dropped)."""

    initial_backoff: timedelta
    max_backoff: timedelta
    max_age: timedelta


def next_attempt_after_failure(policy: RetryPolicy, failed_attempts: int, created_at: datetime,
                               now: datetime, jitter: float = 1.0) -> datetime | None:
    """When to try again after `failed_attempts` failures, or None: the delivery has failed.

    `jitter` (0.5 to 1) spreads the retries of many queues apart after a receiver's outage. The
    last attempt is made at the maximum age itself, so a receiver back just in time still gets it.
    """
    give_up_at = created_at + policy.max_age
    if now >= give_up_at:
        return None
    exponent = min(max(failed_attempts - 1, 0), 40)
    delay = min(policy.initial_backoff.total_seconds() * 2.0 ** exponent,
                policy.max_backoff.total_seconds()) * min(max(jitter, 0.5), 1.0)
    return min(now + timedelta(seconds=delay), give_up_at)
