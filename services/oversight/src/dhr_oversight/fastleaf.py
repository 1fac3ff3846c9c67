"""The leaf data of a Kafka record straight from its bytes: the ledger's fast path.

`fast_leaf` gives exactly the bytes of the reference path,
`event_leaf_data(envelope_json(Envelope.from_kafka(headers, value)))` (pydantic validation, then
RFC 8785 canonical JSON in pure Python), for every record it accepts, about ten times faster. It
accepts only what it can vouch for and returns None for anything else, so that the caller takes
the reference path, which also decides what is not a CloudEvent. What it accepts:

- `ce_*` headers naming only envelope attributes, in UTF-8 without characters that JSON escapes
  (quotes, backslashes, control characters), with every required one present,
  `specversion` 1.0, `datacontenttype` (if given) application/json, ids as lower-case hyphenated
  UUIDs, `streamversion` a decimal integer from 1 to 2^53-1 without leading zeros or signs, and
  `time` a valid RFC 3339 UTC time in pydantic's own JSON layout (`...:SSZ` or `...:SS.ffffffZ`
  with a non-zero fraction): each is then what pydantic would give back unchanged;
- a value that is a JSON object with no whitespace around it, without `\\u` escapes or
  characters outside the Basic Multilingual Plane (so code-point order of keys is UTF-16 order,
  as RFC 8785 sorts), without fractions, exponents or NaN/Infinity, and without integers beyond
  ±(2^53-1).

For such input `json.dumps(sort_keys=True, ensure_ascii=False, separators=(",", ":"))` is the
RFC 8785 form: the same string escapes (the two-letter ones, `\\u00xx` in lower case for other
control characters, nothing else escaped), keys sorted the same way, integers as decimal digits.
tests/unit/oversight/test_oversight_fastleaf.py checks byte equality on varied inputs.
"""

from __future__ import annotations

import json
import json.encoder
import re
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from dhr_oversight.ledger import MAX_SAFE_INTEGER

_REQUIRED = frozenset(("id", "source", "type", "subject", "time", "specversion", "stream",
                       "streamversion", "correlationid", "actor"))
_KNOWN = _REQUIRED | {"datacontenttype", "causationid", "traceparent", "datakeyid"}
_REQUIRED_HEADERS = frozenset("ce_" + name for name in _REQUIRED)
_KNOWN_HEADERS = frozenset("ce_" + name for name in _KNOWN)
_UUID_TEXT = rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_UUID = re.compile(_UUID_TEXT + rb"\Z")
# id, correlationid, streamversion and time in one match, joined by DEL (never in a checked value)
_ATTRIBUTES = re.compile(_UUID_TEXT + rb"\x7f" + _UUID_TEXT + rb"\x7f[1-9][0-9]{0,15}\x7f"
                         rb"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}"
                         rb"(?:\.(?!000000)[0-9]{6})?Z\Z")
_ESCAPED = re.compile(rb'[\x00-\x1f"\\]')  # what a JSON string escapes (RFC 8785 and json.dumps)
_OUTSIDE_BMP = re.compile(rb"[\xf0-\xff]")
_SAFE_DIGITS = len(str(MAX_SAFE_INTEGER)) - 1  # a version with fewer digits is always safe


class _Decline(Exception):
    """The fast path cannot vouch for this record."""


def _decline(_: str) -> object:
    raise _Decline


def _safe_int(text: str) -> int:
    number = int(text)
    if -MAX_SAFE_INTEGER <= number <= MAX_SAFE_INTEGER:
        return number
    raise _Decline


# The scanner and the encoder that json.loads and json.dumps build for every call, built once:
# a tenth of the time of a record. A value with whitespace around it is declined, not parsed.
_scan: Callable[[str, int], tuple[Any, int]] = json.JSONDecoder(
    parse_float=_decline, parse_int=_safe_int, parse_constant=_decline).scan_once  # type: ignore[attr-defined]
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), sort_keys=True,
                            allow_nan=False)
_make_encoder: Any = getattr(json.encoder, "c_make_encoder", None)  # what iterencode uses
_encode_chunks: Callable[[Any, int], Sequence[str]] | None = None if _make_encoder is None else (
    _make_encoder(None, _ENCODER.default, json.encoder.encode_basestring, None, ":", ",", True,
                  False, False))


def _encode(data: dict[str, Any]) -> str:
    """`_ENCODER.encode(data)` (no circular check: parsed JSON has no cycles)."""
    if _encode_chunks is None:
        return _ENCODER.encode(data)
    return "".join(_encode_chunks(data, 0))


FastLeaf = tuple[str, str, str, dict[str, Any], bytes, datetime]


def fast_leaf(headers: Sequence[tuple[str, bytes]], value: bytes) -> FastLeaf | None:
    """(event id, subject, type, data, leaf data, time), or None to take the reference path.

    The attributes go into the leaf data as their header bytes: once none holds a character that
    JSON escapes and all are UTF-8, `"` + bytes + `"` is the JSON string of each. The keys of the
    CloudEvent JSON form are fixed ASCII names, written here in their sorted order.
    """
    try:
        # The last of a repeated header counts, as in Envelope.from_kafka.
        attributes: dict[str, bytes] = dict(headers)
        names = attributes.keys()
        other = names - _KNOWN_HEADERS  # only headers that are not CloudEvents attributes
        if (not names >= _REQUIRED_HEADERS or any(name[:3] == "ce_" for name in other)
                or attributes["ce_specversion"] != b"1.0"
                or attributes.get("ce_datacontenttype", b"application/json")
                != b"application/json"):
            return None
        get = attributes.get
        event_id, correlation = attributes["ce_id"], attributes["ce_correlationid"]
        version, moment = attributes["ce_streamversion"], attributes["ce_time"]
        actor, source, stream = attributes["ce_actor"], attributes["ce_source"], attributes["ce_stream"]
        subject, event_type = attributes["ce_subject"], attributes["ce_type"]
        causation, trace, key_id = get("ce_causationid"), get("ce_traceparent"), get("ce_datakeyid")
        # One check and one UTF-8 decoding for all: DEL (ASCII) ends any multi-byte sequence,
        # so the joined bytes are UTF-8 exactly when each value is.
        joined = b"\x7f".join((event_id, correlation, version, moment, actor, source, stream,
                               subject, event_type, causation or b"", trace or b"",
                               key_id or b""))
        if _ESCAPED.search(joined):
            return None
        joined.decode()
        if not (_ATTRIBUTES.match(joined, 0, 3 + len(event_id) + len(correlation) + len(version)
                                   + len(moment))
                and (causation is None or _UUID.match(causation))
                and (key_id is None or _UUID.match(key_id))
                and (len(version) <= _SAFE_DIGITS or int(version) <= MAX_SAFE_INTEGER)):
            return None
        time = datetime.fromisoformat(moment.decode())
        if b"\\u" in value or (not value.isascii() and _OUTSIDE_BMP.search(value)):
            return None
        text = value.decode()
        data, end = _scan(text, 0)
        if end != len(text) or type(data) is not dict:
            return None
        leaf = b"".join((
            b'{"actor":"', actor,
            b'","causationid":"' + causation if causation is not None else b"",
            b'","correlationid":"', correlation,
            b'","data":', _encode(data).encode(),
            b',"datacontenttype":"application/json',
            b'","datakeyid":"' + key_id if key_id is not None else b"",
            b'","id":"', event_id,
            b'","source":"', source,
            b'","specversion":"1.0","stream":"', stream,
            b'","streamversion":', version,
            b',"subject":"', subject,
            b'","time":"', moment,
            b'","traceparent":"' + trace if trace is not None else b"",
            b'","type":"', event_type, b'"}',
        ))
        return (event_id.decode(), subject.decode(), event_type.decode(), data, leaf, time)
    except (_Decline, StopIteration, ValueError, TypeError, AttributeError, RecursionError):
        return None
