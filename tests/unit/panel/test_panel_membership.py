"""Membership, its balance by sector, and the specialist domestic-abuse service warning."""

from datetime import date

import pytest
from panel_givens import (
    REVIEW_ID,
    a_balanced_panel,
    add_member,
    an_open_panel,
    remove_member,
    then,
    when,
)

from dhr_contracts.panel import (
    AgencyJoinedPanel,
    AgencyLeftPanel,
    PanelLacksSpecialistDomesticAbuseService,
    PanelRole,
    PanelSpecialistDomesticAbuseServiceRestored,
    Sector,
)
from dhr_panel.domain import fold
from dhr_panel.model import AgencyAlreadyOnPanel, AgencyNotOnPanel, InvalidCommand, PanelNotOpen


def test_the_first_member_without_a_specialist_service_joins_with_a_warning() -> None:
    events = when(add_member("Northshire Police", "police"), given=an_open_panel())

    assert events == [
        AgencyJoinedPanel(review_id=REVIEW_ID, joined_on=date(2025, 4, 10),
                          agency="Northshire Police", sector=Sector.POLICE,
                          role=PanelRole.PANEL_MEMBER),
        PanelLacksSpecialistDomesticAbuseService(review_id=REVIEW_ID,
                                                 detected_on=date(2025, 4, 10),
                                                 full_member_count=1),
    ]


def test_the_warning_is_recorded_once_per_lack() -> None:
    history = then(an_open_panel(), add_member("Northshire Police", "police"))

    events = when(add_member("Northshire ICB", "health"), given=history)

    assert [type(e) for e in events] == [AgencyJoinedPanel]


def test_a_specialist_service_joining_restores_the_balance() -> None:
    history = then(an_open_panel(), add_member("Northshire Police", "police"))

    events = when(add_member("Safe Haven", "specialist_domestic_abuse_service"), given=history)

    assert events[1:] == [PanelSpecialistDomesticAbuseServiceRestored(
        review_id=REVIEW_ID, restored_on=date(2025, 4, 10), agency="Safe Haven")]
    state = fold(history + events)
    assert not state.lacks_specialist_domestic_abuse_service
    assert state.warnings[0].resolved_on == date(2025, 4, 10)


def test_a_specialist_service_that_only_observes_does_not_restore_the_balance() -> None:
    history = then(an_open_panel(), add_member("Northshire Police", "police"))

    events = when(add_member("Safe Haven", "specialist_domestic_abuse_service", "observer"),
                  given=history)

    assert [type(e) for e in events] == [AgencyJoinedPanel]


def test_the_specialist_service_leaving_warns_again() -> None:
    events = when(remove_member("Safe Haven", reason="Capacity"), given=a_balanced_panel())

    assert events == [
        AgencyLeftPanel(review_id=REVIEW_ID, left_on=date(2025, 5, 1), agency="Safe Haven",
                        reason="Capacity"),
        PanelLacksSpecialistDomesticAbuseService(review_id=REVIEW_ID,
                                                 detected_on=date(2025, 5, 1),
                                                 full_member_count=2),
    ]


def test_an_observer_joining_first_does_not_constitute_the_panel() -> None:
    events = when(add_member("Northtown Housing", "housing", "observer"), given=an_open_panel())

    assert [type(e) for e in events] == [AgencyJoinedPanel]


def test_the_balance_counts_full_members_by_sector() -> None:
    balance = fold(a_balanced_panel()).balance()

    assert balance["police"] == 1
    assert balance["health"] == 1
    assert balance["specialist_domestic_abuse_service"] == 1
    assert balance["housing"] == 0  # an observer
    assert set(balance) == {sector.value for sector in Sector}


def test_an_agency_already_on_the_panel_cannot_join_again() -> None:
    with pytest.raises(AgencyAlreadyOnPanel) as refused:
        when(add_member(" northshire police ", "police"), given=a_balanced_panel())
    assert refused.value.field == "agency"


def test_an_agency_that_left_may_rejoin() -> None:
    history = then(a_balanced_panel(), remove_member("Northshire Police"))

    events = when(add_member("Northshire Police", "police", joined_on=date(2025, 6, 1)), history)

    assert [type(e) for e in events] == [AgencyJoinedPanel]
    assert [f.agency for f in fold(history + events).former_members] == ["Northshire Police"]


def test_an_agency_not_on_the_panel_cannot_leave() -> None:
    with pytest.raises(AgencyNotOnPanel):
        when(remove_member("Nobody"), given=a_balanced_panel())


def test_joining_before_the_panel_opened_is_refused() -> None:
    with pytest.raises(InvalidCommand) as refused:
        when(add_member("Northshire Police", "police", joined_on=date(2025, 3, 1)),
             given=an_open_panel())
    assert refused.value.field == "joined_on"


def test_leaving_before_joining_is_refused() -> None:
    with pytest.raises(InvalidCommand) as refused:
        when(remove_member("Safe Haven", left_on=date(2025, 4, 9)), given=a_balanced_panel())
    assert refused.value.field == "left_on"


def test_no_member_joins_a_panel_that_is_not_open() -> None:
    with pytest.raises(PanelNotOpen):
        when(add_member("Northshire Police", "police"), given=[])
