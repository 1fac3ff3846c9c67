"""Kafka side of the oversight service: every event of every service, appended to the ledger
once, in the order this single appender commits them (ADR 0006)."""

from __future__ import annotations

from dhr_oversight.storage import append_entry, entry_from_record
from dhr_platform.consumers import Delivery, Effect, PermanentFailure
from dhr_platform.database import Connection


def ledger_effect() -> Effect:
    """Append the delivered event to the ledger; a redelivery (same ce_id) appends nothing.

    The inbox (same transaction) stops most redeliveries; the ledger's unique event id stops
    the same event arriving under another coordinate. Not a CloudEvent: dead-lettered.
    """

    async def append(connection: Connection, delivery: Delivery) -> None:
        headers = [(name, value.encode()) for name, value in delivery.headers.items()]
        try:
            entry = entry_from_record(delivery.topic, delivery.partition, delivery.offset,
                                      headers, delivery.value)
        except ValueError as error:
            raise PermanentFailure(f"not a valid CloudEvent: {error}") from error
        await append_entry(connection, entry)

    return append
