"""Opening the panel from the commissioning service's events, idempotently, and the Chair."""

from datetime import date

import pytest
from panel_givens import REVIEW_ID, an_open_panel, open_panel, record_chair, then, when

from dhr_contracts.panel import PanelChairRecorded, PanelOpened, PanelOpenedBecause
from dhr_panel.domain import fold
from dhr_panel.model import InvalidCommand


def test_a_commissioned_review_opens_its_panel_with_its_area() -> None:
    assert when(open_panel(), given=[]) == [PanelOpened(
        review_id=REVIEW_ID, opened_on=date(2025, 4, 1),
        opened_because=PanelOpenedBecause.REVIEW_COMMISSIONED, csp_area="Northtown",
        commissioned_on=date(2025, 4, 1))]


def test_an_open_panel_is_not_opened_twice() -> None:
    assert when(open_panel(), given=an_open_panel()) == []


def test_the_chair_is_recorded_on_an_open_panel() -> None:
    assert when(record_chair(), given=an_open_panel()) == [PanelChairRecorded(
        review_id=REVIEW_ID, appointed_on=date(2025, 4, 5), chair_name="Alex Chair",
        replaces_previous_chair=False)]


def test_the_same_chair_redelivered_records_nothing() -> None:
    assert when(record_chair(), given=then(an_open_panel(), record_chair())) == []


def test_the_chairs_user_id_is_kept_and_a_change_of_it_alone_is_recorded() -> None:
    history = then(an_open_panel(), record_chair(chair_subject="chair-alex"))

    corrected = when(record_chair(chair_subject="chair-alex-2"), history)

    assert fold(history).chair is not None and fold(history).chair.subject == "chair-alex"
    assert len(corrected) == 1 and isinstance(corrected[0], PanelChairRecorded)
    assert corrected[0].chair_subject == "chair-alex-2"


def test_a_new_chair_replaces_the_previous_one() -> None:
    history = then(an_open_panel(), record_chair())

    events = when(record_chair(chair_name="Sam Other", appointed_on=date(2025, 6, 1)), history)

    assert [type(e) for e in events] == [PanelChairRecorded]
    assert isinstance(events[0], PanelChairRecorded) and events[0].replaces_previous_chair
    state = fold(history + events)
    assert state.chair is not None and state.chair.name == "Sam Other"


def test_a_chair_appointed_before_the_panel_opened_opens_it() -> None:
    events = when(record_chair(), given=[])

    assert [type(e) for e in events] == [PanelOpened, PanelChairRecorded]
    assert isinstance(events[0], PanelOpened)
    assert events[0].opened_because is PanelOpenedBecause.CHAIR_APPOINTED
    assert fold(events).open


def test_a_blank_chair_name_is_refused() -> None:
    with pytest.raises(InvalidCommand) as refused:
        when(record_chair(chair_name="  "), given=an_open_panel())
    assert refused.value.field == "chair_name"
