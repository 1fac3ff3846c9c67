"""Consistency of the record: each service's event store against its Kafka topic against the
oversight ledger, reported per review as events lost, duplicated or out of order.

The comparison (`check`) is pure; `read_store` and `read_topic` gather its inputs. What is still
in flight is not a fault: an event the relay has not published yet (after its cursor) and a
record the ledger's consumer group has not committed past are counted as pending, not lost, so
the check can run against a live system. `dhr_platform.consistency_sources` reads the stores
and topics.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

NO_REVIEW = "-"  # findings about the ledger as a whole


class Kind(StrEnum):
    LOST = "lost"
    DUPLICATED = "duplicated"
    OUT_OF_ORDER = "out of order"
    UNRECORDED = "unrecorded"  # on a topic or in the ledger, but in no store


@dataclass(frozen=True, slots=True)
class Finding:
    kind: Kind
    review_id: str
    detail: str
    event_id: str | None = None


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """A row of a service's events table."""

    event_id: str
    review_id: str
    stream_id: str
    version: int
    type: str
    causation_id: str | None
    transaction: str  # the writing transaction's id: one per command or consumed message
    published: bool  # at or before the relay's cursor: Kafka has acknowledged it


@dataclass(frozen=True, slots=True)
class Store:
    """One service's events and the topic its relay publishes them to."""

    name: str
    topic: str
    events: Sequence[StoredEvent]


@dataclass(frozen=True, slots=True)
class PublishedRecord:
    """A CloudEvent on a topic; `consumed` when the ledger's consumer group committed past it."""

    topic: str
    partition: int
    offset: int
    event_id: str
    review_id: str
    stream_id: str
    version: int
    consumed: bool = False


@dataclass(frozen=True, slots=True)
class LedgerRow:
    index: int
    event_id: str
    review_id: str
    stream_id: str
    version: int
    topic: str


@dataclass(frozen=True, slots=True)
class Ledger:
    rows: Sequence[LedgerRow]
    topics: frozenset[str]  # the topics it consumes: their events must all be in it
    complete: bool = True  # every row, not one review's: its indexes must run without a gap


@dataclass(frozen=True, slots=True)
class Reaction:
    """Every event of `cause_type` must cause events in store `effect_store` (checked once the
    system is quiet: a reaction still in flight would show as lost)."""

    cause_type: str
    effect_store: str


@dataclass
class ConsistencyReport:
    findings: list[Finding] = field(default_factory=list)
    reviews: set[str] = field(default_factory=set)
    stored_events: int = 0
    records: int = 0
    republished: int = 0  # further copies of an event on its topic: at-least-once, harmless
    ledger_entries: int | None = None
    pending_publication: int = 0
    pending_ledger: int = 0
    not_cloudevents: int = 0  # records that are no CloudEvent (the ledger dead-letters them)

    @property
    def ok(self) -> bool:
        return not self.findings

    def by_review(self) -> dict[str, list[Finding]]:
        grouped: dict[str, list[Finding]] = defaultdict(list)
        for finding in self.findings:
            grouped[finding.review_id].append(finding)
        return dict(grouped)

    def counts(self, review_id: str) -> dict[str, int]:
        found = Counter(f.kind for f in self.findings if f.review_id == review_id)
        return {kind.value: found[kind] for kind in Kind}

    def kinds(self) -> set[Kind]:
        return {finding.kind for finding in self.findings}

    def summary(self) -> str:
        ledger = "" if self.ledger_entries is None else f", {self.ledger_entries} ledger entries"
        lines = [f"checked {len(self.reviews)} reviews: {self.stored_events} stored events, "
                 f"{self.records} records ({self.republished} republished copies, "
                 f"{self.not_cloudevents} not CloudEvents){ledger}; "
                 f"pending: {self.pending_publication} to publish, {self.pending_ledger} for "
                 f"the ledger"]
        for review_id, findings in sorted(self.by_review().items()):
            counts = ", ".join(f"{kind} {n}" for kind, n in self.counts(review_id).items() if n)
            lines.append(f"review {review_id}: {counts}")
            lines += [f"  {finding.kind}: {finding.detail}" for finding in findings]
        lines.append("consistent: nothing lost, duplicated or out of order" if self.ok else
                     f"INCONSISTENT: {len(self.findings)} findings in "
                     f"{len(self.by_review())} reviews")
        return "\n".join(lines)

    def as_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "reviews_checked": len(self.reviews),
            "stored_events": self.stored_events,
            "records": self.records,
            "republished": self.republished,
            "not_cloudevents": self.not_cloudevents,
            "ledger_entries": self.ledger_entries,
            "pending_publication": self.pending_publication,
            "pending_ledger": self.pending_ledger,
            "reviews": {
                review_id: {"counts": self.counts(review_id),
                            "findings": [{"kind": f.kind.value, "event_id": f.event_id,
                                          "detail": f.detail} for f in findings]}
                for review_id, findings in sorted(self.by_review().items())
            },
        }


def check(stores: Sequence[Store], topics: Mapping[str, Sequence[PublishedRecord]],
          ledger: Ledger | None = None, reactions: Iterable[Reaction] = ()) -> ConsistencyReport:
    """Compare the stores with their topics and the ledger; report what does not match."""
    report = ConsistencyReport()
    for store in stores:
        if store.topic not in topics:
            raise ValueError(f"the records of {store.topic} (store {store.name}) were not given")
        report.stored_events += len(store.events)
        report.reviews.update(event.review_id for event in store.events)
        _check_store(store, report)
        _check_store_against_topic(store, topics[store.topic], report)
    for name, records in topics.items():
        report.records += len(records)
        report.reviews.update(record.review_id for record in records)
        _check_topic_order(name, records, report)
    _check_reactions(stores, reactions, report)
    if ledger is not None:
        report.ledger_entries = len(ledger.rows)
        report.reviews.update(row.review_id for row in ledger.rows)
        _check_ledger(ledger, stores, topics, report)
    return report


def _describe(event: StoredEvent | PublishedRecord | LedgerRow) -> str:
    return f"event {event.event_id} ({event.stream_id} version {event.version})"


def _check_store(store: Store, report: ConsistencyReport) -> None:
    versions: dict[str, set[int]] = defaultdict(set)
    review_of_stream: dict[str, str] = {}
    transactions: dict[str, set[str]] = defaultdict(set)
    caused: dict[str, list[StoredEvent]] = defaultdict(list)
    for event in store.events:
        versions[event.stream_id].add(event.version)
        review_of_stream[event.stream_id] = event.review_id
        if event.causation_id is not None:
            transactions[event.causation_id].add(event.transaction)
            caused[event.causation_id].append(event)
    for stream_id, present in versions.items():
        for missing in sorted(set(range(1, max(present) + 1)) - present):
            report.findings.append(Finding(
                Kind.LOST, review_of_stream[stream_id],
                f"{stream_id} has no version {missing} in store {store.name}"))
    # A consumer applies each message in one transaction: the same cause recorded by several
    # transactions is an effect applied more than once.
    for cause, seen_in in transactions.items():
        if len(seen_in) > 1:
            effects = caused[cause]
            report.findings.append(Finding(
                Kind.DUPLICATED, effects[0].review_id,
                f"the effect of event {cause} was applied {len(seen_in)} times in store "
                f"{store.name} ({', '.join(sorted({e.type for e in effects}))})", cause))


def _check_store_against_topic(store: Store, records: Sequence[PublishedRecord],
                               report: ConsistencyReport) -> None:
    on_topic = {record.event_id for record in records}
    stored = {event.event_id for event in store.events}
    for event in store.events:
        if not event.published:
            report.pending_publication += 1
        elif event.event_id not in on_topic:
            report.findings.append(Finding(
                Kind.LOST, event.review_id,
                f"{_describe(event)} is in store {store.name} but not on {store.topic}",
                event.event_id))
    for record in records:
        if record.event_id not in stored:
            report.findings.append(Finding(
                Kind.UNRECORDED, record.review_id,
                f"{_describe(record)} is on {record.topic} at {record.partition}@{record.offset} "
                f"but not in store {store.name}", record.event_id))


def _check_topic_order(topic: str, records: Sequence[PublishedRecord],
                       report: ConsistencyReport) -> None:
    """Per stream, each new event id must carry the next version; a repeated id is a harmless
    republication (at-least-once), a version under the highest seen is out of order."""
    streams: dict[str, list[PublishedRecord]] = defaultdict(list)
    for record in records:
        streams[record.stream_id].append(record)
    for stream_id, mine in streams.items():
        mine.sort(key=lambda record: (record.partition, record.offset))
        partitions = sorted({record.partition for record in mine})
        if len(partitions) > 1:
            report.findings.append(Finding(
                Kind.OUT_OF_ORDER, mine[0].review_id,
                f"{stream_id} is spread over partitions {partitions} of {topic}: Kafka keeps "
                f"no order between them"))
        first_id_of_version: dict[int, str] = {}
        seen: set[str] = set()
        highest = 0
        for record in mine:
            if record.event_id in seen:
                report.republished += 1
                continue
            seen.add(record.event_id)
            where = f"{topic} {record.partition}@{record.offset}"
            other = first_id_of_version.get(record.version)
            if other is not None:
                report.findings.append(Finding(
                    Kind.DUPLICATED, record.review_id,
                    f"{stream_id} version {record.version} is on {topic} twice, as events "
                    f"{other} and {record.event_id} ({where})", record.event_id))
                continue
            first_id_of_version[record.version] = record.event_id
            if record.version < highest:
                report.findings.append(Finding(
                    Kind.OUT_OF_ORDER, record.review_id,
                    f"{_describe(record)} comes after version {highest} on {where}",
                    record.event_id))
            highest = max(highest, record.version)


def _check_reactions(stores: Sequence[Store], reactions: Iterable[Reaction],
                     report: ConsistencyReport) -> None:
    by_name = {store.name: store for store in stores}
    for reaction in reactions:
        effect_store = by_name[reaction.effect_store]
        causes = {event.causation_id for event in effect_store.events}
        for store in stores:
            for event in store.events:
                if event.type == reaction.cause_type and event.event_id not in causes:
                    report.findings.append(Finding(
                        Kind.LOST, event.review_id,
                        f"{_describe(event)}, a {event.type} of store {store.name}, had no "
                        f"effect in store {effect_store.name}", event.event_id))


def _check_ledger(ledger: Ledger, stores: Sequence[Store],
                  topics: Mapping[str, Sequence[PublishedRecord]],
                  report: ConsistencyReport) -> None:
    indexes = sorted(row.index for row in ledger.rows)
    missing = (sorted(set(range(indexes[-1] + 1)) - set(indexes))
               if indexes and ledger.complete else [])
    if missing:
        shown = ", ".join(str(index) for index in missing[:20])
        report.findings.append(Finding(
            Kind.LOST, NO_REVIEW,
            f"the ledger has no entry at index {shown}{' ...' if len(missing) > 20 else ''}: "
            f"entries were removed"))
    copies = Counter(row.event_id for row in ledger.rows)
    in_ledger = set(copies)
    for event_id, count in copies.items():
        if count > 1:
            row = next(r for r in ledger.rows if r.event_id == event_id)
            report.findings.append(Finding(
                Kind.DUPLICATED, row.review_id,
                f"{_describe(row)} is in the ledger {count} times", event_id))
    _check_ledger_order(ledger, report)

    stored_by_topic = {store.topic: {e.event_id for e in store.events} for store in stores}
    for row in ledger.rows:
        stored = stored_by_topic.get(row.topic)
        if stored is not None and row.event_id not in stored:
            report.findings.append(Finding(
                Kind.UNRECORDED, row.review_id,
                f"{_describe(row)} is in the ledger at index {row.index} but in no store",
                row.event_id))
    for store in stores:
        if store.topic not in ledger.topics:
            continue
        consumed = {r.event_id for r in topics[store.topic] if r.consumed}
        on_topic = {r.event_id for r in topics[store.topic]}
        for event in store.events:
            if not event.published or event.event_id in in_ledger:
                continue
            if event.event_id in on_topic and event.event_id not in consumed:
                report.pending_ledger += 1
                continue
            report.findings.append(Finding(
                Kind.LOST, event.review_id,
                f"{_describe(event)} of store {store.name} is not in the ledger",
                event.event_id))
    for topic in ledger.topics & set(topics):
        stored = stored_by_topic.get(topic)
        for record in topics[topic]:
            if (record.consumed and record.event_id not in in_ledger
                    and (stored is None or record.event_id not in stored)):
                report.findings.append(Finding(
                    Kind.LOST, record.review_id,
                    f"{_describe(record)} on {topic} at {record.partition}@{record.offset} "
                    f"is not in the ledger", record.event_id))


def _check_ledger_order(ledger: Ledger, report: ConsistencyReport) -> None:
    streams: dict[str, list[LedgerRow]] = defaultdict(list)
    for row in sorted(ledger.rows, key=lambda row: row.index):
        streams[row.stream_id].append(row)
    for stream_id, rows in streams.items():
        first_id_of_version: dict[int, str] = {}
        highest = 0
        for row in rows:
            other = first_id_of_version.get(row.version)
            if other is not None:
                if other != row.event_id:
                    report.findings.append(Finding(
                        Kind.DUPLICATED, row.review_id,
                        f"{stream_id} version {row.version} is in the ledger twice, as events "
                        f"{other} and {row.event_id} (index {row.index})", row.event_id))
                continue
            first_id_of_version[row.version] = row.event_id
            if row.version < highest:
                report.findings.append(Finding(
                    Kind.OUT_OF_ORDER, row.review_id,
                    f"{_describe(row)} is in the ledger at index {row.index}, after version "
                    f"{highest}", row.event_id))
            highest = max(highest, row.version)
