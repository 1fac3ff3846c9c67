"""Pure pieces of the platform and contracts: envelope, settings, retry policy, progress bar."""

from __future__ import annotations

import base64
import io
import os
import uuid
from datetime import UTC, datetime

import pytest

from dhr_contracts.envelope import Envelope
from dhr_contracts.registry import UnknownEventType, parse_payload
from dhr_contracts.topics import dead_letter_topic
from dhr_platform.consumers import Delivery, PermanentFailure, RetryPolicy
from dhr_platform.envelopes import to_envelope
from dhr_platform.eventstore import EventMetadata, RecordedEvent, schema_version_of
from dhr_platform.progress import ProgressBar
from dhr_platform.sealing import DEVELOPMENT_KEK
from dhr_platform.settings import PlatformSettings


def recorded(**metadata: object) -> RecordedEvent:
    meta = EventMetadata(subject="review-7", actor="chair:1").as_json() | metadata
    return RecordedEvent(global_position=4, stream_id="review-7", stream_version=2,
                         event_id=uuid.uuid4(), type="dhr.test.Happened.v3", schema_version=3,
                         data={"a": "é", "n": 1}, metadata=meta,
                         recorded_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))


def test_an_envelope_survives_the_trip_through_kafka_binary_mode() -> None:
    envelope = to_envelope(recorded(), "/dhr/test")

    back = Envelope.from_kafka(envelope.kafka_headers(), envelope.kafka_value())

    assert back == envelope
    assert envelope.kafka_value() == '{"a":"é","n":1}'.encode()
    headers = dict(envelope.kafka_headers())
    assert headers["ce_streamversion"] == b"2"
    assert "ce_causationid" not in headers, "absent attributes are not sent as empty headers"


def test_a_delivery_without_a_cloudevent_id_is_identified_by_its_coordinates() -> None:
    assert Delivery("t", 2, 40, None, b"{}").message_id == "t/2/40"
    assert Delivery("t", 2, 40, None, b"{}", {"ce_id": "abc"}).message_id == "abc"


def test_a_delivery_that_is_not_a_cloudevent_is_a_permanent_failure() -> None:
    with pytest.raises(PermanentFailure):
        Delivery("t", 0, 0, None, b"not json", {"ce_id": "x"}).envelope()


def test_event_types_carry_their_version() -> None:
    assert schema_version_of("dhr.commissioning.ChairAppointed.v1") == 1
    assert schema_version_of("dhr.x.Y.v12") == 12
    with pytest.raises(ValueError, match="does not end"):
        schema_version_of("dhr_commissioning.domain.ChairAppointed")


def test_an_unknown_event_type_is_refused_on_read() -> None:
    with pytest.raises(UnknownEventType):
        parse_payload("dhr.nowhere.Nothing.v1", {})


def test_dead_letter_topics_are_named_after_their_topic() -> None:
    assert dead_letter_topic("dhr.intake.notifications.v1") == "dhr.intake.notifications.v1.dlq"


def test_retry_backoff_doubles_up_to_its_ceiling() -> None:
    policy = RetryPolicy(max_attempts=6, initial_backoff_seconds=0.5, max_backoff_seconds=3.0)
    assert [policy.backoff(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_production_refuses_the_development_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DHR_ENVIRONMENT", "production")
    monkeypatch.delenv("DHR_DATABASE_URL", raising=False)
    with pytest.raises(ValueError, match="must be set"):
        PlatformSettings().refuse_development_defaults()
    monkeypatch.setenv("DHR_DATABASE_URL", "postgresql://dhr@db.internal/dhr")
    monkeypatch.setenv("DHR_KAFKA_BOOTSTRAP", "kafka-0.internal:9092")
    with pytest.raises(ValueError, match="DHR_PERSONAL_DATA_KEK"):
        PlatformSettings().refuse_development_defaults()
    monkeypatch.setenv("DHR_PERSONAL_DATA_KEK", DEVELOPMENT_KEK.decode())
    with pytest.raises(ValueError, match="development key-encryption key"):
        PlatformSettings().refuse_development_defaults()
    monkeypatch.setenv("DHR_PERSONAL_DATA_KEK", base64.b64encode(os.urandom(32)).decode())
    PlatformSettings().refuse_development_defaults()


def test_settings_refuse_a_database_url_that_is_not_postgresql(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DHR_DATABASE_URL", "mysql://somewhere/db")
    with pytest.raises(ValueError, match="postgresql"):
        PlatformSettings()


def test_the_progress_bar_reports_count_and_completion() -> None:
    out = io.StringIO()
    bar = ProgressBar(200, stream=out)
    bar.advance(100)
    bar.advance(100)
    bar.close()
    assert "200/200 events" in out.getvalue()
    assert "100%" in out.getvalue()
    assert "#" * 30 in out.getvalue()
