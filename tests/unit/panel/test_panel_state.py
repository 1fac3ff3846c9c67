"""The state as the read model stores it: a JSON round trip keeps every rule's input."""

from datetime import date

from panel_givens import (
    REQUEST_ID,
    a_held_meeting,
    request_information,
    share_draft,
    then,
)

from dhr_contracts.commissioning import ReviewPaused
from dhr_panel.domain import evolve, fold
from dhr_panel.model import PanelState


def test_the_state_survives_a_json_round_trip() -> None:
    state = fold(then(a_held_meeting(), request_information(), share_draft()))

    stored = PanelState.model_validate(state.model_dump(mode="json"))

    assert stored == state
    request = stored.request(REQUEST_ID)
    assert request is not None and request.overdue_on(date(2025, 6, 2))


def test_events_of_other_kinds_leave_the_state_as_it_is() -> None:
    state = fold(a_held_meeting())
    other = ReviewPaused(review_id=state.review_id, paused_on=date(2025, 5, 1),
                         reason="inquest")
    assert evolve(state, other) == state
