"""A recommendation as a decider: one stream per recommendation, from recording to the last
verification (pure: no I/O, no clock; dates and policies come on the commands).

Decisions taken here, for the reader who would otherwise guess:
- Recording is idempotent: a recorded recommendation is not recorded again (a redelivered
  `ReviewReportAgreed` gives the same recommendation id, UUID v5 of review and number).
- The SMART check (`smart.assess`) never refuses: weak recommendations are recorded with flags.
  Only structurally missing data (no text, no addressee, duplicate addressees) is refused.
- Each addressee has two status axes; moves follow the tables in `status`. The addressee's claim
  and the CSP's verification are separate; only a closing verification closes an addressee, and a
  recommendation is open until every addressee is closed.
- Deadlines are recorded once each: a response overdue once per due date, an action overdue once
  per target date (a new target date may become overdue in its turn), each with one escalation to
  the CSP and, for a national recommendation, one to oversight; a re-verification reminder once
  per verification.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from uuid import UUID

from dhr_contracts.base import EventPayload
from dhr_contracts.panel import RecommendationLevel
from dhr_contracts.recommendations import (
    ActionOverdue,
    Addressee,
    CorrespondenceLogged,
    EscalationReason,
    EscalationTarget,
    ImplementationClaimed,
    ImplementationStatus,
    ImplementationVerified,
    RecommendationEscalated,
    RecommendationRecorded,
    RecommendationResponseOverdue,
    ResponseRecorded,
    ResponseStatus,
    ReverificationDue,
)
from dhr_recommendations import smart
from dhr_recommendations.deadlines import is_past, response_due_on, reverify_on, target_date_in_text
from dhr_recommendations.model import (
    AddresseeState,
    CheckDeadlines,
    ClaimImplementation,
    Command,
    CorrespondenceEntry,
    DomainError,
    IllegalTransition,
    InvalidCommand,
    LogCorrespondence,
    RecommendationNotFound,
    RecommendationState,
    RecordRecommendation,
    RecordResponse,
    StatusChange,
    VerifyImplementation,
)
from dhr_recommendations.status import (
    CLOSING_VERIFICATIONS,
    FINISHED_CLAIMS,
    REVERIFIED,
    claim_fits_response,
    implementation_move_is_legal,
    response_move_is_legal,
)

__all__ = ["DomainError", "decide", "evolve", "fold", "initial_state"]


def initial_state() -> RecommendationState:
    return RecommendationState()


def _require_recorded(command: Command, state: RecommendationState) -> None:
    if not state.recorded:
        raise RecommendationNotFound(f"No recommendation {command.recommendation_id}.",
                                     "recommendation_id")


def _not_before_issue(state: RecommendationState, day: date, field: str) -> None:
    if state.issued_on is not None and day < state.issued_on:
        raise InvalidCommand(f"{field} {day} is before the recommendation was issued "
                             f"({state.issued_on}).", field)


def _text(value: str | None) -> str | None:
    if value is None:
        return None
    cleaned = value.strip()
    return cleaned or None


def _required_text(value: str, field: str) -> str:
    """`value` trimmed; refused when that leaves nothing (the event needs some text)."""
    cleaned = value.strip()
    if not cleaned:
        raise InvalidCommand(f"{field} is blank.", field)
    return cleaned


# ------------------------------------------------------------------------------------ recording


def decide_record(command: RecordRecommendation, state: RecommendationState
                  ) -> list[EventPayload]:
    """Record the recommendation with its SMART check; a recorded one is not recorded again."""
    if state.recorded:
        return []
    text = _text(command.text)
    if text is None:
        raise InvalidCommand("The recommendation's text is blank.", "text")
    names = [(_text(a.name) or "") for a in command.addressees]
    if not all(names):
        raise InvalidCommand("An addressee's name is blank.", "addressees")
    if len({n.casefold() for n in names}) != len(names):
        raise InvalidCommand("The same addressee is named twice.", "addressees")
    for field, day in (("target_date", command.target_date),
                       *(("addressees", a.target_date) for a in command.addressees)):
        if day is not None and day < command.issued_on:
            raise InvalidCommand(f"A target date ({day}) is before the issue date.", field)
    target = command.target_date or target_date_in_text(text, command.issued_on)
    addressees = []
    for identifier, name, given in zip(smart.unique_ids(names), names, command.addressees,
                                       strict=True):
        addressee_type = given.addressee_type or smart.infer_addressee_type(name, command.level)
        addressees.append(Addressee(
            addressee_id=identifier, name=name, addressee_type=addressee_type,
            addressee_type_inferred=given.addressee_type is None,
            response_due_on=response_due_on(command.issued_on, addressee_type,
                                            command.response_due_days,
                                            command.default_response_due_days),
            target_date=given.target_date or target))
    dated = all(a.target_date is not None for a in addressees)
    measure = _text(command.measure_of_success)
    return [RecommendationRecorded(
        recommendation_id=command.recommendation_id, review_id=command.review_id,
        source=command.source, number=command.number, text=text, level=command.level,
        themes=command.themes or smart.infer_themes(text), themes_inferred=not command.themes,
        tags=tuple(dict.fromkeys(command.tags)), addressees=tuple(addressees),
        csp_area=_text(command.csp_area), issued_on=command.issued_on, measure_of_success=measure,
        smart=smart.assess(text, names, measure_of_success=measure,
                           target_date=target if dated else None))]


# ------------------------------------------------------------------------------------ status


def decide_response(command: RecordResponse, state: RecommendationState) -> list[EventPayload]:
    """Move the response axis along a legal transition; a rejection needs its reason."""
    _require_recorded(command, state)
    addressee = state.addressee(command.addressee_id)
    _not_before_issue(state, command.recorded_on, "recorded_on")
    if not response_move_is_legal(addressee.response_status, command.status):
        raise IllegalTransition(
            f"The response of {addressee.name} cannot move from "
            f"{addressee.response_status.value} to {command.status.value}.", "status")
    reason = _text(command.reason)
    if command.status is ResponseStatus.REJECTED and reason is None:
        raise InvalidCommand("A rejection must give its reason.", "reason")
    if command.target_date is not None and command.target_date < command.recorded_on:
        raise InvalidCommand("The target date is before the response.", "target_date")
    return [ResponseRecorded(
        recommendation_id=command.recommendation_id, review_id=_review(state),
        addressee_id=addressee.addressee_id, previous_status=addressee.response_status,
        status=command.status, recorded_on=command.recorded_on, reason=reason,
        action_plan=_text(command.action_plan), target_date=command.target_date)]


def decide_claim(command: ClaimImplementation, state: RecommendationState) -> list[EventPayload]:
    """Record the addressee's claimed progress along a legal transition."""
    _require_recorded(command, state)
    addressee = state.addressee(command.addressee_id)
    _not_before_issue(state, command.claimed_on, "claimed_on")
    if not implementation_move_is_legal(addressee.implementation_claimed, command.status):
        raise IllegalTransition(
            f"The implementation claimed by {addressee.name} cannot move from "
            f"{addressee.implementation_claimed.value} to {command.status.value}.", "status")
    if not claim_fits_response(addressee.response_status, command.status):
        raise IllegalTransition(
            f"{addressee.name} has not accepted the recommendation (response "
            f"{addressee.response_status.value}); it can only claim not_implemented, "
            "superseded or no_longer_applicable.", "status")
    summary = _required_text(command.summary, "summary")
    return [ImplementationClaimed(
        recommendation_id=command.recommendation_id, review_id=_review(state),
        addressee_id=addressee.addressee_id, previous_status=addressee.implementation_claimed,
        status=command.status, claimed_on=command.claimed_on, summary=summary,
        evidence_reference=_text(command.evidence_reference))]


def decide_verify(command: VerifyImplementation, state: RecommendationState
                  ) -> list[EventPayload]:
    """Record the CSP's verified status; re-verifying (the same or another status) is allowed."""
    _require_recorded(command, state)
    addressee = state.addressee(command.addressee_id)
    _not_before_issue(state, command.verified_on, "verified_on")
    if command.status is ImplementationStatus.NOT_STARTED:
        raise IllegalTransition("not_started is not a verified status.", "status")
    if addressee.verified_on is not None and command.verified_on < addressee.verified_on:
        raise InvalidCommand(f"A later verification ({addressee.verified_on}) exists.",
                             "verified_on")
    if command.exceeds_recommended_action and command.status is not ImplementationStatus.IMPLEMENTED:
        raise InvalidCommand("Only an implemented action can exceed the recommendation.",
                             "exceeds_recommended_action")
    verified_by = _required_text(command.verified_by, "verified_by")
    note = _required_text(command.note, "note")
    return [ImplementationVerified(
        recommendation_id=command.recommendation_id, review_id=_review(state),
        addressee_id=addressee.addressee_id, status=command.status,
        verified_on=command.verified_on, verified_by=verified_by,
        note=note, evidence_reference=_text(command.evidence_reference),
        exceeds_recommended_action=command.exceeds_recommended_action,
        reverify_on=(reverify_on(command.verified_on, command.reverification_months)
                     if command.status in REVERIFIED else None),
        closes_addressee=command.status in CLOSING_VERIFICATIONS)]


def decide_correspondence(command: LogCorrespondence, state: RecommendationState
                          ) -> list[EventPayload]:
    """Log correspondence or evidence; the same entry id is logged once."""
    _require_recorded(command, state)
    addressee = state.addressee(command.addressee_id)
    if any(e.entry_id == command.entry_id for e in addressee.correspondence):
        return []
    correspondent = _required_text(command.correspondent, "correspondent")
    summary = _required_text(command.summary, "summary")
    return [CorrespondenceLogged(
        recommendation_id=command.recommendation_id, review_id=_review(state),
        addressee_id=addressee.addressee_id, entry_id=command.entry_id,
        logged_on=command.logged_on, direction=command.direction,
        correspondent=correspondent, summary=summary,
        evidence_reference=_text(command.evidence_reference))]


# ------------------------------------------------------------------------------------ deadlines


def decide_deadlines(command: CheckDeadlines, state: RecommendationState) -> list[EventPayload]:
    """What passed its deadline as of the date, once per deadline, with its escalations."""
    _require_recorded(command, state)
    events: list[EventPayload] = []
    for addressee in state.addressees:
        events += _response_overdue(command, state, addressee)
        events += _action_overdue(command, state, addressee)
        events += _reverification_due(command, state, addressee)
    return events


def _escalations(command: CheckDeadlines, state: RecommendationState, addressee: AddresseeState,
                 reason: EscalationReason, due_on: date) -> list[EventPayload]:
    targets = [EscalationTarget.CSP]
    if state.level is RecommendationLevel.NATIONAL:
        targets.append(EscalationTarget.OVERSIGHT)
    return [RecommendationEscalated(
        recommendation_id=command.recommendation_id, review_id=_review(state),
        addressee_id=addressee.addressee_id, escalated_to=target, reason=reason, due_on=due_on,
        escalated_on=command.as_of) for target in targets]


def _response_overdue(command: CheckDeadlines, state: RecommendationState,
                      addressee: AddresseeState) -> list[EventPayload]:
    due = addressee.response_due_on
    if (not addressee.open or addressee.response_status is not ResponseStatus.AWAITING_RESPONSE
            or not is_past(due, command.as_of) or due in addressee.response_overdue_dates):
        return []
    return [RecommendationResponseOverdue(
        recommendation_id=command.recommendation_id, review_id=_review(state),
        addressee_id=addressee.addressee_id, due_on=due, detected_on=command.as_of),
        *_escalations(command, state, addressee, EscalationReason.RESPONSE_OVERDUE, due)]


def _action_overdue(command: CheckDeadlines, state: RecommendationState,
                    addressee: AddresseeState) -> list[EventPayload]:
    target = addressee.target_date
    if (target is None or not addressee.open
            or addressee.implementation_claimed in FINISHED_CLAIMS
            or not is_past(target, command.as_of) or target in addressee.action_overdue_dates):
        return []
    return [ActionOverdue(
        recommendation_id=command.recommendation_id, review_id=_review(state),
        addressee_id=addressee.addressee_id, target_date=target,
        claimed_status=addressee.implementation_claimed, detected_on=command.as_of),
        *_escalations(command, state, addressee, EscalationReason.ACTION_OVERDUE, target)]


def _reverification_due(command: CheckDeadlines, state: RecommendationState,
                        addressee: AddresseeState) -> list[EventPayload]:
    verified_on, due = addressee.verified_on, addressee.reverify_on
    if (verified_on is None or due is None or addressee.implementation_verified not in REVERIFIED
            or command.as_of < due or verified_on in addressee.reverification_reminded_for):
        return []
    return [ReverificationDue(
        recommendation_id=command.recommendation_id, review_id=_review(state),
        addressee_id=addressee.addressee_id, verified_on=verified_on, due_on=due,
        detected_on=command.as_of)]


def _review(state: RecommendationState) -> UUID:
    if state.review_id is None:  # only called after _require_recorded
        raise RecommendationNotFound("The recommendation is not recorded.", "recommendation_id")
    return state.review_id


# --------------------------------------------------------------------------------- decide/evolve


def decide(command: Command, state: RecommendationState) -> list[EventPayload]:
    """Turn a command into events, or raise a `DomainError`."""
    match command:
        case RecordRecommendation():
            return decide_record(command, state)
        case RecordResponse():
            return decide_response(command, state)
        case ClaimImplementation():
            return decide_claim(command, state)
        case VerifyImplementation():
            return decide_verify(command, state)
        case LogCorrespondence():
            return decide_correspondence(command, state)
        case CheckDeadlines():
            return decide_deadlines(command, state)
    raise TypeError(f"unknown command {type(command).__name__}")


def _with_addressee(state: RecommendationState, addressee_id: str,
                    **changes: object) -> RecommendationState:
    addressees = tuple(a.model_copy(update=changes) if a.addressee_id == addressee_id else a
                       for a in state.addressees)
    return state.model_copy(update={"addressees": addressees})


def _history(state: RecommendationState, addressee_id: str, change: StatusChange
             ) -> tuple[StatusChange, ...]:
    return (*state.addressee(addressee_id).history, change)


def evolve(state: RecommendationState, event: EventPayload) -> RecommendationState:
    """Apply one event."""
    match event:
        case RecommendationRecorded():
            return RecommendationState(
                recorded=True, recommendation_id=event.recommendation_id,
                review_id=event.review_id, source=event.source, number=event.number,
                text=event.text, level=event.level, themes=event.themes,
                themes_inferred=event.themes_inferred, tags=event.tags, csp_area=event.csp_area,
                issued_on=event.issued_on, measure_of_success=event.measure_of_success,
                smart=event.smart,
                addressees=tuple(AddresseeState(
                    addressee_id=a.addressee_id, name=a.name, addressee_type=a.addressee_type,
                    addressee_type_inferred=a.addressee_type_inferred,
                    response_due_on=a.response_due_on, target_date=a.target_date)
                    for a in event.addressees))
        case ResponseRecorded():
            current = state.addressee(event.addressee_id)
            return _with_addressee(
                state, event.addressee_id, response_status=event.status,
                response_reason=event.reason,
                action_plan=event.action_plan or current.action_plan,
                target_date=event.target_date or current.target_date,
                history=_history(state, event.addressee_id, StatusChange(
                    on=event.recorded_on, axis="response", status=event.status.value,
                    by="addressee", note=event.reason or event.action_plan)))
        case ImplementationClaimed():
            return _with_addressee(
                state, event.addressee_id, implementation_claimed=event.status,
                history=_history(state, event.addressee_id, StatusChange(
                    on=event.claimed_on, axis="claimed", status=event.status.value,
                    by="addressee", note=event.summary,
                    evidence_reference=event.evidence_reference)))
        case ImplementationVerified():
            return _with_addressee(
                state, event.addressee_id, implementation_verified=event.status,
                verified_on=event.verified_on, reverify_on=event.reverify_on,
                exceeds_recommended_action=event.exceeds_recommended_action,
                history=_history(state, event.addressee_id, StatusChange(
                    on=event.verified_on, axis="verified", status=event.status.value,
                    by="csp", note=event.note, evidence_reference=event.evidence_reference)))
        case CorrespondenceLogged():
            current = state.addressee(event.addressee_id)
            return _with_addressee(state, event.addressee_id, correspondence=(
                *current.correspondence, CorrespondenceEntry(
                    entry_id=event.entry_id, logged_on=event.logged_on,
                    direction=event.direction, correspondent=event.correspondent,
                    summary=event.summary, evidence_reference=event.evidence_reference)))
        case RecommendationResponseOverdue():
            current = state.addressee(event.addressee_id)
            return _with_addressee(state, event.addressee_id, response_overdue_dates=(
                *current.response_overdue_dates, event.due_on))
        case ActionOverdue():
            current = state.addressee(event.addressee_id)
            return _with_addressee(state, event.addressee_id, action_overdue_dates=(
                *current.action_overdue_dates, event.target_date))
        case ReverificationDue():
            current = state.addressee(event.addressee_id)
            return _with_addressee(state, event.addressee_id, reverification_reminded_for=(
                *current.reverification_reminded_for, event.verified_on))
    return state  # RecommendationEscalated changes nothing the decider reads


def fold(events: Sequence[EventPayload]) -> RecommendationState:
    state = initial_state()
    for event in events:
        state = evolve(state, event)
    return state
