"""The two-axis status of an addressee and its NTSB-style reading (pure).

The transition tables are written out in full so that a reader (and the unit tests, which walk
every pair) can see exactly which moves are legal. Anything not listed is refused. Staying in the
same status is never a transition. See docs/recommendation-status.md.
"""

from __future__ import annotations

from collections.abc import Mapping

from dhr_contracts.recommendations import ImplementationStatus, ResponseStatus

R = ResponseStatus
I = ImplementationStatus  # noqa: E741 - a one-letter alias keeps the tables readable

RESPONSE_TRANSITIONS: Mapping[ResponseStatus, frozenset[ResponseStatus]] = {
    # Nothing returns to awaiting_response: once the addressee has answered, it has answered.
    R.AWAITING_RESPONSE: frozenset({R.RESPONSE_RECEIVED, R.ACCEPTED, R.ACCEPTED_IN_PART,
                                    R.REJECTED, R.ALREADY_IN_PLACE, R.NOT_APPLICABLE}),
    # A response acknowledged but not yet classified.
    R.RESPONSE_RECEIVED: frozenset({R.ACCEPTED, R.ACCEPTED_IN_PART, R.REJECTED,
                                    R.ALREADY_IN_PLACE, R.NOT_APPLICABLE}),
    # An acceptance may be narrowed or withdrawn (a withdrawal is a rejection, reason required).
    R.ACCEPTED: frozenset({R.ACCEPTED_IN_PART, R.REJECTED}),
    R.ACCEPTED_IN_PART: frozenset({R.ACCEPTED, R.REJECTED}),
    # Reconsideration after challenge by the CSP.
    R.REJECTED: frozenset({R.ACCEPTED, R.ACCEPTED_IN_PART}),
    R.ALREADY_IN_PLACE: frozenset({R.ACCEPTED, R.ACCEPTED_IN_PART}),
    R.NOT_APPLICABLE: frozenset({R.ACCEPTED, R.ACCEPTED_IN_PART}),
}

_CLOSING_CLAIMS = frozenset({I.SUPERSEDED, I.NO_LONGER_APPLICABLE})
IMPLEMENTATION_TRANSITIONS: Mapping[ImplementationStatus, frozenset[ImplementationStatus]] = {
    I.NOT_STARTED: frozenset({I.IN_PROGRESS, I.IMPLEMENTED, I.IMPLEMENTED_BY_ALTERNATIVE_MEANS,
                              I.PARTIALLY_IMPLEMENTED, I.NOT_IMPLEMENTED} | _CLOSING_CLAIMS),
    I.IN_PROGRESS: frozenset({I.IMPLEMENTED, I.IMPLEMENTED_BY_ALTERNATIVE_MEANS,
                              I.PARTIALLY_IMPLEMENTED, I.NOT_IMPLEMENTED} | _CLOSING_CLAIMS),
    I.PARTIALLY_IMPLEMENTED: frozenset({I.IN_PROGRESS, I.IMPLEMENTED,
                                        I.IMPLEMENTED_BY_ALTERNATIVE_MEANS,
                                        I.NOT_IMPLEMENTED} | _CLOSING_CLAIMS),
    # A change that did not last (found at re-verification) goes back to work or is given up.
    I.IMPLEMENTED: frozenset({I.IN_PROGRESS, I.PARTIALLY_IMPLEMENTED, I.NOT_IMPLEMENTED}
                             | _CLOSING_CLAIMS),
    I.IMPLEMENTED_BY_ALTERNATIVE_MEANS: frozenset({I.IN_PROGRESS, I.PARTIALLY_IMPLEMENTED,
                                                   I.NOT_IMPLEMENTED} | _CLOSING_CLAIMS),
    I.NOT_IMPLEMENTED: frozenset({I.IN_PROGRESS, I.IMPLEMENTED,
                                  I.IMPLEMENTED_BY_ALTERNATIVE_MEANS, I.PARTIALLY_IMPLEMENTED}
                                 | _CLOSING_CLAIMS),
    # Terminal: a superseded or inapplicable recommendation is not taken up again.
    I.SUPERSEDED: frozenset(),
    I.NO_LONGER_APPLICABLE: frozenset(),
}

# Responses under which the addressee is committed to act (or says it already has).
ACTING_RESPONSES = frozenset({R.ACCEPTED, R.ACCEPTED_IN_PART, R.ALREADY_IN_PLACE})
# Claims an addressee that does not act (rejected, not applicable, no response yet) may make.
CLAIMS_WITHOUT_ACTING = frozenset({I.NOT_IMPLEMENTED, I.SUPERSEDED, I.NO_LONGER_APPLICABLE})

# Verified statuses that close an addressee. In progress or partially implemented keeps it open.
CLOSING_VERIFICATIONS = frozenset({I.IMPLEMENTED, I.IMPLEMENTED_BY_ALTERNATIVE_MEANS,
                                   I.NOT_IMPLEMENTED, I.SUPERSEDED, I.NO_LONGER_APPLICABLE})
# Verified statuses after which the change is checked again later.
REVERIFIED = frozenset({I.IMPLEMENTED, I.IMPLEMENTED_BY_ALTERNATIVE_MEANS})
# Claims that end the addressee's work: no action overdue after them.
FINISHED_CLAIMS = frozenset({I.IMPLEMENTED, I.IMPLEMENTED_BY_ALTERNATIVE_MEANS, I.SUPERSEDED,
                             I.NO_LONGER_APPLICABLE})


def response_move_is_legal(current: ResponseStatus, new: ResponseStatus) -> bool:
    """Whether the response axis may move from `current` to `new`."""
    return new in RESPONSE_TRANSITIONS[current]


def implementation_move_is_legal(current: ImplementationStatus,
                                 new: ImplementationStatus) -> bool:
    """Whether the addressee's claimed implementation may move from `current` to `new`."""
    return new in IMPLEMENTATION_TRANSITIONS[current]


def claim_fits_response(response: ResponseStatus, claim: ImplementationStatus) -> bool:
    """An addressee that has not committed to act can only say it will not, or need not."""
    return response in ACTING_RESPONSES or claim in CLAIMS_WITHOUT_ACTING


# ------------------------------------------------------------------------- NTSB-style vocabulary

OPEN_AWAIT_RESPONSE = "Open—Await Response"
OPEN_INITIAL_RESPONSE_RECEIVED = "Open—Initial Response Received"
OPEN_ACCEPTABLE_RESPONSE = "Open—Acceptable Response"
OPEN_ACCEPTABLE_ALTERNATE_RESPONSE = "Open—Acceptable Alternate Response"
OPEN_UNACCEPTABLE_RESPONSE = "Open—Unacceptable Response"
CLOSED_ACCEPTABLE_ACTION = "Closed—Acceptable Action"
CLOSED_ACCEPTABLE_ALTERNATE_ACTION = "Closed—Acceptable Alternate Action"
CLOSED_UNACCEPTABLE_ACTION = "Closed—Unacceptable Action"
CLOSED_EXCEEDS_RECOMMENDED_ACTION = "Closed—Exceeds Recommended Action"
CLOSED_RECONSIDERED = "Closed—Reconsidered"
CLOSED_SUPERSEDED = "Closed—Superseded"
CLOSED_NO_LONGER_APPLICABLE = "Closed—No Longer Applicable"

NTSB_STATUSES = (
    OPEN_AWAIT_RESPONSE, OPEN_INITIAL_RESPONSE_RECEIVED, OPEN_ACCEPTABLE_RESPONSE,
    OPEN_ACCEPTABLE_ALTERNATE_RESPONSE, OPEN_UNACCEPTABLE_RESPONSE, CLOSED_ACCEPTABLE_ACTION,
    CLOSED_ACCEPTABLE_ALTERNATE_ACTION, CLOSED_UNACCEPTABLE_ACTION,
    CLOSED_EXCEEDS_RECOMMENDED_ACTION, CLOSED_RECONSIDERED, CLOSED_SUPERSEDED,
    CLOSED_NO_LONGER_APPLICABLE,
)


def ntsb_status(response: ResponseStatus, claimed: ImplementationStatus,
                verified: ImplementationStatus | None, *,
                exceeds_recommended_action: bool = False) -> str:
    """The NTSB-style reading of one addressee's status (docs/recommendation-status.md).

    Closed only on a closing verification by the CSP; the addressee's claim alone never closes.
    """
    if verified is not None and verified in CLOSING_VERIFICATIONS:
        return _closed(response, verified, exceeds_recommended_action)
    if response is R.AWAITING_RESPONSE:
        return OPEN_AWAIT_RESPONSE
    if response in {R.RESPONSE_RECEIVED, R.NOT_APPLICABLE}:
        return OPEN_INITIAL_RESPONSE_RECEIVED
    if response is R.REJECTED or claimed is I.NOT_IMPLEMENTED:
        return OPEN_UNACCEPTABLE_RESPONSE
    if response is R.ACCEPTED_IN_PART or claimed is I.IMPLEMENTED_BY_ALTERNATIVE_MEANS:
        return OPEN_ACCEPTABLE_ALTERNATE_RESPONSE
    return OPEN_ACCEPTABLE_RESPONSE


def _closed(response: ResponseStatus, verified: ImplementationStatus, exceeds: bool) -> str:
    if verified is I.IMPLEMENTED:
        return CLOSED_EXCEEDS_RECOMMENDED_ACTION if exceeds else CLOSED_ACCEPTABLE_ACTION
    if verified is I.IMPLEMENTED_BY_ALTERNATIVE_MEANS:
        return CLOSED_ACCEPTABLE_ALTERNATE_ACTION
    if verified is I.NOT_IMPLEMENTED:
        return CLOSED_UNACCEPTABLE_ACTION
    if verified is I.SUPERSEDED:
        return CLOSED_SUPERSEDED
    # no_longer_applicable: the CSP agreeing with a rejection or "not applicable" reconsidered
    # the recommendation itself; otherwise circumstances changed.
    if response in {R.REJECTED, R.NOT_APPLICABLE}:
        return CLOSED_RECONSIDERED
    return CLOSED_NO_LONGER_APPLICABLE


def is_closed(verified: ImplementationStatus | None) -> bool:
    """An addressee is closed only by a closing verification of the CSP."""
    return verified is not None and verified in CLOSING_VERIFICATIONS
