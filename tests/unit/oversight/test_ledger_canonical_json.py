"""RFC 8785 (JCS) canonical JSON and the leaf data of an event."""

import json
import struct

import pytest

from dhr_oversight.ledger import CanonicalisationError, canonical_json, event_leaf_data

# RFC 8785 Appendix B: IEEE 754 bit patterns and their ECMAScript serialisation.
NUMBER_VECTORS = {
    "0000000000000000": "0",
    "8000000000000000": "0",
    "0000000000000001": "5e-324",
    "8000000000000001": "-5e-324",
    "7fefffffffffffff": "1.7976931348623157e+308",
    "ffefffffffffffff": "-1.7976931348623157e+308",
    "4340000000000000": "9007199254740992",
    "c340000000000000": "-9007199254740992",
    "4430000000000000": "295147905179352830000",
    "44b52d02c7e14af5": "9.999999999999997e+22",
    "44b52d02c7e14af6": "1e+23",
    "44b52d02c7e14af7": "1.0000000000000001e+23",
    "444b1ae4d6e2ef4e": "999999999999999700000",
    "444b1ae4d6e2ef4f": "999999999999999900000",
    "444b1ae4d6e2ef50": "1e+21",
    "3eb0c6f7a0b5ed8c": "9.999999999999997e-7",
    "3eb0c6f7a0b5ed8d": "0.000001",
    "41b3de4355555553": "333333333.3333332",
    "41b3de4355555554": "333333333.33333325",
    "41b3de4355555555": "333333333.3333333",
    "41b3de4355555556": "333333333.3333334",
    "41b3de4355555557": "333333333.33333343",
    "becbf647612f3696": "-0.0000033333333333333333",
    "43143ff3c1cb0959": "1424953923781206.2",
}


@pytest.mark.parametrize(("bits", "expected"), NUMBER_VECTORS.items())
def test_numbers_are_serialised_as_ecmascript_does(bits: str, expected: str) -> None:
    assert canonical_json(struct.unpack(">d", bytes.fromhex(bits))[0]) == expected.encode()


def test_the_rfc_8785_example_is_reproduced() -> None:
    source = (
        '{"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],'
        ' "string": "\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/",'
        ' "literals": [null, true, false]}'
    )
    assert canonical_json(json.loads(source)) == (
        '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],'
        '"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}'
    ).encode()


def test_keys_are_sorted_by_utf16_code_units_as_in_rfc_8785() -> None:
    source = {"\u20ac": 1, "\r": 2, "\ufb33": 3, "1": 4, "\U0001f600": 5, "\u0080": 6, "\u00f6": 7}
    keys = list(json.loads(canonical_json(source)))
    assert keys == ["\r", "1", "\u0080", "\u00f6", "\u20ac", "\U0001f600", "\ufb33"]


def test_only_the_required_characters_are_escaped() -> None:
    assert canonical_json("\x00\x08\t\n\x0c\r\x1f\"\\/\x7f\u2028é") == (
        '"\\u0000\\b\\t\\n\\f\\r\\u001f\\"\\\\/\x7f\u2028é"'.encode()
    )


def test_integers_booleans_nulls_and_nesting_are_compact() -> None:
    assert canonical_json({"b": [1, -2, True, None, {"z": False, "a": 1.0}], "a": ""}) == (
        b'{"a":"","b":[1,-2,true,null,{"a":1,"z":false}]}'
    )


@pytest.mark.parametrize("value", [
    float("nan"), float("inf"), -float("inf"), 2**53, "\ud800", {1: "x"}, b"x",
])
def test_values_without_a_canonical_form_are_refused(value: object) -> None:
    with pytest.raises(CanonicalisationError):
        canonical_json(value)


def an_envelope(**changes: object) -> dict[str, object]:
    envelope: dict[str, object] = {
        "id": "4f1c6f0e-8a57-4c1e-9d3e-0b3a1f2c9d10",
        "source": "/dhr/commissioning",
        "type": "dhr.commissioning.ReviewNotified.v1",
        "subject": "8a0f6a8e-3f7e-4b8e-9c55-1a3e2b4c5d6e",
        "time": "2025-04-01T09:30:00Z",
        "specversion": "1.0",
        "datacontenttype": "application/json",
        "stream": "review-8a0f6a8e-3f7e-4b8e-9c55-1a3e2b4c5d6e",
        "streamversion": 1,
        "correlationid": "0c5b2f7a-1111-4222-8333-944455556666",
        "causationid": None,
        "actor": "user:alice",
        "traceparent": None,
        "data": {"review_id": "8a0f6a8e-3f7e-4b8e-9c55-1a3e2b4c5d6e", "area": "Leeds"},
    }
    envelope.update(changes)
    return envelope


def test_leaf_data_is_the_canonical_cloudevent_without_null_optional_attributes() -> None:
    data = event_leaf_data(an_envelope())
    assert data.startswith(b'{"actor":"user:alice","correlationid":')
    assert b"causationid" not in data and b"traceparent" not in data
    assert json.loads(data)["data"] == {"review_id": "8a0f6a8e-3f7e-4b8e-9c55-1a3e2b4c5d6e", "area": "Leeds"}


def test_leaf_data_keeps_present_optional_attributes() -> None:
    data = json.loads(event_leaf_data(an_envelope(causationid="c", traceparent="00-ab-cd-01")))
    assert data["causationid"] == "c" and data["traceparent"] == "00-ab-cd-01"


def test_leaf_data_is_the_same_from_a_model_dump_of_the_envelope() -> None:
    from dhr_contracts.envelope import Envelope

    envelope = Envelope.model_validate(an_envelope())
    dumped = envelope.model_dump(mode="json", exclude_none=True)
    assert event_leaf_data(dumped) == event_leaf_data(an_envelope())


@pytest.mark.parametrize(("changes", "complaint"), [
    ({"subject": None}, "subject is missing"),
    ({"extra": "x"}, "extra"),
    ({"streamversion": "1"}, "streamversion"),
    ({"data": []}, "data"),
])
def test_an_envelope_outside_the_definition_is_refused(changes: dict[str, object], complaint: str) -> None:
    with pytest.raises(CanonicalisationError, match=complaint):
        event_leaf_data(an_envelope(**changes))
