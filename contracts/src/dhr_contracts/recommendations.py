"""Events of the recommendations service."""

from __future__ import annotations

from dhr_contracts.base import EventPayload

EVENTS: tuple[type[EventPayload], ...] = ()
