"""A review's history as a person reads it: ordered by time across services, event types in
words, personal fields hidden unless asked for."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from dhr_oversight.history import (
    PERSONAL,
    HistoryEvent,
    describe,
    history_json,
    ordered,
    render_timeline,
    service_of,
)


def cloudevent(event_type: str, time: str, stream_version: int = 1, **data: Any) -> dict[str, Any]:
    service = event_type.split(".")[1]
    return {"id": f"00000000-0000-0000-0000-{stream_version:012d}", "source": f"/dhr/{service}",
            "type": event_type, "subject": "r1", "time": time, "stream": f"{service}-r1",
            "streamversion": stream_version, "data": {"review_id": "r1", **data}}


def test_event_types_read_as_words() -> None:
    assert describe("dhr.commissioning.ChairAppointed.v1") == "Chair appointed"
    assert describe("dhr.commissioning.QualityAssuranceOutcomeRecorded.v1") == \
        "Quality assurance outcome recorded"
    assert describe("dhr.panel.IMRSubmitted.v1") == "IMR submitted"


def test_the_service_is_named_by_the_source_or_else_the_topic() -> None:
    assert service_of("/dhr/panel", "anything") == "panel"
    assert service_of("urn:other", "dhr.learning.events.v1") == "learning"


def test_events_are_ordered_by_time_then_topic_and_stream_version() -> None:
    later = HistoryEvent.from_cloudevent(
        cloudevent("dhr.panel.MemberAdded.v1", "2025-01-02T10:00:00Z"), "dhr.panel.events.v1")
    first = HistoryEvent.from_cloudevent(
        cloudevent("dhr.commissioning.NotificationReceived.v1", "2025-01-01T09:00:00Z"),
        "dhr.commissioning.events.v1")
    second = HistoryEvent.from_cloudevent(
        cloudevent("dhr.commissioning.ReviewCommissioned.v1", "2025-01-01T09:00:00Z", 2),
        "dhr.commissioning.events.v1")
    assert ordered([later, second, first]) == [first, second, later]
    assert first.time == datetime(2025, 1, 1, 9, tzinfo=UTC)


def test_personal_fields_are_hidden_unless_asked_for() -> None:
    notification = HistoryEvent.from_cloudevent(
        cloudevent("dhr.commissioning.NotificationReceived.v1", "2025-01-01T09:00:00Z",
                   csp_area="Leeds", victim_name="A. Person"), "dhr.commissioning.events.v1")
    assert notification.facts() == {"csp_area": "Leeds", "victim_name": PERSONAL}
    assert notification.facts(show_personal=True)["victim_name"] == "A. Person"
    document = history_json("r1", [notification])
    assert document["events"][0]["data"]["victim_name"] == PERSONAL
    assert document["services"] == ["commissioning"]


def test_the_timeline_shows_date_service_what_happened_and_the_facts() -> None:
    notification = HistoryEvent.from_cloudevent(
        cloudevent("dhr.commissioning.NotificationReceived.v1", "2025-01-01T09:00:00Z",
                   csp_area="Leeds", victim_name="A. Person"), "dhr.commissioning.events.v1")
    text = render_timeline("r1", [notification])
    assert "2025-01-01 09:00  commissioning  Notification received" in text
    assert "csp_area: Leeds" in text
    assert "A. Person" not in text
    assert render_timeline("r2", []) == "No events for review r2.\n"
