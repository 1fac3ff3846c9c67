"""Every published event type, by its stable name, and the upcasters from old versions."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from dhr_contracts import access, commissioning, family, learning, panel, recommendations
from dhr_contracts.base import EventPayload

Upcaster = Callable[[dict[str, Any]], tuple[str, dict[str, Any]]]

EVENT_TYPES: Mapping[str, type[EventPayload]] = {
    model.event_type: model
    for model in (*commissioning.EVENTS, *panel.EVENTS, *family.EVENTS, *learning.EVENTS,
                  *recommendations.EVENTS, *access.EVENTS)
}

# Old type name -> function returning (newer type name, newer data). Applied on read, repeatedly,
# so that v1 -> v2 -> v3 chains work. Empty until a payload changes incompatibly.
UPCASTERS: Mapping[str, Upcaster] = {}


class UnknownEventType(LookupError):
    """An event type that no contract declares."""


def upcast(event_type: str, data: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """Bring an event to the newest version of its type."""
    while event_type in UPCASTERS:
        event_type, data = UPCASTERS[event_type](data)
    return event_type, data


def parse_payload(event_type: str, data: dict[str, Any]) -> EventPayload:
    """Parse stored or received event data into its payload model, upcasting old versions."""
    event_type, data = upcast(event_type, data)
    model = EVENT_TYPES.get(event_type)
    if model is None:
        raise UnknownEventType(event_type)
    return model.model_validate(data)


def parse_payload_json(event_type: str, raw: bytes | str) -> EventPayload:
    """`parse_payload` of data still in its JSON text: validated straight from the text, without
    building the dict first (a quarter of the time), unless the type must be upcast."""
    if event_type in UPCASTERS:
        return parse_payload(event_type, json.loads(raw))
    model = EVENT_TYPES.get(event_type)
    if model is None:
        raise UnknownEventType(event_type)
    return model.model_validate_json(raw)
