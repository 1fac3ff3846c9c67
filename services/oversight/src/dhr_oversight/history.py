"""The complete, ordered history of one review across every service: read from the Kafka topics
alone (the `dhr history` command) or from the ledger (HTTP), shown as a timeline or as JSON."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from dhr_contracts.envelope import Envelope
from dhr_contracts.registry import EVENT_TYPES, upcast
from dhr_oversight.storage import envelope_json
from dhr_platform.kafka import KafkaConnection, start_client

PERSONAL = "[personal]"


@dataclass(frozen=True)
class HistoryEvent:
    """One event of a review's history, with where it was published."""

    time: datetime
    service: str
    topic: str
    type: str
    event_id: str
    stream: str
    stream_version: int
    data: Mapping[str, Any]

    @classmethod
    def from_cloudevent(cls, event: Mapping[str, Any], topic: str) -> HistoryEvent:
        """From the CloudEvents JSON form (what the ledger hashes)."""
        return cls(
            time=datetime.fromisoformat(str(event["time"])),
            service=service_of(str(event.get("source", "")), topic),
            topic=topic,
            type=str(event["type"]),
            event_id=str(event["id"]),
            stream=str(event.get("stream", "")),
            stream_version=int(event.get("streamversion", 0)),
            data=dict(event.get("data") or {}),
        )

    def sort_key(self) -> tuple[datetime, str, str, int, str]:
        return (self.time, self.topic, self.stream, self.stream_version, self.event_id)

    def description(self) -> str:
        return describe(self.type)

    def facts(self, *, show_personal: bool = False) -> dict[str, Any]:
        """The event's data with personal fields hidden (unless asked), the review id left out."""
        hidden = set() if show_personal else personal_fields(self.type)
        return {key: PERSONAL if key in hidden else value
                for key, value in self.data.items() if key != "review_id"}

    def as_json(self, *, show_personal: bool = False) -> dict[str, Any]:
        return {
            "time": self.time.isoformat(),
            "service": self.service,
            "topic": self.topic,
            "type": self.type,
            "description": self.description(),
            "event_id": self.event_id,
            "stream": self.stream,
            "stream_version": self.stream_version,
            "data": self.facts(show_personal=show_personal),
        }


def service_of(source: str, topic: str) -> str:
    """`/dhr/panel` -> `panel`; failing that, the topic's second part (`dhr.panel.events.v1`)."""
    if source.startswith("/dhr/") and len(source) > len("/dhr/"):
        return source[len("/dhr/"):].split("/")[0]
    parts = topic.split(".")
    return parts[1] if len(parts) > 1 else topic


_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def describe(event_type: str) -> str:
    """`dhr.commissioning.ChairAppointed.v1` -> `Chair appointed`."""
    parts = event_type.split(".")
    name = parts[-2] if len(parts) >= 3 else event_type
    words = _CAMEL.sub(" ", name).split()
    if not words:
        return event_type
    return " ".join([words[0], *(w if w.isupper() else w.lower() for w in words[1:])])


def personal_fields(event_type: str) -> frozenset[str]:
    """The personal fields of a known event type (after upcasting); none for unknown types."""
    newest, _ = upcast(event_type, {})
    model = EVENT_TYPES.get(newest)
    return frozenset() if model is None else model.personal_fields()


def ordered(events: Iterable[HistoryEvent]) -> list[HistoryEvent]:
    """Oldest first: by event time, then topic, stream and stream version (ties are rare)."""
    return sorted(events, key=HistoryEvent.sort_key)


def history_json(review_id: str, events: list[HistoryEvent], *,
                 show_personal: bool = False) -> dict[str, Any]:
    return {
        "review_id": review_id,
        "services": sorted({event.service for event in events}),
        "events": [event.as_json(show_personal=show_personal) for event in events],
    }


def _fact(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))


def render_timeline(review_id: str, events: list[HistoryEvent], *,
                    show_personal: bool = False) -> str:
    """A timeline a person can read: date, service, what happened, the key facts."""
    if not events:
        return f"No events for review {review_id}.\n"
    services = ", ".join(sorted({event.service for event in events}))
    lines = [f"History of review {review_id}: {len(events)} events from {services}", ""]
    width = max(len(event.service) for event in events)
    for event in events:
        when = event.time.strftime("%Y-%m-%d %H:%M")
        lines.append(f"{when}  {event.service:<{width}}  {event.description()}")
        for key, value in event.facts(show_personal=show_personal).items():
            lines.append(f"{'':16}  {'':<{width}}    {key}: {_fact(value)}")
    return "\n".join(lines) + "\n"


# --- reading the topics ----------------------------------------------------------------------


async def scan_topics(
    kafka: KafkaConnection | str, topics: Iterable[str], *, on_total: Callable[[int], None] | None = None
) -> AsyncIterator[ConsumerRecord[bytes, bytes]]:
    """Every record of `topics` from offset 0 to their current end, partition by partition in
    offset order, with a plain consumer (no group, nothing committed)."""
    wanted = list(dict.fromkeys(topics))
    # Subscribed without a group, a consumer is given every partition of its topics (and waits
    # for their metadata at start); offsets are then set by hand and nothing is committed.
    consumer = AIOKafkaConsumer(
        *wanted, **KafkaConnection.of(kafka).client_options(), group_id=None,
        enable_auto_commit=False, auto_offset_reset="earliest", isolation_level="read_committed",
        client_id="dhr-oversight-reader",
    )
    await start_client(consumer, kafka)
    try:
        partitions = [TopicPartition(topic, partition) for topic in wanted
                      for partition in sorted(consumer.partitions_for_topic(topic) or ())]
        if not partitions:
            if on_total is not None:
                on_total(0)
            return
        for _ in range(100):  # the assignment follows the metadata within moments
            if set(partitions) <= consumer.assignment():
                break
            await asyncio.sleep(0.05)
        beginning = await consumer.beginning_offsets(partitions)
        end = await consumer.end_offsets(partitions)
        if on_total is not None:
            on_total(sum(end[tp] - beginning[tp] for tp in partitions))
        remaining = {tp for tp in partitions if end[tp] > beginning[tp]}
        for tp in partitions:
            consumer.seek(tp, beginning[tp])
        while remaining:
            batch = await consumer.getmany(*remaining, timeout_ms=500)
            for tp, records in batch.items():
                for record in records:
                    if record.offset < end[tp]:
                        yield record
            for tp in list(remaining):
                if await consumer.position(tp) >= end[tp]:
                    remaining.discard(tp)
    finally:
        await consumer.stop()


async def history_from_kafka(kafka: KafkaConnection | str, topics: Iterable[str],
                             review_id: str) -> list[HistoryEvent]:
    """The review's history rebuilt from the topics alone: every record keyed by the review."""
    key = review_id.encode()
    events = []
    seen: set[str] = set()
    async for record in scan_topics(kafka, topics):
        if record.key != key:
            continue
        try:
            envelope = Envelope.from_kafka(list(record.headers), record.value or b"")
        except ValueError:
            continue  # not a CloudEvent: the ledger never took it either
        if str(envelope.id) in seen:
            continue  # published twice (at-least-once): one event
        seen.add(str(envelope.id))
        events.append(HistoryEvent.from_cloudevent(envelope_json(envelope), record.topic))
    return ordered(events)
