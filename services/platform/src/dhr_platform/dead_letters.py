"""Dead-letter handling for operators: list what a service's consumers parked, and replay it.

A consumer parks a message it cannot apply on `<topic>.dlq` with `dlq_*` headers saying which
consumer group gave up, where the message came from and why (consumers.py). Once the cause is
fixed, `replay` republishes each parked message to its original topic with its original key,
value and headers (the `dlq_*` ones removed, a `dlq_replayed_from` added). Every consumer group
of that topic sees it again; those that had applied it already find it in their inbox and do
nothing, so a replay can never apply anything twice.

What has been dealt with is kept by Kafka itself: the tool commits its own consumer group's
offset (`dhr-<service>-dead-letters`) on each dead-letter topic past what it replayed, so
`pending` shows only what is new. Replaying chosen event ids leaves that offset alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import OffsetAndMetadata

from dhr_platform.kafka import KafkaConnection, safe_producer, start_client

DLQ_PREFIX = "dlq_"


@dataclass(frozen=True)
class DeadLetter:
    """One parked message: where it is parked, what it was, and why."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]

    def header(self, name: str) -> str:
        return next((value.decode(errors="replace") for key, value in self.headers
                     if key == name), "")

    @property
    def consumer(self) -> str:
        return self.header("dlq_consumer")

    @property
    def event_id(self) -> str:
        return self.header("ce_id")

    @property
    def original_topic(self) -> str:
        return self.header("dlq_original_topic")

    def summary(self) -> str:
        return (f"{self.topic}/{self.partition}@{self.offset}  consumer {self.consumer}  "
                f"from {self.original_topic}/{self.header('dlq_original_partition')}"
                f"@{self.header('dlq_original_offset')}  event {self.event_id or '-'}  "
                f"{self.header('dlq_error_type')} after {self.header('dlq_attempts')} "
                f"attempt(s) at {self.header('dlq_failed_at')}: {self.header('dlq_error_message')}")


def tool_group(service: str) -> str:
    return f"dhr-{service}-dead-letters"


async def read_dead_letters(kafka: KafkaConnection | str, service: str, topics: Iterable[str],
                            consumers: Iterable[str], *, pending_only: bool = True
                            ) -> tuple[list[DeadLetter], dict[TopicPartition, int]]:
    """The dead letters of `consumers` on `topics` (all, or those after the tool's committed
    offset), and each partition's end offset (what `replay` commits up to)."""
    wanted = set(consumers)
    partitions = await _partitions(kafka, topics)
    if not partitions:
        return [], {}
    consumer = AIOKafkaConsumer(**KafkaConnection.of(kafka).client_options(),
                                group_id=tool_group(service), enable_auto_commit=False,
                                auto_offset_reset="earliest", isolation_level="read_committed")
    await start_client(consumer, kafka)
    try:
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        for tp in partitions:
            committed = await consumer.committed(tp) if pending_only else None
            if committed is None:
                await consumer.seek_to_beginning(tp)
            else:
                consumer.seek(tp, committed)
        found: list[DeadLetter] = []
        remaining = {tp for tp in partitions if await consumer.position(tp) < ends[tp]}
        while remaining:
            batch = await consumer.getmany(*remaining, timeout_ms=1000)
            for tp, records in batch.items():
                for record in records:
                    if record.offset >= ends[tp]:
                        continue
                    letter = DeadLetter(tp.topic, tp.partition, record.offset, record.key,
                                        record.value, tuple(record.headers))
                    if letter.consumer in wanted:
                        found.append(letter)
            remaining = {tp for tp in remaining if await consumer.position(tp) < ends[tp]}
        return found, ends
    finally:
        await consumer.stop()


async def replay(kafka: KafkaConnection | str, service: str, topics: Sequence[str], consumers: Sequence[str],
                 *, event_ids: Sequence[str] = ()) -> list[DeadLetter]:
    """Republish the pending dead letters of `consumers` (or only those of `event_ids`, pending
    or not) to their original topics; return what was replayed."""
    chosen = set(event_ids)
    letters, ends = await read_dead_letters(kafka, service, topics, consumers,
                                            pending_only=not chosen)
    if chosen:
        letters = [letter for letter in letters if letter.event_id in chosen]
    producer = safe_producer(kafka, f"dhr-{service}-dead-letters")
    await start_client(producer, kafka)
    try:
        for letter in letters:
            headers = [(key, value) for key, value in letter.headers
                       if not key.startswith(DLQ_PREFIX)]
            headers.append(("dlq_replayed_from",
                            f"{letter.topic}/{letter.partition}@{letter.offset}".encode()))
            await producer.send_and_wait(letter.original_topic, letter.value, key=letter.key,
                                         headers=headers)
    finally:
        await producer.stop()
    if not chosen and ends:
        await _commit(kafka, service, ends)
    return letters


async def _commit(kafka: KafkaConnection | str, service: str,
                  offsets: dict[TopicPartition, int]) -> None:
    consumer = AIOKafkaConsumer(**KafkaConnection.of(kafka).client_options(),
                                group_id=tool_group(service), enable_auto_commit=False)
    await start_client(consumer, kafka)
    try:
        consumer.assign(list(offsets))
        await consumer.commit({tp: OffsetAndMetadata(offset, "") for tp, offset in
                               offsets.items()})
    finally:
        await consumer.stop()


async def _partitions(kafka: KafkaConnection | str, topics: Iterable[str]) -> list[TopicPartition]:
    """Every partition of the topics that exist (a group-less consumer gets their metadata)."""
    wanted = list(dict.fromkeys(topics))
    consumer = AIOKafkaConsumer(*wanted, **KafkaConnection.of(kafka).client_options(),
                                group_id=None, enable_auto_commit=False)
    await start_client(consumer, kafka)
    try:
        return [TopicPartition(topic, partition) for topic in wanted
                for partition in sorted(consumer.partitions_for_topic(topic) or ())]
    finally:
        await consumer.stop()
