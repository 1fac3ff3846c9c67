"""Events of the learning service: blame-free learning events and learning points."""

from __future__ import annotations

from dhr_contracts.base import EventPayload

EVENTS: tuple[type[EventPayload], ...] = ()
