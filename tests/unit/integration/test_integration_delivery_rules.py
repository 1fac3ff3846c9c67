"""What a subscription may ask for, when a failed delivery is tried again, how it is signed."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import pytest

from dhr_integration.domain import (
    EventKind,
    RetryPolicy,
    filter_errors,
    next_attempt_after_failure,
    target_url_errors,
)
from dhr_integration.signatures import new_secret, signature, signature_header


@pytest.mark.parametrize("url", ["https://cases.norfolk.example/dhr",
                                 "https://10.0.4.2:8443/hooks?source=dhr"])
def test_https_targets_are_accepted_everywhere(url: str) -> None:
    assert target_url_errors(url, allow_loopback_http=False) == []


@pytest.mark.parametrize("url", ["http://127.0.0.1:9000/hooks", "http://localhost/hooks",
                                 "http://[::1]:9000/hooks"])
def test_plain_http_to_this_machine_is_accepted_in_development_only(url: str) -> None:
    assert target_url_errors(url, allow_loopback_http=True) == []
    [error] = target_url_errors(url, allow_loopback_http=False)
    assert error.field == "url" and "https://" in error.message


@pytest.mark.parametrize(("url", "says"), [
    ("http://cases.norfolk.example/hooks", "127.0.0.1"),
    ("http://127.0.0.2.example/hooks", "127.0.0.1"),
    ("ftp://cases.norfolk.example/hooks", "https://"),
    ("https:///hooks", "host"),
    ("https://user:secret@cases.norfolk.example/hooks", "credentials"),
    ("https://cases.norfolk.example/hooks#top", "fragment"),
    ("https://cases.norfolk.example:99999/hooks", "not a valid URL"),
])
def test_other_targets_are_refused_with_a_reason(url: str, says: str) -> None:
    errors = target_url_errors(url, allow_loopback_http=True)

    assert errors and all(error.field == "url" for error in errors)
    assert any(says in error.message for error in errors), errors


def test_event_types_must_belong_to_the_chosen_kinds() -> None:
    errors = filter_errors([EventKind.INFORMATION_REQUESTS],
                           ["dhr.panel.InformationSubmitted.v1", "dhr.panel.MeetingHeld.v1",
                            "dhr.recommendations.ActionOverdue.v1"])

    assert [(e.field, "deadlines" in e.message) for e in errors] == [
        ("event_types.1", False), ("event_types.2", True)]
    assert filter_errors([EventKind.DEADLINES, EventKind.DEADLINES], [])[0].field == "kinds"


POLICY = RetryPolicy(initial_backoff=timedelta(seconds=5), max_backoff=timedelta(minutes=10),
                     max_age=timedelta(hours=1))
CREATED = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def test_retries_back_off_exponentially_up_to_a_ceiling() -> None:
    waits = [next_attempt_after_failure(POLICY, failures, CREATED, CREATED)
             for failures in (1, 2, 3, 4, 10, 1000)]

    assert [wait - CREATED for wait in waits if wait] == [
        timedelta(seconds=5), timedelta(seconds=10), timedelta(seconds=20),
        timedelta(seconds=40), timedelta(minutes=10), timedelta(minutes=10)]


def test_jitter_only_shortens_a_wait() -> None:
    halved = next_attempt_after_failure(POLICY, 2, CREATED, CREATED, jitter=0.5)

    assert halved == CREATED + timedelta(seconds=5)


def test_the_last_attempt_is_at_the_maximum_age_and_a_failure_then_is_final() -> None:
    near_the_end = CREATED + timedelta(minutes=59)

    assert next_attempt_after_failure(POLICY, 20, CREATED, near_the_end) == CREATED + POLICY.max_age
    assert next_attempt_after_failure(POLICY, 21, CREATED, CREATED + POLICY.max_age) is None


def test_the_signature_is_hmac_sha256_over_the_timestamp_a_full_stop_and_the_body() -> None:
    secret, body = "whsec_test", b'{"id":"1"}'
    expected = hmac.new(b"whsec_test", b'1767225600.{"id":"1"}', hashlib.sha256).hexdigest()

    assert signature(secret, 1767225600, body) == expected
    assert signature_header(secret, 1767225600, body) == f"t=1767225600,v1={expected}"


def test_secrets_are_new_each_time_and_recognisable() -> None:
    first, second = new_secret(), new_secret()

    assert first != second and first.startswith("whsec_") and len(first) > 40
