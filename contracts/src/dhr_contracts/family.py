"""Events of family and friends' involvement in a review (published by the panel service)."""

from __future__ import annotations

from dhr_contracts.base import EventPayload

EVENTS: tuple[type[EventPayload], ...] = ()
