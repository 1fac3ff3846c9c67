"""The fast path of the ledger's leaf data gives the reference bytes, or declines.

Reference: `event_leaf_data(envelope_json(Envelope.from_kafka(headers, value)))` (pydantic, then
pure-Python RFC 8785). Whenever `fast_leaf` accepts a record its bytes must be exactly those, and
`storage.record_leaf` (fast path, else the reference) must equal the reference everywhere: the
same bytes, or a ValueError when the reference finds no CloudEvent.
"""

from __future__ import annotations

import hashlib
import json
import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from dhr_contracts.envelope import Envelope
from dhr_oversight import storage
from dhr_oversight.fastleaf import fast_leaf
from dhr_oversight.ledger import MAX_SAFE_INTEGER, event_leaf_data

Headers = list[tuple[str, bytes]]


def reference(headers: Headers, value: bytes) -> bytes:
    return event_leaf_data(storage.envelope_json(Envelope.from_kafka(headers, value)))


def check(headers: Headers, value: bytes) -> bool:
    """Assert the fast path and record_leaf agree with the reference; True when fast accepted."""
    try:
        expected: bytes | None = reference(headers, value)
    except ValueError:
        expected = None
    fast = fast_leaf(headers, value)
    if fast is not None:
        assert expected is not None, (headers, value)
        assert fast[4] == expected, (headers, value)
    if expected is None:
        try:
            storage.record_leaf(headers, value)
        except ValueError:
            pass
        else:
            pytest.fail(f"record_leaf took what the reference refuses: {headers}, {value!r}")
    else:
        assert storage.record_leaf(headers, value)[3] == expected
    return fast is not None


STRINGS = ["", "plain", "Leeds", "é à ü ß", "quote \" and backslash \\ and slash /",
           "tab\tnewline\ncarriage\rback\bform\f", "\x00\x01\x1f\x7f control", "\u2028\u2029",
           "日本語", "emoji \U0001f600 outside the BMP", "\ufeff bom", "\uffff \ue000 private",
           "ciphertext:v1:" + "ab" * 40, "<script>&amp;</script>", "0123456789012345678"]
KEYS = ["a", "b", "B", "_", "review_id", "csp_area", "é", "\ue000", "\U0001f600", "aa", "a b",
        "1", "10", "2", "\x7f", "\u00ff", "€"]
INTEGERS = [0, 1, -1, 42, 2**31, -(2**31), MAX_SAFE_INTEGER, -MAX_SAFE_INTEGER,
            MAX_SAFE_INTEGER + 1, -(MAX_SAFE_INTEGER + 1), 10**20]
FLOATS = [0.5, -0.0, 1e21, 1e-7, 100.0, 3.14]


def random_json(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randrange(9 if depth < 3 else 6)
    if kind == 0:
        return rng.choice(STRINGS)
    if kind == 1:
        return rng.choice(INTEGERS) if rng.random() < 0.2 else rng.randrange(-1000, 1000)
    if kind == 2:
        return rng.choice([True, False, None])
    if kind == 3 and rng.random() < 0.1:
        return rng.choice(FLOATS)
    if kind in (3, 4, 5):
        return rng.choice(STRINGS) + str(rng.randrange(100))
    if kind in (6, 7):
        return {rng.choice(KEYS): random_json(rng, depth + 1) for _ in range(rng.randrange(5))}
    return [random_json(rng, depth + 1) for _ in range(rng.randrange(4))]


def random_envelope(rng: random.Random) -> Envelope:
    moment = datetime(2025, 1, 1, tzinfo=UTC) + timedelta(
        seconds=rng.randrange(10**8), microseconds=rng.choice([0, 0, 1, 120000, rng.randrange(10**6)]))
    return Envelope(
        id=uuid.UUID(int=rng.getrandbits(128)), source=rng.choice(["/dhr/panel", "/dhr/é"]),
        type=rng.choice(["dhr.commissioning.NotificationReceived.v1", "dhr.panel.MemberAdded.v1"]),
        subject=rng.choice(STRINGS) or "review", time=moment, stream=rng.choice(STRINGS),
        streamversion=rng.choice([1, 2, 99, MAX_SAFE_INTEGER]),
        correlationid=uuid.UUID(int=rng.getrandbits(128)),
        causationid=uuid.UUID(int=rng.getrandbits(128)) if rng.random() < 0.5 else None,
        actor=rng.choice(STRINGS),
        traceparent=rng.choice([None, "", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"]),
        data={rng.choice(KEYS): random_json(rng) for _ in range(rng.randrange(8))},
    )


# Variants of headers and values: canonical ones the fast path keeps, others it must decline
# (or the reference refuses altogether).
HEADER_VARIANTS: dict[str, list[bytes]] = {
    "ce_id": [b"A1B2C3D4-0000-4000-8000-000000000000", b"a1b2c3d40000400080000000000000aa",
              b"urn:uuid:a1b2c3d4-0000-4000-8000-000000000000", b"not-a-uuid", b""],
    "ce_time": [b"2025-03-01T09:00:00+00:00", b"2025-03-01T09:00:00.000000Z",
                b"2025-03-01T09:00:00.12Z", b"2025-03-01T10:00:00+01:00", b"2025-03-01 09:00:00Z",
                b"2025-02-30T09:00:00Z", b"2025-03-01T24:00:00Z", b"2025-03-01T09:00:60Z",
                b"0000-03-01T09:00:00Z", b"2025-03-01T09:00:00z", b"2025-03-01T09:00:00.123456Z",
                b"2025-03-01T09:00:00Z"],
    "ce_streamversion": [b"01", b"+1", b" 1", b"1.0", b"0", b"-1", b"1_0", b"9007199254740992",
                         b"99999999999999999", b"7"],
    "ce_specversion": [b"0.3", b"1.0 ", b"1.0"],
    "ce_datacontenttype": [b"application/json", b"text/plain"],
    "ce_causationid": [b"", b"B1B2C3D4-0000-4000-8000-000000000000"],
    "ce_subject": [b"\xff\xfe", "é".encode(), b""],
    "ce_extension": [b"x"],
    "ce_data": [b"{}"],
}
VALUE_VARIANTS = [b"[]", b'"text"', b"null", b"{", b"", b'{"a":1.5}', b'{"a":1e3}', b'{"a":NaN}',
                  b'{"a":Infinity}', b'{"a":9007199254740992}', b'{"a":-9007199254740991}',
                  b'{"a":"\\u00e9"}', b'{"a":"\\ud800"}', b'{"\\ud83d\\ude00":1,"\\ue000":2}',
                  '{"\U0001f600":1,"\ue000":2}'.encode(), b'\xef\xbb\xbf{"a":1}', b'{"a":"\xff"}',
                  b'{"a":1,"a":2}', b' {"b":[1,{"c":true}],"a":null} ', b'{"a":"\xed\xa0\x80"}',
                  '{"a":"ok"}'.encode("utf-16")]


def test_fast_path_gives_the_reference_bytes_for_varied_envelopes() -> None:
    rng = random.Random(8785)
    accepted = 0
    for _ in range(3000):
        envelope = random_envelope(rng)
        accepted += check(envelope.kafka_headers(), envelope.kafka_value())
    assert accepted > 600  # vouched for unless a header holds an escaped character, or the data
    # non-BMP text, a \\u escape or a number the fast path leaves to the reference


def test_fast_path_declines_or_matches_on_every_variant_of_headers_and_values() -> None:
    rng = random.Random(6962)
    accepted = declined = 0
    for _ in range(40):
        envelope = random_envelope(rng)
        headers, value = envelope.kafka_headers(), envelope.kafka_value()
        for name, variants in HEADER_VARIANTS.items():
            for variant in variants:
                changed = [(key, raw) for key, raw in headers if key != name] + [(name, variant)]
                if check(changed, value):
                    accepted += 1
                else:
                    declined += 1
        for variant in VALUE_VARIANTS:
            check(headers, variant)
        for missing in ("ce_id", "ce_time", "ce_actor", "ce_specversion"):
            check([(key, raw) for key, raw in headers if key != missing], value)
        # A header twice: the last one counts, on both paths.
        check([*headers, ("ce_actor", b"someone else")], value)
    assert accepted and declined


def test_fast_path_declines_what_it_cannot_vouch_for() -> None:
    envelope = Envelope(
        id=uuid.uuid4(), source="/dhr/panel", type="dhr.panel.MemberAdded.v1", subject="r",
        time=datetime(2025, 3, 1, 9, tzinfo=UTC), stream="s",
        streamversion=1, correlationid=uuid.uuid4(), actor="a", data={"a": 1})
    headers = envelope.kafka_headers()
    assert fast_leaf(headers, b'{"a":1}') is not None
    assert fast_leaf(headers, b'{"a":1.0}') is None
    assert fast_leaf(headers, b'{"a":9007199254740992}') is None
    assert fast_leaf(headers, b'{"a":"\\u0001"}') is None
    assert fast_leaf(headers, '{"\U0001f600":1}'.encode()) is None
    odd_time = [(k, b"2025-03-01T09:00:00+01:00" if k == "ce_time" else v) for k, v in headers]
    assert fast_leaf(odd_time, b"{}") is None
    assert check(odd_time, b"{}") is False


def test_the_live_entry_and_the_rebuild_leaf_are_the_same_bytes() -> None:
    envelope = random_envelope(random.Random(1))
    headers, value = envelope.kafka_headers(), envelope.kafka_value()
    entry = storage.entry_from_record("topic", 2, 7, headers, value)
    event_id, subject, event_type, data, _, moment = storage.record_leaf(headers, value)
    assert (str(entry.event_id), entry.review_id, entry.type, entry.leaf_data, entry.time) == (
        event_id, subject, event_type, data, moment)
    assert entry.leaf_hash == hashlib.sha256(b"\x00" + data).digest()
    assert json.loads(data)["id"] == event_id
