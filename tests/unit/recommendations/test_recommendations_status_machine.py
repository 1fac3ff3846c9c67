"""The two-axis status machine: every pair of statuses tried, legal moves recorded, illegal ones
refused; the claim and the CSP's verification kept apart; the NTSB-style reading."""

from __future__ import annotations

import itertools

import pytest
from recommendations_givens import (
    POLICE,
    a_recorded_recommendation,
    claim,
    respond,
    then,
    verify,
    when,
)

from dhr_contracts.recommendations import (
    ImplementationClaimed,
    ImplementationStatus,
    ImplementationVerified,
    ResponseRecorded,
    ResponseStatus,
)
from dhr_recommendations.domain import fold
from dhr_recommendations.model import Command, IllegalTransition, InvalidCommand
from dhr_recommendations.status import (
    IMPLEMENTATION_TRANSITIONS,
    NTSB_STATUSES,
    RESPONSE_TRANSITIONS,
    ntsb_status,
)

R, I = ResponseStatus, ImplementationStatus  # noqa: E741 - short aliases keep the tables readable

# How to reach each response status from a fresh recommendation.
RESPONSE_PATHS: dict[ResponseStatus, list[ResponseStatus]] = {
    R.AWAITING_RESPONSE: [],
    R.RESPONSE_RECEIVED: [R.RESPONSE_RECEIVED],
    R.ACCEPTED: [R.ACCEPTED],
    R.ACCEPTED_IN_PART: [R.ACCEPTED_IN_PART],
    R.REJECTED: [R.REJECTED],
    R.ALREADY_IN_PLACE: [R.ALREADY_IN_PLACE],
    R.NOT_APPLICABLE: [R.NOT_APPLICABLE],
}
# How to reach each claimed status after an acceptance.
CLAIM_PATHS: dict[ImplementationStatus, list[ImplementationStatus]] = {
    I.NOT_STARTED: [],
    I.IN_PROGRESS: [I.IN_PROGRESS],
    I.IMPLEMENTED: [I.IMPLEMENTED],
    I.IMPLEMENTED_BY_ALTERNATIVE_MEANS: [I.IMPLEMENTED_BY_ALTERNATIVE_MEANS],
    I.PARTIALLY_IMPLEMENTED: [I.PARTIALLY_IMPLEMENTED],
    I.NOT_IMPLEMENTED: [I.NOT_IMPLEMENTED],
    I.SUPERSEDED: [I.SUPERSEDED],
    I.NO_LONGER_APPLICABLE: [I.NO_LONGER_APPLICABLE],
}


def with_response(status: ResponseStatus) -> list:
    return then(a_recorded_recommendation(), *(respond(s.value) for s in RESPONSE_PATHS[status]))


def with_claim(status: ImplementationStatus) -> list:
    history = then(a_recorded_recommendation(), respond("accepted"))
    return then(history, *(claim(s.value) for s in CLAIM_PATHS[status]))


@pytest.mark.parametrize(("current", "new"), list(itertools.product(R, R)),
                         ids=lambda s: s.value)
def test_every_response_move_is_recorded_when_legal_and_refused_otherwise(
        current: ResponseStatus, new: ResponseStatus) -> None:
    history = with_response(current)
    assert fold(history).addressee(POLICE).response_status is current
    if new in RESPONSE_TRANSITIONS[current]:
        (event,) = when(respond(new.value), history)
        assert isinstance(event, ResponseRecorded)
        assert (event.previous_status, event.status) == (current, new)
    else:
        with pytest.raises(IllegalTransition) as refused:
            when(respond(new.value), history)
        assert refused.value.field == "status"


@pytest.mark.parametrize(("current", "new"), list(itertools.product(I, I)),
                         ids=lambda s: s.value)
def test_every_claimed_implementation_move_is_recorded_when_legal_and_refused_otherwise(
        current: ImplementationStatus, new: ImplementationStatus) -> None:
    history = with_claim(current)
    assert fold(history).addressee(POLICE).implementation_claimed is current
    if new in IMPLEMENTATION_TRANSITIONS[current]:
        (event,) = when(claim(new.value), history)
        assert isinstance(event, ImplementationClaimed)
        assert (event.previous_status, event.status) == (current, new)
    else:
        with pytest.raises(IllegalTransition):
            when(claim(new.value), history)


def test_the_tables_cover_every_status_and_never_allow_staying_put() -> None:
    assert set(RESPONSE_TRANSITIONS) == set(R)
    assert set(IMPLEMENTATION_TRANSITIONS) == set(I)
    assert all(s not in RESPONSE_TRANSITIONS[s] for s in R)
    assert all(s not in IMPLEMENTATION_TRANSITIONS[s] for s in I)
    assert all(R.AWAITING_RESPONSE not in targets for targets in RESPONSE_TRANSITIONS.values())


def test_a_rejection_without_a_reason_is_refused() -> None:
    with pytest.raises(InvalidCommand) as refused:
        when(respond("rejected", reason=None), a_recorded_recommendation())
    assert refused.value.field == "reason"


@pytest.mark.parametrize(("command", "field"), [
    (claim("in_progress", summary=" "), "summary"),
    (verify("implemented", verified_by=" "), "verified_by"),
    (verify("implemented", note=" "), "note"),
])
def test_a_blank_claim_or_verification_is_refused(command: Command, field: str) -> None:
    given = then(a_recorded_recommendation(), respond("accepted"))
    with pytest.raises(InvalidCommand) as refused:
        when(command, given)
    assert refused.value.field == field


@pytest.mark.parametrize("response", ["awaiting_response", "rejected", "not_applicable",
                                      "response_received"])
def test_an_addressee_that_has_not_accepted_cannot_claim_progress(response: str) -> None:
    history = with_response(R(response))
    with pytest.raises(IllegalTransition):
        when(claim("in_progress"), history)
    assert when(claim("not_implemented"), history)[0].status is I.NOT_IMPLEMENTED  # type: ignore[attr-defined]


def test_the_claim_does_not_close_the_recommendation_only_the_csps_verification_does() -> None:
    history = then(a_recorded_recommendation(), respond("accepted"), claim("implemented"))
    state = fold(history)
    assert state.open and state.addressee(POLICE).implementation_verified is None
    assert state.addressee(POLICE).ntsb_status == "Open—Acceptable Response"
    (verified,) = when(verify("implemented"), history)
    assert isinstance(verified, ImplementationVerified) and verified.closes_addressee
    closed = fold([*history, verified])
    assert not closed.open
    assert closed.addressee(POLICE).implementation_claimed is I.IMPLEMENTED
    assert closed.addressee(POLICE).ntsb_status == "Closed—Acceptable Action"


def test_a_partial_verification_keeps_the_recommendation_open() -> None:
    history = then(a_recorded_recommendation(), respond("accepted"), claim("implemented"),
                   verify("partially_implemented"))
    state = fold(history)
    assert state.open
    assert state.addressee(POLICE).implementation_claimed is I.IMPLEMENTED
    assert state.addressee(POLICE).implementation_verified is I.PARTIALLY_IMPLEMENTED


def test_a_recommendation_with_two_addressees_stays_open_until_both_are_verified() -> None:
    history = a_recorded_recommendation(addressees=[{"name": "Norfolk Constabulary"},
                                                    {"name": "Norfolk County Council"}])
    history = then(history, respond("accepted"), claim("implemented"), verify("implemented"))
    assert fold(history).open
    history = then(history, verify("not_implemented", addressee_id="norfolk-county-council"))
    assert not fold(history).open


def test_not_started_is_not_a_verified_status() -> None:
    with pytest.raises(IllegalTransition):
        when(verify("not_started"), a_recorded_recommendation())


@pytest.mark.parametrize(("response", "claimed", "verified", "exceeds", "expected"), [
    ("awaiting_response", "not_started", None, False, "Open—Await Response"),
    ("response_received", "not_started", None, False, "Open—Initial Response Received"),
    ("not_applicable", "not_started", None, False, "Open—Initial Response Received"),
    ("accepted", "in_progress", None, False, "Open—Acceptable Response"),
    ("already_in_place", "implemented", None, False, "Open—Acceptable Response"),
    ("accepted_in_part", "in_progress", None, False, "Open—Acceptable Alternate Response"),
    ("accepted", "implemented_by_alternative_means", None, False,
     "Open—Acceptable Alternate Response"),
    ("rejected", "not_started", None, False, "Open—Unacceptable Response"),
    ("accepted", "not_implemented", None, False, "Open—Unacceptable Response"),
    ("accepted", "implemented", "partially_implemented", False, "Open—Acceptable Response"),
    ("accepted", "implemented", "implemented", False, "Closed—Acceptable Action"),
    ("accepted", "implemented", "implemented", True, "Closed—Exceeds Recommended Action"),
    ("accepted", "implemented_by_alternative_means", "implemented_by_alternative_means", False,
     "Closed—Acceptable Alternate Action"),
    ("awaiting_response", "not_started", "not_implemented", False, "Closed—Unacceptable Action"),
    ("accepted", "superseded", "superseded", False, "Closed—Superseded"),
    ("rejected", "not_started", "no_longer_applicable", False, "Closed—Reconsidered"),
    ("accepted", "in_progress", "no_longer_applicable", False, "Closed—No Longer Applicable"),
])
def test_the_ntsb_style_reading(response: str, claimed: str, verified: str | None,
                                exceeds: bool, expected: str) -> None:
    status = ntsb_status(R(response), I(claimed), None if verified is None else I(verified),
                         exceeds_recommended_action=exceeds)
    assert status == expected and status in NTSB_STATUSES


def test_every_combination_has_an_ntsb_reading_closed_only_when_verified_closing() -> None:
    for response, claimed, verified in itertools.product(R, I, [None, *I]):
        status = ntsb_status(response, claimed, verified)
        assert status in NTSB_STATUSES
        assert status.startswith("Closed") == (verified in {
            I.IMPLEMENTED, I.IMPLEMENTED_BY_ALTERNATIVE_MEANS, I.NOT_IMPLEMENTED, I.SUPERSEDED,
            I.NO_LONGER_APPLICABLE})
