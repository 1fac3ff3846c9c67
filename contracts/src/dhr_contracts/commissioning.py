"""Events of the commissioning service (placeholder: filled in by the commissioning domain work)."""

from dhr_contracts.base import EventPayload

EVENTS: tuple[type[EventPayload], ...] = ()
