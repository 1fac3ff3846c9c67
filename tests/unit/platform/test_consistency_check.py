"""The consistency check of stores, topics and the ledger: given sources, then the findings."""

from __future__ import annotations

import dataclasses
import uuid

from dhr_platform.consistency import (
    NO_REVIEW,
    Kind,
    Ledger,
    LedgerRow,
    PublishedRecord,
    Reaction,
    Store,
    StoredEvent,
    check,
)

UPSTREAM, DOWNSTREAM = "dhr.up.events.v1", "dhr.down.events.v1"
OPENED, NOTED, REACTED = "dhr.up.Opened.v1", "dhr.up.Noted.v1", "dhr.down.Reacted.v1"


def event(review: str, version: int, *, type_: str = OPENED, stream: str | None = None,
          cause: str | None = None, transaction: str | None = None) -> StoredEvent:
    return StoredEvent(str(uuid.uuid4()), review, stream or f"case-{review}", version, type_,
                       cause, transaction or str(uuid.uuid4()), published=True)


class System:
    """Two stores (upstream, and downstream reacting to it), their topics and the ledger, all
    consistent until a test breaks something."""

    def __init__(self) -> None:
        self.upstream = [event("r1", 1), event("r1", 2, type_=NOTED), event("r2", 1)]
        self.downstream = [event(e.review_id, 1, type_=REACTED, stream=f"reaction-{e.review_id}",
                                 cause=e.event_id) for e in self.upstream if e.version == 1]
        self.records = {UPSTREAM: self._records(UPSTREAM, self.upstream),
                        DOWNSTREAM: self._records(DOWNSTREAM, self.downstream)}
        self.ledger = [LedgerRow(index, r.event_id, r.review_id, r.stream_id, r.version, r.topic)
                       for index, r in enumerate([*self.records[UPSTREAM],
                                                  *self.records[DOWNSTREAM]])]

    @staticmethod
    def _records(topic: str, events: list[StoredEvent]) -> list[PublishedRecord]:
        offsets: dict[int, int] = {}
        records = []
        for e in events:
            partition = sum(map(ord, e.review_id)) % 3
            offsets[partition] = offsets.get(partition, -1) + 1
            records.append(PublishedRecord(topic, partition, offsets[partition], e.event_id,
                                           e.review_id, e.stream_id, e.version, consumed=True))
        return records

    def check(self, reactions: tuple[Reaction, ...] = ()):  # type: ignore[no-untyped-def]
        return check([Store("up", UPSTREAM, self.upstream), Store("down", DOWNSTREAM, self.downstream)],
                     self.records, Ledger(self.ledger, frozenset({UPSTREAM, DOWNSTREAM})), reactions)


def only(report, kind: Kind) -> list[str]:  # type: ignore[no-untyped-def]
    assert report.kinds() == {kind}, report.summary()
    return [finding.detail for finding in report.findings]


def test_matching_stores_topics_and_ledger_are_consistent() -> None:
    report = System().check(reactions=(Reaction(OPENED, "down"),))

    assert report.ok, report.summary()
    assert (report.stored_events, report.records, report.ledger_entries) == (5, 5, 5)
    assert report.reviews == {"r1", "r2"}
    assert report.summary().endswith("consistent: nothing lost, duplicated or out of order")


def test_an_event_of_a_store_missing_from_its_topic_is_lost() -> None:
    system = System()
    dropped = system.records[UPSTREAM].pop(1)

    report = system.check()

    [detail] = only(report, Kind.LOST)
    assert f"event {dropped.event_id}" in detail
    assert f"is in store up but not on {UPSTREAM}" in detail
    assert report.by_review().keys() == {"r1"}


def test_an_event_the_relay_has_not_published_yet_is_pending_not_lost() -> None:
    system = System()
    late = dataclasses.replace(system.upstream[1], published=False)
    system.upstream[1] = late
    system.records[UPSTREAM] = [r for r in system.records[UPSTREAM] if r.event_id != late.event_id]
    system.ledger = [row for row in system.ledger if row.event_id != late.event_id]
    system.ledger = [dataclasses.replace(row, index=i) for i, row in enumerate(system.ledger)]

    report = system.check()

    assert report.ok, report.summary()
    assert report.pending_publication == 1


def test_a_ledger_row_deleted_is_lost_and_leaves_a_gap() -> None:
    system = System()
    deleted = system.ledger.pop(2)

    report = system.check()

    details = only(report, Kind.LOST)
    assert f"event {deleted.event_id} ({deleted.stream_id} version 1) of store up is not in the ledger" \
        in details[1]
    assert "no entry at index 2" in details[0]
    assert report.by_review().keys() == {NO_REVIEW, deleted.review_id}


def test_a_record_the_ledger_has_not_consumed_yet_is_pending() -> None:
    system = System()
    waiting = system.records[DOWNSTREAM][-1]
    system.records[DOWNSTREAM][-1] = dataclasses.replace(waiting, consumed=False)
    system.ledger = [row for row in system.ledger if row.event_id != waiting.event_id]

    report = system.check()

    assert report.ok, report.summary()
    assert report.pending_ledger == 1


def test_an_event_id_twice_in_the_ledger_is_duplicated() -> None:
    system = System()
    system.ledger.append(dataclasses.replace(system.ledger[0], index=len(system.ledger)))

    [detail] = only(system.check(), Kind.DUPLICATED)
    assert "is in the ledger 2 times" in detail


def test_the_same_stream_version_published_under_another_event_id_is_duplicated() -> None:
    system = System()
    original = system.records[UPSTREAM][0]
    copy = dataclasses.replace(original, offset=99, event_id=str(uuid.uuid4()))
    system.records[UPSTREAM].append(copy)
    system.ledger.append(LedgerRow(len(system.ledger), copy.event_id, copy.review_id,
                                   copy.stream_id, copy.version, UPSTREAM))

    report = system.check()

    assert report.kinds() == {Kind.DUPLICATED, Kind.UNRECORDED}, report.summary()
    duplicated = [f.detail for f in report.findings if f.kind is Kind.DUPLICATED]
    assert duplicated == [f"case-r1 version 1 is on {UPSTREAM} twice, as events "
                          f"{original.event_id} and {copy.event_id} ({UPSTREAM} "
                          f"{copy.partition}@99)",
                          f"case-r1 version 1 is in the ledger twice, as events "
                          f"{original.event_id} and {copy.event_id} (index 5)"]


def test_an_event_republished_with_its_own_id_is_at_least_once_delivery_not_a_fault() -> None:
    system = System()
    system.records[UPSTREAM].append(dataclasses.replace(system.records[UPSTREAM][0], offset=99))

    report = system.check()

    assert report.ok, report.summary()
    assert report.republished == 1


def test_two_records_of_a_stream_swapped_on_the_topic_are_out_of_order() -> None:
    system = System()
    first, second = system.records[UPSTREAM][0], system.records[UPSTREAM][1]
    system.records[UPSTREAM][0] = dataclasses.replace(first, offset=second.offset)
    system.records[UPSTREAM][1] = dataclasses.replace(second, offset=first.offset)

    [detail] = only(system.check(), Kind.OUT_OF_ORDER)
    assert f"event {first.event_id} (case-r1 version 1) comes after version 2" in detail


def test_a_stream_spread_over_two_partitions_is_out_of_order() -> None:
    system = System()
    moved = system.records[UPSTREAM][1]
    system.records[UPSTREAM][1] = dataclasses.replace(moved, partition=(moved.partition + 1) % 3)

    [detail] = only(system.check(), Kind.OUT_OF_ORDER)
    assert "case-r1 is spread over partitions" in detail


def test_ledger_entries_of_a_stream_in_the_wrong_order_are_out_of_order() -> None:
    system = System()
    system.ledger[0], system.ledger[1] = (dataclasses.replace(system.ledger[1], index=0),
                                          dataclasses.replace(system.ledger[0], index=1))

    [detail] = only(system.check(), Kind.OUT_OF_ORDER)
    assert "is in the ledger at index 1, after version 2" in detail


def test_an_effect_recorded_by_two_transactions_was_applied_twice() -> None:
    system = System()
    cause = system.upstream[0]
    again = event(cause.review_id, 2, type_=REACTED, stream=f"reaction-{cause.review_id}",
                  cause=cause.event_id)
    system.downstream.append(again)
    system.records[DOWNSTREAM] = System._records(DOWNSTREAM, system.downstream)
    system.ledger.append(LedgerRow(len(system.ledger), again.event_id, again.review_id,
                                   again.stream_id, again.version, DOWNSTREAM))

    [detail] = only(system.check(), Kind.DUPLICATED)
    assert detail == (f"the effect of event {cause.event_id} was applied 2 times in store down "
                      f"({REACTED})")


def test_events_appended_by_one_transaction_with_one_cause_are_one_effect() -> None:
    system = System()
    first = system.downstream[0]
    second = event(first.review_id, 2, type_=REACTED, stream=first.stream_id,
                   cause=first.causation_id, transaction=first.transaction)
    system.downstream.append(second)
    system.records[DOWNSTREAM] = System._records(DOWNSTREAM, system.downstream)
    system.ledger.append(LedgerRow(len(system.ledger), second.event_id, second.review_id,
                                   second.stream_id, second.version, DOWNSTREAM))

    assert system.check().ok


def test_a_cause_without_its_effect_is_a_lost_reaction() -> None:
    system = System()
    unanswered = system.downstream.pop(0)
    system.records[DOWNSTREAM] = System._records(DOWNSTREAM, system.downstream)
    system.ledger = [row for row in system.ledger if row.event_id != unanswered.event_id]
    system.ledger = [dataclasses.replace(row, index=i) for i, row in enumerate(system.ledger)]

    [detail] = only(system.check(reactions=(Reaction(OPENED, "down"),)), Kind.LOST)
    assert detail.endswith(f"a {OPENED} of store up, had no effect in store down")


def test_a_gap_in_a_stored_stream_is_lost() -> None:
    system = System()
    removed = system.upstream.pop(0)
    system.records[UPSTREAM] = [r for r in system.records[UPSTREAM] if r.event_id != removed.event_id]
    system.ledger = [row for row in system.ledger if row.event_id != removed.event_id]
    system.ledger = [dataclasses.replace(row, index=i) for i, row in enumerate(system.ledger)]

    [detail] = only(system.check(), Kind.LOST)
    assert detail == "case-r1 has no version 1 in store up"


def test_an_event_on_a_topic_or_in_the_ledger_but_in_no_store_is_unrecorded() -> None:
    system = System()
    stray = system.upstream.pop()

    report = system.check()

    assert report.kinds() == {Kind.UNRECORDED}, report.summary()
    assert [f.event_id for f in report.findings] == [stray.event_id, stray.event_id]
    assert report.counts("r2") == {"lost": 0, "duplicated": 0, "out of order": 0, "unrecorded": 2}
    assert report.as_json()["reviews"]["r2"]["counts"]["unrecorded"] == 2
