"""Where `dhr check` looks for each service's events."""

import pytest

from dhr_oversight.check import StoreLocation, service_of_topic, store_locations
from dhr_oversight.config import OversightSettings

URL = "postgresql://oversight@db/dhr"


def settings(*topics: str) -> OversightSettings:
    return OversightSettings(database_url=URL, oversight_topics=topics)


def test_a_service_is_named_by_its_topic() -> None:
    assert service_of_topic("dhr.panel.events.v1") == "panel"
    assert service_of_topic("test.a1b2.commissioning.events.v1") == "commissioning"
    with pytest.raises(ValueError, match="is not named"):
        service_of_topic("dhr.intake.notifications.v1")


def test_every_service_whose_topic_the_ledger_consumes_is_checked_by_default() -> None:
    locations = store_locations(settings("dhr.commissioning.events.v1", "dhr.panel.events.v1"),
                                environ={})

    assert locations == [StoreLocation("commissioning", "dhr.commissioning.events.v1", URL),
                         StoreLocation("panel", "dhr.panel.events.v1", URL)]


def test_a_service_with_a_database_of_its_own_is_read_there() -> None:
    own = "postgresql://panel@panel-db/dhr"

    [location] = store_locations(settings("dhr.panel.events.v1"), ["panel"],
                                 environ={"DHR_PANEL_DATABASE_URL": own})

    assert location == StoreLocation("panel", "dhr.panel.events.v1", own)
